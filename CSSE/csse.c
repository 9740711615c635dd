#include "csse.h"

#include <emmintrin.h>

// Every instruction runs between LDMXCSR and STMXCSR in one asm statement, so the compiler can
// neither move it outside the guest's rounding mode nor fold it at compile time.
static inline uint32_t host_mxcsr(uint32_t guest) { return (guest & 0xFFC0u) | 0x1F80u; }

#define CSSE_RUN(insn, d, s, m)                                                                    \
    __asm__ volatile("stmxcsr %[host]\n\tldmxcsr %[mx]\n\t" insn " %[src], %[dst]\n\tstmxcsr %[mx]\n\tldmxcsr %[host]"                   \
                     : [dst] "+x"(d), [mx] "+m"(m), [host] "=m"(host)                                                 \
                     : [src] "x"(s))

static inline __m128i load(csse_xmm v) { return _mm_set_epi64x((long long)v.high, (long long)v.low); }
static inline void store(csse_xmm *out, __m128i v) {
    out->low = (uint64_t)_mm_cvtsi128_si64(v);
    out->high = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
}

uint32_t csse_binary(csse_binary_op op, csse_xmm *destination, csse_xmm source, uint32_t mxcsr) {
    __m128i d = load(*destination), s = load(source);
    uint32_t m = host_mxcsr(mxcsr), host;
    switch (op) {
#define CSSE_CASE(name)                                                                            \
    case csse_##name: CSSE_RUN(#name, d, s, m); break;
        CSSE_BINARY_OPS(CSSE_CASE)
#undef CSSE_CASE
#define CSSE_INTEGER_CASE(name)                                                                    \
    case csse_##name: __asm__(#name " %[src], %[dst]" : [dst] "+x"(d) : [src] "x"(s)); store(destination, d); return 0;
        CSSE_INTEGER_OPS(CSSE_INTEGER_CASE)
#undef CSSE_INTEGER_CASE
    default: return 0;
    }
    store(destination, d);
    return m & 0x3Fu;
}

// One case per predicate: the predicate is part of the mnemonic (cmpltps), not an operand.
#define CSSE_PREDICATES(suffix, d, s, m, predicate)                                                \
    switch (predicate & 7) {                                                                       \
    case 0: CSSE_RUN("cmpeq" suffix, d, s, m); break;                                              \
    case 1: CSSE_RUN("cmplt" suffix, d, s, m); break;                                              \
    case 2: CSSE_RUN("cmple" suffix, d, s, m); break;                                              \
    case 3: CSSE_RUN("cmpunord" suffix, d, s, m); break;                                           \
    case 4: CSSE_RUN("cmpneq" suffix, d, s, m); break;                                             \
    case 5: CSSE_RUN("cmpnlt" suffix, d, s, m); break;                                             \
    case 6: CSSE_RUN("cmpnle" suffix, d, s, m); break;                                             \
    default: CSSE_RUN("cmpord" suffix, d, s, m); break;                                            \
    }

uint32_t csse_compare(int kind, int predicate, csse_xmm *destination, csse_xmm source, uint32_t mxcsr) {
    __m128i d = load(*destination), s = load(source);
    uint32_t m = host_mxcsr(mxcsr), host;
    switch (kind) {
    case 0: CSSE_PREDICATES("ps", d, s, m, predicate); break;
    case 1: CSSE_PREDICATES("pd", d, s, m, predicate); break;
    case 2: CSSE_PREDICATES("ss", d, s, m, predicate); break;
    default: CSSE_PREDICATES("sd", d, s, m, predicate); break;
    }
    store(destination, d);
    return m & 0x3Fu;
}

