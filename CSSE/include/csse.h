// CSSE: runs one SSE/SSE2 instruction on the host CPU with the guest's MXCSR loaded, so the
// emulator's floating-point results, NaN payloads and exception flags are the silicon's own
// (every x86-64 host has SSE2 and DAZ). Swift cannot load MXCSR or name an instruction; this
// file does only that: no decoding, no guest state. Exceptions are always masked on the host;
// the emulator decides from the returned flags whether the guest takes #XM.

#ifndef CSSE_H
#define CSSE_H

#include <stdint.h>

typedef struct {
    uint64_t low, high;
} csse_xmm;

// The two-operand instructions `op dst, src` (xmm, xmm), in one list used for the enum here and
// the dispatch in csse.c.
#define CSSE_BINARY_OPS(X)                                                                          \
    X(addps) X(addss) X(addpd) X(addsd) X(subps) X(subss) X(subpd) X(subsd)                         \
    X(mulps) X(mulss) X(mulpd) X(mulsd) X(divps) X(divss) X(divpd) X(divsd)                         \
    X(minps) X(minss) X(minpd) X(minsd) X(maxps) X(maxss) X(maxpd) X(maxsd)                         \
    X(sqrtps) X(sqrtss) X(sqrtpd) X(sqrtsd) X(rcpps) X(rcpss) X(rsqrtps) X(rsqrtss)                 \
    X(andps) X(andnps) X(orps) X(xorps)                                                             \
    X(unpcklps) X(unpckhps) X(unpcklpd) X(unpckhpd)                                                 \
    X(cvtps2pd) X(cvtpd2ps) X(cvtss2sd) X(cvtsd2ss) X(cvtdq2ps) X(cvtps2dq) X(cvttps2dq)            \
    X(cvtdq2pd) X(cvtpd2dq) X(cvttpd2dq)

// The integer ones: MXCSR plays no part, so they run without loading it.
#define CSSE_INTEGER_OPS(X)                                                                         \
    X(paddb) X(paddw) X(paddd) X(paddq) X(psubb) X(psubw) X(psubd) X(psubq)                         \
    X(paddsb) X(paddsw) X(paddusb) X(paddusw) X(psubsb) X(psubsw) X(psubusb) X(psubusw)             \
    X(pcmpeqb) X(pcmpeqw) X(pcmpeqd) X(pcmpgtb) X(pcmpgtw) X(pcmpgtd)                               \
    X(pmullw) X(pmulhw) X(pmulhuw) X(pmuludq) X(pmaddwd) X(pavgb) X(pavgw) X(psadbw)                \
    X(pminub) X(pmaxub) X(pminsw) X(pmaxsw) X(pand) X(pandn) X(por) X(pxor)                         \
    X(psllw) X(pslld) X(psllq) X(psrlw) X(psrld) X(psrlq) X(psraw) X(psrad)                         \
    X(punpcklbw) X(punpcklwd) X(punpckldq) X(punpcklqdq)                                            \
    X(punpckhbw) X(punpckhwd) X(punpckhdq) X(punpckhqdq) X(packsswb) X(packuswb) X(packssdw)

#define CSSE_ENUM_CASE(name) csse_##name,
typedef enum { CSSE_BINARY_OPS(CSSE_ENUM_CASE) CSSE_INTEGER_OPS(CSSE_ENUM_CASE) csse_binary_count } csse_binary_op;
#undef CSSE_ENUM_CASE

/// Runs `op destination, source` with MXCSR = `mxcsr` (its masks forced on, its flags cleared);
/// returns the exception flags (MXCSR bits 5:0) the instruction raised. Every function below
/// returns the same and restores the host's MXCSR before it returns.
uint32_t csse_binary(csse_binary_op op, csse_xmm *destination, csse_xmm source, uint32_t mxcsr);

/// CMPPS/CMPPD/CMPSS/CMPSD `destination, source, predicate` (predicate 0-7); `kind` 0 ps, 1 pd,
/// 2 ss, 3 sd.
uint32_t csse_compare(int kind, int predicate, csse_xmm *destination, csse_xmm source, uint32_t mxcsr);

/// COMISS (kind 0), UCOMISS (1), COMISD (2), UCOMISD (3): writes the RFLAGS the host produced.
uint32_t csse_compare_flags(int kind, csse_xmm a, csse_xmm b, uint32_t mxcsr, uint64_t *rflags);

/// CVTSS2SI (kind 0), CVTTSS2SI (1), CVTSD2SI (2), CVTTSD2SI (3), to 32 or 64 bits (`wide`).
uint32_t csse_to_integer(int kind, int wide, csse_xmm source, uint32_t mxcsr, uint64_t *result);

/// CVTSI2SS (kind 0) or CVTSI2SD (1) of a 32- or 64-bit (`wide`) integer into the low element.
uint32_t csse_from_integer(int kind, int wide, csse_xmm *destination, uint64_t value, uint32_t mxcsr);

#endif
