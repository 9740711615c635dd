import Boot
import KVM
import VMCore

/// Advice printed after an abnormal stop: what the image suggests the user meant, and stops that
/// come from what this host's KVM cannot do rather than from the guest.
enum StopHints {
    /// Whether KVM here is PVM, the software hypervisor of these hosts (no VMX/SVM): it runs CPL 3
    /// code natively and emulates the rest, with known gaps (README, "Limitations").
    static let kvmIsPVM = KVMSystem.isPVM

    static func hints(for reason: StopReason, plan: BootPlan, backend: String, system: SystemRegisters?, memory: GuestMemory) -> [String] {
        if reason == .timedOut, backend == "kvm", kvmIsPVM, let system, system.cs.dpl == 0 {
            // Not a failure, but why a guest that would be done in a second on hardware is not.
            return [
                "this host's KVM (PVM, a software hypervisor) emulates CPL 0 code at about 2 million instructions per second, and the guest was in kernel mode: kernel work such as a bzImage's decompressor takes minutes here (a PVH vmlinux from scripts/vmlinux skips it); run it with --backend software"
            ]
        }
        guard !reason.isNormal, reason != .timedOut, reason != .interrupted, reason != .stoppedByUser else { return [] }
        var hints: [String] = []
        if let hint = plan.hint { hints.append(hint) }
        if backend == "kvm", kvmIsPVM, let limitation = pvmLimitation(reason, system: system, memory: memory) {
            hints.append(
                "this may be a limitation of this host's KVM (PVM, a software hypervisor), not of the guest: \(limitation); run it with --backend software"
            )
        }
        return hints
    }

    /// PVM's known limits (machine notes): legacy paging triple-faults, CPL 0 code is emulated by
    /// an instruction emulator that lacks SSE and some system instructions, and a GDT in ROM
    /// cannot take the accessed-bit updates PVM makes.
    static func pvmLimitation(_ reason: StopReason, system: SystemRegisters?, memory: GuestMemory) -> String? {
        switch reason {
        case .shutdown:
            guard let system else { return nil }
            let paging = system.cr0 & (1 << 31) != 0, longMode = system.efer & (1 << 10) != 0
            if paging && !longMode { return "it triple-faults on 32-bit (legacy or PAE) paging" }
            if let region = memory.region(containing: system.gdt.base, length: 1), region.readOnly {
                return "it cannot set accessed bits in a GDT in read-only memory"
            }
            if !longMode { return "it emulates real-mode and 32-bit code and fails on some of it (turning on 32-bit paging triple-faults)" }
            return nil
        case .internalError:
            guard let bytes = reason.emulationFailureBytes, let name = FailedInstructionName.name(of: bytes) else {
                return "its instruction emulator, which runs all CPL 0 code, cannot emulate every instruction (SSE among them)"
            }
            let level = system.map { " at CPL \($0.cs.dpl)" } ?? ""
            // PVM ORs host features into leaf 1 at CPL 0 whatever CPUID the VMM sets (GuestCPUID).
            let note =
                name == "popcnt"
                ? " (PVM shows CPL 0 code the host's POPCNT whatever CPUID the VMM sets, and Linux patches it into its hweight functions)"
                : ""
            return "its instruction emulator, which runs all CPL 0 code, cannot emulate `\(name)`\(level)\(note)"
        default:
            return nil
        }
    }
}
