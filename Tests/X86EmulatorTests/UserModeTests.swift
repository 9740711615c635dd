import Testing
import VMCore

/// CPL 3 code on the decoded-block path still gets the page rights of CPL 3, even where the TLB
/// already holds the page from a supervisor access.
@Suite struct UserModeTests {
    @Test func userCodeReadingASupervisorPageTheTLBHoldsFaults() throws {
        // Kernel (CPL 0) at 0x100000 reads the supervisor page at 0x2A5000 (so the TLB holds
        // it; its TLB slot is not one the GDT, stacks or code use), then IRETQ to user code at
        // 0x100100, which reads the same page: #PF, error code 5 (present, user), CR2 = 0x2A5000.
        // The #PF handler reports the error code via port 0xF4.
        var code = [UInt8](repeating: 0x90, count: 0x110)
        let kernel: [UInt8] = [
            0x48, 0x8B, 0x0C, 0x25, 0x00, 0x50, 0x2A, 0x00,  // mov rcx, [0x2A5000]
            0x6A, 0x23,  // push 0x23 (user SS)
            0x68, 0x00, 0xF0, 0x07, 0x00,  // push 0x7F000 (user RSP)
            0x6A, 0x02,  // push 0x2 (RFLAGS)
            0x6A, 0x2B,  // push 0x2B (user CS)
            0x68, 0x00, 0x01, 0x10, 0x00,  // push 0x100100
            0x48, 0xCF,  // iretq
        ]
        let user: [UInt8] = [
            0x31, 0xC0,  // xor eax, eax
            0x48, 0x8B, 0x04, 0x25, 0x00, 0x50, 0x2A, 0x00,  // mov rax, [0x2A5000]: must fault
            0xF4,
        ]
        code.replaceSubrange(0..<kernel.count, with: kernel)
        code.replaceSubrange(0x100..<0x100 + user.count, with: user)
        let run = try emulate(code, mode: .long) { memory, _, system in
            // User access to 0-2 MiB (code, stacks); 2-4 MiB stays supervisor-only.
            for table: UInt64 in [0x1000, 0x2000, 0x3000] { try memory.store(try memory.load(UInt64.self, at: table) | 4, at: table) }
            try memory.store(UInt64(0xDEAD_BEEF), at: 0x2A_5000)
            // GDT: the plan's four entries, then user data 0x20, user code64 0x28, a TSS at 0x30.
            try memory.store(UInt64(0x00CF_F200_0000_FFFF), at: 0x520)
            try memory.store(UInt64(0x00AF_FA00_0000_FFFF), at: 0x528)
            try memory.store(UInt64(0x0000_8900_0600_0067), at: 0x530)
            try memory.store(UInt64(0), at: 0x538)
            try memory.store(UInt64(0x9_0000), at: 0x604)  // TSS.RSP0
            system.gdt = DescriptorTable(base: 0x500, limit: 0x3F)
            system.tr = Segment(base: 0x600, limit: 0x67, selector: 0x30, type: 0xB, defaultSize32: false, isCodeOrData: false, granularity: false)
            // IDT: #PF -> 0x8000 (pop rax; mov rbx, cr2; out 0xF4, al).
            var gate = [UInt8](repeating: 0, count: 16)
            gate[0] = 0x00; gate[1] = 0x80; gate[2] = 0x18; gate[5] = 0x8E
            try memory.write(gate, at: 0x9000 + 14 * 16)
            try memory.write([0x58, 0x0F, 0x20, 0xD3, 0xE6, 0xF4], at: 0x8000)
            system.idt = DescriptorTable(base: 0x9000, limit: 0xFF)
        }
        #expect(run.stop == .debugExit(value: 5), "rip \(hex(run.registers.rip)) rax \(hex(run.registers.rax))")
        #expect(run.registers.rbx == 0x2A_5000)
        #expect(run.registers.rax & 0xFFFF_FFFF_FFFF_FF00 == 0)  // the error code, not the page's 0xDEADBEEF
    }
}
