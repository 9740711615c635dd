import Boot
import Testing
import VMCore

/// 32-bit paging and PAE, which this machine's KVM cannot run (they triple-fault there).
@Suite struct PagingTests {
    /// A 32-bit interrupt gate to `handler` through the flat code selector 0x08.
    func interruptGate(_ handler: UInt32) -> [UInt8] {
        var gate = [UInt8](repeating: 0, count: 8)
        gate[0] = UInt8(handler & 0xFF); gate[1] = UInt8((handler >> 8) & 0xFF)
        gate[2] = 0x08; gate[3] = 0
        gate[5] = 0x8E  // present, DPL 0, 32-bit interrupt gate
        gate[6] = UInt8((handler >> 16) & 0xFF); gate[7] = UInt8(handler >> 24)
        return gate
    }

    @Test func fourKiBAndFourMiBPagesTranslateAndSetAccessedAndDirty() throws {
        let code: [UInt8] = [
            0xA1, 0x10, 0x10, 0x00, 0x40,  // mov eax, [0x40001010]   4 KiB page -> 0x3010
            0xC7, 0x05, 0x08, 0x00, 0x00, 0x80, 0xEF, 0xBE, 0x00, 0x00,  // mov dword [0x80000008], 0xBEEF   4 MiB page -> 0x400008
            0xF4,
        ]
        let run = try emulate(code, mode: .protected) { memory, _, system in
            // Page directory at 0x20000: PDE 0 maps 0-4 MiB with a 4 MiB page (code and tables),
            // PDE 0x100 a page table at 0x21000, PDE 0x200 a 4 MiB page at 4 MiB.
            try memory.store(UInt32(0x0000_0083), at: 0x20000)
            try memory.store(UInt32(0x0002_1003), at: 0x20000 + 0x100 * 4)
            try memory.store(UInt32(0x0040_0083), at: 0x20000 + 0x200 * 4)
            try memory.store(UInt32(0x0000_3003), at: 0x21000 + 1 * 4)  // PTE 1 -> frame 0x3000
            try memory.store(UInt32(0xCAFE_F00D), at: 0x3010)
            system.cr3 = 0x20000
            system.cr4 = 1 << 4  // PSE
            system.cr0 |= ControlBits.cr0Paging
        }
        #expect(run.stop == .halted(interruptsEnabled: false), "rip \(hex(run.registers.rip)) cr2 \(hex(run.system.cr2))")
        #expect(run.registers.rax == 0xCAFE_F00D)
        #expect(try run.memory.load(UInt32.self, at: 0x40_0008) == 0xBEEF)
        #expect(try run.memory.load(UInt32.self, at: 0x21004) & 0x20 != 0)  // accessed
        #expect(try run.memory.load(UInt32.self, at: 0x21004) & 0x40 == 0)  // read only: not dirty
        #expect(try run.memory.load(UInt32.self, at: 0x20800) & 0x60 == 0x60)  // written: accessed and dirty
    }

    @Test func paeWalksThreeLevels() throws {
        let code: [UInt8] = [0xA1, 0x00, 0x00, 0x20, 0x40, 0xF4]  // mov eax, [0x40200000]; hlt
        let run = try emulate(code, mode: .protected) { memory, _, system in
            // PDPT at 0x20000 (4 entries), PD for 0-1 GiB at 0x21000, PD for 1-2 GiB at 0x22000.
            try memory.store(UInt64(0x21001), at: 0x20000)
            try memory.store(UInt64(0x22001), at: 0x20008)
            try memory.store(UInt64(0x0000_0083), at: 0x21000)  // 0-2 MiB, 2 MiB page
            try memory.store(UInt64(0x23003), at: 0x22000 + 1 * 8)  // 1 GiB + 2 MiB: page table at 0x23000
            try memory.store(UInt64(0x5003), at: 0x23000)  // first 4 KiB -> 0x5000
            try memory.store(UInt32(0x1122_3344), at: 0x5000)
            system.cr3 = 0x20000
            system.cr4 = ControlBits.cr4PhysicalAddressExtension
            system.cr0 |= ControlBits.cr0Paging
        }
        #expect(run.registers.rax == 0x1122_3344)
    }

    @Test func aMissingPageRaisesPageFaultWithCR2AndErrorCode() throws {
        let code: [UInt8] = [
            0xC7, 0x05, 0x00, 0x00, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x00,  // mov dword [0xC0000000], 1
            0xF4,
        ]
        // Handler at 0x1000: ebx = cr2, eax = error code, exit through port 0xF4.
        let handler: [UInt8] = [0x0F, 0x20, 0xD3, 0x58, 0xE6, 0xF4]
        let run = try emulate(code, mode: .protected) { memory, _, system in
            try memory.store(UInt32(0x0000_0083), at: 0x20000)
            try memory.write(handler, at: 0x8000)
            try memory.write(interruptGate(0x8000), at: 0x9000 + 14 * 8)
            system.idt = DescriptorTable(base: 0x9000, limit: 0xFF)
            system.cr3 = 0x20000
            system.cr4 = 1 << 4
            system.cr0 |= ControlBits.cr0Paging
        }
        #expect(run.stop == .debugExit(value: 2))  // error code: write to a non-present page
        #expect(run.registers.rbx == 0xC000_0000)
        #expect(run.system.cr2 == 0xC000_0000)
    }

    @Test func enteringLongModeFromProtectedMode() throws {
        // Enable PAE, set EFER.LME with WRMSR, turn paging on with CR3 pointing at the VMM's own
        // long-mode tables, far-jump into the 64-bit code segment and use a 64-bit register.
        let code: [UInt8] = [
            0x0F, 0x20, 0xE0,  // mov eax, cr4
            0x83, 0xC8, 0x20,  // or eax, 0x20 (PAE)
            0x0F, 0x22, 0xE0,  // mov cr4, eax
            0xB9, 0x80, 0x00, 0x00, 0xC0,  // mov ecx, 0xC0000080 (EFER)
            0x0F, 0x32,  // rdmsr
            0x0D, 0x00, 0x01, 0x00, 0x00,  // or eax, 0x100 (LME)
            0x0F, 0x30,  // wrmsr
            0xB8, 0x00, 0x10, 0x00, 0x00,  // mov eax, 0x1000
            0x0F, 0x22, 0xD8,  // mov cr3, eax
            0x0F, 0x20, 0xC0,  // mov eax, cr0
            0x0D, 0x00, 0x00, 0x00, 0x80,  // or eax, 0x80000000 (PG)
            0x0F, 0x22, 0xC0,  // mov cr0, eax
            0xEA, 0x31, 0x00, 0x10, 0x00, 0x18, 0x00,  // jmp 0x18:0x100031
            // 0x100031, 64-bit code:
            0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // mov rax, 0x1122334455667788
            0xF4,
        ]
        let run = try emulate(code, mode: .protected) { memory, _, _ in
            // The long-mode page tables the loader would build, placed where it puts them.
            var longPlan = LoadOptions(memorySize: 8 << 20)
            longPlan.mode = .long
            for write in try ImageLoader.plan(image: [0xF4], options: longPlan).writes where write.address < 0x7000 {
                try memory.write(write.bytes, at: write.address)
            }
        }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rax == 0x1122_3344_5566_7788)
        #expect(run.system.efer & ControlBits.eferLongModeActive != 0)
        #expect(run.system.cs.long)
    }
}
