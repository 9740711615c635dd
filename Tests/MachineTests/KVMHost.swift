import Foundation
import KVM
import Testing

/// Whether this host can run KVM guests; tests that need it skip with the reason otherwise.
enum KVMHost {
    static let unusableReason: String? = {
        do {
            _ = try KVMSystem().makeVirtualMachine()
            return nil
        } catch {
            return "KVM is not usable here: \(error)"
        }
    }()
    static var isUsable: Bool { unusableReason == nil }
    /// Whether this host's KVM is PVM, the software hypervisor of the development machines
    /// (machine notes), which cannot emulate some 32-bit code (IRET in protected mode, among others).
    static let isPVM = FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm")
    static var skipComment: Comment { Comment(rawValue: unusableReason ?? "") }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where /dev/kvm works, printing why it skipped otherwise.
    static var requiresKVM: Self { .enabled(if: KVMHost.isUsable, KVMHost.skipComment) }
}
