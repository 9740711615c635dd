import Boot
import Testing
import VMCore

/// TF single-step, DR0-DR3 execute and data breakpoints with DR7, DR6 status, GD, DR4/DR5 and
/// CR4.DE, RF in fault frames and its effect on instruction breakpoints.
@Suite struct DebugArchitectureTests {
    static let entry: UInt64 = 0x10_0000
    /// The #DB stub: mov rbx/ebx, dr6; mov al, 1; out 0xF4, al.
    static let debugStub: [UInt8] = [0x0F, 0x21, 0xF3, 0xB0, 0x01, 0xE6, 0xF4]

    func run(_ code: [UInt8], mode: CPUMode, prepare: @escaping (GuestMemory, inout SystemRegisters) throws -> Void = { _, _ in })
        throws -> EmulatorRun
    {
        try runCatchingFaults(code, mode: mode) { memory, _, system in
            try memory.write(Self.debugStub, at: FaultHarness.stubs + 8)
            try prepare(memory, &system)
        }
    }

    @Test func trapFlagTrapsAfterTheInstructionFollowingPopf() throws {
        // pushfd; or dword [esp], 0x100; popfd; nop; nop; hlt
        let code: [UInt8] = [0x9C, 0x81, 0x0C, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9D, 0x90, 0x90, 0xF4]
        let run = try run(code, mode: .protected)
        #expect(run.stop == FaultHarness.caught(1))
        #expect(try run.stackSlot(0, size: 4) == Self.entry + 10)  // after the first NOP
        #expect(try run.stackSlot(2, size: 4) & 0x100 != 0)  // TF in the pushed EFLAGS
        #expect(run.registers.rbx & (1 << 14) != 0)  // DR6.BS
        #expect(run.registers.rflags & 0x100 == 0)  // the handler runs without TF
    }

    @Test func anExecuteBreakpointFaultsBeforeTheInstructionAndRFLetsItRun() throws {
        // lea rax, [rip+20] (offset 27); mov dr0, rax; mov eax, 1 (L0, execute); mov dr7, rax; nops; hlt
        let code: [UInt8] = [
            0x48, 0x8D, 0x05, 0x14, 0x00, 0x00, 0x00, 0x0F, 0x23, 0xC0, 0xB8, 0x01, 0x00, 0x00, 0x00, 0x0F, 0x23, 0xF8, 0x90, 0x90, 0x90,
            0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xF4,
        ]
        let run = try run(code, mode: .long)
        #expect(run.stop == FaultHarness.caught(1))
        #expect(try run.stackSlot(0, size: 8) == Self.entry + 27)
        #expect(try run.stackSlot(2, size: 8) & 0x1_0000 == 0)  // no RF for an instruction breakpoint
        #expect(run.registers.rbx & 0xF == 1)  // DR6.B0
        // A handler that returns with RF set: the instruction runs once, and the code reaches HLT.
        let resumed = try runCatchingFaults(code, mode: .long) { memory, _, _ in
            try memory.write([0x48, 0x81, 0x4C, 0x24, 0x10, 0x00, 0x00, 0x01, 0x00, 0x48, 0xCF], at: 0x8800)  // or [rsp+16], RF; iretq
            try memory.store(UInt64(0x8800) | UInt64(0x18) << 16 | UInt64(0x8E) << 40, at: FaultHarness.table + 16)
        }
        #expect(resumed.stop == .halted(interruptsEnabled: false))
        #expect(resumed.registers.rflags & 0x1_0000 == 0)  // RF cleared once the instruction completed
    }

    @Test func aDataWriteBreakpointTrapsAfterTheWrite() throws {
        // DR1 = 0x9800; DR7 = L1, R/W1 = write, LEN1 = 4 bytes; mov [0x9802], eax (overlaps); nop; hlt
        let code: [UInt8] = [
            0xB8, 0x00, 0x98, 0x00, 0x00, 0x0F, 0x23, 0xC8, 0xB8, 0x04, 0x00, 0xD0, 0x00, 0x0F, 0x23, 0xF8, 0x89, 0x04, 0x25, 0x02, 0x98,
            0x00, 0x00, 0x90, 0xF4,
        ]
        let run = try run(code, mode: .long)
        #expect(run.stop == FaultHarness.caught(1))
        #expect(try run.stackSlot(0, size: 8) == Self.entry + 23)  // a trap: past the store
        #expect(run.registers.rbx & 0xF == 2)  // DR6.B1
        #expect(try run.memory.load(UInt32.self, at: 0x9802) == 0xD0_0004)  // the store happened
    }

    @Test func generalDetectFaultsOnDebugRegisterAccess() throws {
        // mov eax, 0x2000 (GD); mov dr7, rax; mov rax, dr0
        let run = try run([0xB8, 0x00, 0x20, 0x00, 0x00, 0x0F, 0x23, 0xF8, 0x0F, 0x21, 0xC0], mode: .long)
        #expect(run.stop == FaultHarness.caught(1))
        #expect(try run.stackSlot(0, size: 8) == Self.entry + 8)  // a fault, at the MOV
        #expect(run.registers.rbx & (1 << 13) != 0)  // DR6.BD (the stub's own MOV ran: GD was cleared)
    }

    @Test func dr4AliasesDR6UnlessCR4DE() throws {
        let alias = try run([0x0F, 0x21, 0xE0, 0xF4], mode: .long)  // mov rax, dr4; hlt
        #expect(alias.stop == .halted(interruptsEnabled: false))
        #expect(alias.registers.rax == 0xFFFF_0FF0)
        // mov rax, cr4; or eax, 8; mov cr4, rax; mov rax, dr4
        let extensions = try run([0x0F, 0x20, 0xE0, 0x83, 0xC8, 0x08, 0x0F, 0x22, 0xE0, 0x0F, 0x21, 0xE0], mode: .long)
        #expect(extensions.stop == FaultHarness.caught(6))
    }

    @Test func faultFramesCarryRFAndTrapFramesDoNot() throws {
        let fault = try runCatchingFaults([0x0F, 0x0B], mode: .protected)  // ud2
        #expect(fault.stop == FaultHarness.caught(6))
        #expect(try fault.stackSlot(2, size: 4) & 0x1_0000 != 0)
        let trap = try runCatchingFaults([0xCC], mode: .protected)  // int3 through the stub's gate
        #expect(trap.stop == FaultHarness.caught(3))
        #expect(try trap.stackSlot(2, size: 4) & 0x1_0000 == 0)
    }
}
