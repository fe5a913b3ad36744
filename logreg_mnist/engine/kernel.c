/* The CPU kernel of logreg_mnist (see kernel.py for why it exists).
 *
 * kernel.py puts vector.h and the definition of LR_REAL (float or double,
 * the floatX of the run) before this text, so one source serves both
 * precisions at the vector width the compiler targets.
 *
 * One SGD step of softmax regression needs the minibatch X (n x d, one
 * image a row) twice: for the scores X.W + b, then for the gradient
 * X^T.delta.  Through BLAS these are two very skinny products (10
 * columns), each streaming the whole minibatch from memory.  Here the
 * images go by in blocks of LR_BLOCK: a block is scored LR_ROWS images at
 * a time against LR_CLASSES classes, with the partial sums in vector
 * registers; its softmax gives delta; then the block's share of the
 * gradient is added while its pixels are still in the cache, with
 * LR_CHUNKS vectors of pixels times LR_CLASSES classes of the gradient
 * held in registers over all the block's images.  The images are shared
 * out between OpenMP threads, each summing its own gradient; the sums are
 * added at the end.
 *
 * The arithmetic is the graph's: scores, softmax with the largest score
 * subtracted, delta = (p - onehot(y)) / n, gradient X^T.delta and the sum
 * of delta for b.  Only the order of the additions differs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LR_LANES (LR_BYTES / LR_REAL_BYTES)   /* numbers a vector */
#define LR_CLASSES 5              /* classes of partial sums at a time */
#define LR_ROWS (LR_REGISTERS / 8)    /* images scored at a time: 4 or 2 */
#define LR_CHUNKS (LR_REGISTERS / 8)  /* pixel vectors of a gradient pass */
#define LR_BLOCK 32               /* images scored, then added, at a time */
#define LR_PARTS 8                /* parts of a minibatch (see lr_step) */
#define LR_MAX_CLASSES 64

typedef LR_REAL lr_vec
    __attribute__((vector_size(LR_BYTES), aligned(sizeof(LR_REAL))));
#define LR_LOAD(p) (*(const lr_vec *)(p))
#define LR_STORE(p, v) (*(lr_vec *)(p) = (v))

/* Keep a loaded vector in a register: without this, GCC folds the load
   into each of its LR_ROWS multiplications, and the loop waits on loads.
   (Only where AVX is enabled: a compiler given no CPU flags, as clang
   under Theano, targets plain SSE2.) */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__AVX__)
#define LR_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define LR_IN_REGISTER(v) ((void)0)
#endif

static LR_REAL lr_exp(LR_REAL v)
{
    return sizeof(LR_REAL) == sizeof(float) ? (LR_REAL)expf((float)v)
                                            : (LR_REAL)exp((double)v);
}

/* LR_SWAP(v, h): v with each lane i moved to lane i ^ h, by the
   compiler's own shuffle (GCC: __builtin_shuffle, clang: shufflevector). */
#define LR_X2(h) (0 ^ h), (1 ^ h)
#define LR_X4(h) LR_X2(h), (2 ^ h), (3 ^ h)
#define LR_X8(h) LR_X4(h), (4 ^ h), (5 ^ h), (6 ^ h), (7 ^ h)
#define LR_X16(h) LR_X8(h), (8 ^ h), (9 ^ h), (10 ^ h), (11 ^ h), \
    (12 ^ h), (13 ^ h), (14 ^ h), (15 ^ h)
#if LR_BYTES / LR_REAL_BYTES == 16
#define LR_X(h) LR_X16(h)
#elif LR_BYTES / LR_REAL_BYTES == 8
#define LR_X(h) LR_X8(h)
#elif LR_BYTES / LR_REAL_BYTES == 4
#define LR_X(h) LR_X4(h)
#else
#define LR_X(h) LR_X2(h)
#endif
#ifdef __clang__
#define LR_SWAP(v, h) __builtin_shufflevector(v, v, LR_X(h))
#else
typedef LR_INDEX lr_lanes __attribute__((vector_size(LR_BYTES)));
#define LR_SWAP(v, h) __builtin_shuffle(v, (lr_lanes){LR_X(h)})
#endif

/* The sum of a vector's numbers, added pairwise: each step adds to every
   lane its partner's, halving the distinct sums (a chain of one addition
   after another, or a trip through memory, would be slower). */
static LR_REAL lr_sum(lr_vec v)
{
#if LR_BYTES / LR_REAL_BYTES >= 16
    v += LR_SWAP(v, 8);
#endif
#if LR_BYTES / LR_REAL_BYTES >= 8
    v += LR_SWAP(v, 4);
#endif
#if LR_BYTES / LR_REAL_BYTES >= 4
    v += LR_SWAP(v, 2);
#endif
    v += LR_SWAP(v, 1);
    return v[0];
}

