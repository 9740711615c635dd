import CSSE

/// One x87 data register: the 80-bit extended-precision format (SDM vol. 1, 4.2.2), a 64-bit
/// significand with its explicit integer bit and a sign bit over a 15-bit exponent. MMX register
/// MMi is the significand of physical register Ri; an MMX write sets its exponent to all ones.
struct X87Register: Equatable {
    var significand: UInt64 = 0
    var signExponent: UInt16 = 0
}

/// The x87 FPU's state as FXSAVE and FNSAVE see it (SDM vol. 1, 8.1). Registers are kept by
/// physical number R0-R7; ST(i) is R((TOP + i) mod 8), with TOP in status bits 13:11.
struct X87State {
    /// The power-up values (SDM vol. 3, table 9-1); FNINIT sets 0x037F / 0 / all empty instead.
    var control: UInt16 = 0x0040
    var status: UInt16 = 0
    /// The full tag word, two bits per physical register (00 valid, 01 zero, 10 special, 11 empty);
    /// FXSAVE stores its abridged one-bit-per-register form.
    var tag: UInt16 = 0x5555
    var lastOpcode: UInt16 = 0  // the 11 low bits of the last non-control instruction's opcode
    var lastInstructionPointer: UInt64 = 0, lastInstructionSelector: UInt16 = 0
    var lastDataPointer: UInt64 = 0, lastDataSelector: UInt16 = 0
    var registers: (X87Register, X87Register, X87Register, X87Register, X87Register, X87Register, X87Register, X87Register) = (
        X87Register(), X87Register(), X87Register(), X87Register(), X87Register(), X87Register(), X87Register(), X87Register()
    )
}

/// The SSE state: XMM0-XMM15 (low and high quadwords) and MXCSR.
struct SSEState {
    var xmm:
        (
            (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64),
            (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64),
            (UInt64, UInt64), (UInt64, UInt64)
        ) = ((0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0))
    /// All exceptions masked, round to nearest (the power-up value).
    var mxcsr: UInt32 = 0x1F80
    /// Not architectural: where the host SSE helpers (CSSE) write results and RFLAGS, so that
    /// no local variable's address is passed to C on the decoded-block path.
    var hostResult = csse_xmm(low: 0, high: 0)
    var hostValue: UInt64 = 0
    /// The MXCSR bits software may set (FXSAVE stores it as MXCSR_MASK): FZ, RC, masks, flags; DAZ.
    static let mxcsrMask: UInt32 = 0xFFFF
}
