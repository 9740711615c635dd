/// Where the guest spends its instructions: the RIP sampled every
/// `SoftwareVirtualCPU.instructionsPerCheck` instructions (at the stop check, so it costs
/// nothing between samples). `vmm boot --guest-profile FILE` writes it; `scripts/guest-profile`
/// maps it to the kernel's functions.
public final class GuestProfile {
    public private(set) var samples: [UInt64: UInt32] = [:]
    public init() {}

    func record(_ rip: UInt64) { samples[rip, default: 0] &+= 1 }

    /// "rip count" lines, most frequent first.
    public var text: String {
        samples.sorted { $0.value > $1.value }.map { "0x" + String($0.key, radix: 16) + " \($0.value)" }.joined(separator: "\n") + "\n"
    }
}
