import VMCore

/// SSE, SSE2 and MMX instructions for the differential tester, and the initial FXRSTOR image
/// whose XMM, MXCSR and x87 contents they start from: operands that matter (signed zeros,
/// denormals, infinities, QNaN and SNaN with payloads, values at the integer conversion
/// limits), every rounding mode, DAZ/FTZ and, sometimes, unmasked exceptions.
extension InstructionGenerator {
    /// Media instructions come one in `mediaShare` percent of the time.
    static let mediaShare: UInt64 = 35

    /// Single-precision values worth converting and computing with.
    static let interestingSingles: [UInt32] = [
        0x0000_0000, 0x8000_0000, 0x3F80_0000, 0xBFC0_0000, 0x3F00_0000, 0x4020_0000, 0x0000_0001, 0x807F_FFFF, 0x0080_0000,
        0x7F7F_FFFF, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0xFFC0_0001, 0x7FA0_1234, 0xFF80_0001, 0x4F00_0000, 0xCF00_0000,
        0x4EFF_FFFF, 0x5F00_0000, 0xDF00_0000, 0x3400_0000, 0x0040_0000,
    ]
    /// Double-precision ones.
    static let interestingDoubles: [UInt64] = [
        0, 0x8000_0000_0000_0000, 0x3FF0_0000_0000_0000, 0xBFF8_0000_0000_0000, 0x3FE0_0000_0000_0000, 0x4004_0000_0000_0000,
        0x0000_0000_0000_0001, 0x800F_FFFF_FFFF_FFFF, 0x0010_0000_0000_0000, 0x7FEF_FFFF_FFFF_FFFF, 0x7FF0_0000_0000_0000,
        0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000, 0xFFF8_0000_0000_0001, 0x7FF4_0000_0000_5678, 0xFFF0_0000_0000_0001,
        0x41E0_0000_0000_0000, 0xC1E0_0000_0000_0000, 0x41DF_FFFF_FFC0_0000, 0x43E0_0000_0000_0000, 0xC3E0_0000_0000_0000,
        0x47EF_FFFF_E000_0000, 0x3690_0000_0000_0000, 0x3810_0000_0000_0000,
    ]

    /// 128 bits of operand: singles, doubles, integers or random bits.
    mutating func interestingVector() -> (UInt64, UInt64) {
        switch random.next() % 4 {
        case 0:
            let lanes = (0..<4).map { _ in chance(80) ? pick(Self.interestingSingles) : UInt32(truncatingIfNeeded: random.next()) }
            return (UInt64(lanes[0]) | UInt64(lanes[1]) << 32, UInt64(lanes[2]) | UInt64(lanes[3]) << 32)
        case 1:
            return (chance(80) ? pick(Self.interestingDoubles) : random.next(), chance(80) ? pick(Self.interestingDoubles) : random.next())
        case 2:
            let small: [UInt64] = [
                0, 1, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_7FFF_FFFF, 0x00FF_0080_7F80_FF01,
            ]
            return (chance(50) ? pick(small) : random.next(), chance(50) ? pick(small) : random.next())
        default:
            return (random.next(), random.next())
        }
    }

    /// An MXCSR value: any rounding mode, DAZ and FZ, some flags, and usually every exception
    /// masked (unmasked ones make #XM). Never the AMD misaligned-SSE bit (MXCSR.MM), which the
    /// model does not have.
    mutating func interestingMXCSR() -> UInt32 {
        let rounding = UInt32(random.next() % 4) << 13
        let daz: UInt32 = chance(25) ? 0x40 : 0, flushToZero: UInt32 = chance(25) ? 0x8000 : 0
        // Overflow and underflow stay masked: unmasked, the CPU's inexact flag comes from a result
        // rounded to an unbounded exponent, which the emulator does not model (README).
        let masks: UInt32 = chance(85) ? 0x1F80 : (UInt32(random.next() & 0x3F) << 7 | 0x0C00)
        let flags: UInt32 = chance(50) ? 0 : UInt32(random.next() & 0x3F)
        return rounding | daz | flushToZero | masks | flags
    }

