import VMCore

/// The system-architecture checks CPL 3 64-bit code can provoke, to compare with the CPU:
/// segment loads of good and bad selectors, LAR/LSL/VERR/VERW, LOCK where it is invalid, and the
/// one-byte opcodes 64-bit mode removed.
///
/// On this host (PVM) CPL 3 code runs on the host's own GDT, Linux's: its entries 0x00-0x47 agree
/// with the harness's GDT in what CPL 3 can see (null; DPL 0 entries, which fail the privilege
/// checks whatever they hold; user data 0x2B and code64 0x33 with the same access rights; system
/// or empty entries), and selectors from 0x80 lie beyond both tables. Not compared: 0x20-0x27
/// (the host's 32-bit user code is not visible at CPL 3 there, a probe found: its kernel runs
/// without 32-bit user code) and 0x48-0x7F (Linux's LDT, TLS and per-CPU entries: LAR of 0x7B
/// reads 0x40F500, LSL the CPU number). LDT selectors are not generated either: the host process
/// has an LDT (a long run found 0x535 loading there), the harness none. Not generated: SYSENTER
/// (Intel hosts run it in long mode, AMD raises #UD), RDTSCP and RDPMC (the host's CPUID and
/// CR4.PCE, not the model's), 62/C4/C5 (EVEX/VEX prefixes on the host).
extension InstructionGenerator {
    mutating func architectureInstruction() -> GeneratedInstruction {
        switch random.next() % 6 {
        case 5:
            // POPF setting TF: the single-step #DB comes after the instruction that follows POPF.
            return GeneratedInstruction(
                bytes: [0x9C, 0x48, 0x81, 0x0C, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9D, 0x90], name: "pushf; or [rsp], TF; popf; nop",
                reads: Self.all)
        case 0, 1: return segmentLoad()
        case 2: return segmentQuery()
        case 3:
            let choices: [([UInt8], String)] = [
                ([0xF0, 0x01, 0xC8], "lock add eax, ecx"), ([0xF0, 0x90], "lock nop"), ([0xF0, 0x8B, 0x03], "lock mov eax, [rbx]"),
                ([0xF0, 0x0F, 0xA3, 0xC8], "lock bt eax, ecx"), ([0xF0, 0x39, 0x03], "lock cmp [rbx], eax"),
            ]
            let (bytes, name) = pick(choices)
            return GeneratedInstruction(bytes: bytes, name: name)
        default:
            let removed: [([UInt8], String)] = [
                ([0x06], "push es"), ([0x07], "pop es"), ([0x0E], "push cs"), ([0x16], "push ss"), ([0x17], "pop ss"), ([0x1E], "push ds"),
                ([0x1F], "pop ds"), ([0x27], "daa"), ([0x2F], "das"), ([0x37], "aaa"), ([0x3F], "aas"), ([0x60], "pusha"), ([0x61], "popa"),
                ([0x82, 0xC0, 0x01], "82 /0"), ([0xCE], "into"), ([0xD4, 0x0A], "aam"), ([0xD5, 0x0A], "aad"), ([0xD6], "salc"),
                ([0x9A, 0, 0, 0, 0, 0x33, 0], "call far ptr"), ([0xEA, 0, 0, 0, 0, 0x33, 0], "jmp far ptr"),
            ]
            let (bytes, name) = pick(removed)
            return GeneratedInstruction(bytes: bytes, name: name + " (#UD in 64-bit mode)")
        }
    }

    /// A selector from the part of the GDT both sides agree on, or beyond both tables, with any RPL.
    mutating func comparableSelector() -> UInt16 {
        var selector: UInt16
        switch random.next() % 3 {
        case 0: selector = pick([0x2B, 0x33, 0x28, 0x30, 0x29, 0x32])
        case 1: selector = UInt16(random.next() % 0x48)
        default: selector = UInt16(0x80 + random.next() % 0xFF80)
        }
        selector &= ~4  // the GDT only
        return selector & 0xFFF8 == 0x20 ? selector | 8 : selector  // 0x20-0x27 is not compared
    }

    /// `mov ax, selector; mov sreg, ax` for ES, SS or DS, sometimes read back with `mov ecx, sreg`.
    mutating func segmentLoad() -> GeneratedInstruction {
        let selector = comparableSelector()
        let (sreg, name): (UInt8, String) = pick([(0, "es"), (2, "ss"), (3, "ds")])
        var bytes: [UInt8] = [0x66, 0xB8, UInt8(selector & 0xFF), UInt8(selector >> 8), 0x8E, 0xC0 | sreg << 3]
        if chance(50) { bytes += [0x8C, 0xC1 | sreg << 3] }
        return GeneratedInstruction(bytes: bytes, name: "mov \(name), \(hex(UInt64(selector)))")
    }

    /// `mov ax, selector` and LAR/LSL into a register of 16, 32 or 64 bits, or VERR/VERW.
    mutating func segmentQuery() -> GeneratedInstruction {
        let selector = comparableSelector()
        let load: [UInt8] = [0x66, 0xB8, UInt8(selector & 0xFF), UInt8(selector >> 8)]
        let text = hex(UInt64(selector))
        if chance(30) {
            let write = chance(50)
            return GeneratedInstruction(
                bytes: load + [0x0F, 0x00, write ? 0xE8 : 0xE0], name: "\(write ? "verw" : "verr") \(text)", defines: Self.zf)
        }
        let destination = pick(Self.writable)
        let size = pick([2, 4, 8])
        let rex: UInt8 = 0x40 | (size == 8 ? 8 : 0) | (destination >= 8 ? 4 : 0)
        let prefixes: [UInt8] = (size == 2 ? [0x66] : []) + (rex != 0x40 ? [rex] : [])
        let limit = chance(50)
        return GeneratedInstruction(
            bytes: load + prefixes + [0x0F, limit ? 0x03 : 0x02, 0xC0 | UInt8(destination & 7) << 3],
            name: "\(limit ? "lsl" : "lar")\(size * 8) r\(destination), \(text)",
            defines: Self.zf)
    }
}
