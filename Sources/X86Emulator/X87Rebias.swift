/// Unmasked overflow and underflow of FADD, FSUB(R), FMUL, FDIV(R) and FSCALE with a register
/// destination (SDM vol. 1, 4.9.1.4-5): the CPU delivers the exact result scaled by 2^-24576
/// (overflow) or 2^24576 (underflow), rounded to the precision control, with C1 its round-up
/// indication; and with underflow unmasked, a tiny result signals underflow even when exact.
///
/// The host computes it without ever unmasking: the same instruction runs again on operands
/// scaled by powers of two into the middle of the exponent range, where nothing over- or
/// underflows, so the rounded significand is the one the CPU computes; the exponent is then put
/// back and wrapped. Scaling by a power of two is exact, and an addend that the scaling would push
/// below the range only counts as a sticky bit there, so it is held 200 binades down instead.
enum X87Rebias {
    /// The operation of an arithmetic form (ModRM.reg: 0 add, 1 mul, 4/5 sub/subr, 6/7 div/divr),
    /// nil for any other instruction.
    static func arithmetic(_ opcode: UInt8, _ modrm: UInt8) -> Int? {
        let reg = Int(modrm >> 3) & 7
        guard reg != 2 && reg != 3 else { return nil }
        if modrm < 0xC0 { return [0xD8, 0xDA, 0xDC, 0xDE].contains(opcode) ? reg : nil }
        return [0xD8, 0xDC, 0xDE].contains(opcode) ? reg : nil
    }

    /// A finite nonzero value as sign, unbiased exponent and normalized significand; nil for zeros,
    /// infinities, NaNs and unnormals.
    static func unpack(_ value: X87Register) -> (sign: UInt16, exponent: Int, significand: UInt64)? {
        let biased = Int(value.signExponent & 0x7FFF)
        guard biased != 0x7FFF, value.significand != 0 else { return nil }
        if biased == 0 {  // denormal or pseudo-denormal: exponent 1 - bias, normalized here
            let shift = value.significand.leadingZeroBitCount
            return (value.signExponent & 0x8000, -16382 - shift, value.significand << UInt64(shift))
        }
        guard value.significand >> 63 != 0 else { return nil }
        return (value.signExponent & 0x8000, biased - 16383, value.significand)
    }

    static func pack(_ sign: UInt16, _ exponent: Int, _ significand: UInt64) -> X87Register {
        X87Register(significand: significand, signExponent: sign | UInt16(exponent + 16383))
    }

    /// The memory operand of an arithmetic form as an extended value (the conversion is exact).
    static func memoryOperand(_ opcode: UInt8, _ operand: (UInt64, UInt64)) -> X87Register? {
        let raw = operand.0
        switch opcode {
        case 0xD8, 0xDC:  // m32real, m64real
            let (exponentBits, fractionBits): (Int, Int) = opcode == 0xD8 ? (8, 23) : (11, 52)
            let bits = opcode == 0xD8 ? raw & 0xFFFF_FFFF : raw
            let sign: UInt16 = bits >> UInt64(exponentBits + fractionBits) & 1 != 0 ? 0x8000 : 0
            let biased = Int(bits >> UInt64(fractionBits)) & ((1 << exponentBits) - 1)
            let fraction = bits & ((1 << UInt64(fractionBits)) - 1)
            let bias = (1 << (exponentBits - 1)) - 1
            guard biased != (1 << exponentBits) - 1, biased != 0 || fraction != 0 else { return nil }
            if biased == 0 {
                let shift = fraction.leadingZeroBitCount
                return pack(sign, 1 - bias - fractionBits - 1 + (64 - shift), fraction << UInt64(shift))
            }
            return pack(sign, biased - bias, (1 << 63) | fraction << UInt64(63 - fractionBits))
        default:  // m32int (DA), m16int (DE)
            let value = opcode == 0xDA ? Int64(Int32(truncatingIfNeeded: raw)) : Int64(Int16(truncatingIfNeeded: raw))
            guard value != 0 else { return nil }
            let magnitude = value.magnitude
            let shift = magnitude.leadingZeroBitCount
            return pack(value < 0 ? 0x8000 : 0, 63 - shift, magnitude << UInt64(shift))
        }
    }

