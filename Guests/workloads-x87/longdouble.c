/* An x87 workload: printf-style formatting of long double (%Le and %Lf done by hand, as a libc
 * does it: scaling by powers of ten, digit extraction through integer conversions) and the x87
 * transcendental instructions, under every rounding and precision control. Built twice from this
 * one file: as a freestanding static 64-bit guest (GUEST defined: output to port 0xE9, the end
 * through port 0xF4) and as a host program (output to stdout); the two outputs must be equal.
 * gcc -O2 -mno-sse: long double and double then compile to x87 code (the software backend's SSE
 * is another engineer's, on another branch). */
typedef unsigned long u64;
typedef unsigned short u16;
typedef long long s64;

#ifdef GUEST
static void put(char c) { __asm__ volatile("outb %0, $0xE9" : : "a"(c)); }
#else
#include <unistd.h>
static char buffer[1 << 16];
static unsigned long used;
static void put(char c) { if (used < sizeof buffer) buffer[used++] = c; }
#endif

static void puts_(const char *s) { while (*s) put(*s++); }
static void hex(u64 v, int digits) {
    for (int i = digits - 1; i >= 0; i--) put("0123456789abcdef"[(v >> (4 * i)) & 15]);
}
static void raw(long double x) {  /* the exact 80 bits */
    union { long double x; struct { u64 significand; u16 exponent; } parts; } u = { .x = x };
    hex(u.parts.exponent, 4); put(':'); hex(u.parts.significand, 16);
}
static void decimal(s64 v) {
    char digits[24]; int n = 0; u64 m = v < 0 ? -(u64)v : (u64)v;
    if (v < 0) put('-');
    do { digits[n++] = '0' + m % 10; m /= 10; } while (m);
    while (n) put(digits[--n]);
}

static u16 control_word(void) { u16 cw; __asm__ volatile("fnstcw %0" : "=m"(cw)); return cw; }
static void set_control_word(u16 cw) { __asm__ volatile("fldcw %0" : : "m"(cw)); }

static long double ld_abs(long double x) { return x < 0 ? -x : x; }
static long double fyl2x(long double y, long double x) { long double r; __asm__("fyl2x" : "=t"(r) : "0"(x), "u"(y) : "st(1)"); return r; }
static long double log10l_(long double x) { long double r; __asm__("fldlg2; fxch; fyl2x" : "=t"(r) : "0"(x)); return r; }
static long double frndint(long double x) { long double r; __asm__("frndint" : "=t"(r) : "0"(x)); return r; }
static long double fscale(long double x, long double n) { long double r; __asm__("fscale" : "=t"(r) : "0"(x), "u"(n)); return r; }
static long double pow10l_(int n) {  /* 10^n by squaring, exact up to 10^27 */
    long double r = 1, b = 10; int m = n < 0 ? -n : n;
    while (m) { if (m & 1) r *= b; b *= b; m >>= 1; }
    return n < 0 ? 1 / r : r;
}

/* %.<precision>Le */
static void format_e(long double x, int precision) {
    if (x != x) { puts_("nan"); return; }
    if (x < 0 || (x == 0 && 1 / x < 0)) { put('-'); x = -x; }
    if (x == 1 / 0.0L) { puts_("inf"); return; }
    int exponent = 0;
    if (x != 0) {
        exponent = (int)frndint(log10l_(x) - 0.5L);
        x = x * pow10l_(-exponent / 2) * pow10l_(-(exponent - exponent / 2));  /* halves: 10^4937 overflows */
        for (int i = 0; i < 4 && x >= 10; i++) { x /= 10; exponent++; }
        for (int i = 0; i < 4 && x < 1; i++) { x *= 10; exponent--; }
    }
    x += 0.5L * pow10l_(-precision);
    if (x >= 10) { x /= 10; exponent++; }
    int d = (int)x;  /* gcc: fnstcw, fldcw (truncate), fistp, fldcw */
    put('0' + d); put('.');
    for (int i = 0; i < precision; i++) { x = (x - d) * 10; d = (int)x; put('0' + d); }
    put('e'); put(exponent < 0 ? '-' : '+'); if (ld_abs(exponent) < 10) put('0'); decimal(exponent < 0 ? -exponent : exponent);
}

/* %.<precision>Lf for moderate values */
static void format_f(long double x, int precision) {
    if (x < 0) { put('-'); x = -x; }
    x += 0.5L * pow10l_(-precision);
    s64 whole = (s64)x;
    decimal(whole); put('.');
    x -= whole;
    for (int i = 0; i < precision; i++) { x *= 10; int d = (int)x; put('0' + d); x -= d; }
}

static void line(const char *name, long double x) {
    puts_(name); puts_(" = "); format_e(x, 18); puts_("  "); raw(x); put('\n');
}

