/* The machine's limit: how fast its cores multiply and add, and how fast
 * they read memory (limit.py says how the benchmark uses the two rates).
 *
 * Compiled by the engine like kernel.c, with the text of vector.h before
 * this one, so that the vectors are as wide as the kernel's (LR_BYTES),
 * and LR_REAL defined as float or double before both.
 */
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define LR_CHAINS 12        /* independent multiply-add chains per thread */
#define LR_SUMS 8           /* independent sums per thread while reading */

/* (aligned as one number: numpy's arrays need not be aligned as vectors) */
typedef LR_REAL lr_real_vec __attribute__((vector_size(LR_BYTES),
                                           aligned(sizeof(LR_REAL))));
#define LR_LANES ((long)(LR_BYTES / sizeof(LR_REAL)))
#define LR_LOAD(p) (*(const lr_real_vec *)(p))

/* The processor time of the calling thread, in seconds: while other work
   runs on its processor, it stands still. */
static double lr_thread_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* `iterations` rounds of LR_CHAINS vector multiply-adds on every thread.
   A multiply-add waits for the one before it in its chain (4 or 5 cycles)
   and a core starts one or two a cycle, so only about ten chains keep it
   busy; twelve vectors also stay in registers.  Each thread's rate is
   taken over its own processor time, so that other work on the machine
   does not lower it.  Sets out[0] to the sum of the threads' rates
   (floating-point operations a second, a multiply-add being two), out[1]
   to the threads, out[2] to the bits of a vector, out[3] to the shortest
   time a thread ran and out[4] to the sum of the chains (so that the
   compiler cannot leave them out). */
static void lr_peak(long iterations, double out[5])
{
    double rate = 0, threads = 0, shortest = 1e300, sum = 0;
#pragma omp parallel reduction(+ : rate, threads, sum) \
    reduction(min : shortest)
    {
        lr_real_vec chain[LR_CHAINS];
        lr_real_vec a = (lr_real_vec){0} + (LR_REAL)0.999;
        lr_real_vec c = (lr_real_vec){0} + (LR_REAL)0.001;
        for (int j = 0; j < LR_CHAINS; j++)
            chain[j] = (lr_real_vec){0} + (LR_REAL)j;
        double start = lr_thread_seconds();
        for (long i = 0; i < iterations; i++)
            for (int j = 0; j < LR_CHAINS; j++)
                chain[j] = chain[j] * a + c;
        double seconds = lr_thread_seconds() - start;
        for (int j = 0; j < LR_CHAINS; j++)
            for (long l = 0; l < LR_LANES; l++)
                sum += chain[j][l];
        rate += 2.0 * LR_CHAINS * LR_LANES * (double)iterations / seconds;
        threads += 1;
        shortest = seconds;
    }
    out[0] = rate;
    out[1] = threads;
    out[2] = 8 * LR_BYTES;
    out[3] = shortest;
    out[4] = sum;
}

/* The sum of the n numbers at x, each read once, shared out between the
   threads; each thread keeps LR_SUMS vector sums, so that its additions
   keep up with memory. */
static double lr_reads(const LR_REAL *x, long n)
{
    long blocks = n / (LR_SUMS * LR_LANES);
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
        lr_real_vec s[LR_SUMS];
        for (int j = 0; j < LR_SUMS; j++)
            s[j] = (lr_real_vec){0};
#pragma omp for schedule(static)
        for (long i = 0; i < blocks; i++)
            for (int j = 0; j < LR_SUMS; j++)
                s[j] += LR_LOAD(x + (i * LR_SUMS + j) * LR_LANES);
        for (int j = 0; j < LR_SUMS; j++)
            for (long l = 0; l < LR_LANES; l++)
                total += s[j][l];
    }
    for (long i = blocks * LR_SUMS * LR_LANES; i < n; i++)
        total += x[i];
    return total;
}
