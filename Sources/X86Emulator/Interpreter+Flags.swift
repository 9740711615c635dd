/// Arithmetic with exact flags: the common operations keep them lazily (`LazyFlags`), the rest
/// compute them at once.
extension Interpreter {
    func add(_ a: UInt64, _ b: UInt64, carry: UInt64, size: Int) -> UInt64 {
        let m = mask(size)
        let a = a & m, b = b & m
        let full = a &+ b &+ carry
        let result = full & m
        let carryOut: Bool
        if size == 8 {
            let (partial, c1) = a.addingReportingOverflow(b)
            let (_, c2) = partial.addingReportingOverflow(carry)
            carryOut = c1 || c2
        } else {
            carryOut = full > m
        }
        let overflow = ((a ^ result) & (b ^ result) & signBit(size)) != 0
        setArithmeticFlags(result, size: size, carry: carryOut, overflow: overflow, adjust: ((a ^ b ^ result) & 0x10) != 0)
        return result
    }

    func subtract(_ a: UInt64, _ b: UInt64, borrow: UInt64, size: Int) -> UInt64 {
        let m = mask(size)
        let a = a & m, b = b & m
        let result = (a &- b &- borrow) & m
        let borrowOut = a < b || (borrow != 0 && a == b)
        let overflow = ((a ^ b) & (a ^ result) & signBit(size)) != 0
        setArithmeticFlags(result, size: size, carry: borrowOut, overflow: overflow, adjust: ((a ^ b ^ result) & 0x10) != 0)
        return result
    }

    /// AND, OR, XOR, TEST: CF and OF cleared, AF undefined (cleared here, as current CPUs do).
    func logic(_ result: UInt64, size: Int) -> UInt64 {
        setArithmeticFlags(result & mask(size), size: size, carry: false, overflow: false, adjust: false)
        return result & mask(size)
    }

    func setArithmeticFlags(_ result: UInt64, size: Int, carry: Bool, overflow: Bool, adjust: Bool) {
        var flags = state.pointee.rflags & ~CPUState.arithmeticFlags
        if carry { flags |= CPUState.cf }
        if overflow { flags |= CPUState.of }
        if adjust { flags |= CPUState.af }
        flags |= resultFlags(result, size: size)
        state.pointee.rflags = flags
    }

    /// Whether condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc) holds.
    func condition(_ cc: UInt8) -> Bool {
        let flags = state.pointee.rflags  // one read (not a copy of the whole state)
        let of = flags & CPUState.of != 0, cf = flags & CPUState.cf != 0, zf = flags & CPUState.zf != 0
        let sf = flags & CPUState.sf != 0
        let result: Bool
        switch cc >> 1 {
        case 0: result = of
        case 1: result = cf
        case 2: result = zf
        case 3: result = cf || zf
        case 4: result = sf
        case 5: result = flags & CPUState.pf != 0
        case 6: result = sf != of
        default: result = zf || sf != of
        }
        return cc & 1 == 0 ? result : !result
    }

    /// Shifts and rotates of group 2 (ROL ROR RCL RCR SHL SHR SAL SAR). Flags per SDM; where the
    /// manual leaves OF undefined (counts above 1) this follows what current Intel CPUs do.
    func shift(_ operation: Int, _ value: UInt64, count rawCount: UInt64, size: Int) -> UInt64 {
        let bits = UInt64(size * 8)
        let m = mask(size)
        let count = rawCount & (size == 8 ? 0x3F : 0x1F)
        guard count != 0 else { return value & m }
        let value = value & m
        // The flags in a local copy (copying the whole CPUState here cost a memmove per shift).
        // SHL/SHR/SAR with a count set every arithmetic flag, so the lazy flags of the previous
        // instruction are dropped unread rather than computed (in `mov; shr; adc` they were, a
        // sixth of that loop's time); the rotates keep some of them and need them.
        var s = FlagWord(operation >= 4 ? state.pointee.storedFlags : state.pointee.rflags)
        var result: UInt64
        switch operation {
        case 0:  // ROL
            let r = count % bits
            result = r == 0 ? value : ((value << r) | (value >> (bits - r))) & m
            s.setFlag(CPUState.cf, result & 1 != 0)
            s.setFlag(CPUState.of, ((result >> (bits - 1)) & 1) != (result & 1))
        case 1:  // ROR
            let r = count % bits
            result = r == 0 ? value : ((value >> r) | (value << (bits - r))) & m
            s.setFlag(CPUState.cf, result & signBit(size) != 0)
            s.setFlag(CPUState.of, ((result >> (bits - 1)) ^ (result >> (bits - 2))) & 1 != 0)
        case 2, 3:  // RCL, RCR through CF: rotate a (bits+1)-bit quantity one step at a time
            let r = count % (bits + 1)
            var carry = s.flag(CPUState.cf)
            result = value
            for _ in 0..<r {
                if operation == 2 {
                    let out = result & signBit(size) != 0
                    result = ((result << 1) | (carry ? 1 : 0)) & m
                    carry = out
                } else {
                    let out = result & 1 != 0
                    result = (result >> 1) | (carry ? signBit(size) : 0)
                    carry = out
                }
            }
            s.setFlag(CPUState.cf, carry)
            if operation == 2 {
                s.setFlag(CPUState.of, (result & signBit(size) != 0) != carry)
            } else {
                s.setFlag(CPUState.of, ((result >> (bits - 1)) ^ (result >> (bits - 2))) & 1 != 0)
            }
        case 4, 6:  // SHL/SAL
            result = count >= bits ? 0 : (value << count) & m
            let carry = count <= bits ? (value >> (bits - count)) & 1 != 0 : false
            state.pointee.rflags = s.rflags
            setArithmeticFlags(result, size: size, carry: carry, overflow: (result & signBit(size) != 0) != carry, adjust: false)
            return result
        case 5:  // SHR
            result = count >= bits ? 0 : value >> count
            let carry = count <= bits ? (value >> (count - 1)) & 1 != 0 : false
            state.pointee.rflags = s.rflags
            setArithmeticFlags(result, size: size, carry: carry, overflow: value & signBit(size) != 0, adjust: false)
            return result
        default:  // SAR
            let signed = Int64(bitPattern: signExtend(value, from: size))
            let shifted = signed >> Int64(min(count, 63))
            result = UInt64(bitPattern: shifted) & m
            let carry = (signed >> Int64(min(count - 1, 63))) & 1 != 0
            state.pointee.rflags = s.rflags
            setArithmeticFlags(result, size: size, carry: carry, overflow: false, adjust: false)
            return result
        }
        state.pointee.rflags = s.rflags
        return result
    }

