import Boot
import KVM
import Sandbox
import VMCore

/// Why a machine could not be built or run, with the process status the CLI exits with.
public enum MachineError: Error, CustomStringConvertible {
    case kvmUnavailable(KVMUnavailable)
    case kvm(KVMError)
    case cpu(CPUError)
    case memory(MemoryError)
    case boot(BootError)
    case bus(BusError)
    case seccomp(SandboxError)

    public var description: String {
        switch self {
        case .kvmUnavailable(let error): return error.description
        case .kvm(let error): return error.description
        case .cpu(let error): return error.description
        case .memory(let error): return error.description
        case .boot(let error): return error.description
        case .bus(let error): return error.description
        case .seccomp(let error): return error.description
        }
    }

    public var exitStatus: Int32 {
        switch self {
        case .kvmUnavailable: return ExitStatus.kvmUnavailable
        case .kvm, .cpu: return ExitStatus.hypervisorFailure
        case .memory: return ExitStatus.hostResources
        case .boot: return ExitStatus.badImage
        case .bus: return ExitStatus.vmmInternalError
        case .seccomp: return ExitStatus.hostResources
        }
    }
}
