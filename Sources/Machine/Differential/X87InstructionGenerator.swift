import VMCore

/// x87 instructions for the differential tester, as self-contained snippets: each starts with
/// FNINIT and a generated control word (so no state from an earlier sequence, which the KVM vCPU
/// keeps, matters), loads interesting operands, runs one x87 instruction, and makes the result
/// visible in memory and RAX (FNSTSW AX; FNSTENV, which also masks every exception; FSTP of two
/// registers to the data page). With unmasked exceptions no waiting instruction runs while one is
/// pending: the harness runs with CR0.NE clear, where the CPU's behaviour (FERR#) is the
/// platform's, not the instruction's.
extension InstructionGenerator {
    /// Data-page slots, as [RBX + disp8] displacements.
    private static let controlSlot: UInt8 = 0x80, operandSlots: [UInt8] = [0x90, 0xA0, 0xB0], environmentSlot: UInt8 = 0xC0
    private static let resultSlots: [UInt8] = [0xE0, 0xF0]

    /// The register forms that run (not FNINIT/FNCLEX/FNSTSW AX and the no-ops FENI/FDISI/FSETPM).
    private static let registerForms: [(UInt8, UInt8)] = {
        let undefined: [UInt8: [UInt8]] = [
            0xD9: Array(0xD1...0xD7) + [0xE2, 0xE3, 0xE6, 0xE7, 0xEF], 0xDA: Array(0xE0...0xFF).filter { $0 != 0xE9 },
            0xDB: Array(0xE0...0xE7) + Array(0xF8...0xFF), 0xDD: Array(0xF0...0xFF), 0xDE: [0xD8, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF],
            0xDF: Array(0xE0...0xE7) + Array(0xF8...0xFF),
        ]
        return (UInt8(0xD8)...0xDF).flatMap { opcode in
            (UInt8(0xC0)...0xFF).filter { !(undefined[opcode] ?? []).contains($0) }.map { (opcode, $0) }
        }
    }()

    /// Memory forms of the data instructions: opcode, ModRM.reg, operand size, whether it stores.
    private static let memoryForms: [(UInt8, UInt8, Int, Bool)] =
        (0..<8).map { (0xD8, UInt8($0), 4, false) } + (0..<8).map { (0xDA, UInt8($0), 4, false) } + (0..<8).map { (0xDC, UInt8($0), 8, false) }
        + (0..<8).map { (0xDE, UInt8($0), 2, false) }
        + [
            (0xD9, 0, 4, false), (0xD9, 2, 4, true), (0xD9, 3, 4, true), (0xDB, 0, 4, false), (0xDB, 2, 4, true), (0xDB, 3, 4, true),
            (0xDB, 5, 10, false), (0xDB, 7, 10, true), (0xDD, 0, 8, false), (0xDD, 2, 8, true), (0xDD, 3, 8, true), (0xDF, 0, 2, false),
            (0xDF, 2, 2, true), (0xDF, 3, 2, true), (0xDF, 4, 10, false), (0xDF, 5, 8, false), (0xDF, 6, 10, true), (0xDF, 7, 8, true),
        ]

    /// An 80-bit value: zeros, denormals, pseudo-denormals, unnormals, infinities, QNaN/SNaN
    /// with payloads, the indefinite, pseudo-NaNs, exponent and integer limits, halves, ordinary.
    private mutating func extendedOperand() -> (UInt64, UInt16) {
        let sign: UInt16 = chance(50) ? 0x8000 : 0
        let payload = random.next()
        switch random.next() % 12 {
        case 0: return (0, sign)
        case 1: return ((payload >> 1) >> (random.next() % 60), sign)
        case 2: return (payload | 1 << 63, sign)
        case 3: return (payload >> 1, sign | UInt16(1 + random.next() % 0x7FFE))
        case 4: return (1 << 63, sign | 0x7FFF)
        case 5: return (payload | 3 << 62, sign | 0x7FFF)
        case 6: return ((payload & ~(1 << 62)) | 1 << 63 | 1, sign | 0x7FFF)
        case 7: return (payload & ((1 << 63) - 1), sign | 0x7FFF)
        case 8: return (payload | 1 << 63, sign | pick([1, 2, 0x7FFE, 0x3FBF, 0x403F]))
        case 9: return (pick([1 << 63, UInt64.max, 1 << 63 | 1]), sign | UInt16(0x3FFF + pick([15, 30, 31, 62, 63, 64]) - 1))
        case 10: return (1 << 63 | 1 << (62 - random.next() % 8), sign | UInt16(0x3FFF + random.next() % 8))
        default: return (payload | 1 << 63, sign | UInt16(0x3FFF - 40 + random.next() % 80))
        }
    }