/* Scores of the LR_ROWS images x[r]: z[r][j] = x[r] . Wt[j] + b[j], for the
   k classes (Wt holds kp >= k rows, the extra ones zero). */
static void lr_scores(const LR_REAL *const *x, const LR_REAL *Wt, int d,
                      int k, int kp, const LR_REAL *b,
                      LR_REAL z[][LR_MAX_CLASSES])
{
    int dv = d - d % LR_LANES;
    for (int j0 = 0; j0 < kp; j0 += LR_CLASSES) {
        lr_vec acc[LR_ROWS][LR_CLASSES];
        for (int r = 0; r < LR_ROWS; r++)
            for (int c = 0; c < LR_CLASSES; c++)
                acc[r][c] = (lr_vec){0};
        for (int t = 0; t < dv; t += LR_LANES) {
            lr_vec xv[LR_ROWS];
            for (int r = 0; r < LR_ROWS; r++)
                xv[r] = LR_LOAD(x[r] + t);
            for (int c = 0; c < LR_CLASSES; c++) {
                lr_vec w = LR_LOAD(Wt + (size_t)(j0 + c) * d + t);
                LR_IN_REGISTER(w);
                for (int r = 0; r < LR_ROWS; r++)
                    acc[r][c] += xv[r] * w;
            }
        }
        for (int c = 0; c < LR_CLASSES && j0 + c < k; c++) {
            const LR_REAL *w = Wt + (size_t)(j0 + c) * d;
            for (int r = 0; r < LR_ROWS; r++) {
                LR_REAL s = lr_sum(acc[r][c]);
                for (int t = dv; t < d; t++)
                    s += x[r][t] * w[t];
                z[r][j0 + c] = s + b[j0 + c];
            }
        }
    }
}

/* gt[j0 + c][t ...] += sum over the images r of x[r][t ...] * delta[r][j0 +
   c], for `chunks` vectors of pixels from t and LR_CLASSES classes from j0:
   the partial sums stay in registers while the images go by. */
static inline __attribute__((always_inline)) void
lr_add_chunks(const LR_REAL *x, int rows, int d,
              const LR_REAL (*delta)[LR_MAX_CLASSES], LR_REAL *gt, int j0,
              int t, int chunks)
{
    lr_vec acc[LR_CHUNKS][LR_CLASSES];
    for (int c = 0; c < LR_CLASSES; c++)
        for (int u = 0; u < chunks; u++)
            acc[u][c] = LR_LOAD(gt + (size_t)(j0 + c) * d + t + u * LR_LANES);
    for (int r = 0; r < rows; r++) {
        const LR_REAL *xr = x + (size_t)r * d + t;
        lr_vec xv[LR_CHUNKS];
        for (int u = 0; u < chunks; u++)
            xv[u] = LR_LOAD(xr + u * LR_LANES);
        for (int c = 0; c < LR_CLASSES; c++) {
            LR_REAL e = delta[r][j0 + c];   /* (in every lane) */
            for (int u = 0; u < chunks; u++)
                acc[u][c] += xv[u] * e;
        }
    }
    for (int c = 0; c < LR_CLASSES; c++)
        for (int u = 0; u < chunks; u++)
            LR_STORE(gt + (size_t)(j0 + c) * d + t + u * LR_LANES, acc[u][c]);
}

/* gt (kp x d) += x^T . delta for the `rows` consecutive images x. */
static void lr_add_gradient(const LR_REAL *x, int rows, int d, int kp,
                            const LR_REAL (*delta)[LR_MAX_CLASSES],
                            LR_REAL *gt)
{
    int dv = d - d % LR_LANES, wide = LR_CHUNKS * LR_LANES, t = 0;
    for (; t + wide <= dv; t += wide)
        for (int j0 = 0; j0 < kp; j0 += LR_CLASSES)
            lr_add_chunks(x, rows, d, delta, gt, j0, t, LR_CHUNKS);
    for (; t < dv; t += LR_LANES)
        for (int j0 = 0; j0 < kp; j0 += LR_CLASSES)
            lr_add_chunks(x, rows, d, delta, gt, j0, t, 1);
    for (; t < d; t++)
        for (int j = 0; j < kp; j++)
            for (int r = 0; r < rows; r++)
                gt[(size_t)j * d + t] += x[(size_t)r * d + t] * delta[r][j];
}

/* The rows of the LR_ROWS images from i: missing ones (past n) repeat
   row i.  Returns how many are real. */