static void run(void) {
    long double pi, l2e, l2t, lg2, ln2;
    __asm__("fldpi" : "=t"(pi)); __asm__("fldl2e" : "=t"(l2e)); __asm__("fldl2t" : "=t"(l2t));
    __asm__("fldlg2" : "=t"(lg2)); __asm__("fldln2" : "=t"(ln2));
    line("pi", pi); line("log2(e)", l2e); line("log2(10)", l2t); line("log10(2)", lg2); line("ln(2)", ln2);

    /* e and pi from series, in long double */
    long double e = 1, term = 1;
    for (int n = 1; n < 30; n++) { term /= n; e += term; }
    line("e (series)", e);
    long double atan5 = 0, atan239 = 0, p5 = 1.0L / 5, p239 = 1.0L / 239;
    for (int k = 0; k < 40; k++) {
        long double sign = k & 1 ? -1 : 1;
        atan5 += sign * p5 / (2 * k + 1); p5 /= 25;
        atan239 += sign * p239 / (2 * k + 1); p239 /= 239 * 239;
    }
    line("pi (Machin)", 16 * atan5 - 4 * atan239);

    /* the transcendental instructions */
    for (int i = -3; i <= 3; i++) {
        long double x = i * 0.7L, s, c, t, one, a, m;
        __asm__("fsincos" : "=t"(c), "=u"(s) : "0"(x));
        __asm__("fptan" : "=t"(one), "=u"(t) : "0"(x));
        __asm__("fpatan" : "=t"(a) : "0"(x), "u"(1.5L) : "st(1)");
        __asm__("f2xm1" : "=t"(m) : "0"(x / 4));
        puts_("x="); format_f(x, 3); put('\n');
        line("  sin", s); line("  cos", c); line("  tan", t); line("  atan2(1.5,x)", a); line("  2^(x/4)-1", m);
        long double lp; __asm__("fyl2xp1" : "=t"(lp) : "0"(x / 8), "u"(3.0L) : "st(1)");
        line("  3*log2(1+x/8)", lp);
    }
    line("sin(1e19) (out of range: C2)", ({ long double r; __asm__("fsin" : "=t"(r) : "0"(1e19L)); r; }));
    line("log2(3)", fyl2x(1, 3));
    line("sqrt(2)", ({ long double r; __asm__("fsqrt" : "=t"(r) : "0"(2.0L)); r; }));
    line("fscale(1.5, -16400) (denormal)", fscale(1.5L, -16400));
    line("fscale(1.5, 16000)", fscale(1.5L, 16000));
    line("1e4000L", 1e4000L);
    line("-0", -0.0L);
    line("inf", 1 / 0.0L);
    line("nan (0/0)", ({ volatile long double z = 0; z / z; }));
    line("fprem(1e30, pi)", ({ long double r; __asm__("1: fprem; fnstsw %%ax; testb $4, %%ah; jnz 1b" : "=t"(r) : "0"(1e30L), "u"(pi) : "ax"); r; }));

    /* every rounding and precision control */
    u16 saved = control_word();
    for (int rc = 0; rc < 4; rc++) {
        for (int pc = 0; pc < 4; pc++) {
            set_control_word((saved & ~0xF00) | rc << 10 | pc << 8);
            volatile long double third = 1.0L / 3, big = 2.0L / 3 * 1e10L;
            long double sum = third + big, root;
            __asm__("fsqrt" : "=t"(root) : "0"(sum));
            s64 rounded; __asm__("fistpll %0" : "=m"(rounded) : "t"(sum * 7) : "st");
            set_control_word(saved);
            puts_("rc="); decimal(rc); puts_(" pc="); decimal(pc); puts_(": "); raw(third); put(' '); raw(root); put(' '); decimal(rounded); put('\n');
        }
    }

    /* integers and packed BCD */
    long double limits[] = { 9.2233720368547758e18L, -9.2233720368547758e18L, 1e19L, -2.5L, 2.5L, 3.5L };
    for (unsigned i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        s64 v; __asm__("fistpll %0" : "=m"(v) : "t"(limits[i]) : "st");
        unsigned char bcd[10]; __asm__("fbstp %0" : "=m"(bcd) : "t"(limits[i] / 1e3L) : "st");
        long double back; __asm__("fbld %1" : "=t"(back) : "m"(bcd));
        puts_("int "); hex((u64)v, 16); puts_(" bcd "); for (int k = 9; k >= 0; k--) hex(bcd[k], 2); puts_(" back "); raw(back); put('\n');
    }

    /* a table as printf("%10.4Lf") would print it */
    for (int i = 1; i <= 12; i++) {
        long double x = pow10l_(i - 4) * pi;
        format_f(x, 4); puts_("  "); format_e(x / 7, 10); put('\n');
    }
    puts_("status "); hex(({ u16 sw; __asm__("fnstsw %0" : "=am"(sw)); sw; }) & 0x3F, 2); put('\n');
}

#ifdef GUEST
void _start(void) {
    __asm__ volatile("fninit");
    run();
    __asm__ volatile("outb %0, $0xF4" : : "a"((char)0));
    for (;;) __asm__ volatile("hlt");
}
#else
int main(void) {
    __asm__ volatile("fninit");
    run();
    return write(1, buffer, used) == (long)used ? 0 : 1;
}
#endif
