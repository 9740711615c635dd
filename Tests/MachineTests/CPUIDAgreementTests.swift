import Machine
import Testing
import VMCore

/// CPUID run by the guest at CPL 0 gives the CPU model's answer on both backends: on KVM the
/// guest CPUID is the model's, cut down to what the host can give (`GuestCPUID`), and this kind
/// of host gives all of it.
@Suite struct CPUIDAgreementTests {
    /// `mov eax, leaf; xor ecx, ecx; cpuid; hlt`, in long mode.
    static func cpuidGuest(_ leaf: UInt32) -> [UInt8] {
        [0xB8] + (0..<4).map { UInt8(truncatingIfNeeded: leaf >> (8 * $0)) } + [0x31, 0xC9, 0x0F, 0xA2, 0xF4]
    }

    static let leaves: [UInt32] = [0, 1, 4, 6, 0x4000_0000, 0x4000_0001, 0x8000_0000, 0x8000_0001, 0x8000_0002, 0x8000_0008]

    @Test(.requiresKVM, arguments: leaves)
    func kvmAnswersTheModelsCPUID(leaf: UInt32) throws {
        let (report, _) = try runGuest(flatPlan(Self.cpuidGuest(leaf)), backend: .kvm)
        let registers = try #require(report.registers)
        let model = CPUModel.softwareBackend.cpuid(leaf: leaf)
        let answer = [registers.rax, registers.rbx, registers.rcx, registers.rdx].map { UInt32(truncatingIfNeeded: $0) }
        if leaf == 1 && KVMHost.isPVM {
            // PVM ORs host features into leaf 1's ECX and EDX at CPL 0 (GuestCPUID's notes); the
            // identity, the APIC ID and every bit the model has still come through, but CX16,
            // which the KVM backend withholds there (KVMSystem.pvmWithheldLeaf1ECX).
            let ecx = model.ecx & ~CPUModel.Leaf1ECX.cx16
            #expect(answer[0...1] == [model.eax, model.ebx])
            #expect(answer[2] & ecx == ecx && answer[2] & CPUModel.Leaf1ECX.cx16 == 0)
            #expect(answer[3] & model.edx == model.edx)
        } else {
            #expect(answer == [model.eax, model.ebx, model.ecx, model.edx], "leaf \(hex(leaf))")
        }
    }

    /// Past the model's maximum leaves KVM answers zeros, as the software backend does (Linux
    /// bounds-checks CPUID with the maximum, so this is what hides leaf 7's and 0xD's features).
    @Test(.requiresKVM, arguments: [UInt32(0xB), 0x8000_001F])
    func leavesPastTheMaximumAreEmpty(leaf: UInt32) throws {
        let (report, _) = try runGuest(flatPlan(Self.cpuidGuest(leaf)), backend: .kvm)
        let registers = try #require(report.registers)
        #expect([registers.rax, registers.rbx, registers.rcx, registers.rdx].map { UInt32(truncatingIfNeeded: $0) } == [0, 0, 0, 0])
    }
}
