import Boot
import Testing
import VMCore

/// Faults while delivering an exception: the benign/contributory/page-fault classes that decide
/// between #DF and serial delivery, the EXT bit in error codes, #TS for a bad stack from the TSS,
/// and a failed delivery leaving no trace on the stack.
@Suite struct ExceptionDeliveryTests {
    static let entry: UInt64 = 0x10_0000

    /// Clears the present bit of 32-bit IDT gate `vector`.
    func removeGate(_ memory: GuestMemory, _ vector: Int) throws {
        let address = FaultHarness.table + UInt64(vector) * 8
        try memory.store(try memory.load(UInt64.self, at: address) & ~(UInt64(1) << 47), at: address)
    }

    @Test func aContributoryFaultWhileDeliveringOneIsADoubleFault() throws {
        // mov ax, 0x60; mov ds, ax: #GP(0x60); the #GP gate is not present: #NP; so #DF(0).
        let run = try runCatchingFaults([0x66, 0xB8, 0x60, 0x00, 0x8E, 0xD8], mode: .protected) { memory, _, _ in
            try removeGate(memory, 13)
        }
        #expect(run.stop == FaultHarness.caught(8))
        #expect(try run.stackSlot(0, size: 4) == 0)
        #expect(try run.stackSlot(1, size: 4) == Self.entry + 4)
        #expect(run.registers.rsp == 0x80000 - 16)  // one frame: the failed #GP delivery left nothing
    }

    @Test func aBenignExceptionThenAFaultIsDeliveredSerially() throws {
        // ud2 with the #UD gate not present: #NP(IDT entry 6, IDT and EXT bits), no #DF.
        let run = try runCatchingFaults([0x0F, 0x0B], mode: .protected) { memory, _, _ in try removeGate(memory, 6) }
        #expect(run.stop == FaultHarness.caught(11))
        #expect(try run.stackSlot(0, size: 4) == 6 * 8 + 2 + 1)
        #expect(try run.stackSlot(1, size: 4) == Self.entry)
    }

    @Test func selectorErrorsDuringDeliveryCarryEXTExceptForINTn() throws {
        // The #UD gate's code segment (0x28) is not present.
        func prepare(_ memory: GuestMemory, _ system: inout SystemRegisters) throws {
            try memory.store(UInt64(0x00CF_1A00_0000_FFFF), at: 0x528)
            system.gdt = DescriptorTable(base: 0x500, limit: 0x2F)
            let address = FaultHarness.table + 6 * 8
            try memory.store(try memory.load(UInt64.self, at: address) & ~(UInt64(0xFFFF) << 16) | UInt64(0x28) << 16, at: address)
        }
        let exception = try runCatchingFaults([0x0F, 0x0B], mode: .protected) { memory, _, system in try prepare(memory, &system) }
        #expect(exception.stop == FaultHarness.caught(11))
        #expect(try exception.stackSlot(0, size: 4) == 0x29)
        let software = try runCatchingFaults([0xCD, 0x06], mode: .protected) { memory, _, system in try prepare(memory, &system) }  // int 6
        #expect(software.stop == FaultHarness.caught(11))
        #expect(try software.stackSlot(0, size: 4) == 0x28)
        #expect(try software.stackSlot(1, size: 4) == Self.entry)  // reported at the INT
    }

    @Test func intBeyondTheIDTLimitIsAGeneralProtectionFaultNamingTheEntry() throws {
        let run = try runCatchingFaults([0xCD, 0x40], mode: .protected)
        #expect(run.stop == FaultHarness.caught(13))
        #expect(try run.stackSlot(0, size: 4) == 0x40 * 8 + 2)
        #expect(try run.stackSlot(1, size: 4) == Self.entry)
    }

    @Test func aPageFaultWhileDeliveringAPageFaultIsADoubleFault() throws {
        // mov rsp, 0x600000; mov rax, [0x400000]: 4-6 MiB is not present, so the #PF frame's
        // pushes fault too; #DF runs on IST1 (0x90000) and reports.
        let code: [UInt8] = [0x48, 0xC7, 0xC4, 0x00, 0x00, 0x60, 0x00, 0x48, 0x8B, 0x04, 0x25, 0x00, 0x00, 0x40, 0x00]
        let run = try runCatchingFaults(code, mode: .long) { memory, _, system in
            try memory.store(UInt64(0), at: 0x3000 + 2 * 8)
            try installRingZeroStack(memory, &system, long: true)
            try memory.store(UInt64(0x9_0000), at: 0x600 + 0x24)  // IST1
            let gate = FaultHarness.table + 8 * 16
            try memory.store(try memory.load(UInt64.self, at: gate) | UInt64(1) << 32, at: gate)
        }
        #expect(run.stop == FaultHarness.caught(8))
        #expect(try run.stackSlot(0, size: 8) == 0)
        #expect(try run.stackSlot(1, size: 8) == Self.entry + 7)
        #expect(try run.stackSlot(4, size: 8) == 0x60_0000)  // the interrupted RSP
        #expect(run.system.cr2 == 0x5F_FFF8)  // the second #PF: the first push of the #PF frame
    }
}
