/* The float32 CPU kernel of logreg_mnist (see kernel.py for why it exists).
 *
 * One SGD step of softmax regression reads a minibatch X (n x d, one image a
 * row) twice: once for the scores X.W + b, once for the gradient X^T.delta.
 * Through BLAS these are two separate, very skinny products (10 columns),
 * and each streams the minibatch from memory.  Here a block of ROWS images
 * is scored, turned into probabilities and added to the gradient while its
 * pixels are still in the L1 cache, and the inner loops keep ROWS x CLASSES
 * partial sums in vector registers.  Images are shared out between OpenMP
 * threads; each thread sums its own gradient, and the sums are added at
 * the end.
 *
 * The arithmetic is the graph's: scores, softmax with the largest score
 * subtracted, delta = (p - onehot(y)) / n, gradient X^T.delta and the sum of
 * delta for b.  Only the order of the float32 additions differs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LR_LANES 8          /* floats per vector (256 bits) */
#define LR_ROWS 4           /* images per block */
#define LR_CLASSES 5        /* classes per block */
#define LR_MAX_CLASSES 64

typedef float lr_vec __attribute__((vector_size(LR_LANES * 4), aligned(4)));
#define LR_LOAD(p) (*(const lr_vec *)(p))

/* Keep a loaded vector in a register: without this, GCC folds the load
   into each of its LR_ROWS multiplications, and the loop waits on loads.
   (Only where 256-bit registers are enabled: a compiler that was not given
   the CPU's flags, as clang under Theano, has none.) */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__AVX__)
#define LR_IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define LR_IN_REGISTER(v) ((void)0)
#endif

static float lr_sum(lr_vec v)
{
    float s = 0;
    for (int i = 0; i < LR_LANES; i++)
        s += v[i];
    return s;
}

/* Scores of the LR_ROWS images x[r]: z[r][j] = x[r] . Wt[j] + b[j], for the
   k classes (Wt holds kp >= k rows, the extra ones zero). */
static void lr_scores(const float *const *x, const float *Wt, int d, int k,
                      int kp, const float *b, float z[][LR_MAX_CLASSES])
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
            const float *w = Wt + (size_t)(j0 + c) * d;
            for (int r = 0; r < LR_ROWS; r++) {
                float s = lr_sum(acc[r][c]);
                for (int t = dv; t < d; t++)
                    s += x[r][t] * w[t];
                z[r][j0 + c] = s + b[j0 + c];
            }
        }
    }
}

/* gt[j] += sum over r of x[r] * delta[r][j], for the kp classes. */
static void lr_accumulate(const float *const *x,
                          float delta[][LR_MAX_CLASSES], float *gt, int d,
                          int kp)
{
    int dv = d - d % LR_LANES;
    for (int j0 = 0; j0 < kp; j0 += LR_CLASSES) {
        lr_vec e[LR_ROWS][LR_CLASSES];
        for (int r = 0; r < LR_ROWS; r++)
            for (int c = 0; c < LR_CLASSES; c++)
                e[r][c] = (lr_vec){0} + delta[r][j0 + c];
        for (int t = 0; t < dv; t += LR_LANES) {
            lr_vec even[LR_CLASSES], odd[LR_CLASSES];  /* two short chains */
            for (int c = 0; c < LR_CLASSES; c++) {
                even[c] = LR_LOAD(gt + (size_t)(j0 + c) * d + t);
                odd[c] = (lr_vec){0};
            }
            for (int r = 0; r < LR_ROWS; r += 2) {
                lr_vec a = LR_LOAD(x[r] + t), a1 = LR_LOAD(x[r + 1] + t);
                for (int c = 0; c < LR_CLASSES; c++) {
                    even[c] += a * e[r][c];
                    odd[c] += a1 * e[r + 1][c];
                }
            }
            for (int c = 0; c < LR_CLASSES; c++)
                *(lr_vec *)(gt + (size_t)(j0 + c) * d + t) = even[c] + odd[c];
        }
        for (int c = 0; c < LR_CLASSES; c++)
            for (int t = dv; t < d; t++)
                for (int r = 0; r < LR_ROWS; r++)
                    gt[(size_t)(j0 + c) * d + t] += x[r][t] * delta[r][j0 + c];
    }
}

/* The rows of block i: missing ones (past n) repeat row i, with no weight. */
static int lr_block(const float *X, int i, int n, int d, const float **x)
{
    int rows = n - i < LR_ROWS ? n - i : LR_ROWS;
    for (int r = 0; r < LR_ROWS; r++)
        x[r] = X + (size_t)(i + (r < rows ? r : 0)) * d;
    return rows;
}

/* Images [r0, r1): adds their gradient to gt (kp x d) and gb (k), and
   returns the sum of their -log P(y | x); -1 for a label out of range. */