    /// The CPU's state after an arithmetic instruction whose overflow or underflow is unmasked,
    /// from the masked result `host`; nil when that does not apply.
    static func response(
        opcode: UInt8, modrm: UInt8, before: X87State, host: X87State, operand: (UInt64, UInt64)
    ) -> X87State? {
        if opcode == 0xD9 && modrm == 0xFD { return scaleResponse(before: before, host: host) }
        guard let operation = arithmetic(opcode, modrm) else { return nil }
        let unmasked = ~before.control & (X87State.overflow | X87State.underflow)
        let raised = host.status & (X87State.overflow | X87State.underflow)
        let isMemory = modrm < 0xC0
        let index = isMemory ? 0 : Int(modrm & 7)
        let destination = before.top + (opcode == 0xD8 || isMemory ? 0 : index)
        let masked = host.register(physical: destination)
        let tinyExact = unmasked & X87State.underflow != 0 && masked.signExponent & 0x7FFF == 0 && masked.significand != 0
        guard raised & unmasked != 0 || tinyExact else { return nil }
        let first = before.stack(0)
        let second = isMemory ? (memoryOperand(opcode, operand) ?? X87Register()) : before.stack(index)
        // A sum with a zero is the other operand (a tiny one signals underflow when unmasked):
        // the zero stays a zero of its sign through the scaling.
        let isAddition = operation == 0 || operation == 4 || operation == 5
        func zero(_ value: X87Register) -> (sign: UInt16, exponent: Int, significand: UInt64)? {
            isAddition && value.signExponent & 0x7FFF == 0 && value.significand == 0 ? (value.signExponent & 0x8000, Int.min / 2, 0) : nil
        }
        guard let a = unpack(first) ?? zero(first), let b = unpack(second) ?? zero(second), a.significand != 0 || b.significand != 0 else {
            return nil
        }

        // Scale into the middle of the range; `correction` is what the result's exponent lacks.
        var scaledA: X87Register, scaledB: X87Register, correction: Int
        switch operation {
        case 1, 6, 7:
            scaledA = pack(a.sign, 0, a.significand)
            scaledB = pack(b.sign, 0, b.significand)
            correction = operation == 1 ? a.exponent + b.exponent : (operation == 6 ? a.exponent - b.exponent : b.exponent - a.exponent)
        default:
            let top = max(a.exponent, b.exponent)
            scaledA =
                a.significand == 0 ? X87Register(significand: 0, signExponent: a.sign) : pack(a.sign, max(a.exponent - top, -200), a.significand)
            scaledB =
                b.significand == 0 ? X87Register(significand: 0, signExponent: b.sign) : pack(b.sign, max(b.exponent - top, -200), b.significand)
            correction = top
        }
        var scaled = before
        scaled.status &= ~(X87State.exceptionFlags | X87State.stackFault | X87State.errorSummary | X87State.busy)
        let other = isMemory ? 1 : index
        scaled.setRegister(physical: before.top + other, scaledB)
        if other != 0 { scaled.setRegister(physical: before.top, scaledA) }
        scaled.tag &= ~(3 << (2 * UInt16((before.top + other) & 7)))  // ST(1) holds the memory operand
        var buffer = X87OperandBuffer()
        var flags: UInt8 = 2
        let form = isMemory ? 0xC1 | modrm & 0x38 : modrm
        guard let rerun = runOnHostFPU(opcode: isMemory ? 0xD8 : opcode, modrm: form, scaled, &buffer, flags: &flags),
            let result = unpack(rerun.register(physical: destination))
        else { return nil }
        let exponent = result.exponent + correction
        guard let (wrapped, flag) = wrap(exponent, unmasked: unmasked) else { return nil }
        guard wrapped > -16383 && wrapped < 16384 else { return nil }
        var state = host
        state.setRegister(physical: destination, pack(result.sign, wrapped, result.significand))
        state.recomputeTags(from: host.tag)
        let kept = host.status & ~(X87State.overflow | X87State.underflow | X87State.precision | X87State.c1)
        state.status = kept | flag | rerun.status & (X87State.precision | X87State.c1)
        return state
    }

    /// The exponent an unmasked overflow (less 24576) or underflow (plus 24576) delivers, with
    /// the flag; nil when `exponent` is in range or the exception is masked.
    static func wrap(_ exponent: Int, unmasked: UInt16) -> (Int, UInt16)? {
        if exponent > 16383 && unmasked & X87State.overflow != 0 { return (exponent - 24576, X87State.overflow) }
        if exponent < -16382 && unmasked & X87State.underflow != 0 { return (exponent + 24576, X87State.underflow) }
        return nil
    }

    /// FSCALE: ST(0) * 2^trunc(ST(1)) is exact, so with overflow or underflow unmasked the CPU
    /// delivers ST(0)'s significand with the wrapped exponent.
    static func scaleResponse(before: X87State, host: X87State) -> X87State? {
        let unmasked = ~before.control & (X87State.overflow | X87State.underflow)
        let masked = host.stack(0)
        let tinyExact = unmasked & X87State.underflow != 0 && masked.signExponent & 0x7FFF == 0 && masked.significand != 0
        guard host.status & (X87State.overflow | X87State.underflow) & unmasked != 0 || tinyExact,
            let value = unpack(before.stack(0)), let scale = unpack(before.stack(1))
        else { return nil }
        // Truncated toward zero; a scale of 2^62 or more is out of any range (held at 2^40).
        let magnitude = scale.exponent >= 62 ? 1 << 40 : Int(scale.significand >> UInt64(63 - scale.exponent))
        let exponent = value.exponent + (scale.sign != 0 ? -magnitude : magnitude)
        guard let (wrapped, flag) = wrap(exponent, unmasked: unmasked) else { return nil }
        var state = host
        state.status = host.status & ~(X87State.overflow | X87State.underflow | X87State.precision | X87State.c1) | flag
        if wrapped <= -16383 && flag == X87State.underflow {
            // Still too small after the wrap: the CPU delivers a signed zero, inexact (measured).
            state.setRegister(physical: host.top, X87Register(significand: 0, signExponent: value.sign))
            state.status |= X87State.precision
        } else if wrapped >= 16384 && flag == X87State.overflow {
            // Still too large: a signed infinity whatever the rounding, inexact, rounded up (measured).
            state.setRegister(physical: host.top, X87Register(significand: 1 << 63, signExponent: value.sign | 0x7FFF))
            state.status |= X87State.precision | X87State.c1
        } else {
            guard wrapped > -16383 && wrapped < 16384 else { return nil }
            state.setRegister(physical: host.top, pack(value.sign, wrapped, value.significand))
        }
        state.recomputeTags(from: host.tag)
        return state
    }
}