static int lr_rows(const LR_REAL *X, int i, int n, int d,
                   const LR_REAL **x)
{
    int rows = n - i < LR_ROWS ? n - i : LR_ROWS;
    for (int r = 0; r < LR_ROWS; r++)
        x[r] = X + (size_t)(i + (r < rows ? r : 0)) * d;
    return rows;
}

/* Images [r0, r1): adds their gradient to gt (kp x d) and gb (k), and
   returns the sum of their -log P(y | x); -1 for a label out of range. */
static double lr_step_rows(const LR_REAL *X, const int *y, int n, int r0,
                           int r1, int d, const LR_REAL *Wt,
                           const LR_REAL *b, int k, int kp, LR_REAL *gt,
                           LR_REAL *gb)
{
    double nll = 0;
    LR_REAL delta[LR_BLOCK][LR_MAX_CLASSES];
    LR_REAL share = (LR_REAL)1 / n;
    for (int i0 = r0; i0 < r1; i0 += LR_BLOCK) {
        int end = r1 - i0 < LR_BLOCK ? r1 : i0 + LR_BLOCK;
        memset(delta, 0, sizeof delta);
        for (int i = i0; i < end; i += LR_ROWS) {
            const LR_REAL *x[LR_ROWS];
            LR_REAL z[LR_ROWS][LR_MAX_CLASSES];
            int rows = lr_rows(X, i, end, d, x);
            lr_scores(x, Wt, d, k, kp, b, z);
            for (int r = 0; r < rows; r++) {
                int label = y[i + r];
                LR_REAL *e = delta[i - i0 + r];
                if (label < 0 || label >= k)
                    return -1;
                LR_REAL top = z[r][0], total = 0;
                for (int j = 1; j < k; j++)
                    top = z[r][j] > top ? z[r][j] : top;
                for (int j = 0; j < k; j++)
                    total += e[j] = lr_exp(z[r][j] - top);
                nll += log((double)total) - (double)(z[r][label] - top);
                for (int j = 0; j < k; j++)
                    gb[j] += e[j] = e[j] * (share / total)
                                    - (j == label ? share : (LR_REAL)0);
            }
        }
        lr_add_gradient(X + (size_t)i0 * d, end - i0, d, kp,
                        (const LR_REAL (*)[LR_MAX_CLASSES])delta, gt);
    }
    return nll;
}

/* How many threads there are to share out `blocks` blocks of work. */
static int lr_threads(int blocks)
{
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    return threads < blocks ? threads : (blocks > 0 ? blocks : 1);
}

/* The team that runs a step: all the threads, or one.  The threads of a
   step meet at its end; where other programs keep the cores busy, each
   meeting waits for a thread that the system has stopped, and a step on
   all threads can take ten times as long as on one.  So the time an image
   takes is kept for both choices (a moving average, or the last time
   where the choice was only tried), the faster one runs, and the other is
   tried again now and then: half as often each time it loses, but at
   least once in LR_RETRY steps, so that a machine that has become idle
   again is seen within an epoch.  The numbers do not change with the team
   (see lr_step). */
#define LR_RETRY 64

typedef struct {
    double cost[2];   /* seconds an image: all threads, one thread */
    int calls, every, trying;
} lr_team;

static int lr_team_size(lr_team *team, int threads)
{
    int best;
    if (threads < 2 || team->calls++ < 2)   /* (the first starts threads) */
        return threads;
    if (team->every == 0)
        team->every = 8;
    best = team->cost[1] > 0 && team->cost[1] < team->cost[0];
    team->trying = team->cost[1] == 0 || team->calls % team->every == 0;
    return (team->trying ? !best : best) ? 1 : threads;
}

static void lr_team_took(lr_team *team, int size, double seconds, int n)
{
    int which = size == 1;
    double was = team->cost[!which], now = seconds / n;
    if (team->calls <= 2 || n <= 0)
        return;
    team->cost[which] = team->cost[which] > 0 && !team->trying
        ? (team->cost[which] + now) / 2 : now;
    if (team->trying && was > 0)   /* lost: try less often; won: reset */
        team->every = now > was
            ? (team->every < LR_RETRY ? 2 * team->every : LR_RETRY) : 8;
}

#ifdef _OPENMP
#define LR_CLOCK() omp_get_wtime()
#else
#define LR_CLOCK() 0.0
#endif

/* W (d x k) transposed into kp x d rows, the rows past k zero. */
static LR_REAL *lr_transposed(const LR_REAL *W, int d, int k, int kp)
{
    LR_REAL *Wt = (LR_REAL *)calloc((size_t)kp * d, sizeof(LR_REAL));
    if (Wt)
        for (int t = 0; t < d; t++)
            for (int j = 0; j < k; j++)
                Wt[(size_t)j * d + t] = W[(size_t)t * k + j];
    return Wt;
}

