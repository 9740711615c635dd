import Devices
import Sandbox
import VMCore

/// The process statuses `vmm` exits with (README, "Exit statuses").
public enum ExitStatus {
    // Guest stops.
    public static let halted: Int32 = 0
    /// A clean shutdown by the guest, as a halt.
    public static let poweredOff: Int32 = 0
    /// Next to the other guest stops (121-125), clear of the shells' 126 and 127.
    public static let guestReset: Int32 = 120
    public static let kernelPanic: Int32 = 119
    public static let shutdown: Int32 = 121
    public static let entryFailed: Int32 = 122
    public static let internalError: Int32 = 123
    public static let timedOut: Int32 = 124  // as timeout(1)
    public static let unhandledExit: Int32 = 125
    public static let interrupted: Int32 = 130  // 128 + SIGINT, as a shell reports it
    // VMM failures, from sysexits.h.
    public static let usage: Int32 = 64  // EX_USAGE
    public static let badImage: Int32 = 65  // EX_DATAERR
    public static let unreadableInput: Int32 = 66  // EX_NOINPUT
    public static let kvmUnavailable: Int32 = 69  // EX_UNAVAILABLE
    public static let vmmInternalError: Int32 = 70  // EX_SOFTWARE
    public static let hostResources: Int32 = 71  // EX_OSERR
    public static let hypervisorFailure: Int32 = 71  // EX_OSERR: a KVM ioctl failed
    /// A system call the seccomp filter does not allow (set by the SIGSYS reporter in CSandbox).
    public static let syscallDenied: Int32 = SyscallFilter.deniedCallExitStatus

    /// The status for a guest stop.
    public static func forStop(_ reason: StopReason) -> Int32 {
        switch reason {
        case .halted: return halted
        case .debugExit(let value): return DebugExit.exitStatus(for: value)
        case .exitHypercall(let status): return Int32(status & 0xFF)
        case .guestReset: return guestReset
        case .powerOff: return poweredOff
        case .kernelPanic: return kernelPanic
        case .shutdown: return shutdown
        case .entryFailed: return entryFailed
        case .internalError: return internalError
        case .unhandledExit: return unhandledExit
        case .timedOut: return timedOut
        case .interrupted, .stoppedByUser: return interrupted
        }
    }
}
