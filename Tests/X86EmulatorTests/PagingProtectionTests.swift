import Boot
import Testing
import VMCore

/// Reserved bits at every level in 4-level, PAE and 32-bit paging (#PF with RSVD), NX only with
/// EFER.NXE, CR0.WP, and MOV CR3's reserved bits, for the model's 40-bit physical addresses.
@Suite struct PagingProtectionTests {
    static let directory: UInt64 = 0x3000  // the boot plan's PD for 0-1 GiB (2 MiB pages)
    static let pdpt: UInt64 = 0x2000
    static let readPage: [UInt8] = [0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x40, 0x00, 0xF4]  // mov rax, [0x400000]; hlt

    func runLong(_ code: [UInt8], _ change: @escaping (GuestMemory, inout SystemRegisters) throws -> Void) throws -> EmulatorRun {
        try runCatchingFaults(code, mode: .long) { memory, _, system in try change(memory, &system) }
    }

    func orEntry(_ memory: GuestMemory, _ address: UInt64, _ bits: UInt64) throws {
        try memory.store(try memory.load(UInt64.self, at: address) | bits, at: address)
    }

    func expectPageFault(_ run: EmulatorRun, errorCode: UInt64, address: UInt64, _ comment: Comment? = nil) throws {
        #expect(run.stop == FaultHarness.caught(14), comment)
        #expect(try run.stackSlot(0, size: run.system.efer & ControlBits.eferLongModeActive != 0 ? 8 : 4) == errorCode, comment)
        #expect(run.system.cr2 == address, comment)
    }

    @Test func addressBitsAboveThePhysicalWidthAreReserved() throws {
        let run = try runLong(Self.readPage) { memory, _ in try orEntry(memory, Self.directory + 2 * 8, 1 << 40) }
        try expectPageFault(run, errorCode: 9, address: 0x40_0000)  // present, reserved, read, supervisor
    }

    @Test func aPDPTEWithPSIsReservedWithoutOneGiBPages() throws {
        let code: [UInt8] = [0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40]  // mov rax, [0x40000000]
        let run = try runLong(code) { memory, _ in try orEntry(memory, Self.pdpt + 8, 0x80) }
        try expectPageFault(run, errorCode: 9, address: 0x4000_0000)
    }

    @Test func executeDisableIsReservedWithoutNXEAndBlocksFetchesWithIt() throws {
        let without = try runLong(Self.readPage) { memory, _ in try orEntry(memory, Self.directory + 2 * 8, 1 << 63) }
        try expectPageFault(without, errorCode: 9, address: 0x40_0000)
        // With NXE: reading the page works; jumping to it is #PF(present, fetch).
        let code = Array(Self.readPage.dropLast()) + [0x48, 0xC7, 0xC1, 0x00, 0x00, 0x40, 0x00, 0xFF, 0xE1]  // mov rcx, 0x400000; jmp rcx
        let with = try runLong(code) { memory, system in
            try orEntry(memory, Self.directory + 2 * 8, 1 << 63)
            system.efer |= 1 << 11
        }
        try expectPageFault(with, errorCode: 0x11, address: 0x40_0000)
    }

    @Test func bits62To52AreIgnoredInLongMode() throws {
        let run = try runLong(Self.readPage) { memory, _ in try orEntry(memory, Self.directory + 2 * 8, 0x7FF0_0000_0000_0000) }
        #expect(run.stop == .halted(interruptsEnabled: false))
    }

    @Test func supervisorWritesToReadOnlyPagesFaultOnlyWithCR0WP() throws {
        let write: [UInt8] = [0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x40, 0x00, 0xF4]  // mov [0x400000], rax; hlt
        func readOnly(_ memory: GuestMemory) throws {
            try memory.store(try memory.load(UInt64.self, at: Self.directory + 2 * 8) & ~2, at: Self.directory + 2 * 8)
        }
        let withoutWP = try runLong(write) { memory, system in
            try readOnly(memory)
            system.cr0 &= ~(1 << 16)
        }
        #expect(withoutWP.stop == .halted(interruptsEnabled: false))
        let withWP = try runLong(write) { memory, system in
            try readOnly(memory)
            system.cr0 |= 1 << 16
        }
        try expectPageFault(withWP, errorCode: 3, address: 0x40_0000)
    }

    @Test func movToCR3WithBitsAboveThePhysicalWidthFaults() throws {
        // mov rax, 0x100_0000_1000; mov cr3, rax
        let run = try runLong([0x48, 0xB8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x0F, 0x22, 0xD8]) { _, _ in }
        #expect(run.stop == FaultHarness.caught(13))
        #expect(try run.stackSlot(1, size: 8) == 0x10_0000 + 10)
    }

    /// Protected-mode code at 0x100000 with paging on: `tables` writes the tables at 0x20000 and
    /// returns CR3; PSE and PAE as given.
    func runPaged32(pae: Bool, reading address: UInt32 = 0x40_0000, _ tables: @escaping (GuestMemory) throws -> Void) throws -> EmulatorRun {
        let code: [UInt8] = [0xA1] + (0..<4).map { UInt8(truncatingIfNeeded: address >> (8 * $0)) } + [0xF4]  // mov eax, [address]; hlt
        return try runCatchingFaults(code, mode: .protected) { memory, _, system in
            try tables(memory)
            system.cr3 = 0x20000
            system.cr4 |= pae ? ControlBits.cr4PhysicalAddressExtension : 1 << 4
            system.cr0 |= ControlBits.cr0Paging
        }
    }

    @Test func reservedBitsOfA4MiBPageIn32BitPaging() throws {
        let clean = try runPaged32(pae: false) { memory in
            try memory.store(UInt32(0x83), at: 0x20000)  // 0-4 MiB
            try memory.store(UInt32(0x40_0083), at: 0x20004)  // 4-8 MiB
        }
        #expect(clean.stop == .halted(interruptsEnabled: false))
        let run = try runPaged32(pae: false) { memory in
            try memory.store(UInt32(0x83), at: 0x20000)
            try memory.store(UInt32(0x40_0083 | 1 << 13), at: 0x20004)  // no PSE-36: bit 13 is reserved
        }
        try expectPageFault(run, errorCode: 9, address: 0x40_0000)
    }

    @Test func reservedBitsInLegacyPAEPaging() throws {
        func tables(_ memory: GuestMemory, directoryEntry: UInt64, secondPDPTE: UInt64 = 0x22001) throws {
            try memory.store(UInt64(0x21001), at: 0x20000)
            try memory.store(secondPDPTE, at: 0x20008)  // 1-2 GiB
            try memory.store(UInt64(0x83), at: 0x21000)  // 0-2 MiB
            try memory.store(directoryEntry, at: 0x21000 + 2 * 8)  // 4-6 MiB
            try memory.store(UInt64(0x4000_0083), at: 0x22000)  // 1 GiB
        }
        let clean = try runPaged32(pae: true) { try tables($0, directoryEntry: 0x40_0083) }
        #expect(clean.stop == .halted(interruptsEnabled: false))
        let highBit = try runPaged32(pae: true) { try tables($0, directoryEntry: 0x40_0083 | 1 << 62) }  // reserved outside long mode
        try expectPageFault(highBit, errorCode: 9, address: 0x40_0000, "PDE bit 62")
        let pdpte = try runPaged32(pae: true, reading: 0x4000_0000) { try tables($0, directoryEntry: 0x40_0083, secondPDPTE: 0x22001 | 2) }
        try expectPageFault(pdpte, errorCode: 9, address: 0x4000_0000, "PDPTE bit 1")
    }
}
