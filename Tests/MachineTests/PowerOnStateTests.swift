import Machine
import Testing
import VMCore

/// The state a guest finds at its first instruction, beyond the registers a boot plan sets: the
/// same on both backends (KVM's is set in `KVMVirtualCPU.setPowerOnState`). MXCSR is not read
/// here: STMXCSR needs CR4.OSFXSR, and PVM's CPL 0 emulator has no SSE.
@Suite struct PowerOnStateTests {
    /// Reads the LAPIC's SVR, LVT LINT0 and LVT LINT1 into EAX, EBX and ECX: `mov esi, 0xFEE00000;
    /// mov eax, [rsi+0xF0]; mov ebx, [rsi+0x350]; mov ecx, [rsi+0x360]; hlt`.
    static let guest: [UInt8] = [
        0xBE, 0x00, 0x00, 0xE0, 0xFE, 0x8B, 0x86, 0xF0, 0x00, 0x00, 0x00, 0x8B, 0x9E, 0x50, 0x03, 0x00, 0x00, 0x8B, 0x8E, 0x60, 0x03, 0x00,
        0x00, 0xF4,
    ]

    /// Virtual wire, as firmware leaves the BSP: software-enabled (spurious vector 0xFF), LINT0
    /// ExtINT, LINT1 NMI. (KVM alone would leave SVR 0xFF and LINT1 masked.)
    @Test(arguments: testedBackends)
    func theLAPICStartsInVirtualWireMode(backend: BackendChoice) throws {
        let (report, _) = try runGuest(flatPlan(Self.guest), backend: backend)
        #expect(report.stopReason == .halted(interruptsEnabled: false), "\(report.stopReason)")
        let registers = try #require(report.registers)
        #expect([registers.rax, registers.rbx, registers.rcx] == [0x1FF, 0x700, 0x400])
    }
}