    // MARK: - Lazily kept flags

    /// The eight classic ALU operations, in their opcode order (ADD OR ADC SBB AND SUB XOR CMP),
    /// keeping the flags lazily; ADC and SBB read CF from the lazy state without materializing the
    /// rest (in `shr; adc` the flags of the shift are never computed beyond CF).
    @_transparent
    func alu(_ operation: UInt8, _ a: UInt64, _ b: UInt64, size: Int, mask m: UInt64? = nil) -> UInt64 {
        let m = m ?? mask(size)
        let a = a & m, b = b & m
        let result: UInt64
        let kind: LazyFlags.Kind
        switch operation {
        case 0:
            result = (a &+ b) & m
            kind = .add
        case 5, 7:
            result = (a &- b) & m
            kind = .subtract
        case 1:
            result = a | b
            kind = .logic
        case 4:
            result = a & b
            kind = .logic
        case 6:
            result = a ^ b
            kind = .logic
        default:  // ADC (2), SBB (3)
            let carryIn = state.pointee.lazyFlags.carry(storedCarry: state.pointee.storedFlags & CPUState.cf != 0)
            let carry: UInt64 = carryIn ? 1 : 0
            if operation == 2 {
                result = (a &+ b &+ carry) & m
                kind = carryIn ? .addWithCarry : .add
            } else {
                result = (a &- b &- carry) & m
                kind = carryIn ? .subtractWithBorrow : .subtract
            }
        }
        state.pointee.lazyFlags = LazyFlags(kind: kind, size: UInt8(size), a: a, b: b, result: result)
        return result
    }

    /// INC/DEC: CF keeps its value, so it is settled into the stored flags first.
    @_transparent
    func incrementOrDecrement(_ value: UInt64, decrement: Bool, size: Int, mask m: UInt64? = nil) -> UInt64 {
        let m = m ?? mask(size)
        let a = value & m
        let flags = state.pointee.storedFlags
        let carry = state.pointee.lazyFlags.carry(storedCarry: flags & CPUState.cf != 0)
        state.pointee.storedFlags = flags & ~CPUState.cf | (carry ? CPUState.cf : 0)
        let result = (decrement ? a &- 1 : a &+ 1) & m
        state.pointee.lazyFlags = LazyFlags(kind: decrement ? .decrement : .increment, size: UInt8(size), a: a, b: 1, result: result)
        return result
    }

    /// Condition code `cc` from the lazy flags without materializing all of RFLAGS.
    @_transparent
    func fastCondition(_ cc: UInt8) -> Bool {
        let kind = state.pointee.lazyFlags.kind
        let result: Bool
        // JZ/JNZ first: the most common condition needs only the result.
        if cc >> 1 == 2 && kind != .none {
            result = state.pointee.lazyFlags.result == 0
        } else if (kind == .subtract || kind == .logic || kind == .add) && cc >> 1 != 5 {
            result = lazyCondition(cc)
        } else {
            return condition(cc)
        }
        return cc & 1 == 0 ? result : !result
    }

    /// The even condition `cc & ~1` after ADD, SUB/CMP or a logic operation (not INC/DEC, whose
    /// CF is the stored one), from operands and result.
    @_transparent
    func lazyCondition(_ cc: UInt8) -> Bool {
        let lazy = state.pointee.lazyFlags
        switch cc >> 1 {
        case 0: return lazy.overflow
        case 1: return lazy.carry(storedCarry: false)
        case 2: return lazy.zero
        case 3: return lazy.carry(storedCarry: false) || lazy.zero
        case 4: return lazy.sign
        case 6: return lazy.sign != lazy.overflow
        default: return lazy.zero || lazy.sign != lazy.overflow
        }
    }
}

/// RFLAGS as a value with the same `flag`/`setFlag` vocabulary as `CPUState`.
struct FlagWord {
    var rflags: UInt64
    init(_ rflags: UInt64) { self.rflags = rflags }
    func flag(_ bit: UInt64) -> Bool { rflags & bit != 0 }
    mutating func setFlag(_ bit: UInt64, _ on: Bool) {
        if on { rflags |= bit } else { rflags &= ~bit }
    }
}

/// ZF, SF and PF of a result of `size` bytes (shared by the eager and the lazy flags).
func resultFlags(_ result: UInt64, size: Int) -> UInt64 {
    var flags: UInt64 = 0
    if result & mask(size) == 0 { flags |= CPUState.zf }
    if result & signBit(size) != 0 { flags |= CPUState.sf }
    if UInt8(truncatingIfNeeded: result).nonzeroBitCount % 2 == 0 { flags |= CPUState.pf }
    return flags
}
