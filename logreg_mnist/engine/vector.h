/* The vectors of logreg_mnist's C code: as wide as the compiler targets.
 *
 * The engine compiles with the CPU's own flags (gcc under both engines;
 * clang under Theano gets none), so the width below is what this machine
 * runs: 512 bits where AVX-512 is enabled, 256 with AVX, else the 128 bits
 * every x86-64 (SSE2) and arm64 (NEON) CPU has.  LR_REGISTERS is how many
 * such vectors the CPU holds in registers.  GCC and clang both compile the
 * vector types; a width the target lacks would only be split in parts.
 */
#if defined(__AVX512F__)
#define LR_BYTES 64
#define LR_REGISTERS 32
#elif defined(__AVX__)
#define LR_BYTES 32
#define LR_REGISTERS 16
#elif defined(__aarch64__)
#define LR_BYTES 16
#define LR_REGISTERS 32
#else
#define LR_BYTES 16
#define LR_REGISTERS 16
#endif
