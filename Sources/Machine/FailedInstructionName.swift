/// A name for the instruction at the start of `bytes` (64-bit mode), for the stop hints that
/// explain a KVM emulation failure: only the instructions PVM's CPL 0 emulator has been seen to
/// fail on and their kin (machine notes, linux-boot-notes 1.2), nil for any other.
enum FailedInstructionName {
    static func name(of bytes: [UInt8]) -> String? {
        var index = 0
        var lock = false, rexW = false, repPrefix = false
        // Legacy prefixes, then at most one REX prefix.
        while index < bytes.count, [0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3].contains(bytes[index]) {
            if bytes[index] == 0xF0 { lock = true }
            if bytes[index] == 0xF3 { repPrefix = true }
            index += 1
        }
        if index < bytes.count, bytes[index] & 0xF0 == 0x40 {
            rexW = bytes[index] & 0x08 != 0
            index += 1
        }
        guard index < bytes.count else { return nil }
        let prefix = lock ? "lock " : ""
        switch bytes[index] {
        case 0xCC: return "int3"
        case 0xCD where index + 1 < bytes.count: return "int \(hexByte(bytes[index + 1]))"
        case 0x0F where index + 1 < bytes.count: break
        default: return nil
        }
        let opcode = bytes[index + 1]
        let modRM = index + 2 < bytes.count ? bytes[index + 2] : nil
        let register = modRM.map { $0 >> 3 & 7 }, isMemory = modRM.map { $0 >> 6 != 3 }
        switch (opcode, register, isMemory) {
        case (0x0B, _, _): return "ud2"
        case (0xB8, _, _) where repPrefix: return "popcnt"
        case (0xC7, 1, true): return prefix + (rexW ? "cmpxchg16b" : "cmpxchg8b")
        case (0xC7, 6, false): return "rdrand"
        case (0xC7, 7, false): return "rdseed"
        case (0xAE, let r?, true):
            return ["fxsave", "fxrstor", "ldmxcsr", "stmxcsr", "xsave", "xrstor", "xsaveopt", "clflush"][Int(r)]
        case (0x01, _, _) where modRM == 0xD0: return "xgetbv"
        case (0x01, _, _) where modRM == 0xD1: return "xsetbv"
        case (0x10...0x17, _, _), (0x28...0x2F, _, _), (0x50...0x7F, _, _), (0xC2...0xC6, _, _), (0xD0...0xFE, _, _):
            return "an SSE or MMX instruction"
        default: return nil
        }
    }

    private static func hexByte(_ value: UInt8) -> String { "0x" + String(value, radix: 16) }
}