    /// The bytes of a memory operand of `size` for an integer, real or BCD load.
    private mutating func memoryOperand(size: Int, integer: Bool, bcd: Bool) -> [UInt8] {
        func bytes(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
        let payload = random.next()
        if bcd {
            var digits: UInt64 = 0
            for nibble in 0..<16 { digits |= (chance(5) ? 10 + random.next() % 6 : random.next() % 10) << (4 * UInt64(nibble)) }
            return bytes(digits, 8) + [UInt8(random.next() % 10 << 4 | random.next() % 10), chance(50) ? 0x80 : 0]
        }
        if size == 10 {
            let (significand, signExponent) = extendedOperand()
            return bytes(significand, 8) + bytes(UInt64(signExponent), 2)
        }
        if integer {
            let bits = UInt64(size * 8)
            return bytes(chance(60) ? pick([0, 1, UInt64.max, 1 << (bits - 1), (1 << (bits - 1)) &- 1]) : payload, size)
        }
        let sign: UInt64 = chance(50) ? 1 << (UInt64(size) * 8 - 1) : 0
        let value: UInt64 =
            size == 4
            ? pick([
                0, 1 + payload % 0x7F_FFFF, 0x7F80_0000, 0x7FC0_0000 | payload & 0x3F_FFFF, 0x7F80_0001, 0x3F80_0000, 0x7F7F_FFFF,
                payload & 0x7FFF_FFFF,
            ])
            : pick([
                0, 1 + payload % 0xF_FFFF_FFFF_FFFF, 0x7FF0_0000_0000_0000, 0x7FF8_0000_0000_0000 | payload & 0xFFFF, 0x7FF0_0000_0000_0001,
                0x3FF0_0000_0000_0000, 0x7FEF_FFFF_FFFF_FFFF, payload & 0x7FFF_FFFF_FFFF_FFFF,
            ])
        return bytes(value | sign, size)
    }

    /// Stores `bytes` at [RBX + slot] through RAX (movabs rax, imm64; mov [rbx+slot], rax) and
    /// word immediates.
    private func store(_ bytes: [UInt8], at slot: UInt8) -> [UInt8] {
        let padded = bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
        var code: [UInt8] = []
        for half in 0..<2 where half == 0 || bytes.count > 8 {
            code += [0x48, 0xB8] + padded[half * 8..<half * 8 + 8] + [0x48, 0x89, 0x43, slot &+ UInt8(half * 8)]
        }
        return code
    }

    /// FLD of a generated operand of a random format from `slot`.
    private mutating func loadOperand(at slot: UInt8) -> ([UInt8], String) {
        let formats: [(UInt8, UInt8, Int, String)] = [
            (0xD9, 0, 4, "m32"), (0xDD, 0, 8, "m64"), (0xDB, 5, 10, "m80"), (0xDF, 0, 2, "m16int"), (0xDB, 0, 4, "m32int"),
            (0xDF, 5, 8, "m64int"), (0xDF, 4, 10, "bcd"),
        ]
        let (opcode, reg, size, name) = chance(60) ? formats[2] : pick(formats)
        let bytes = memoryOperand(size: size, integer: name.hasSuffix("int"), bcd: name == "bcd")
        return (store(bytes, at: slot) + [opcode, 0x40 | reg << 3 | 3, slot], "fld \(name)")
    }

    /// One x87 snippet (see the extension's comment).
    mutating func x87Instruction() -> GeneratedInstruction {
        // Every exception masked: with one unmasked and pending, this KVM (PVM, guest CR0.NE clear)
        // was seen to drop the snippet's later stores, which no CPU does; unmasked exceptions are
        // checked against the CPU natively instead (X87OracleTests).
        let masks: UInt16 = 0x3F
        let control = UInt16(truncatingIfNeeded: random.next()) & 0x0F00 | 0x40 | masks
        // FNINIT keeps the registers' contents, which FXAM of an empty register shows (C1 is its
        // sign): eight FLDZ and a second FNINIT make them +0 whatever ran before.
        var code: [UInt8] = [0xDB, 0xE3] + [UInt8](repeating: 0, count: 8).flatMap { _ in [0xD9, 0xEE] }
        code += [0xDB, 0xE3, 0x66, 0xC7, 0x43, Self.controlSlot, UInt8(control & 0xFF), UInt8(control >> 8), 0xD9, 0x6B, Self.controlSlot]
        var names = ["fninit; fldz x8; fninit; fldcw \(hex(control))"]
        let loads = chance(5) ? 8 : Int(random.next() % 3)
        for index in 0..<loads {
            let (bytes, name) = loadOperand(at: Self.operandSlots[index % 2])
            code += bytes
            names.append(name)
        }
        var reads: UInt64 = 0, defines: UInt64 = 0
        if chance(70) {
            let (opcode, modrm) = pick(Self.registerForms)
            code += [opcode, modrm]
            names.append("\(hexBytes([opcode, modrm]))")
            if opcode == 0xDA || (opcode == 0xDB && modrm < 0xE0) { reads = Self.cf | Self.zf | Self.pf }  // FCMOVcc
            if (opcode == 0xDB || opcode == 0xDF) && (0xE8...0xF7).contains(modrm) { defines = Self.all }  // FCOMI
        } else {
            let (opcode, reg, size, isStore) = pick(Self.memoryForms)
            let slot = Self.operandSlots[2]
            if !isStore {
                let integer = opcode == 0xDA || opcode == 0xDE || (opcode == 0xDB && reg == 0) || (opcode == 0xDF && (reg == 0 || reg == 5))
                code += store(memoryOperand(size: size, integer: integer, bcd: opcode == 0xDF && reg == 4), at: slot)
            }
            code += [opcode, 0x40 | reg << 3 | 3, slot]
            names.append("\(hexBytes([opcode])) /\(reg) [rbx\(Int8(bitPattern: slot))]")
        }
        // Non-waiting: FNSTSW AX, FNSTENV (which then masks everything, so the FSTPs that follow
        // cannot meet a pending exception).
        code += [0xDF, 0xE0, 0xD9, 0x73, Self.environmentSlot]
        // FDS (environment offset 24) is cleared: on this KVM (PVM) CPL 3 runs on the host's data
        // segment selectors, which the harness cannot set (it notes the same of CS and SS); the
        // emulator stores the harness's DS there. mov word [rbx+slot+24], 0.
        code += [0x66, 0xC7, 0x43, Self.environmentSlot &+ 24, 0, 0]
        for slot in Self.resultSlots { code += [0xDB, 0x7B, slot] }
        names.append("fnstsw ax; fnstenv; fstp m80 x2")
        return GeneratedInstruction(bytes: code, name: names.joined(separator: "; "), reads: reads, defines: defines)
    }
}
