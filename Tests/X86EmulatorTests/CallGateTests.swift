import Boot
import Testing
import VMCore

/// Far CALL and JMP through call gates: 32-bit gates at the same level and to an inner level with
/// the TSS stack and parameter copying (and RETF imm16 back out), the gate and target privilege
/// checks, and a 64-bit gate in long mode.
@Suite struct CallGateTests {
    static let entry: UInt64 = 0x10_0000
    /// SegmentationTests' GDT, then 0x60: a DPL 0 gate to 0x08:entry+0x40; 0x68: a DPL 3 gate there
    /// copying two doublewords.
    static let gates: [UInt64] = [0x0010_8C00_0008_0040, 0x0010_EC02_0008_0040]

    func run(_ code: [UInt8], user: Bool) throws -> EmulatorRun {
        try runCatchingFaults(code, mode: .protected) { memory, _, system in
            try SegmentationTests.installGDT(memory, &system)
            for (index, gate) in Self.gates.enumerated() { try memory.store(gate, at: 0x560 + UInt64(index) * 8) }
            system.gdt = DescriptorTable(base: 0x500, limit: 0x6F)
            if user { SegmentationTests.userMode(&system) }
        }
    }

    @Test func aCallThroughAGateAtTheSameLevel() throws {
        let code = image([(0, [0x9A, 0x00, 0x00, 0x00, 0x00, 0x60, 0x00]), (0x40, [0xF4])])  // call 0x60:0
        let run = try run(code, user: false)
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rip == Self.entry + 0x41)
        #expect(try run.stackSlot(0, size: 4) == Self.entry + 7)
        #expect(try run.stackSlot(1, size: 4) == 0x08)
    }

    /// CPL 3: push 0x1111; push 0x2222; call 0x6B:0 (the DPL 3 gate); mov eax, 0x77; hlt.
    static let userCall: [UInt8] = [
        0x68, 0x11, 0x11, 0x00, 0x00, 0x68, 0x22, 0x22, 0x00, 0x00, 0x9A, 0x00, 0x00, 0x00, 0x00, 0x6B, 0x00, 0xB8, 0x77, 0x00, 0x00,
        0x00, 0xF4,
    ]

    @Test func aCallThroughAGateToRingZeroSwitchesStacksAndCopiesParameters() throws {
        let run = try run(image([(0, Self.userCall), (0x40, [0xF4])]), user: true)
        #expect(run.stop == .halted(interruptsEnabled: false))  // HLT at CPL 0
        #expect(run.system.cs.selector == 0x08 && run.system.ss.selector == 0x10)
        #expect(run.registers.rsp == 0x90000 - 24)
        let frame = try (0..<6).map { try run.stackSlot($0, size: 4) }
        #expect(frame == [Self.entry + 17, 0x53, 0x2222, 0x1111, 0x80000 - 8, 0x33])
    }

    @Test func aFarReturnWithReleaseGoesBackOutAndDropsTheParameters() throws {
        let kernel: [UInt8] = [0x89, 0xE7, 0xCA, 0x08, 0x00]  // mov edi, esp; retf 8
        let run = try run(image([(0, Self.userCall), (0x40, kernel)]), user: true)
        #expect(run.stop == FaultHarness.caught(13))  // the HLT back at CPL 3
        #expect(try run.stackSlot(1, size: 4) == Self.entry + 22)
        #expect(try run.stackSlot(2, size: 4) == 0x53)
        #expect(try run.stackSlot(4, size: 4) == 0x80000)  // both pushes released
        #expect(try run.stackSlot(5, size: 4) == 0x33)
    }

    @Test func gateAndTargetPrivilegeChecks() throws {
        // At CPL 3 through the DPL 0 gate: #GP(gate).
        let lowGate = try run([0x9A, 0x00, 0x00, 0x00, 0x00, 0x63, 0x00], user: true)
        #expect(lowGate.stop == FaultHarness.caught(13))
        #expect(try lowGate.stackSlot(0, size: 4) == 0x60)
        // JMP through a gate may not change the level: #GP(target code selector).
        let jump = try run([0xEA, 0x00, 0x00, 0x00, 0x00, 0x6B, 0x00], user: true)
        #expect(jump.stop == FaultHarness.caught(13))
        #expect(try jump.stackSlot(0, size: 4) == 0x08)
        #expect(try jump.stackSlot(1, size: 4) == Self.entry)
    }

    @Test func a64BitCallGateInLongMode() throws {
        // mov eax, 0x9800; call far [rax] (selector 0x28: a 64-bit gate to 0x18:entry+0x40); hlt
        let code = image([(0, [0xB8, 0x00, 0x98, 0x00, 0x00, 0xFF, 0x18, 0xF4]), (0x40, [0xF4])])
        let run = try runCatchingFaults(code, mode: .long) { memory, _, system in
            try memory.store(UInt64(0x0010_8C00_0018_0040), at: 0x528)
            try memory.store(UInt64(0), at: 0x530)
            system.gdt = DescriptorTable(base: 0x500, limit: 0x37)
            try memory.store(UInt32(0), at: 0x9800)
            try memory.store(UInt16(0x28), at: 0x9804)
        }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rip == Self.entry + 0x41)
        #expect(try run.stackSlot(0, size: 8) == Self.entry + 7)
        #expect(try run.stackSlot(1, size: 8) == 0x18)
    }
}
