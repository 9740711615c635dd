import Devices
import KVM

/// How to build a machine.
public struct MachineConfiguration: Sendable {
    /// Guest RAM in bytes (a multiple of 4 KiB, at most `GuestMemory.maximumRAMSize`).
    public var memorySize: UInt64
    public var kvmPath = KVMSystem.defaultPath
    /// Where console output (UART and hypercall) goes.
    public var console: any ConsoleSink = FileDescriptorConsole()
    /// Where the 0xE9 debug console's bytes go; nil: with the console (stdout).
    public var debugConsole: (any ConsoleSink)? = nil
    /// Stop the guest after this many seconds.
    public var timeout: Double? = nil
    /// Which vCPU backend runs the guest.
    public var backend: BackendChoice = .auto
    /// Which system calls the process keeps once this machine is built. Off by default here, since
    /// the filter covers the whole process for good (the CLI turns it on; README, "Seccomp").
    public var seccomp: SeccompPolicy = .off
    /// Where the UART's receiver gets its bytes: nothing (the line is idle) or the VMM's stdin.
    public var serialInput: SerialInputSource = .none
    /// Guest time from retired instructions instead of the host clock (software backend only):
    /// runs with the same input give the same output, instruction count and stop (README,
    /// "Deterministic time").
    public var deterministic = false
    /// Sample the guest's RIP at each stop check (software backend; `Machine.guestProfile`).
    public var profileGuest = false
    /// Report a Linux "Kernel panic" line on the console, and the reboot after it, as a panic
    /// (`vmm boot`).
    public var watchesForKernelPanic = false
    /// Test hook: once the filter is on, make a forbidden system call before entering the guest.
    public var testHookMakeForbiddenCall = false

    public static let defaultMemorySize: UInt64 = 64 << 20
    /// Enough for the boot structures, a stack and a small guest.
    public static let minimumMemorySize: UInt64 = 1 << 20

    public init(memorySize: UInt64 = MachineConfiguration.defaultMemorySize) {
        self.memorySize = memorySize
    }
}

/// `--backend`: KVM, the software emulator, or KVM when it works and the emulator otherwise.
public enum BackendChoice: String, Sendable, CaseIterable {
    case auto, kvm, software
}

/// When `Machine.run` installs the seccomp filter, what it allows (`SyscallAllowList`).
public enum SeccompPolicy: Sendable {
    /// No filter.
    case off
    /// Only what running this machine, reporting and exiting need.
    case thisMachine
    /// That, plus what building and running further machines in the same process needs.
    case thisAndLaterMachines
}

/// `--serial-input`: the UART receiver's host side.
public enum SerialInputSource: String, Sendable, CaseIterable {
    /// The line stays idle.
    case none
    /// The VMM's standard input: a terminal in raw mode, or a pipe or file fed as the guest reads.
    case stdin
}
