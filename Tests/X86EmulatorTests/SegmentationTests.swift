import Boot
import Testing
import VMCore

/// Segment-register loads with their privilege and type checks, the type checks of every access
/// through a segment, expand-down limits, the accessed bit, returns to an outer level, and
/// LAR/LSL/VERR/VERW. 32-bit protected mode runs only here (the differential tester compares the
/// 64-bit CPL 3 cases with the host CPU).
@Suite struct SegmentationTests {
    static let entry: UInt64 = 0x10_0000

    /// The test GDT (its selectors):
    static let descriptors: [UInt64] = [
        0,
        0x00CF_9A00_0000_FFFF,  // 0x08 code32, DPL 0
        0x00CF_9200_0000_FFFF,  // 0x10 data, DPL 0
        0x00AF_9A00_0000_FFFF,  // 0x18 code64, DPL 0
        0x00CF_9000_0000_FFFF,  // 0x20 read-only data, DPL 0
        0x00CF_9800_0000_FFFF,  // 0x28 execute-only code32, DPL 0
        0x00CF_F200_0000_FFFF,  // 0x30 data, DPL 3
        0x00CF_1200_0000_FFFF,  // 0x38 data, DPL 0, not present
        0x0040_9600_0000_0FFF,  // 0x40 expand-down data, limit 0xFFF (valid offsets 0x1000 up), DPL 0
        0x00CF_9E00_0000_FFFF,  // 0x48 conforming readable code32, DPL 0
        0x00CF_FA00_0000_FFFF,  // 0x50 code32, DPL 3
        0x0000_8900_0600_0067,  // 0x58 32-bit TSS, DPL 0
    ]

    static func installGDT(_ memory: GuestMemory, _ system: inout SystemRegisters) throws {
        for (index, descriptor) in descriptors.enumerated() { try memory.store(descriptor, at: 0x500 + UInt64(index) * 8) }
        system.gdt = DescriptorTable(base: 0x500, limit: UInt16(descriptors.count * 8 - 1))
        try installRingZeroStack(memory, &system, long: false)
    }

