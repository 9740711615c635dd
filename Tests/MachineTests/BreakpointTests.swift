import Machine
import Testing
import VMCore

/// INT3 at CPL 0 traps to the guest's #BP handler with the return RIP after it, on both backends
/// (on PVM, whose emulator cannot run INT3, the KVM backend delivers the #BP itself).
@Suite struct BreakpointTests {
    /// Long mode, loaded at 0x100000: an IDT at 0x200000 with gate 3 -> `handler`, `int3`, and a
    /// handler that reads the return RIP into RCX and the address of `after` into RDX:
    ///
    ///     mov edi, 0x200000; lea rax, [rip+handler]; mov [rdi+48], ax; mov [rdi+50], cs
    ///     mov word [rdi+52], 0x8E00; shr rax, 16; mov [rdi+54], ax
    ///     sub rsp, 16; mov word [rsp+6], 0xFFF; mov [rsp+8], rdi; lidt [rsp+6]
    ///     xor ecx, ecx; int3
    ///     after: hlt
    ///     handler: mov rcx, [rsp]; lea rdx, [rip+after]; hlt
    static let guest: [UInt8] = [
        0xBF, 0x00, 0x00, 0x20, 0x00, 0x48, 0x8D, 0x05, 0x2E, 0x00, 0x00, 0x00, 0x66, 0x89, 0x47, 0x30, 0x8C, 0x4F, 0x32, 0x66, 0xC7, 0x47,
        0x34, 0x00, 0x8E, 0x48, 0xC1, 0xE8, 0x10, 0x66, 0x89, 0x47, 0x36, 0x48, 0x83, 0xEC, 0x10, 0x66, 0xC7, 0x44, 0x24, 0x06, 0xFF, 0x0F,
        0x48, 0x89, 0x7C, 0x24, 0x08, 0x0F, 0x01, 0x5C, 0x24, 0x06, 0x31, 0xC9, 0xCC, 0xF4, 0x48, 0x8B, 0x0C, 0x24, 0x48, 0x8D, 0x15, 0xF4,
        0xFF, 0xFF, 0xFF, 0xF4,
    ]

    @Test(arguments: testedBackends)
    func int3TrapsToTheGuestsHandler(backend: BackendChoice) throws {
        let (report, _) = try runGuest(flatPlan(Self.guest), backend: backend)
        #expect(report.stopReason == .halted(interruptsEnabled: false), "\(report.stopReason)")
        let registers = try #require(report.registers)
        #expect(registers.rcx == 0x10_0039 && registers.rdx == 0x10_0039, "the return RIP is the byte after int3")
        #expect(registers.rip == 0x10_0046)
    }
}
