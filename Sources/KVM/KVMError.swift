import SystemPackage

/// A KVM ioctl that failed, read as "KVM_SET_REGS failed: Invalid argument".
public struct KVMError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var errno: Errno
    public init(_ operation: String, _ errno: Errno) {
        self.operation = operation
        self.errno = errno
    }
    /// Builds the error from a CKVM result (`-errno`).
    init(_ operation: String, result: Int32) {
        self.init(operation, Errno(rawValue: -result))
    }
    public var description: String { "\(operation) failed: \(errno.description)" }

}

/// Why KVM cannot be used on this host; each case says what to do about it.
public enum KVMUnavailable: Error, Sendable, Equatable, CustomStringConvertible {
    case deviceMissing(path: String)
    case permissionDenied(path: String)
    case openFailed(path: String, errno: Errno)
    case wrongAPIVersion(found: Int32)
    case missingCapability(String)
    case failed(KVMError)

    public var description: String {
        switch self {
        case .deviceMissing(let path):
            return "\(path) does not exist: this host has no KVM (load the kvm module, or enable nested virtualization)"
        case .permissionDenied(let path):
            return
                "permission denied opening \(path): run as root or add your user to the 'kvm' group (sudo usermod -aG kvm $USER, then log in again)"
        case .openFailed(let path, let errno):
            return "cannot open \(path): \(errno.description)"
        case .wrongAPIVersion(let found):
            return "KVM API version \(found) is not the stable version 12 this VMM speaks"
        case .missingCapability(let name):
            return "KVM lacks the capability \(name), which this VMM needs"
        case .failed(let error):
            return error.description
        }
    }
}
