/* The SSE2 workload for the emulator benchmark and tests: what glibc and numeric user code run on
 * an x86-64 baseline CPU. A double-precision kernel (a small n-body step and a Newton square
 * root, scalar *sd arithmetic, conversions and compares), string routines in the style of
 * glibc's SSE2 strlen/memchr (pcmpeqb, pmovmskb, pminub, bsf), and a checksum over a buffer
 * copied with movdqu loads and movntdq stores. gcc -O2 -msse2, freestanding.
 *
 * Position-independent (-fpie): constants sit in .rodata right after .text and are reached
 * RIP-relative, so the flat binary runs wherever it is placed. scripts/bench runs it in the ROM
 * and natively and compares the results; Tests/X86EmulatorTests/SSEWorkloadTests.swift too. */
#include <emmintrin.h>

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

/* glibc's strlen idea: align down, compare 16 bytes at a time with zero, mask the bytes before
 * the start, find the first set bit. */
static u64 sse_strlen(const char *s) {
    const __m128i zero = _mm_setzero_si128();
    u64 misalignment = (u64)s & 15;
    const __m128i *p = (const __m128i *)(s - misalignment);
    u32 mask = (u32)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_load_si128(p), zero)) >> misalignment;
    if (mask) return (u64)__builtin_ctz(mask);
    for (;;) {
        p++;
        /* pminub of two vectors is zero where either is: one test for 32 bytes, as glibc does. */
        __m128i a = _mm_load_si128(p), b = _mm_load_si128(p + 1);
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(a, b), zero))) {
            u32 first = (u32)_mm_movemask_epi8(_mm_cmpeq_epi8(a, zero));
            if (first) return (u64)((const char *)p - s) + (u64)__builtin_ctz(first);
            p++;
            return (u64)((const char *)p - s) + (u64)__builtin_ctz((u32)_mm_movemask_epi8(_mm_cmpeq_epi8(b, zero)));
        }
        p++;
    }
}

/* memchr with a broadcast byte (punpcklbw/pshufd) and unaligned loads. */
static u64 sse_memchr(const u8 *s, u8 c, u64 n) {
    __m128i needle = _mm_set1_epi8((char)c);
    u64 i = 0;
    for (; i + 16 <= n; i += 16) {
        u32 mask = (u32)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), needle));
        if (mask) return i + (u64)__builtin_ctz(mask);
    }
    for (; i < n; i++)
        if (s[i] == c) return i;
    return n;
}

/* A copy with movdqu loads and non-temporal movntdq stores (destination aligned), then sfence. */
static void stream_copy(u8 *destination, const u8 *source, u64 n) {
    for (u64 i = 0; i < n; i += 16) _mm_stream_si128((__m128i *)(destination + i), _mm_loadu_si128((const __m128i *)(source + i)));
    _mm_sfence();
}

/* Fletcher-style checksum over 16-byte vectors: paddq/pxor/psadbw/pshufd. */
static u64 vector_checksum(const u8 *p, u64 n) {
    __m128i sum = _mm_setzero_si128(), mix = _mm_setzero_si128();
    for (u64 i = 0; i < n; i += 16) {
        __m128i v = _mm_load_si128((const __m128i *)(p + i));
        sum = _mm_add_epi64(sum, _mm_sad_epu8(v, _mm_setzero_si128()));
        mix = _mm_xor_si128(_mm_add_epi32(mix, v), _mm_shuffle_epi32(mix, 0x39));
    }
    sum = _mm_add_epi64(sum, _mm_unpackhi_epi64(sum, sum));
    return (u64)_mm_cvtsi128_si64(sum) * 1000003u ^ (u64)_mm_cvtsi128_si64(mix) ^ (u64)_mm_cvtsi128_si64(_mm_unpackhi_epi64(mix, mix));
}

/* Newton's square root in doubles (division, compares, conversions). */
static double newton_sqrt(double x) {
    if (x <= 0.0) return 0.0;
    double r = x > 1.0 ? x * 0.5 : 1.0;
    for (int k = 0; k < 30; k++) r = 0.5 * (r + x / r);
    return r;
}

/* One step of a small gravitational n-body system. */
#define BODIES 8
static void nbody_step(double *position, double *velocity, double dt) {
    for (int i = 0; i < BODIES; i++) {
        double ax = 0.0, ay = 0.0, az = 0.0;
        for (int j = 0; j < BODIES; j++) {
            if (i == j) continue;
            double dx = position[3 * j] - position[3 * i], dy = position[3 * j + 1] - position[3 * i + 1];
            double dz = position[3 * j + 2] - position[3 * i + 2];
            double d2 = dx * dx + dy * dy + dz * dz + 0.01;
            double inverse = 1.0 / (d2 * newton_sqrt(d2));
            ax += dx * inverse;
            ay += dy * inverse;
            az += dz * inverse;
        }
        velocity[3 * i] += ax * dt;
        velocity[3 * i + 1] += ay * dt;
        velocity[3 * i + 2] += az * dt;
    }
    for (int i = 0; i < 3 * BODIES; i++) position[i] += velocity[i] * dt;
}

__attribute__((section(".text.entry"))) u64 compute_sse(u8 *scratch, u64 rounds) {
    u64 result = 0;
    u8 *text = scratch, *copy = scratch + 8192;
    double *position = (double *)(scratch + 16384), *velocity = position + 3 * BODIES;
    u32 seed = 12345;
    for (int i = 0; i < 3 * BODIES; i++) {
        seed = seed * 1664525u + 1013904223u;
        position[i] = (double)(int)(seed >> 16) / 4096.0 - 8.0;
        velocity[i] = 0.0;
    }
    for (u64 round = 0; round < rounds; round++) {
        /* Text: printable bytes with a terminator at a varying place. */
        for (u64 i = 0; i < 4096; i++) {
            seed = seed * 1664525u + 1013904223u;
            text[i] = (u8)(0x20 + (seed >> 24) % 95);
        }
        u64 end = 1000 + (seed >> 8) % 3000;
        text[end] = 0;
        result = result * 31 + sse_strlen((const char *)text + (round & 15));
        result = result * 31 + sse_memchr(text, (u8)(0x20 + round % 95), 4096);
        stream_copy(copy, text + (round & 7), 4096);
        result ^= vector_checksum(copy, 4096);
        nbody_step(position, velocity, 0.01);
        double energy = 0.0;
        for (int i = 0; i < 3 * BODIES; i++) energy += velocity[i] * velocity[i];
        result = result * 31 + (u64)(long)(energy * 1e6) + (u64)(long)(position[round % (3 * BODIES)] * 1e9);
    }
    return result;
}
