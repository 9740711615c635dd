import Boot
import VMCore

/// Everything a run tells the user: why and how the guest stopped, exit counts, timings and POST
/// codes. Printed by `--stats`, written as JSON by `--result`.
public struct RunReport: Sendable {
    public struct DeviceCount: Sendable, Equatable {
        public var bus: String  // "io" or "mmio"
        public var device: String
        public var range: String
        public var accesses: UInt64
    }

    public var backend: String
    public var imageSummary: String
    public var stopReason: StopReason
    public var exitStatus: Int32
    public var statistics: CPUStatistics
    public var devices: [DeviceCount]
    public var unclaimedPorts: [(port: UInt16, count: UInt64)]
    public var unclaimedPortTotal: UInt64
    public var unclaimedMMIO: [(address: UInt64, count: UInt64)]
    public var unclaimedMMIOTotal: UInt64
    public var hypercalls: [(number: UInt32, count: UInt64)]
    /// Nanoseconds from the start of machine construction to the first guest entry.
    public var setupNanoseconds: UInt64
    /// Nanoseconds from the first guest entry to the stop.
    public var runNanoseconds: UInt64
    public var postCodes: [UInt8]
    /// Console bytes the guest wrote that never reached the output: it was closed, or not being
    /// read when the run stopped.
    public var unwrittenConsoleBytes: Int = 0
    /// Advice after an abnormal stop (`vmm: hint: ...` lines): what the image suggests was meant,
    /// or that the stop comes from a limitation of this host's KVM.
    public var hints: [String] = []
    /// The vCPU state at the stop (read for every stop; printed for abnormal ones).
    public var registers: Registers?
    public var systemRegisters: SystemRegisters?

    /// Time the VMM spent handling exits during the run.
    public var vmmNanoseconds: UInt64 { runNanoseconds > statistics.guestNanoseconds ? runNanoseconds - statistics.guestNanoseconds : 0 }
}
