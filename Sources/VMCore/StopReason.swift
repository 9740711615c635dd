/// Why a vCPU stopped running the guest.
public enum StopReason: Sendable, Equatable, CustomStringConvertible {
    /// HLT executed. `interruptsEnabled` tells whether IF was set (nothing in this machine can
    /// deliver an interrupt yet, so a halt is final either way).
    case halted(interruptsEnabled: Bool)
    /// The guest wrote `value` to the isa-debug-exit port.
    case debugExit(value: UInt32)
    /// The guest asked to exit through the exit hypercall, with RBX (all of it; the process
    /// status is its low 8 bits).
    case exitHypercall(status: UInt64)
    /// The guest asked its platform to reset the machine: i8042 command 0xFE (Linux's
    /// `reboot=k`) or the ACPI reset register (Linux's default `reboot=a`).
    case guestReset
    /// The guest entered ACPI S5 (soft off) through the sleep control register: Linux's poweroff.
    case powerOff
    /// Linux printed "Kernel panic - not syncing: `message`" and then rebooted or stopped (`vmm
    /// boot` watches the console for it).
    case kernelPanic(message: String)
    /// Triple fault or another shutdown condition.
    case shutdown
    /// The hardware refused to enter the guest (KVM_EXIT_FAIL_ENTRY).
    case entryFailed(hardwareReason: UInt64)
    /// The hypervisor could not continue (KVM_EXIT_INTERNAL_ERROR): `suberror` and its data words.
    case internalError(suberror: UInt32, data: [UInt64])
    /// The backend stopped for a reason the VMM does not handle.
    case unhandledExit(reason: UInt32, detail: String)
    /// The run hit `--timeout`.
    case timedOut
    /// A signal (SIGINT, SIGTERM) asked the VMM to stop the guest.
    case interrupted
    /// The user typed Ctrl-A x on the serial console.
    case stoppedByUser

    public var description: String {
        switch self {
        case .halted(false): return "guest halted (HLT with interrupts disabled)"
        case .halted(true): return "guest halted with interrupts enabled, but nothing can interrupt it (no timer armed)"
        case .debugExit(let value): return "guest wrote \(hex(value)) to the debug-exit port"
        case .exitHypercall(let status):
            let note = status > 0xFF ? " (\(hex(status)); the process status is its low 8 bits)" : ""
            return "guest called the exit hypercall with status \(status)" + note
        case .guestReset: return "guest requested a reset"
        case .powerOff: return "guest powered off (ACPI S5)"
        case .kernelPanic(let message): return "guest kernel panic: \(message)"
        case .shutdown: return "guest shut down (triple fault)"
        case .entryFailed(let reason): return "KVM could not enter the guest (hardware entry failure reason \(hex(reason)))"
        case .internalError(let suberror, let data):
            let name = Self.internalErrorNames[suberror] ?? "suberror \(suberror)"
            if let bytes = emulationFailureBytes {
                // The words after the instruction bytes are the hypervisor's own debug data.
                let rest = data.dropFirst(3).map { hex($0) }.joined(separator: " ")
                return "KVM internal error: \(name) at the instruction bytes \(hexBytes(bytes))" + (rest.isEmpty ? "" : " [\(rest)]")
            }
            let words = data.map { hex($0) }.joined(separator: " ")
            return "KVM internal error: \(name)" + (words.isEmpty ? "" : " [\(words)]")
        case .unhandledExit(let reason, let detail): return "unhandled exit \(reason)" + (detail.isEmpty ? "" : ": \(detail)")
        case .timedOut: return "timeout reached"
        case .interrupted: return "interrupted by a signal"
        case .stoppedByUser: return "stopped by the user (Ctrl-A x)"
        }
    }

    /// A one-word name for result files and tests.
    public var kind: String {
        switch self {
        case .halted: return "halt"
        case .debugExit: return "debug-exit"
        case .exitHypercall: return "exit-hypercall"
        case .guestReset: return "reset"
        case .powerOff: return "poweroff"
        case .kernelPanic: return "panic"
        case .shutdown: return "shutdown"
        case .entryFailed: return "entry-failure"
        case .internalError: return "internal-error"
        case .unhandledExit: return "unhandled-exit"
        case .timedOut: return "timeout"
        case .interrupted, .stoppedByUser: return "interrupted"
        }
    }

    /// Whether this is a stop that a guest asks for, as opposed to a failure worth a register dump.
    public var isNormal: Bool {
        switch self {
        // A reset or power-off request is the guest's own choice, like HLT: no register dump.
        // A panic is the guest's own stop too, and the kernel has printed its registers.
        case .halted, .debugExit, .exitHypercall, .guestReset, .powerOff, .kernelPanic: return true
        default: return false
        }
    }

    // From linux/kvm.h, KVM_INTERNAL_ERROR_*.
    /// For an emulation failure that carries them (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES
    /// in the first data word; kernels since 5.14 give them): the bytes KVM fetched at the RIP
    /// it could not emulate. `struct emulation_failure` puts a size byte and 15 bytes after the
    /// flags word.
    public var emulationFailureBytes: [UInt8]? {
        guard case .internalError(1, let data) = self, data.count >= 3, data[0] & 1 != 0 else { return nil }
        let raw = data[1...2].flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        let size = min(Int(raw[0]), 15)
        return size > 0 ? Array(raw[1...size]) : nil
    }

    private static let internalErrorNames: [UInt32: String] = [
        1: "emulation failure", 2: "simultaneous exception", 3: "delivery event", 4: "unexpected exit reason",
    ]
}
