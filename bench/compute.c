/* A realistic compute guest for the emulator benchmark: what boot code and test kernels do
 * between I/O (sieving, sorting, hashing, checksumming), as gcc -O2 compiles it for freestanding
 * x86-64 without SSE. scripts/bench links it into the benchmark ROM (Guests/bench-boot.S) and also
 * runs it natively, so the emulator's result is checked against the host CPU's.
 *
 * Pure code: no globals, no string constants, no library calls, so the extracted .text runs
 * wherever it is placed. */
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

/* Primes below n, with flags[] as the sieve. */
static u64 count_primes(u8 *flags, u64 n) {
    for (u64 i = 0; i < n; i++) flags[i] = 1;
    u64 count = 0;
    for (u64 i = 2; i < n; i++) {
        if (!flags[i]) continue;
        count++;
        for (u64 j = i * i; j < n; j += i) flags[j] = 0;
    }
    return count;
}

/* Shell sort with Knuth's gaps (computed: a table would need .rodata). */
static void sort(u32 *a, u64 n) {
    for (u64 gap = 364; gap > 0; gap /= 3) {
        for (u64 i = gap; i < n; i++) {
            u32 value = a[i];
            u64 j = i;
            while (j >= gap && a[j - gap] > value) {
                a[j] = a[j - gap];
                j -= gap;
            }
            a[j] = value;
        }
    }
}

/* Bitwise CRC-32 (IEEE), as a loader without tables computes it. */
static u32 crc32(const u8 *p, u64 n) {
    u32 crc = ~0u;
    for (u64 i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    }
    return ~crc;
}

/* FNV-1a over 64-bit words, with a division for good measure. */
static u64 hash(const u32 *a, u64 n) {
    u64 h = 0xcbf29ce484222325ull;
    for (u64 i = 0; i < n; i++) h = (h ^ a[i]) * 0x100000001b3ull;
    return h / 7 + h % 1000003;
}

u64 compute(u8 *scratch, u64 rounds) {
    u64 result = 0;
    u32 *numbers = (u32 *)(scratch + 16384);
    for (u64 round = 0; round < rounds; round++) {
        result += count_primes(scratch, 16384);
        u32 seed = (u32)result ^ (u32)round;
        for (u64 i = 0; i < 1024; i++) {
            seed = seed * 1664525u + 1013904223u;
            numbers[i] = seed >> 8;
        }
        sort(numbers, 1024);
        result = result * 31 + hash(numbers, 1024);
        result ^= crc32(scratch + 16384, 1024);
    }
    return result;
}