uint32_t csse_compare_flags(int kind, csse_xmm a, csse_xmm b, uint32_t mxcsr, uint64_t *rflags) {
    __m128i x = load(a), y = load(b);
    uint32_t m = host_mxcsr(mxcsr), host;
    uint8_t zero, parity, carry;
    // SETcc, not PUSHF: a push would overwrite the red zone, where the compiler may keep `host`.
    // "=&q": the SETcc results are written before the last two instructions use the memory
    // operands, so they must not share a register with their addresses.
    // (COMISS and friends clear OF, SF and AF; ZF, PF and CF carry the result.)
#define CSSE_COMPARE_FLAGS(insn)                                                                   \
    __asm__ volatile("stmxcsr %[host]\n\tldmxcsr %[mx]\n\t" insn " %[y], %[x]\n\t"                 \
                     "setz %[z]\n\tsetp %[p]\n\tsetc %[c]\n\tstmxcsr %[mx]\n\tldmxcsr %[host]"          \
                     : [z] "=&q"(zero), [p] "=&q"(parity), [c] "=&q"(carry), [mx] "+m"(m), [host] "=m"(host) \
                     : [x] "x"(x), [y] "x"(y)                                                      \
                     : "cc")
    switch (kind) {
    case 0: CSSE_COMPARE_FLAGS("comiss"); break;
    case 1: CSSE_COMPARE_FLAGS("ucomiss"); break;
    case 2: CSSE_COMPARE_FLAGS("comisd"); break;
    default: CSSE_COMPARE_FLAGS("ucomisd"); break;
    }
#undef CSSE_COMPARE_FLAGS
    *rflags = (uint64_t)zero << 6 | (uint64_t)parity << 2 | (uint64_t)carry;
    return m & 0x3Fu;
}

uint32_t csse_to_integer(int kind, int wide, csse_xmm source, uint32_t mxcsr, uint64_t *result) {
    __m128i s = load(source);
    uint32_t m = host_mxcsr(mxcsr), host;
    uint64_t r = 0;
    uint32_t r32 = 0;
// "=&r": the result is written before the last two instructions use the memory operands, so it
// must not share a register with their addresses (an unoptimized build put both in one; the
// sanitizer run caught the store through it).
#define CSSE_TO_INT(insn, out)                                                                     \
    __asm__ volatile("stmxcsr %[host]\n\tldmxcsr %[mx]\n\t" insn " %[s], %[r]\n\tstmxcsr %[mx]\n\tldmxcsr %[host]"                        \
                     : [r] "=&r"(out), [mx] "+m"(m), [host] "=m"(host)                                                 \
                     : [s] "x"(s))
    switch (kind * 2 + (wide ? 1 : 0)) {
    case 0: CSSE_TO_INT("cvtss2si", r32); r = r32; break;
    case 1: CSSE_TO_INT("cvtss2si", r); break;
    case 2: CSSE_TO_INT("cvttss2si", r32); r = r32; break;
    case 3: CSSE_TO_INT("cvttss2si", r); break;
    case 4: CSSE_TO_INT("cvtsd2si", r32); r = r32; break;
    case 5: CSSE_TO_INT("cvtsd2si", r); break;
    case 6: CSSE_TO_INT("cvttsd2si", r32); r = r32; break;
    default: CSSE_TO_INT("cvttsd2si", r); break;
    }
#undef CSSE_TO_INT
    *result = r;
    return m & 0x3Fu;
}

uint32_t csse_from_integer(int kind, int wide, csse_xmm *destination, uint64_t value, uint32_t mxcsr) {
    __m128i d = load(*destination);
    uint32_t m = host_mxcsr(mxcsr), host;
    uint32_t v32 = (uint32_t)value;
#define CSSE_FROM_INT(insn, in)                                                                    \
    __asm__ volatile("stmxcsr %[host]\n\tldmxcsr %[mx]\n\t" insn " %[v], %[d]\n\tstmxcsr %[mx]\n\tldmxcsr %[host]"                        \
                     : [d] "+x"(d), [mx] "+m"(m), [host] "=m"(host)                                                   \
                     : [v] "r"(in))
    switch (kind * 2 + (wide ? 1 : 0)) {
    case 0: CSSE_FROM_INT("cvtsi2ssl", v32); break;
    case 1: CSSE_FROM_INT("cvtsi2ssq", value); break;
    case 2: CSSE_FROM_INT("cvtsi2sdl", v32); break;
    default: CSSE_FROM_INT("cvtsi2sdq", value); break;
    }
#undef CSSE_FROM_INT
    store(destination, d);
    return m & 0x3Fu;
}