    /// The 512-byte FXRSTOR image the sequence starts from (x87 in its FNINIT state but with
    /// random register contents, which MMX instructions read).
    mutating func initialFXSAVEImage() -> [UInt8] {
        var image = [UInt8](repeating: 0, count: 512)
        func put(_ value: UInt64, at offset: Int, size: Int) {
            for index in 0..<size { image[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        put(0x037F, at: 0, size: 2)
        put(UInt64(interestingMXCSR()), at: 24, size: 4)
        for slot in 0..<8 {
            put(random.next(), at: 32 + 16 * slot, size: 8)
            put(random.next() & 0xFFFF, at: 40 + 16 * slot, size: 2)
        }
        for index in 0..<16 {
            let (low, high) = interestingVector()
            put(low, at: 160 + 16 * index, size: 8)
            put(high, at: 168 + 16 * index, size: 8)
        }
        return image
    }

    /// Prefix (66/F3/F2 or none), REX when needed, 0F, the opcode and ModRM for a register `reg`
    /// and either register `rm` or [RBX + disp8]. `aligned` memory operands get a 16-byte
    /// aligned displacement: the CPU raises #GP for a misaligned one, but PVM reports every #GP
    /// an SSE instruction raises at CPL 3 as #UD (seen with LDMXCSR and CMPPS; native runs give
    /// #GP), so the unit tests check those #GPs instead.
    private mutating func media(
        _ prefix: UInt8?, _ opcode: UInt8, reg: Int, rm: Int?, rexW: Bool = false, aligned: Bool = true, immediate: UInt8? = nil
    ) -> [UInt8] {
        var rex: UInt8 = 0x40 | (rexW ? 8 : 0) | (reg >= 8 ? 4 : 0)
        var modrm: [UInt8]
        if let rm {
            rex |= rm >= 8 ? 1 : 0
            modrm = [0xC0 | UInt8((reg & 7) << 3) | UInt8(rm & 7)]
        } else {
            var displacement = byte()
            if aligned { displacement &= 0xF0 }
            modrm = [0x40 | UInt8((reg & 7) << 3) | 3, displacement]
        }
        return (prefix.map { [$0] } ?? []) + (rex != 0x40 ? [rex] : []) + [0x0F, opcode] + modrm + (immediate.map { [$0] } ?? [])
    }

    private mutating func xmmOrMemory() -> Int? { chance(30) ? nil : Int(random.next() % 16) }
    private mutating func mmxOrMemory() -> Int? { chance(30) ? nil : Int(random.next() % 8) }
    private mutating func xmmRegister() -> Int { Int(random.next() % 16) }
    private mutating func mmxRegister() -> Int { Int(random.next() % 8) }

    private static let columns: [UInt8?] = [nil, 0x66, 0xF3, 0xF2]
    private static func columnName(_ prefix: UInt8?) -> String { prefix.map { hexBytes([$0]) + " " } ?? "" }

    /// One SSE/SSE2/MMX instruction (or a short group that sets one up).
    mutating func mediaInstruction() -> GeneratedInstruction {
        switch random.next() % 16 {
        case 0, 1, 2:  // floating-point arithmetic, packed and scalar, and the logical ops
            let opcode = pick(
                [0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0x51, 0x58, 0x59, 0x5C, 0x5E, 0x5A, 0x52, 0x53, 0x14, 0x15, 0x54, 0x55, 0x56, 0x57]
                    as [UInt8])
            let allowed: [UInt8?] =
                opcode == 0x52 || opcode == 0x53 ? [nil, 0xF3] : (opcode < 0x20 || (0x54...0x57).contains(opcode) ? [nil, 0x66] : Self.columns)
            let prefix = pick(allowed)
            return named(
                media(prefix, opcode, reg: xmmRegister(), rm: xmmOrMemory(), aligned: prefix == nil || prefix == 0x66),
                "sse \(Self.columnName(prefix))0f \(hexBytes([opcode]))")
        case 3:  // compares into a mask, and into RFLAGS
            if chance(50) {
                let prefix = pick(Self.columns)
                let predicate = chance(90) ? UInt8(random.next() % 8) : byte()
                return named(
                    media(prefix, 0xC2, reg: xmmRegister(), rm: xmmOrMemory(), aligned: prefix == nil || prefix == 0x66, immediate: predicate),
                    "cmp \(Self.columnName(prefix))imm \(predicate)")
            }
            let prefix = pick([nil, 0x66] as [UInt8?])
            let opcode = pick([0x2E, 0x2F] as [UInt8])
            var instruction = named(
                media(prefix, opcode, reg: xmmRegister(), rm: xmmOrMemory(), aligned: false),
                "\(opcode == 0x2E ? "ucomis" : "comis") \(Self.columnName(prefix))")
            instruction.defines = Self.all
            return instruction
        case 4:  // conversions between the formats
            let opcode = pick([0x5B, 0xE6, 0x5A] as [UInt8])
            let prefix =
                opcode == 0x5B ? pick([nil, 0x66, 0xF3] as [UInt8?]) : (opcode == 0xE6 ? pick([0x66, 0xF3, 0xF2] as [UInt8?]) : pick(Self.columns))
            return named(
                media(prefix, opcode, reg: xmmRegister(), rm: xmmOrMemory(), aligned: opcode != 0xE6 || prefix != 0xF3),
                "cvt \(Self.columnName(prefix))0f \(hexBytes([opcode]))")
        case 5:  // conversions to and from integers (general and MMX registers)
            let opcode = pick([0x2A, 0x2C, 0x2D] as [UInt8])
            let prefix = pick(Self.columns)
            let wide = chance(50)
            let scalar = prefix == 0xF3 || prefix == 0xF2
            let reg = opcode == 0x2A ? xmmRegister() : (scalar ? pick(Self.writable) : mmxRegister())
            let rm: Int? = opcode == 0x2A ? (scalar ? (chance(30) ? nil : pick(Self.writable)) : mmxOrMemory()) : xmmOrMemory()
            return named(
                media(prefix, opcode, reg: reg, rm: rm, rexW: wide && scalar, aligned: prefix == 0x66 && opcode != 0x2A),
                "cvt-int \(Self.columnName(prefix))0f \(hexBytes([opcode]))\(wide ? " w" : "")")
        case 6, 7:  // moves
            return mediaMove()
        case 8, 9, 10:  // SSE2 integer operations (66) and their MMX forms
            let opcodes: [UInt8] = [
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x74, 0x75, 0x76, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5,
                0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF,
                0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE,
            ]
            let opcode = pick(opcodes)
            if opcode == 0x6C || opcode == 0x6D || chance(70) {
                return named(media(0x66, opcode, reg: xmmRegister(), rm: xmmOrMemory()), "sse2-int 66 0f \(hexBytes([opcode]))")
            }
            return named(media(nil, opcode, reg: mmxRegister(), rm: mmxOrMemory()), "mmx 0f \(hexBytes([opcode]))")
        case 11:  // shifts by an immediate, and shuffles
            if chance(50) {
                let opcode = pick([0x71, 0x72, 0x73] as [UInt8])
                let mmxForm = chance(30)
                let groups = opcode == 0x73 ? (mmxForm ? [2, 6] : [2, 3, 6, 7]) : [2, 4, 6]
                let count = chance(70) ? UInt8(random.next() % 20) : byte()
                return named(
                    media(mmxForm ? nil : 0x66, opcode, reg: pick(groups), rm: mmxForm ? mmxRegister() : xmmRegister(), immediate: count),
                    "shift-imm 0f \(hexBytes([opcode]))")
            }
            let prefix = pick(Self.columns)
            if chance(30) {
                let shuffle = pick([nil, 0x66] as [UInt8?])
                return named(media(shuffle, 0xC6, reg: xmmRegister(), rm: xmmOrMemory(), immediate: byte()), "shufp \(Self.columnName(shuffle))")
            }
            let mmxForm = prefix == nil
            return named(
                media(prefix, 0x70, reg: mmxForm ? mmxRegister() : xmmRegister(), rm: mmxForm ? mmxOrMemory() : xmmOrMemory(), immediate: byte()),
                "pshuf \(Self.columnName(prefix))")
        case 12:  // words and masks: PINSRW, PEXTRW, PMOVMSKB, MOVMSKPS/PD
            let mmxForm = chance(30)
            switch random.next() % 3 {
            case 0:
                let source: Int? = chance(30) ? nil : pick(Self.writable)
                return named(
                    media(mmxForm ? nil : 0x66, 0xC4, reg: mmxForm ? mmxRegister() : xmmRegister(), rm: source, aligned: false, immediate: byte()),
                    "pinsrw")
            case 1:
                let extract = chance(50)  // PEXTRW has an immediate, PMOVMSKB none
                return named(
                    media(
                        mmxForm ? nil : 0x66, extract ? 0xC5 : 0xD7, reg: pick(Self.writable), rm: mmxForm ? mmxRegister() : xmmRegister(),
                        immediate: extract ? byte() : nil), extract ? "pextrw" : "pmovmskb")
            default:
                return named(media(pick([nil, 0x66] as [UInt8?]), 0x50, reg: pick(Self.writable), rm: xmmRegister()), "movmskp")
            }
        case 13:  // MXCSR: a valid value through memory, or STMXCSR
            if chance(40) {
                return named(media(nil, 0xAE, reg: 3, rm: nil, aligned: false), "stmxcsr")
            }
            // Only valid values: the CPU raises #GP for reserved bits (a native run shows it), but
            // PVM reports that #GP to the guest as #UD; unit tests cover the #GP.
            let value = interestingMXCSR()
            let displacement = byte() & 0xFC
            let store: [UInt8] = [0xC7, 0x43, displacement] + (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
            return named(store + [0x0F, 0xAE, 0x53, displacement], "mov [rbx+\(displacement)], \(hex(UInt64(value))); ldmxcsr")
        case 14:  // FXSAVE then FXRSTOR of the same image, EMMS, fences, prefetches, hint NOPs
            switch random.next() % 6 {
            case 0:
                // The image's MXCSR_MASK (bytes 28-31) is zeroed before FXRSTOR (which ignores it):
                // it names the host CPU, whose AMD misaligned-SSE bit the model does not have.
                // Displacements stay below 0x60 so that +28 fits a disp8; aligned (see `media`).
                let displacement = byte() & 0x50
                let rexW: [UInt8] = chance(70) ? [0x48] : []
                let clearMask: [UInt8] = [0xC7, 0x43, displacement + 28, 0, 0, 0, 0]
                return named(
                    rexW + [0x0F, 0xAE, 0x43, displacement] + clearMask + rexW + [0x0F, 0xAE, 0x4B, displacement],
                    "fxsave; fxrstor [rbx+\(displacement)]")
            case 1: return named([0x0F, 0x77], "emms")
            case 2: return named([0x0F, 0xAE, pick([0xE8, 0xF0, 0xF8] as [UInt8])], "lfence/mfence/sfence")
            case 3: return named([0x0F, pick([0x18, 0x0D] as [UInt8]), 0x43 | UInt8(random.next() % 4) << 3, byte()], "prefetch")
            case 4: return named([0x0F, 0xAE, 0x7B, byte()], "clflush")
            default:
                return named(
                    pick([[0xF3, 0x90], [0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00], [0xF3, 0x0F, 0x1E, 0xFA], [0x0F, 0x1F, 0x80, 0, 0, 0, 0]]),
                    "pause/nopl/endbr64")
            }
        default:  // MASKMOVDQU/MASKMOVQ into the data page
            let mmxForm = chance(30)
            let displacement = byte()
            let setup: [UInt8] = [0x48, 0x8D, 0x7B, displacement]  // lea rdi, [rbx + disp8]
            return named(
                setup + media(mmxForm ? nil : 0x66, 0xF7, reg: mmxForm ? mmxRegister() : xmmRegister(), rm: mmxForm ? mmxRegister() : xmmRegister()),
                "lea rdi; maskmov")
        }
    }

    private mutating func mediaMove() -> GeneratedInstruction {
        switch random.next() % 9 {
        case 0:  // MOVUPS/MOVUPD/MOVSS/MOVSD, MOVAPS/MOVAPD in both directions
            let opcode = pick([0x10, 0x11, 0x28, 0x29] as [UInt8])
            let prefix = opcode >= 0x28 ? pick([nil, 0x66] as [UInt8?]) : pick(Self.columns)
            return named(
                media(prefix, opcode, reg: xmmRegister(), rm: xmmOrMemory(), aligned: opcode >= 0x28),
                "mov \(Self.columnName(prefix))0f \(hexBytes([opcode]))")
        case 1:  // MOVLPS/MOVHPS/MOVHLPS/MOVLHPS, MOVLPD/MOVHPD
            let opcode = pick([0x12, 0x13, 0x16, 0x17] as [UInt8])
            let prefix = pick([nil, 0x66] as [UInt8?])
            let rm: Int? = (opcode == 0x12 || opcode == 0x16) && prefix == nil && chance(50) ? xmmRegister() : nil
            return named(
                media(prefix, opcode, reg: xmmRegister(), rm: rm, aligned: false), "movlp/hp \(Self.columnName(prefix))0f \(hexBytes([opcode]))")
        case 2:  // MOVDQA/MOVDQU
            let opcode = pick([0x6F, 0x7F] as [UInt8])
            let prefix = pick([0x66, 0xF3] as [UInt8?])
            return named(
                media(prefix, opcode, reg: xmmRegister(), rm: xmmOrMemory(), aligned: prefix == 0x66),
                "movdq \(Self.columnName(prefix))0f \(hexBytes([opcode]))")
        case 3:  // MOVD/MOVQ between general registers or memory and MMX/XMM registers
            let opcode = pick([0x6E, 0x7E] as [UInt8])
            let mmxForm = chance(40)
            let rm: Int? = chance(30) ? nil : (opcode == 0x7E ? pick(Self.writable) : pick(Self.writable + [3]))
            return named(
                media(mmxForm ? nil : 0x66, opcode, reg: mmxForm ? mmxRegister() : xmmRegister(), rm: rm, rexW: chance(50), aligned: false),
                "movd/q 0f \(hexBytes([opcode]))")
        case 4:  // MOVQ forms
            switch random.next() % 4 {
            case 0: return named(media(0xF3, 0x7E, reg: xmmRegister(), rm: xmmOrMemory(), aligned: false), "movq xmm, xmm/m64")
            case 1: return named(media(0x66, 0xD6, reg: xmmRegister(), rm: xmmOrMemory(), aligned: false), "movq xmm/m64, xmm")
            case 2:
                let toXMM = chance(50)
                return named(
                    media(toXMM ? 0xF3 : 0xF2, 0xD6, reg: toXMM ? xmmRegister() : mmxRegister(), rm: toXMM ? mmxRegister() : xmmRegister()),
                    "movq2dq/movdq2q")
            default: return named(media(nil, pick([0x6F, 0x7F] as [UInt8]), reg: mmxRegister(), rm: mmxOrMemory(), aligned: false), "movq mm")
            }
        case 5:  // non-temporal stores
            switch random.next() % 4 {
            case 0: return named(media(pick([nil, 0x66] as [UInt8?]), 0x2B, reg: xmmRegister(), rm: nil), "movntps/pd")
            case 1: return named(media(0x66, 0xE7, reg: xmmRegister(), rm: nil), "movntdq")
            case 2: return named(media(nil, 0xE7, reg: mmxRegister(), rm: nil, aligned: false), "movntq")
            default: return named(media(nil, 0xC3, reg: pick(Self.writable + [3]), rm: nil, rexW: chance(50), aligned: false), "movnti")
            }
        default:  // register-to-register copies keep the values flowing between instructions
            return named(media(pick([nil, 0x66, 0xF3, 0xF2] as [UInt8?]), 0x10, reg: xmmRegister(), rm: xmmRegister()), "mov xmm, xmm")
        }
    }

    private func named(_ bytes: [UInt8], _ name: String) -> GeneratedInstruction {
        GeneratedInstruction(bytes: bytes, name: name)
    }
}
