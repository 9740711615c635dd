import ArgumentParser
import KVM
import Machine
import VMCore

/// Options shared by `vmm run` and `vmm demo`: the machine and what to report about the run.
struct MachineOptions: ParsableArguments {
    // Values are taken as given even when they begin with '-' (`--timeout -1`), so that a bad
    // value gets its range message instead of "missing value".
    @Option(
        name: .customLong("memory"), parsing: .unconditional,
        help: ArgumentHelp("Guest RAM, e.g. 64M or 1G (1 MiB to 3 GiB; default 64M, for vmm boot 512M).", valueName: "size"))
    var memoryOption: ByteSize?

    /// The guest RAM: --memory, or the default (`vmm boot` sets its own in `memoryOption`).
    var memory: ByteSize { memoryOption ?? ByteSize(bytes: MachineConfiguration.defaultMemorySize) }

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Stop the guest after this many seconds (exit status 124; more than 0, at most 1e9).", valueName: "seconds"))
    var timeout: Double?

    @Flag(help: "Print exit counts, device accesses, timings and POST codes to stderr after the run.")
    var stats = false

    @Option(help: ArgumentHelp("Write the stop reason, status, counts and timings as JSON to this file.", valueName: "file"))
    var result: String?

    @Option(help: ArgumentHelp("Which vCPU backend runs the guest: auto (KVM if it works, else software), kvm, or software.", valueName: "backend"))
    var backend: BackendChoice = .auto

    @Option(name: .customLong("kvm-device"), help: ArgumentHelp("The KVM device to open.", valueName: "path"))
    var kvmDevice = KVMSystem.defaultPath

    @Option(
        name: .customLong("serial-input"),
        help: ArgumentHelp(
            "Where the UART's receiver reads from: stdin (a terminal in raw mode, Ctrl-A x quits; or a pipe or file) or none. Default: stdin for vmm run, none otherwise.",
            valueName: "source"))
    var serialInput: SerialInputSource?

    @Option(help: ArgumentHelp("Write what the guest sends to the 0xE9 debug console to this file instead of stdout.", valueName: "file"))
    var debugcon: String?

    @Flag(
        help:
            "Guest time follows retired instructions, not the host clock, so runs with the same input give the same output and instruction count (software backend)."
    )
    var deterministic = false

    @Option(
        name: .customLong("guest-profile"),
        help: ArgumentHelp(
            "Software backend: write the guest RIPs sampled every 4096 instructions to this file (\"rip count\" lines; scripts/guest-profile maps them to functions).",
            valueName: "file"))
    var guestProfile: String?

    @Flag(name: .shortAndLong, help: "Log what the VMM does (loading, unclaimed accesses) to stderr.")
    var verbose = false

    @Flag(
        name: .customLong("no-seccomp"),
        help: "Do not restrict the VMM's system calls once the machine is built (for debugging; README, \"Seccomp\").")
    var noSeccomp = false

    /// Test hook (hidden): makes a forbidden system call once the filter is on, so a test can
    /// check that the filter refuses it.
    @Flag(name: .customLong("test-hook-make-forbidden-call"), help: .hidden)
    var testHookMakeForbiddenCall = false

    func validate() throws {
        guard memory.bytes >= MachineConfiguration.minimumMemorySize, memory.bytes <= GuestMemory.maximumRAMSize else {
            throw ValidationError("--memory must be between 1M and 3G (got \(memory.bytes) bytes)")
        }
        if deterministic && backend == .kvm {
            throw ValidationError("--deterministic needs the software backend (KVM's guest time is the host's): use --backend software or auto")
        }
        guard memory.bytes % 4096 == 0 else { throw ValidationError("--memory must be a multiple of 4 KiB") }
        if let timeout, !(timeout > 0 && timeout <= Self.maximumTimeout) {
            throw ValidationError("--timeout must be more than 0 and at most 1000000000 seconds (about 31 years; got \(timeout))")
        }
    }

    static let maximumTimeout = 1e9

    #if VMM_SANITIZED
        /// Sanitizer runtimes make system calls of their own and defer signal handlers (so the
        /// filter's SIGSYS report cannot run): `scripts/sanitize` builds with VMM_SANITIZED, and
        /// such a build runs without the filter.
        static let seccompAvailable = false
    #else
        static let seccompAvailable = true
    #endif

    /// The machine's configuration; the seccomp filter allows only this one machine's run.
    var configuration: MachineConfiguration {
        var configuration = MachineConfiguration(memorySize: memory.bytes)
        configuration.kvmPath = kvmDevice
        configuration.timeout = timeout
        configuration.backend = deterministic ? .software : backend
        configuration.deterministic = deterministic
        configuration.profileGuest = guestProfile != nil
        configuration.serialInput = serialInput ?? .none
        configuration.seccomp = noSeccomp || !Self.seccompAvailable ? .off : .thisMachine
        configuration.testHookMakeForbiddenCall = testHookMakeForbiddenCall
        return configuration
    }
}

extension BackendChoice: ExpressibleByArgument {}

extension SerialInputSource: ExpressibleByArgument {}
