import VMCore

/// One generated instruction: its bytes, a readable name, and its effect on the arithmetic flags
/// (so flags the manuals leave undefined are masked, and never read by a later instruction).
struct GeneratedInstruction: Sendable, CustomStringConvertible {
    var bytes: [UInt8]
    var name: String
    /// Flags whose value the instruction uses.
    var reads: UInt64 = 0
    /// Flags it sets to a defined value.
    var defines: UInt64 = 0
    /// Flags it leaves undefined.
    var undefines: UInt64 = 0

    var description: String { name + " [" + hexBytes(bytes) + "]" }
}

/// Random but valid 64-bit instruction sequences over the general-purpose instruction set, for
/// comparing the emulator with the CPU at CPL 3. Memory operands use [RBX + disp8] into a data
/// page; RBX and RSP are never destinations (except PUSH/POP through RSP itself).
struct InstructionGenerator {
    static let cf: UInt64 = 0x1, pf: UInt64 = 0x4, af: UInt64 = 0x10, zf: UInt64 = 0x40, sf: UInt64 = 0x80, of: UInt64 = 0x800
    static let all: UInt64 = cf | pf | af | zf | sf | of
    /// Registers an instruction may write: everything but RSP (4) and RBX (3).
    static let writable = [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]

    var random: SplitMix64
    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { random.next() % 100 < percent }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: random.next()) }

    /// A sequence of `count` instructions whose flag reads never see an undefined flag. Returns the
    /// instructions and the flags undefined at the end.
    mutating func sequence(count: Int) -> ([GeneratedInstruction], UInt64) {
        var undefined: UInt64 = 0
        var result: [GeneratedInstruction] = []
        while result.count < count {
            let instruction = next()
            guard instruction.reads & undefined == 0 else { continue }
            undefined = (undefined & ~instruction.defines) | instruction.undefines
            result.append(instruction)
        }
        return (result, undefined)
    }

    /// Operand size: 1, 2, 4 or 8, with the prefixes that select it and the opcode's low bit.
    private mutating func operandSize() -> (size: Int, prefixes: [UInt8], rexW: Bool) {
        switch random.next() % 4 {
        case 0: return (1, [], false)
        case 1: return (2, [0x66], false)
        case 2: return (4, [], false)
        default: return (8, [], true)
        }
    }

    /// REX (when needed) + ModRM for a register destination `reg` and an operand that is either a
    /// register or [RBX + disp8]. Returns (prefix bytes, modrm bytes, text).
    private mutating func encode(reg: Int, rm: Int?, rexW: Bool, byteRegisters: Bool) -> ([UInt8], [UInt8], String) {
        var rex: UInt8 = 0x40 | (rexW ? 8 : 0) | (reg >= 8 ? 4 : 0)
        var modrm: [UInt8]
        var text: String
        if let rm {
            rex |= rm >= 8 ? 1 : 0
            modrm = [0xC0 | UInt8((reg & 7) << 3) | UInt8(rm & 7)]
            text = "r\(rm)"
        } else {
            let displacement = byte()
            modrm = [0x40 | UInt8((reg & 7) << 3) | 3, displacement]  // [rbx + disp8]
            text = "[rbx\(Int8(bitPattern: displacement) >= 0 ? "+" : "")\(Int8(bitPattern: displacement))]"
        }
        // Byte registers 4-7 mean SPL..DIL only with REX; always emit REX for byte ops so the
        // encoding never names AH..BH (which cannot be combined with REX registers).
        let needsREX = rex != 0x40 || byteRegisters
        return (needsREX ? [rex] : [], modrm, text)
    }

    private mutating func registerOrMemory() -> Int? { chance(35) ? nil : pick(Self.writable + [3]) }

    mutating func next() -> GeneratedInstruction {
        if chance(Self.mediaShare) { return mediaInstruction() }  // SSEInstructionGenerator.swift
        if chance(6) { return x87Instruction() }  // X87InstructionGenerator.swift
        switch random.next() % 25 {
        case 24 where chance(50):  // a privileged or I/O instruction: #GP (or #UD) at CPL 3
            return privileged()
        case 23:  // CALL/RET through a small subroutine, ENTER/LEAVE, or a far return
            if chance(20) { return farReturn() }
            return chance(60) ? callAndReturn() : enterAndLeave()
        case 20:  // a string instruction over the data page, with its pointers and count set up
            return stringInstruction()
        case 21:  // a conditional branch over one flag-neutral instruction, or LOOP/JRCXZ
            return branch()
        case 22:  // PUSHF/POPF pairs and PUSH imm
            switch random.next() % 3 {
            case 0: return GeneratedInstruction(bytes: [0x9C], name: "pushf", reads: Self.all)
            case 1:
                // POPF of a value whose arithmetic flags come from a register; IF, DF, TF stay 0.
                let register = pick(Self.writable)
                let high: UInt8 = register >= 8 ? 1 : 0
                let low = UInt8(register & 7)
                return GeneratedInstruction(
                    bytes: [0x48 | high, 0x81, 0xE0 | low, 0xD5, 0x08, 0x00, 0x00] + (high == 1 ? [0x41] : []) + [0x50 | low, 0x9D],
                    name: "and r\(register), 0x8d5; push r\(register); popf", defines: Self.all)
            default:
                return GeneratedInstruction(bytes: [0x6A, byte()], name: "push imm8")
            }
        case 0, 1, 2:  // ALU r/m, r  and  r, r/m
            let operation = Int(random.next() % 8)
            let (size, prefixes, rexW) = operandSize()
            let toRegister = chance(50)
            let reg = toRegister ? pick(Self.writable) : pick(Self.writable + [3])
            var rm = registerOrMemory()
            if !toRegister && operation != 7, let r = rm, r == 3 { rm = pick(Self.writable) }  // never write RBX
            let (rex, modrm, text) = encode(reg: reg, rm: rm, rexW: rexW, byteRegisters: size == 1)
            let opcode = UInt8(operation << 3) | (toRegister ? 2 : 0) | (size == 1 ? 0 : 1)
            return alu(
                operation, bytes: prefixes + rex + [opcode] + modrm,
                name: "\(Self.aluNames[operation])\(size * 8) \(toRegister ? "r\(reg), \(text)" : "\(text), r\(reg)")")
        case 3, 4:  // ALU r/m, imm (80/81/83)
            let operation = Int(random.next() % 8)
            let (size, prefixes, rexW) = operandSize()
            var rm = registerOrMemory()
            if operation != 7, rm == 3 { rm = 0 }
            let (rex, modrm, text) = encode(reg: operation, rm: rm, rexW: rexW, byteRegisters: size == 1)
            let shortImmediate = size != 1 && chance(50)
            let opcode: UInt8 = size == 1 ? 0x80 : (shortImmediate ? 0x83 : 0x81)
            let immediateSize = size == 1 || shortImmediate ? 1 : min(size, 4)
            let immediate = (0..<immediateSize).map { _ in byte() }
            return alu(operation, bytes: prefixes + rex + [opcode] + modrm + immediate, name: "\(Self.aluNames[operation])\(size * 8) \(text), imm")
        case 5:  // TEST r/m, r
            let (size, prefixes, rexW) = operandSize()
            let (rex, modrm, text) = encode(reg: pick(Self.writable), rm: registerOrMemory(), rexW: rexW, byteRegisters: size == 1)
            return GeneratedInstruction(
                bytes: prefixes + rex + [size == 1 ? 0x84 : 0x85] + modrm, name: "test\(size * 8) \(text)", defines: Self.all & ~Self.af,
                undefines: Self.af)
        case 6:  // INC/DEC/NOT/NEG r/m
            let (size, prefixes, rexW) = operandSize()
            let kind = Int(random.next() % 4)
            let rm = chance(35) ? nil : Optional(pick(Self.writable))
            let reg = [0, 1, 2, 3][kind]
            let (rex, modrm, text) = encode(reg: reg, rm: rm, rexW: rexW, byteRegisters: size == 1)
            let opcode: UInt8 = kind < 2 ? (size == 1 ? 0xFE : 0xFF) : (size == 1 ? 0xF6 : 0xF7)
            let names = ["inc", "dec", "not", "neg"]
            let defines: UInt64 = kind < 2 ? Self.all & ~Self.cf : (kind == 2 ? 0 : Self.all)
            return GeneratedInstruction(bytes: prefixes + rex + [opcode] + modrm, name: "\(names[kind])\(size * 8) \(text)", defines: defines)
        case 7:  // MUL/IMUL/DIV/IDIV r/m (the accumulator forms)
            let (size, prefixes, rexW) = operandSize()
            let kind = 4 + Int(random.next() % 4)
            let rm = chance(35) ? nil : Optional(pick(Self.writable + [3]))
            let (rex, modrm, text) = encode(reg: kind, rm: rm, rexW: rexW, byteRegisters: size == 1)
            let names = ["mul", "imul", "div", "idiv"]
            let multiply = kind < 6
            return GeneratedInstruction(
                bytes: prefixes + rex + [size == 1 ? 0xF6 : 0xF7] + modrm, name: "\(names[kind - 4])\(size * 8) \(text)",
                defines: multiply ? Self.cf | Self.of : 0, undefines: multiply ? Self.sf | Self.zf | Self.af | Self.pf : Self.all)
        case 8:  // IMUL r, r/m  and  IMUL r, r/m, imm
            var (size, prefixes, rexW) = operandSize()
            if size == 1 { (size, prefixes, rexW) = (4, [], false) }
            let (rex, modrm, text) = encode(reg: pick(Self.writable), rm: registerOrMemory(), rexW: rexW, byteRegisters: false)
            let form = random.next() % 3
            let bytes: [UInt8]
            switch form {
            case 0: bytes = prefixes + rex + [0x0F, 0xAF] + modrm
            case 1: bytes = prefixes + rex + [0x6B] + modrm + [byte()]
            default: bytes = prefixes + rex + [0x69] + modrm + (0..<min(size, 4)).map { _ in byte() }
            }
            return GeneratedInstruction(
                bytes: bytes, name: "imul\(size * 8) r, \(text)", defines: Self.cf | Self.of, undefines: Self.sf | Self.zf | Self.af | Self.pf)
        case 9, 10:  // shifts and rotates by an immediate or by 1
            let (size, prefixes, rexW) = operandSize()
            let operation = Int(random.next() % 8)
            let rm = chance(30) ? nil : Optional(pick(Self.writable))
            let (rex, modrm, text) = encode(reg: operation, rm: rm, rexW: rexW, byteRegisters: size == 1)
            let byOne = chance(30)
            let count: UInt8 = byOne ? 1 : byte() % 70
            let bytes = prefixes + rex + [byOne ? (size == 1 ? 0xD0 : 0xD1) : (size == 1 ? 0xC0 : 0xC1)] + modrm + (byOne ? [] : [count])
            var instruction = GeneratedInstruction(bytes: bytes, name: "\(Self.shiftNames[operation])\(size * 8) \(text), \(count)")
            let masked = Int(count) & (size == 8 ? 0x3F : 0x1F)
            if masked != 0 {
                let rotate = operation < 4
                if operation == 2 || operation == 3 { instruction.reads = Self.cf }
                instruction.defines = rotate ? Self.cf : Self.cf | Self.sf | Self.zf | Self.pf
                instruction.undefines = rotate ? 0 : Self.af
                if masked == 1 { instruction.defines |= Self.of } else { instruction.undefines |= Self.of }
                // A shift count at or beyond the operand width leaves CF undefined (SDM SAL/SHR).
                if !rotate && masked >= size * 8 { instruction.defines &= ~Self.cf; instruction.undefines |= Self.cf }
            }
            return instruction
        case 11:  // MOV forms
            let (size, prefixes, rexW) = operandSize()
            let toRegister = chance(50)
            let (rex, modrm, text) = encode(
                reg: pick(Self.writable), rm: registerOrMemory().map { toRegister ? $0 : ($0 == 3 ? 0 : $0) }, rexW: rexW, byteRegisters: size == 1)
            let opcode: UInt8 = (toRegister ? 0x8A : 0x88) | (size == 1 ? 0 : 1)
            return GeneratedInstruction(bytes: prefixes + rex + [opcode] + modrm, name: "mov\(size * 8) \(text)")
        case 12:  // MOVZX/MOVSX/MOVSXD
            let kind = random.next() % 5
            let rexW = chance(50)
            let (rex, modrm, text) = encode(reg: pick(Self.writable), rm: registerOrMemory(), rexW: rexW || kind == 4, byteRegisters: true)
            let opcodes: [[UInt8]] = [[0x0F, 0xB6], [0x0F, 0xB7], [0x0F, 0xBE], [0x0F, 0xBF], [0x63]]
            return GeneratedInstruction(bytes: rex + opcodes[Int(kind)] + modrm, name: "movx \(text)")
        case 13:  // CMOVcc / SETcc
            let cc = byte() & 0xF
            let reads = Self.conditionFlags[Int(cc >> 1)]
            if chance(50) {
                let size = chance(50) ? 8 : 4
                let (rex, modrm, text) = encode(reg: pick(Self.writable), rm: registerOrMemory(), rexW: size == 8, byteRegisters: false)
                return GeneratedInstruction(bytes: rex + [0x0F, 0x40 | cc] + modrm, name: "cmov\(cc) \(text)", reads: reads)
            }
            let rm = chance(30) ? nil : Optional(pick(Self.writable))
            let (rex, modrm, text) = encode(reg: 0, rm: rm, rexW: false, byteRegisters: true)
            return GeneratedInstruction(bytes: rex + [0x0F, 0x90 | cc] + modrm, name: "set\(cc) \(text)", reads: reads)
        case 14:  // BT/BTS/BTR/BTC register forms, and by immediate
            let size = chance(50) ? 8 : 4
            let operation = Int(random.next() % 4)
            let name = ["bt", "bts", "btr", "btc"][operation]
            if chance(50) {
                let (rex, modrm, text) = encode(reg: pick(Self.writable + [3]), rm: pick(Self.writable), rexW: size == 8, byteRegisters: false)
                return GeneratedInstruction(
                    bytes: rex + [0x0F, [0xA3, 0xAB, 0xB3, 0xBB][operation]] + modrm, name: "\(name) \(text)", defines: Self.cf,
                    undefines: Self.of | Self.sf | Self.af | Self.pf)
            }
            let (rex, modrm, text) = encode(
                reg: 4 + operation, rm: registerOrMemory().map { $0 == 3 ? 0 : $0 }, rexW: size == 8, byteRegisters: false)
            return GeneratedInstruction(
                bytes: rex + [0x0F, 0xBA] + modrm + [byte()], name: "\(name) \(text), imm", defines: Self.cf,
                undefines: Self.of | Self.sf | Self.af | Self.pf)
        case 15:  // SHLD/SHRD by an immediate (32/64-bit: 16-bit counts above 16 are undefined)
            let size = chance(50) ? 8 : 4
            let count = byte() % 64
            let (rex, modrm, text) = encode(
                reg: pick(Self.writable + [3]), rm: registerOrMemory().map { $0 == 3 ? 0 : $0 }, rexW: size == 8, byteRegisters: false)
            var instruction = GeneratedInstruction(
                bytes: rex + [0x0F, chance(50) ? 0xA4 : 0xAC] + modrm + [count], name: "shxd\(size * 8) \(text), \(count)")
            let masked = Int(count) & (size == 8 ? 63 : 31)
            if masked != 0 {
                instruction.defines = Self.cf | Self.sf | Self.zf | Self.pf | (masked == 1 ? Self.of : 0)
                instruction.undefines = Self.af | (masked == 1 ? 0 : Self.of)
            }
            return instruction
        case 16:  // XADD / CMPXCHG / XCHG
            let (size, prefixes, rexW) = operandSize()
            let kind = random.next() % 3
            let rm = registerOrMemory().map { $0 == 3 ? 0 : $0 }
            let (rex, modrm, text) = encode(reg: pick(Self.writable), rm: rm, rexW: rexW, byteRegisters: size == 1)
            let opcode: [UInt8] =
                kind == 0 ? [0x0F, size == 1 ? 0xC0 : 0xC1] : (kind == 1 ? [0x0F, size == 1 ? 0xB0 : 0xB1] : [size == 1 ? 0x86 : 0x87])
            return GeneratedInstruction(
                bytes: prefixes + rex + opcode + modrm, name: "\(["xadd", "cmpxchg", "xchg"][Int(kind)])\(size * 8) \(text)",
                defines: kind == 2 ? 0 : Self.all)
        case 17:  // BSWAP, CBW family, CWD family, LEA
            switch random.next() % 4 {
            case 0:
                let register = pick(Self.writable)
                let rexW = chance(50)
                return GeneratedInstruction(
                    bytes: [0x40 | (rexW ? 8 : 0) | (register >= 8 ? 1 : 0), 0x0F, 0xC8 | UInt8(register & 7)], name: "bswap r\(register)")
            case 1:
                let prefix: [UInt8] = pick([[0x66], [], [0x48]])
                return GeneratedInstruction(bytes: prefix + [0x98], name: "cbw-family")
            case 2:
                let prefix: [UInt8] = pick([[0x66], [], [0x48]])
                return GeneratedInstruction(bytes: prefix + [0x99], name: "cwd-family")
            default:
                let (rex, modrm, text) = encode(reg: pick(Self.writable), rm: nil, rexW: chance(50), byteRegisters: false)
                return GeneratedInstruction(bytes: rex + [0x8D] + modrm, name: "lea \(text)")
            }
        case 18:  // flag instructions
            switch random.next() % 5 {
            case 0: return GeneratedInstruction(bytes: [0xF8], name: "clc", defines: Self.cf)
            case 1: return GeneratedInstruction(bytes: [0xF9], name: "stc", defines: Self.cf)
            case 2: return GeneratedInstruction(bytes: [0xF5], name: "cmc", reads: Self.cf, defines: Self.cf)
            case 3: return GeneratedInstruction(bytes: [0x9F], name: "lahf", reads: Self.all & ~Self.of)
            default: return GeneratedInstruction(bytes: [0x9E], name: "sahf", defines: Self.all & ~Self.of)
            }
        case 19 where chance(50):  // segment loads and queries, invalid LOCK and removed opcodes
            return architectureInstruction()
        default:  // PUSH/POP through the user stack
            let register = pick(Self.writable)
            let rex: [UInt8] = register >= 8 ? [0x41] : []
            if chance(50) { return GeneratedInstruction(bytes: rex + [0x50 | UInt8(register & 7)], name: "push r\(register)") }
            return GeneratedInstruction(bytes: rex + [0x58 | UInt8(register & 7)], name: "pop r\(register)")
        }
    }

    /// An instruction CPL 3 may not execute (IOPL is 0), or an access to a supervisor page: the
    /// CPU raises #GP(0), #UD or #PF; the sequence ends there. (Not INT n: this host's KVM answers INT 0x80 from CPL 3 with #UD,
    /// where the CPU raises #GP; focused emulator tests cover INT n faults instead.)
    private mutating func privileged() -> GeneratedInstruction {
        let choices: [([UInt8], String)] = [
            ([0xF4], "hlt"), ([0xFA], "cli"), ([0xFB], "sti"), ([0x0F, 0x20, 0xC0], "mov rax, cr0"),
            ([0x0F, 0x22, 0xD8], "mov cr3, rax"), ([0x0F, 0x21, 0xC0], "mov rax, dr0"), ([0x0F, 0x23, 0xF8], "mov dr7, rax"),
            ([0x0F, 0x01, 0x13], "lgdt [rbx]"), ([0x0F, 0x01, 0x1B], "lidt [rbx]"), ([0x0F, 0x01, 0x3B], "invlpg [rbx]"),
            ([0x0F, 0x01, 0xF0], "lmsw ax"), ([0x0F, 0x00, 0xD8], "ltr ax"), ([0x0F, 0x00, 0xD0], "lldt ax"),
            ([0x0F, 0x30], "wrmsr"), ([0x0F, 0x32], "rdmsr"), ([0x0F, 0x06], "clts"), ([0x0F, 0x09], "wbinvd"),
            ([0x0F, 0x01, 0xF8], "swapgs"), ([0xE4, 0x80], "in al, 0x80"), ([0xEE], "out dx, al"),
            ([0x0F, 0x0B], "ud2"),
            // A supervisor-only page: #PF with the user bit in the error code (read, then write).
            ([0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0xA0, 0x00], "mov rax, [0xA00000] (supervisor page)"),
            ([0x48, 0x89, 0x0C, 0x25, 0x08, 0x00, 0xA0, 0x00], "mov [0xA00008], rcx (supervisor page)"),
        ]
        let (bytes, name) = pick(choices)
        return GeneratedInstruction(bytes: bytes, name: name)
    }

    /// `lea rdi/rsi, [rbx + d]; mov ecx, n; [std]; [rep] op; cld`.
    private mutating func stringInstruction() -> GeneratedInstruction {
        let count = UInt8(random.next() % 12)
        let destination = byte() & 0x7F, source = byte() & 0x7F
        var bytes: [UInt8] = [0x48, 0x8D, 0x7B, destination, 0x48, 0x8D, 0x73, source, 0xB9, count, 0, 0, 0]
        let backward = chance(25)
        if backward { bytes.append(0xFD) }
        let operations: [(UInt8, String, Bool)] = [
            (0xA4, "movsb", false), (0xA5, "movsd", false), (0xAA, "stosb", false), (0xAB, "stosd", false),
            (0xAC, "lodsb", false), (0xA6, "cmpsb", true), (0xAE, "scasb", true), (0xA7, "cmpsd", true),
        ]
        let (opcode, name, compares) = pick(operations)
        let prefix: [UInt8] = compares ? pick([[], [0xF3], [0xF2]]) : pick([[], [0xF3]])
        let wide = chance(30) && opcode & 1 == 1
        bytes += prefix + (wide ? [0x48] : []) + [opcode, 0xFC]
        var instruction = GeneratedInstruction(
            bytes: bytes, name: "\(prefix.isEmpty ? "" : "rep ")\(name)\(wide ? "q" : "") x\(count)\(backward ? " backward" : "")")
        // A repeated compare with a zero count compares nothing and leaves the flags alone.
        if compares && !(prefix.count == 1 && count == 0) { instruction.defines = Self.all }
        return instruction
    }

    /// `call T; jmp over; T: mov r, imm; ret; over:` — a near call and return (optionally RET imm16
    /// after pushing an argument).
    private mutating func callAndReturn() -> GeneratedInstruction {
        let register = pick(Self.writable)
        let body: [UInt8] = [0x48 | (register >= 8 ? 1 : 0), 0xC7, 0xC0 | UInt8(register & 7), byte(), byte(), 0, 0]
        let withArgument = chance(40)
        let ret: [UInt8] = withArgument ? [0xC2, 0x08, 0x00] : [0xC3]
        let push: [UInt8] = withArgument ? [0x6A, byte()] : []
        let call: [UInt8] = [0xE8, 0x02, 0, 0, 0, 0xEB, UInt8(body.count + ret.count)]
        return GeneratedInstruction(bytes: push + call + body + ret, name: withArgument ? "push; call; ret 8" : "call; ret")
    }

    /// A far transfer at CPL 3 to the same code segment: `mov eax, cs; push rax; lea rcx, [rip+3];
    /// push rcx; retfq` (RAX and RCX change), or the same through IRETQ with a full frame
    /// (SS, RSP, RFLAGS, CS, RIP), which also exercises IRET's flag rules at CPL 3.
    private mutating func farReturn() -> GeneratedInstruction {
        if chance(50) {
            return GeneratedInstruction(
                bytes: [0x8C, 0xC8, 0x50, 0x48, 0x8D, 0x0D, 0x03, 0, 0, 0, 0x51, 0x48, 0xCB], name: "far return to the same CS (retfq)")
        }
        // mov eax, ss; push rax; lea rax, [rsp+8]; push rax; pushfq; mov eax, cs; push rax;
        // lea rcx, [rip+3]; push rcx; iretq
        let bytes: [UInt8] = [
            0x8C, 0xD0, 0x50, 0x48, 0x8D, 0x44, 0x24, 0x08, 0x50, 0x9C, 0x8C, 0xC8, 0x50,
            0x48, 0x8D, 0x0D, 0x03, 0, 0, 0, 0x51, 0x48, 0xCF,
        ]
        return GeneratedInstruction(bytes: bytes, name: "iretq to the same CS", reads: Self.all, defines: Self.all)
    }

    /// `enter n, level; leave` with a small frame. Level 2 copies a frame pointer from [RBP - 8],
    /// so RBP first points into the stack: anywhere else it might read the page tables, whose
    /// accessed and dirty bits the host's MMU and the emulator set at different times.
    private mutating func enterAndLeave() -> GeneratedInstruction {
        let size = UInt8(random.next() % 64)
        let level = UInt8(random.next() % 3)
        let setFrame: [UInt8] = level == 2 ? [0x48, 0x89, 0xE5] : []  // mov rbp, rsp
        return GeneratedInstruction(
            bytes: setFrame + [0xC8, size, 0, level, 0xC9], name: (level == 2 ? "mov rbp, rsp; " : "") + "enter \(size), \(level); leave")
    }

    /// `jcc +n` over a MOV, or `loop`/`jrcxz` over one.
    private mutating func branch() -> GeneratedInstruction {
        let register = pick(Self.writable)
        let skipped: [UInt8] = [0x48 | (register >= 8 ? 1 : 0), 0xC7, 0xC0 | UInt8(register & 7), byte(), byte(), 0, 0]  // mov r64, imm32
        if chance(70) {
            let cc = byte() & 0xF
            if chance(50) {
                return GeneratedInstruction(
                    bytes: [0x70 | cc, UInt8(skipped.count)] + skipped, name: "j\(cc) short over mov", reads: Self.conditionFlags[Int(cc >> 1)])
            }
            return GeneratedInstruction(
                bytes: [0x0F, 0x80 | cc, UInt8(skipped.count), 0, 0, 0] + skipped, name: "j\(cc) near over mov",
                reads: Self.conditionFlags[Int(cc >> 1)])
        }
        // LOOP decrements RCX (never RBX/RSP); JRCXZ only tests it.
        let kind = pick([UInt8(0xE2), 0xE3])
        return GeneratedInstruction(bytes: [kind, UInt8(skipped.count)] + skipped, name: kind == 0xE2 ? "loop over mov" : "jrcxz over mov")
    }

    private func alu(_ operation: Int, bytes: [UInt8], name: String) -> GeneratedInstruction {
        let logical = operation == 1 || operation == 4 || operation == 6
        let carries = operation == 2 || operation == 3
        return GeneratedInstruction(
            bytes: bytes, name: name, reads: carries ? Self.cf : 0,
            defines: logical ? Self.all & ~Self.af : Self.all, undefines: logical ? Self.af : 0)
    }

    static let aluNames = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
    static let shiftNames = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"]
    /// Flags each condition-code pair reads: O, C, Z, CZ, S, P, SO, ZSO.
    static let conditionFlags: [UInt64] = [of, cf, zf, cf | zf, sf, pf, sf | of, zf | sf | of]
}
