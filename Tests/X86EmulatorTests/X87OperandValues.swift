import VMCore

/// Operands that matter for the x87 checks: signed zeros, denormals, pseudo-denormals,
/// unnormals, infinities, pseudo-infinities, QNaN/SNaN with payloads, the indefinite, values
/// near the exponent limits and the integer conversion limits, halves for rounding.
struct X87OperandValues {
    var random: SplitMix64

    mutating func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }

    /// An 80-bit register value: (significand, sign and exponent).
    mutating func extended() -> (UInt64, UInt16) {
        let sign: UInt16 = chance(50) ? 0x8000 : 0
        let payload = random.next()
        switch random.next() % 16 {
        case 0: return (0, sign)  // zero
        case 1: return ((payload >> 1) >> (random.next() % 60), sign)  // denormal
        case 2: return (payload | 1 << 63, sign)  // pseudo-denormal
        case 3: return (payload >> 1, sign | UInt16(1 + random.next() % 0x7FFE))  // unnormal
        case 4: return (1 << 63, sign | 0x7FFF)  // infinity
        case 5: return (payload | 3 << 62, sign | 0x7FFF)  // QNaN
        case 6: return ((payload & ~(1 << 62)) | 1 << 63 | 1, sign | 0x7FFF)  // SNaN
        case 7: return (3 << 62, 0xFFFF)  // the indefinite
        case 8: return (payload | 1 << 63, sign | UInt16(pick([1, 2, 0x7FFE, 0x7FFD, 0x3FFF - 64, 0x3FFF + 64])))  // exponent limits
        case 9:  // integer limits: 2^15, 2^31, 2^63, 10^18, and just below or above
            let exponent = pick([15, 16, 31, 32, 59, 63, 64])
            return (pick([1 << 63, UInt64.max, 1 << 63 | 1, 1 << 63 | 1 << 62]), sign | UInt16(0x3FFF + exponent - 1))
        case 10: return (1 << 63 | 1 << (62 - random.next() % 8), sign | UInt16(0x3FFF + random.next() % 8))  // halves
        case 11: return (1 << 63, sign | 0x3FFF)  // one
        case 12: return (payload & ((1 << 63) - 1), sign | 0x7FFF)  // pseudo-NaN or pseudo-infinity
        default: return (payload | 1 << 63, sign | UInt16(0x3FFF - 40 + random.next() % 80))  // ordinary
        }
    }

    /// A memory operand of `size` bytes for `opcode` (which says integer, real or BCD).
    mutating func memory(opcode: UInt8, reg: Int, size: Int) -> [UInt8] {
        var value: UInt64
        let payload = random.next()
        let integer = opcode == 0xDA || opcode == 0xDE || (opcode == 0xDB && reg == 0) || (opcode == 0xDF && (reg == 0 || reg == 5))
        if size == 10 {
            if opcode == 0xDF {  // BCD: decimal digits, sometimes invalid nibbles
                var digits: UInt64 = 0
                for nibble in 0..<16 { digits |= UInt64(chance(5) ? 10 + random.next() % 6 : random.next() % 10) << (4 * UInt64(nibble)) }
                let top = UInt16(random.next() % 100 / 10) << 4 | UInt16(random.next() % 10)
                let sign: UInt16 = chance(50) ? 0x8000 : 0
                return bytes(digits, 8) + bytes(UInt64(sign | (chance(10) ? UInt16(truncatingIfNeeded: payload >> 48) & 0x7F00 : 0) | top), 2)
            }
            let (significand, signExponent) = extended()
            return bytes(significand, 8) + bytes(UInt64(signExponent), 2)
        }
        if integer {
            let bits = UInt64(size * 8)
            let limits: [UInt64] = [0, 1, UInt64.max, 1 << (bits - 1), (1 << (bits - 1)) &- 1, (1 << (bits - 1)) &+ 1]
            value = chance(60) ? pick(limits) : payload
            return bytes(value, size)
        }
        let sign: UInt64 = chance(50) ? 1 << (UInt64(size) * 8 - 1) : 0
        if size == 4 {
            value = pick([
                0, 1 + payload % 0x7F_FFFF, 0x7F80_0000, 0x7FC0_0000 | payload & 0x3F_FFFF, 0x7F80_0001 | payload & 0x1F_FFFF,
                0x3F80_0000, 0x0080_0000, 0x7F7F_FFFF, UInt64(UInt32(truncatingIfNeeded: payload)) & 0x7FFF_FFFF,
            ])
        } else {
            value = pick([
                0, 1 + payload % 0xF_FFFF_FFFF_FFFF, 0x7FF0_0000_0000_0000, 0x7FF8_0000_0000_0000 | payload & 0x7_FFFF_FFFF_FFFF,
                0x7FF0_0000_0000_0001 | payload & 0x3_FFFF_FFFF_FFFF, 0x3FF0_0000_0000_0000, 0x0010_0000_0000_0000,
                0x7FEF_FFFF_FFFF_FFFF, payload & 0x7FFF_FFFF_FFFF_FFFF,
            ])
        }
        return bytes(value | sign, size)
    }

    /// A control word: every rounding and precision control; usually all exceptions masked,
    /// sometimes some or all unmasked.
    mutating func control() -> UInt16 {
        let masks: UInt16 = chance(60) ? 0x3F : (chance(50) ? 0 : UInt16(truncatingIfNeeded: random.next()) & 0x3F)
        return UInt16(truncatingIfNeeded: random.next()) & 0x0F00 | 0x40 | masks
    }

    func bytes(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
}