static int lr_padded(int k)
{
    return (k + LR_CLASSES - 1) / LR_CLASSES * LR_CLASSES;
}

/* One step's cost (the mean -log P(y | x)) and gradients gW (d x k), gb (k).
   Returns 0, 1 when out of memory, 2 for a label out of range.

   The images are cut into LR_PARTS parts (fewer for a small minibatch,
   more for more threads), each summing its own gradient; the threads take
   the parts as they come free, so that a thread that the system stops for
   a while (other programs on the same cores) holds up no more than its
   part.  The parts' sums are then added in their order: the numbers do
   not depend on which thread ran which part, nor on how many threads
   there are, up to LR_PARTS. */
static int lr_step(const LR_REAL *X, const int *y, int n, int d,
                   const LR_REAL *W, const LR_REAL *b, int k, LR_REAL *cost,
                   LR_REAL *gW, LR_REAL *gb)
{
    static lr_team team;
    int kp = lr_padded(k), blocks = (n + LR_ROWS - 1) / LR_ROWS;
    int threads = lr_threads(blocks), bad = 0;
    int parts = threads > LR_PARTS ? threads : LR_PARTS;
    int size = lr_team_size(&team, threads);
    double start = LR_CLOCK();
    size_t each = (size_t)kp * d + k;   /* a part's gradient: gt, then gb */
    LR_REAL *Wt = lr_transposed(W, d, k, kp), *sums;
    double *nlls, nll = 0;
    if (parts > blocks)
        parts = blocks;
    sums = (LR_REAL *)malloc((size_t)parts * each * sizeof(LR_REAL));
    nlls = (double *)malloc((size_t)parts * sizeof(double));
    if (!Wt || !sums || !nlls) {
        free(Wt);
        free(sums);
        free(nlls);
        return 1;
    }
#pragma omp parallel num_threads(size)
    {
#pragma omp for schedule(dynamic, 1)
        for (int part = 0; part < parts; part++) {
            int r0 = blocks * part / parts * LR_ROWS;
            int r1 = blocks * (part + 1) / parts * LR_ROWS;
            LR_REAL *mine = sums + (size_t)part * each;
            memset(mine, 0, each * sizeof(LR_REAL));
            nlls[part] = lr_step_rows(X, y, n, r0, r1 < n ? r1 : n, d, Wt,
                                      b, k, kp, mine, mine + (size_t)kp * d);
        }
#pragma omp for schedule(static)
        for (size_t i = 0; i < each; i++)
            for (int part = 1; part < parts; part++)
                sums[i] += sums[(size_t)part * each + i];
    }
    lr_team_took(&team, size, LR_CLOCK() - start, n);
    for (int part = 0; part < parts; part++) {
        bad |= nlls[part] < 0;
        nll += nlls[part];
    }
    for (int t = 0; t < d; t++)
        for (int j = 0; j < k; j++)
            gW[(size_t)t * k + j] = sums[(size_t)j * d + t];
    memcpy(gb, sums + (size_t)kp * d, k * sizeof(LR_REAL));
    *cost = (LR_REAL)(nll / n);
    free(Wt);
    free(sums);
    free(nlls);
    return bad ? 2 : 0;
}

/* How many of the n images the model classifies wrongly (the first
   largest score wins, as argmax does); -1 when out of memory. */
static long lr_mistakes(const LR_REAL *X, const int *y, int n, int d,
                        const LR_REAL *W, const LR_REAL *b, int k)
{
    static lr_team team;
    int kp = lr_padded(k), blocks = (n + LR_ROWS - 1) / LR_ROWS;
    int size = lr_team_size(&team, lr_threads(blocks));
    LR_REAL *Wt = lr_transposed(W, d, k, kp);
    long wrong = 0;
    double start = LR_CLOCK();
    if (!Wt)
        return -1;
#pragma omp parallel for num_threads(size) reduction(+ : wrong)
    for (int i = 0; i < n; i += LR_ROWS) {
        const LR_REAL *x[LR_ROWS];
        LR_REAL z[LR_ROWS][LR_MAX_CLASSES];
        int rows = lr_rows(X, i, n, d, x);
        lr_scores(x, Wt, d, k, kp, b, z);
        for (int r = 0; r < rows; r++) {
            int best = 0;
            for (int j = 1; j < k; j++)
                if (z[r][j] > z[r][best])
                    best = j;
            wrong += best != y[i + r];
        }
    }
    lr_team_took(&team, size, LR_CLOCK() - start, n);
    free(Wt);
    return wrong;
}
