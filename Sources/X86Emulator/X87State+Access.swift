/// The x87 state's fields as the instructions use them: status bits, TOP, registers by stack
/// position, tags, the error summary.
extension X87State {
    // Status word bits (SDM vol. 1, 8.1.3): the exception flags, stack fault, error summary,
    // condition codes, busy.
    static let invalid: UInt16 = 0x01, denormal: UInt16 = 0x02, zeroDivide: UInt16 = 0x04
    static let overflow: UInt16 = 0x08, underflow: UInt16 = 0x10, precision: UInt16 = 0x20
    static let stackFault: UInt16 = 0x40, errorSummary: UInt16 = 0x80, busy: UInt16 = 0x8000
    static let c0: UInt16 = 0x100, c1: UInt16 = 0x200, c2: UInt16 = 0x400, c3: UInt16 = 0x4000
    static let exceptionFlags: UInt16 = 0x3F
    static let topMask: UInt16 = 0x3800
    /// The control word after FNINIT: all exceptions masked, 64-bit precision, round to nearest.
    static let initialControl: UInt16 = 0x037F

    var top: Int {
        get { Int(status >> 11) & 7 }
        set { status = status & ~Self.topMask | UInt16(newValue & 7) << 11 }
    }

    func register(physical index: Int) -> X87Register {
        withUnsafeBytes(of: registers) { $0.load(fromByteOffset: (index & 7) * MemoryLayout<X87Register>.stride, as: X87Register.self) }
    }

    mutating func setRegister(physical index: Int, _ value: X87Register) {
        withUnsafeMutableBytes(of: &registers) {
            $0.storeBytes(of: value, toByteOffset: (index & 7) * MemoryLayout<X87Register>.stride, as: X87Register.self)
        }
    }

    /// ST(i).
    func stack(_ i: Int) -> X87Register { register(physical: top + i) }

    /// A register's tag as FNSTENV reports it, from its contents (SDM vol. 1, 8.1.7): 00 valid,
    /// 01 zero, 10 special (NaN, infinity, denormal, unnormal, pseudo-denormal).
    static func tag(of value: X87Register) -> UInt16 {
        let exponent = value.signExponent & 0x7FFF
        if exponent == 0 { return value.significand == 0 ? 1 : 2 }
        if exponent == 0x7FFF || value.significand >> 63 == 0 { return 2 }
        return 0
    }

    /// The tag word with every non-empty register's tag recomputed from its contents: the CPU
    /// keeps only empty / not empty, and stores the rest computed.
    mutating func recomputeTags(from loaded: UInt16) {
        var word: UInt16 = 0
        for index in 0..<8 {
            let empty = (loaded >> (2 * UInt16(index))) & 3 == 3
            word |= (empty ? 3 : Self.tag(of: register(physical: index))) << (2 * UInt16(index))
        }
        tag = word
    }

    /// ES and B follow the flags: set while any flag the control word does not mask is set. FLDCW,
    /// FLDENV and FRSTOR can so make an exception pending, or clear one.
    mutating func updateErrorSummary() {
        if status & ~control & Self.exceptionFlags != 0 {
            status |= Self.errorSummary | Self.busy
        } else {
            status &= ~(Self.errorSummary | Self.busy)
        }
    }

    /// FNINIT (and the end of FNSAVE): control 0x037F, status and pointers 0, all registers empty.
    /// The register contents stay (SDM vol. 1, FINIT: "the contents of the data registers are not
    /// changed").
    mutating func reinitialize() {
        control = Self.initialControl
        status = 0
        tag = 0xFFFF
        lastOpcode = 0
        lastInstructionPointer = 0
        lastInstructionSelector = 0
        lastDataPointer = 0
        lastDataSelector = 0
    }
}