static double lr_step_rows(const float *X, const int *y, int n, int r0,
                           int r1, int d, const float *Wt, const float *b,
                           int k, int kp, float *gt, float *gb)
{
    double nll = 0;
    float z[LR_ROWS][LR_MAX_CLASSES], delta[LR_ROWS][LR_MAX_CLASSES];
    float share = 1.0f / n;
    for (int i = r0; i < r1; i += LR_ROWS) {
        const float *x[LR_ROWS];
        int rows = lr_block(X, i, r1, d, x);
        lr_scores(x, Wt, d, k, kp, b, z);
        memset(delta, 0, sizeof delta);
        for (int r = 0; r < rows; r++) {
            int label = y[i + r];
            if (label < 0 || label >= k)
                return -1;
            float top = z[r][0], total = 0;
            for (int j = 1; j < k; j++)
                top = z[r][j] > top ? z[r][j] : top;
            for (int j = 0; j < k; j++)
                total += delta[r][j] = expf(z[r][j] - top);
            nll += log((double)total) - (double)(z[r][label] - top);
            for (int j = 0; j < k; j++)
                gb[j] += delta[r][j] = delta[r][j] * (share / total)
                                       - (j == label ? share : 0.0f);
        }
        lr_accumulate(x, delta, gt, d, kp);
    }
    return nll;
}

static int lr_threads(int blocks)
{
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    return threads < blocks ? threads : (blocks > 0 ? blocks : 1);
}

/* W (d x k) transposed into kp x d rows, the rows past k zero. */
static float *lr_transposed(const float *W, int d, int k, int kp)
{
    float *Wt = (float *)calloc((size_t)kp * d, sizeof(float));
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
   Returns 0, 1 when out of memory, 2 for a label out of range. */
static int lr_step(const float *X, const int *y, int n, int d, const float *W,
                   const float *b, int k, float *cost, float *gW, float *gb)
{
    int kp = lr_padded(k), blocks = (n + LR_ROWS - 1) / LR_ROWS;
    int threads = lr_threads(blocks), bad = 0;
    size_t each = (size_t)kp * d + k;
    float *Wt = lr_transposed(W, d, k, kp);
    float *sums = (float *)calloc((size_t)threads * each, sizeof(float));
    double nll = 0;
    if (!Wt || !sums) {
        free(Wt);
        free(sums);
        return 1;
    }
#pragma omp parallel for num_threads(threads) schedule(static, 1) \
    reduction(+ : nll, bad)
    for (int part = 0; part < threads; part++) {
        int r0 = blocks * part / threads * LR_ROWS;
        int r1 = blocks * (part + 1) / threads * LR_ROWS;
        float *mine = sums + (size_t)part * each;
        double s = lr_step_rows(X, y, n, r0, r1 < n ? r1 : n, d, Wt, b, k,
                                kp, mine, mine + (size_t)kp * d);
        if (s < 0)
            bad += 1;
        else
            nll += s;
    }
    for (int t = 0; t < d; t++)
        for (int j = 0; j < k; j++) {
            float s = 0;
            for (int part = 0; part < threads; part++)
                s += sums[part * each + (size_t)j * d + t];
            gW[(size_t)t * k + j] = s;
        }
    for (int j = 0; j < k; j++) {
        float s = 0;
        for (int part = 0; part < threads; part++)
            s += sums[part * each + (size_t)kp * d + j];
        gb[j] = s;
    }
    *cost = (float)(nll / n);
    free(Wt);
    free(sums);
    return bad ? 2 : 0;
}

/* How many of the n images the model classifies wrongly (the first
   largest score wins, as argmax does); -1 when out of memory. */
static long lr_mistakes(const float *X, const int *y, int n, int d,
                        const float *W, const float *b, int k)
{
    int kp = lr_padded(k), blocks = (n + LR_ROWS - 1) / LR_ROWS;
    int threads = lr_threads(blocks);
    float *Wt = lr_transposed(W, d, k, kp);
    long wrong = 0;
    if (!Wt)
        return -1;
#pragma omp parallel for num_threads(threads) reduction(+ : wrong)
    for (int i = 0; i < n; i += LR_ROWS) {
        const float *x[LR_ROWS];
        float z[LR_ROWS][LR_MAX_CLASSES];
        int rows = lr_block(X, i, n, d, x);
        lr_scores(x, Wt, d, k, kp, b, z);
        for (int r = 0; r < rows; r++) {
            int best = 0;
            for (int j = 1; j < k; j++)
                if (z[r][j] > z[r][best])
                    best = j;
            wrong += best != y[i + r];
        }
    }
    free(Wt);
    return wrong;
}
