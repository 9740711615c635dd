import Boot
import Testing
import VMCore

/// SYSENTER/SYSEXIT, SYSCALL/SYSRET in legacy mode, the MSR table, RDPMC, and the canonical-address
/// checks of system instructions and jumps, as the AMD CPU the model names runs them.
@Suite struct SystemInstructionTests {
    static let entry: UInt64 = 0x10_0000

    @Test func sysenterAndSysexitIn32BitProtectedMode() throws {
        // CPL 0: SYSENTER_CS = 8, ESP = 0x70000, EIP = entry + 0x40; mov ebp, 0x12345; sysenter.
        let start: [UInt8] = [
            0xB9, 0x74, 0x01, 0x00, 0x00, 0xB8, 0x08, 0x00, 0x00, 0x00, 0x31, 0xD2, 0x0F, 0x30, 0xB9, 0x75, 0x01, 0x00, 0x00, 0xB8, 0x00,
            0x00, 0x07, 0x00, 0x0F, 0x30, 0xB9, 0x76, 0x01, 0x00, 0x00, 0xB8, 0x40, 0x00, 0x10, 0x00, 0x0F, 0x30, 0xBD, 0x45, 0x23, 0x01,
            0x00, 0x0F, 0x34,
        ]
        let kernel: [UInt8] = [0x89, 0xE7, 0xB9, 0x00, 0x00, 0x06, 0x00, 0xBA, 0x80, 0x00, 0x10, 0x00, 0x0F, 0x35]  // mov edi, esp; ecx/edx; sysexit
        let code = image([(0, start), (0x40, kernel), (0x80, [0xF4])])  // user: hlt, a #GP at CPL 3
        let run = try runCatchingFaults(code, mode: .protected) { memory, _, system in try installRingZeroStack(memory, &system, long: false) }
        #expect(run.stop == FaultHarness.caught(13))
        #expect(run.registers.rdi == 0x70000)  // SYSENTER loaded ESP
        #expect(run.registers.rbp == 0x12345)
        // The #GP frame: error code, EIP, CS = SYSENTER_CS + 16 | 3, EFLAGS, ESP = ECX, SS = + 24 | 3.
        #expect(
            try (0..<6).map { try run.stackSlot($0, size: 4) }.enumerated().filter { $0.offset != 3 }.map(\.element) == [
                0, Self.entry + 0x80, 0x1B, 0x60000, 0x23,
            ])
    }

    @Test func sysenterAndSysexitAreInvalidInLongModeAsOnAMD() throws {
        for bytes: [UInt8] in [[0x0F, 0x34], [0x0F, 0x35], [0x48, 0x0F, 0x35]] {
            let run = try runCatchingFaults(bytes, mode: .long)
            #expect(run.stop == FaultHarness.caught(6), "\(bytes)")
        }
        #expect(CPUModel.softwareBackend.cpuid(leaf: 1).edx & CPUModel.Leaf1EDX.sep != 0)
    }

    @Test func sysenterWithANullSYSENTERCSIsAGeneralProtectionFault() throws {
        let run = try runCatchingFaults([0x0F, 0x34], mode: .protected)
        #expect(run.stop == FaultHarness.caught(13))
        #expect(try run.stackSlot(0, size: 4) == 0)
        #expect(try run.stackSlot(1, size: 4) == Self.entry)
    }

    @Test func syscallAndSysretInLegacyModeAsOnAMD() throws {
        // EFER.SCE; STAR = 0x0020_0008 : entry + 0x40; sti; syscall
        let start: [UInt8] = [
            0xB9, 0x80, 0x00, 0x00, 0xC0, 0xB8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xD2, 0x0F, 0x30, 0xB9, 0x81, 0x00, 0x00, 0xC0, 0xB8, 0x40,
            0x00, 0x10, 0x00, 0xBA, 0x08, 0x00, 0x20, 0x00, 0x0F, 0x30, 0xFB, 0x0F, 0x05,
        ]
        // mov esi, ecx; pushfd; pop edi; mov ecx, entry + 0x80; sysret
        let kernel: [UInt8] = [0x89, 0xCE, 0x9C, 0x5F, 0xB9, 0x80, 0x00, 0x10, 0x00, 0x0F, 0x07]
        let code = image([(0, start), (0x40, kernel), (0x80, [0xF4])])
        let run = try runCatchingFaults(code, mode: .protected) { memory, _, system in try installRingZeroStack(memory, &system, long: false) }
        #expect(run.stop == FaultHarness.caught(13))
        #expect(run.registers.rsi == Self.entry + UInt64(start.count))  // ECX: the return address
        #expect(run.registers.rdi & 0x200 == 0)  // SYSCALL cleared IF
        #expect(try run.stackSlot(1, size: 4) == Self.entry + 0x80)
        #expect(try run.stackSlot(2, size: 4) == 0x23)  // STAR[63:48] | 3
        #expect(try run.stackSlot(3, size: 4) & 0x200 != 0)  // SYSRET set IF
        #expect(try run.stackSlot(5, size: 4) == 0x2B)
    }

    @Test func syscallFromCompatibilityModeEntersThroughCSTARAsOnAMD() throws {
        // EFER.SCE; CSTAR = entry + 0x60; STAR[47:32] = 0x18; jmp far 0x08:entry+0x50 (32-bit code:
        // compatibility mode), where syscall enters 64-bit code at CSTAR (hlt).
        let start: [UInt8] = [
            0xB9, 0x80, 0x00, 0x00, 0xC0, 0x0F, 0x32, 0x83, 0xC8, 0x01, 0x0F, 0x30, 0xB9, 0x83, 0x00, 0x00, 0xC0, 0xB8, 0x60, 0x00, 0x10,
            0x00, 0x31, 0xD2, 0x0F, 0x30, 0xB9, 0x81, 0x00, 0x00, 0xC0, 0x31, 0xC0, 0xBA, 0x18, 0x00, 0x00, 0x00, 0x0F, 0x30, 0xC7, 0x04,
            0x25, 0x00, 0x98, 0x00, 0x00, 0x50, 0x00, 0x10, 0x00, 0x66, 0xC7, 0x04, 0x25, 0x04, 0x98, 0x00, 0x00, 0x08, 0x00, 0xFF, 0x2C,
            0x25, 0x00, 0x98, 0x00, 0x00,
        ]
        let run = try runCatchingFaults(image([(0, start), (0x50, [0x0F, 0x05]), (0x60, [0xF4])]), mode: .long)
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rip == Self.entry + 0x61)
        #expect(run.registers.rcx == Self.entry + 0x52)
        #expect(run.system.cs.selector == 0x18 && run.system.cs.long)
        #expect(run.system.ss.selector == 0x20)
    }

    @Test func syscallWithoutSCEIsAnInvalidOpcode() throws {
        let run = try runCatchingFaults([0x0F, 0x05], mode: .long)
        #expect(run.stop == FaultHarness.caught(6))
    }

    @Test func theMSRTableAnswersAsTheAMDModelDoes() throws {
        // SYSENTER_CS round trip; PerfCtr0 = 0x77_00000055 read by RDPMC; HWCR; the erratum-400 MSR.
        let code: [UInt8] = [
            0xB9, 0x74, 0x01, 0x00, 0x00, 0xB8, 0x34, 0x12, 0x00, 0x00, 0x31, 0xD2, 0x0F, 0x30, 0x0F, 0x32, 0x89, 0xC3, 0xB9, 0x04, 0x00,
            0x01, 0xC0, 0xB8, 0x55, 0x00, 0x00, 0x00, 0xBA, 0x77, 0x00, 0x00, 0x00, 0x0F, 0x30, 0x31, 0xC9, 0x0F, 0x33, 0x89, 0xC6, 0x89,
            0xD7, 0xB9, 0x15, 0x00, 0x01, 0xC0, 0x0F, 0x32, 0x49, 0x89, 0xC0, 0xB9, 0x55, 0x00, 0x01, 0xC0, 0x0F, 0x32, 0x49, 0x89, 0xC1,
            0xF4,
        ]
        let run = try emulate(code, mode: .long)
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rbx == 0x1234)
        #expect(run.registers.rsi == 0x55 && run.registers.rdi == 0x77)
        #expect(run.registers.r8 == 0 && run.registers.r9 == 0)
    }

    @Test func msrsTheModelLacksAndBadCountersAreGeneralProtectionFaults() throws {
        let cases: [(String, [UInt8])] = [
            ("PAT, not advertised", [0xB9, 0x77, 0x02, 0x00, 0x00, 0x0F, 0x32]),
            ("Intel's MISC_ENABLE", [0xB9, 0xA0, 0x01, 0x00, 0x00, 0x0F, 0x32]),
            ("RDPMC of counter 4", [0xB9, 0x04, 0x00, 0x00, 0x00, 0x0F, 0x33]),
            ("non-canonical FS_BASE", [0xB9, 0x00, 0x01, 0x00, 0xC0, 0xB8, 0x00, 0x00, 0x00, 0x00, 0xBA, 0x00, 0x80, 0x00, 0x00, 0x0F, 0x30]),
        ]
        for (name, bytes) in cases {
            let run = try runCatchingFaults(bytes, mode: .long)
            #expect(run.stop == FaultHarness.caught(13), "\(name)")
            #expect(try run.stackSlot(0, size: 8) == 0, "\(name)")
            #expect(try run.stackSlot(1, size: 8) == Self.entry + UInt64(bytes.count - 2), "\(name)")
        }
    }

    @Test func rdpmcAtCPL3NeedsCR4PCE() throws {
        // 32-bit user code (CS 0x1B, SS 0x23 from the GDT below) runs rdpmc.
        func run(pce: Bool) throws -> EmulatorRun {
            try runCatchingFaults([0x31, 0xC9, 0x0F, 0x33, 0xF4], mode: .protected) { memory, registers, system in
                try installRingZeroStack(memory, &system, long: false)
                try memory.store(UInt64(0x00CF_FA00_0000_FFFF), at: 0x518)  // 0x18: user code32
                try memory.store(UInt64(0x00CF_F200_0000_FFFF), at: 0x520)  // 0x20: user data
                system.gdt = DescriptorTable(base: 0x500, limit: 0x27)
                system.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x1B, type: 0xB, dpl: 3, defaultSize32: true, granularity: true)
                system.ss = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x23, type: 0x3, dpl: 3, defaultSize32: true, granularity: true)
                if pce { system.cr4 |= 1 << 8 }
            }
        }
        let without = try run(pce: false)
        #expect(without.stop == FaultHarness.caught(13))
        #expect(try without.stackSlot(1, size: 4) == Self.entry + 2)
        let with = try run(pce: true)
        #expect(with.stop == FaultHarness.caught(13))  // the HLT after it, at CPL 3
        #expect(try with.stackSlot(1, size: 4) == Self.entry + 4)
    }

    @Test func jumpsToNonCanonicalTargetsFaultAtTheJump() throws {
        let target: [UInt8] = [0x48, 0xB8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00]  // mov rax, 0x0000_8000_0000_0000
        for (name, tail) in [("jmp rax", [0xFF, 0xE0]), ("call rax", [0xFF, 0xD0]), ("push rax; ret", [0x50, 0xC3])] as [(String, [UInt8])] {
            let run = try runCatchingFaults(target + tail, mode: .long)
            #expect(run.stop == FaultHarness.caught(13), "\(name)")
            let faultAt = Self.entry + UInt64(target.count + tail.count - 1)
            #expect(try run.stackSlot(1, size: 8) == (name == "push rax; ret" ? faultAt : faultAt - 1), "\(name)")
            // The frame's RSP: as before the faulting instruction (CALL pushed nothing, RET's pop undone).
            #expect(try run.stackSlot(4, size: 8) == 0x80000 - (name == "push rax; ret" ? 8 : 0), "\(name)")
        }
    }

    @Test func systemInstructionsCheckCanonicalBasesButInvlpgDoesNot() throws {
        // mov rax, 0x0000_8000_0000_0000; mov [0x9802], rax; lgdt [0x9800]
        let lgdt: [UInt8] = [
            0x48, 0xB8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x48, 0x89, 0x04, 0x25, 0x02, 0x98, 0x00, 0x00, 0x0F, 0x01, 0x14,
            0x25, 0x00, 0x98, 0x00, 0x00,
        ]
        let run = try runCatchingFaults(lgdt, mode: .long)
        #expect(run.stop == FaultHarness.caught(13))
        #expect(try run.stackSlot(1, size: 8) == Self.entry + 18)
        #expect(run.system.gdt.base == 0x500)
        // invlpg [rax] with that non-canonical RAX: nothing happens.
        let invlpg = try runCatchingFaults([0x48, 0xB8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x0F, 0x01, 0x38, 0xF4], mode: .long)
        #expect(invlpg.stop == .halted(interruptsEnabled: false))
    }

    @Test func anAccessRunningIntoTheNonCanonicalHoleFaults() throws {
        // mov rax, 0x7FFF_FFFF_FFFC; mov rbx, [rax]: its last four bytes are non-canonical.
        let code: [UInt8] = [0x48, 0xB8, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x00, 0x48, 0x8B, 0x18, 0xF4]
        let run = try runCatchingFaults(code, mode: .long)
        #expect(run.stop == FaultHarness.caught(13))
        #expect(try run.stackSlot(1, size: 8) == Self.entry + 10)
    }

    @Test func rdtscpIsInvalidAsCPUIDDoesNotListItAndAMDPrefetchIsAHint() throws {
        #expect(try runCatchingFaults([0x0F, 0x01, 0xF9], mode: .long).stop == FaultHarness.caught(6))
        #expect(CPUModel.softwareBackend.cpuid(leaf: 0x8000_0001).edx & (1 << 27) == 0)
        // prefetchw [rax]; prefetch [rax]; hlt (RAX = 0); a register operand is #UD.
        #expect(try runCatchingFaults([0x0F, 0x0D, 0x08, 0x0F, 0x0D, 0x00, 0xF4], mode: .long).stop == .halted(interruptsEnabled: false))
        #expect(try runCatchingFaults([0x0F, 0x0D, 0xC0], mode: .long).stop == FaultHarness.caught(6))
    }

    @Test func lockIsValidOnlyOnMemoryReadModifyWrites() throws {
        #expect(try runCatchingFaults([0xF0, 0x01, 0xD8], mode: .long).stop == FaultHarness.caught(6))  // lock add eax, ebx
        #expect(try runCatchingFaults([0xF0, 0x8B, 0x03], mode: .long).stop == FaultHarness.caught(6))  // lock mov eax, [rbx]
        #expect(try runCatchingFaults([0xF0, 0x90], mode: .long).stop == FaultHarness.caught(6))  // lock nop
        // lock add [0x9800], ebx; lock cmpxchg [0x9800], ecx; hlt
        let valid: [UInt8] = [0xF0, 0x01, 0x1C, 0x25, 0x00, 0x98, 0x00, 0x00, 0xF0, 0x0F, 0xB1, 0x0C, 0x25, 0x00, 0x98, 0x00, 0x00, 0xF4]
        #expect(try runCatchingFaults(valid, mode: .long).stop == .halted(interruptsEnabled: false))
    }
}
