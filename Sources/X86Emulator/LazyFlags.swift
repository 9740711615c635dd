/// The arithmetic flags of the last flag-setting instruction on the fast path, kept as its inputs
/// and result and computed only when something reads them (most are overwritten unread: in
/// `add; xor; dec; jnz` only the last ZF is ever looked at).
struct LazyFlags {
    enum Kind: UInt8 {
        /// The flags are in `CPUState.storedFlags`.
        case none
        case add, subtract, logic
        /// INC/DEC: as ADD/SUB of 1, but CF is the stored one.
        case increment, decrement
        /// ADC/SBB with a carry-in of 1 (with 0 they are `add`/`subtract`): the carry-in is part of
        /// the kind, so carry-chain loops keep their flags lazy too.
        case addWithCarry, subtractWithBorrow
    }

    var kind = Kind.none
    /// Operand size in bytes; `a`, `b` and `result` are already masked to it.
    var size: UInt8 = 4
    var a: UInt64 = 0
    var b: UInt64 = 0
    var result: UInt64 = 0

    @inline(__always) var signMask: UInt64 { 1 &<< (UInt64(size) &* 8 &- 1) }

    @inline(__always) var zero: Bool { result == 0 }
    @inline(__always) var sign: Bool { result & signMask != 0 }

    /// CF; `storedCarry` is the flag before an INC/DEC.
    @inline(__always) func carry(storedCarry: Bool) -> Bool {
        // Compares instead of a switch: no jump table on the INC/DEC and Jcc paths.
        if kind == .add { return result < a }
        if kind == .subtract { return a < b }
        if kind == .logic { return false }
        if kind == .addWithCarry { return result <= a }  // a + b + 1 wrapped
        if kind == .subtractWithBorrow { return a <= b }  // a - b - 1 borrowed
        return storedCarry  // INC, DEC, or flags already stored
    }

    @inline(__always) var overflow: Bool {
        switch kind {
        case .add, .increment, .addWithCarry: return (a ^ result) & (b ^ result) & signMask != 0
        case .subtract, .decrement, .subtractWithBorrow: return (a ^ b) & (a ^ result) & signMask != 0
        case .logic, .none: return false
        }
    }

    /// CF, PF, AF, ZF, SF and OF as RFLAGS bits.
    func arithmeticFlags(storedCarry: Bool) -> UInt64 {
        var flags = resultFlags(result, size: Int(size))
        if carry(storedCarry: storedCarry) { flags |= CPUState.cf }
        // AND/OR/XOR/TEST leave AF undefined; cleared, as the eager path and current CPUs do.
        if kind != .logic && (a ^ b ^ result) & 0x10 != 0 { flags |= CPUState.af }
        if overflow { flags |= CPUState.of }
        return flags
    }
}