    static func userMode(_ system: inout SystemRegisters) {
        system.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x53, type: 0xB, dpl: 3, defaultSize32: true, granularity: true)
        system.ss = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x33, type: 0x3, dpl: 3, defaultSize32: true, granularity: true)
    }

    func run(_ code: [UInt8], user: Bool = false) throws -> EmulatorRun {
        try runCatchingFaults(code, mode: .protected) { memory, _, system in
            try Self.installGDT(memory, &system)
            if user { Self.userMode(&system) }
        }
    }

    /// Asserts the run stopped in the handler of `vector` with `errorCode` and the fault at `offset`.
    func expectFault(_ run: EmulatorRun, _ vector: UInt8, errorCode: UInt64, at offset: Int, _ comment: Comment? = nil) throws {
        #expect(run.stop == FaultHarness.caught(vector), comment)
        #expect(try run.stackSlot(0, size: 4) == errorCode, comment)
        #expect(try run.stackSlot(1, size: 4) == Self.entry + UInt64(offset), comment)
    }

    @Test func writingThroughAReadOnlyDataSegmentFaults() throws {
        // mov ax, 0x20; mov ds, ax; mov eax, [0x9800] (reads fine); mov [0x9800], eax
        let code: [UInt8] = [0x66, 0xB8, 0x20, 0x00, 0x8E, 0xD8, 0xA1, 0x00, 0x98, 0x00, 0x00, 0xA3, 0x00, 0x98, 0x00, 0x00, 0xF4]
        try expectFault(try run(code), 13, errorCode: 0, at: 11)
    }

    @Test func dataReadsOfExecuteOnlyCodeFault() throws {
        // jmp 0x28:entry+7 (execute-only code runs); mov eax, cs:[0x9800]
        let code: [UInt8] = [0xEA, 0x07, 0x00, 0x10, 0x00, 0x28, 0x00, 0x2E, 0xA1, 0x00, 0x98, 0x00, 0x00]
        try expectFault(try run(code), 13, errorCode: 0, at: 7)
        // ... and loading it into DS is #GP(selector).
        try expectFault(try run([0x66, 0xB8, 0x28, 0x00, 0x8E, 0xD8]), 13, errorCode: 0x28, at: 4)
    }

    @Test func readableCodeLoadsIntoDSForReadingOnly() throws {
        // mov ax, 0x48; mov ds, ax; mov eax, [0x9800]; mov [0x9800], eax
        let code: [UInt8] = [0x66, 0xB8, 0x48, 0x00, 0x8E, 0xD8, 0xA1, 0x00, 0x98, 0x00, 0x00, 0xA3, 0x00, 0x98, 0x00, 0x00]
        try expectFault(try run(code), 13, errorCode: 0, at: 11)
    }

    @Test func dataSegmentLoadChecks() throws {
        func load(_ selector: UInt16, into sreg: UInt8 = 0xD8) -> [UInt8] { [0x66, 0xB8, UInt8(selector & 0xFF), UInt8(selector >> 8), 0x8E, sreg] }
        try expectFault(try run(load(0x38)), 11, errorCode: 0x38, at: 4, "not present: #NP")
        try expectFault(try run(load(0x60)), 13, errorCode: 0x60, at: 4, "beyond the GDT limit")
        try expectFault(try run(load(0x0C)), 13, errorCode: 0x0C, at: 4, "an LDT selector with no LDT")
        try expectFault(try run(load(0x58)), 13, errorCode: 0x58, at: 4, "a TSS")
        try expectFault(try run(load(0x20, into: 0xD0)), 13, errorCode: 0x20, at: 4, "SS: read-only")
        try expectFault(try run(load(0x30, into: 0xD0)), 13, errorCode: 0x30, at: 4, "SS: DPL 3 at CPL 0")
        try expectFault(try run(load(0x13, into: 0xD0)), 13, errorCode: 0x10, at: 4, "SS: RPL 3 at CPL 0")
        try expectFault(try run(load(0x00, into: 0xD0)), 13, errorCode: 0, at: 4, "SS: null outside 64-bit mode")
        try expectFault(try run(load(0x38, into: 0xD0)), 12, errorCode: 0x38, at: 4, "SS: not present is #SS")
        // At CPL 3: DPL 0 data is #GP(selector); conforming code is readable from any level.
        try expectFault(try run(load(0x10), user: true), 13, errorCode: 0x10, at: 4, "DPL 0 data at CPL 3")
        // mov ax, 0x48; mov ds, ax; mov eax, [0x9800]; mov ax, 0x10; mov ds, ax
        let conforming: [UInt8] = [0x66, 0xB8, 0x48, 0x00, 0x8E, 0xD8, 0xA1, 0x00, 0x98, 0x00, 0x00, 0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8]
        try expectFault(try run(conforming, user: true), 13, errorCode: 0x10, at: 15, "conforming code into DS at CPL 3")
    }

    @Test func loadingASegmentSetsTheAccessedBit() throws {
        // mov ax, 0x30; mov ds, ax; mov ax, 0x10; mov ds, ax; hlt
        let run = try run([0x66, 0xB8, 0x30, 0x00, 0x8E, 0xD8, 0x66, 0xB8, 0x10, 0x00, 0x8E, 0xD8, 0xF4])
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(try run.memory.load(UInt8.self, at: 0x530 + 5) == 0xF3)
        #expect(try run.memory.load(UInt8.self, at: 0x510 + 5) == 0x93)
        #expect(try run.memory.load(UInt8.self, at: 0x520 + 5) == 0x90)  // never loaded: untouched
    }

    @Test func expandDownSegmentsAreValidAboveTheirLimit() throws {
        // mov ax, 0x40; mov es, ax; mov eax, es:[0x1000] (fine); mov eax, es:[0x0FFE] (at or below the limit)
        let code: [UInt8] = [0x66, 0xB8, 0x40, 0x00, 0x8E, 0xC0, 0x26, 0xA1, 0x00, 0x10, 0x00, 0x00, 0x26, 0xA1, 0xFE, 0x0F, 0x00, 0x00]
        try expectFault(try run(code), 13, errorCode: 0, at: 12)
    }

    @Test func farReturnToAnOuterLevelSwitchesStacksAndNullsDataSegments() throws {
        // push 0x33; push 0x70000; push 0x53; push entry+0x40; retf -> CPL 3 code: mov eax, [0x9800]
        // through DS = 0x10 (DPL 0), which the return made null: #GP(0).
        let kernel: [UInt8] = [0x6A, 0x33, 0x68, 0x00, 0x00, 0x07, 0x00, 0x6A, 0x53, 0x68, 0x40, 0x00, 0x10, 0x00, 0xCB]
        let code = image([(0, kernel), (0x40, [0xA1, 0x00, 0x98, 0x00, 0x00])])
        let run = try run(code)
        try expectFault(run, 13, errorCode: 0, at: 0x40)
        #expect(try run.stackSlot(2, size: 4) == 0x53)
        #expect(try run.stackSlot(4, size: 4) == 0x70000)
        #expect(try run.stackSlot(5, size: 4) == 0x33)
        #expect(run.system.ds.unusable)
        #expect(run.system.ss.selector == 0x10)  // the handler's stack from the TSS
    }

    @Test func farReturnToAMorePrivilegedLevelFaults() throws {
        // At CPL 3: push 0x08 (CPL 0 code); push entry; retf -> #GP(0x08)
        let code: [UInt8] = [0x6A, 0x08, 0x68, 0x00, 0x00, 0x10, 0x00, 0xCB]
        let run = try run(code, user: true)
        try expectFault(run, 13, errorCode: 0x08, at: 7)
        #expect(try run.stackSlot(4, size: 4) == 0x80000 - 8)  // the pushes stand; RETF's pops were undone
    }

    @Test func larLslVerrVerwAtCPL0() throws {
        // mov ecx, -1; mov ax, 0x30; lar ecx, ax; pushfd; pop esi; mov edx, -1; lsl edx, ax;
        // mov bx, 0x38; verw bx; pushfd; pop edi; hlt
        let code: [UInt8] = [
            0xB9, 0xFF, 0xFF, 0xFF, 0xFF, 0x66, 0xB8, 0x30, 0x00, 0x0F, 0x02, 0xC8, 0x9C, 0x5E, 0xBA, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x03,
            0xD0, 0x66, 0xBB, 0x38, 0x00, 0x0F, 0x00, 0xEB, 0x9C, 0x5F, 0xF4,
        ]
        let run = try run(code)
        #expect(run.registers.rcx == 0x00CF_F200)
        #expect(run.registers.rsi & Flag.zf != 0)
        #expect(run.registers.rdx == 0xFFFF_FFFF)
        #expect(run.registers.rdi & Flag.zf != 0)  // VERW does not look at P
    }

    @Test func larLslVerrVerwAtCPL3() throws {
        // mov ecx, 0x11111111; mov ax, 0x10; lar ecx, ax; pushfd; pop esi; mov ax, 0x48; verr ax;
        // pushfd; pop edi; mov ax, 0x4B; lsl edx, ax; mov ax, 0x58; lar ebp, ax; hlt (#GP at CPL 3)
        let code: [UInt8] = [
            0xB9, 0x11, 0x11, 0x11, 0x11, 0x66, 0xB8, 0x10, 0x00, 0x0F, 0x02, 0xC8, 0x9C, 0x5E, 0x66, 0xB8, 0x48, 0x00, 0x0F, 0x00, 0xE0,
            0x9C, 0x5F, 0x66, 0xB8, 0x4B, 0x00, 0x0F, 0x03, 0xD0, 0x66, 0xB8, 0x58, 0x00, 0x0F, 0x02, 0xE8, 0xF4,
        ]
        let run = try run(code, user: true)
        #expect(run.registers.rcx == 0x1111_1111)  // DPL 0 data: ZF = 0, destination unchanged
        #expect(run.registers.rsi & Flag.zf == 0)
        #expect(run.registers.rdi & Flag.zf != 0)  // conforming readable code
        #expect(run.registers.rdx == 0xFFFF_FFFF)
        #expect(try run.stackSlot(3, size: 4) & Flag.zf == 0)  // the TSS is DPL 0
        #expect(run.registers.rbp == 0)
        // Real mode: #UD.
        #expect(try runCatchingFaults([0x0F, 0x02, 0xC8], mode: .real).stop == FaultHarness.caught(6))
    }

    @Test func segmentQueriesAndNullSSIn64BitMode() throws {
        // mov rcx, -1; mov ax, 0x2B; lar rcx, ax; mov ax, 0x5B; lar rdx, ax; pushfq; pop rsi;
        // mov ax, 0; mov ss, ax (null SS at CPL 0 in 64-bit mode: allowed); hlt
        let code: [UInt8] = [
            0x48, 0xC7, 0xC1, 0xFF, 0xFF, 0xFF, 0xFF, 0x66, 0xB8, 0x2B, 0x00, 0x48, 0x0F, 0x02, 0xC8, 0x66, 0xB8, 0x5B, 0x00, 0x48, 0x0F,
            0x02, 0xD0, 0x9C, 0x5E, 0x66, 0xB8, 0x00, 0x00, 0x8E, 0xD0, 0xF4,
        ]
        let run = try runCatchingFaults(code, mode: .long) { memory, _, system in
            try memory.store(UInt64(0x00CF_F200_0000_FFFF), at: 0x528)
            system.gdt = DescriptorTable(base: 0x500, limit: 0x2F)
        }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rcx == 0x00CF_F200)
        #expect(run.registers.rsi & Flag.zf == 0)
        #expect(run.system.ss.unusable)
    }
}
