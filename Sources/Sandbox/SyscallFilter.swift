import CSandbox
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A seccomp allow-list for the whole process: once installed, a system call not on it ends the
/// process with `deniedCallExitStatus` and a line on stderr naming the call. It cannot be removed.
public struct SyscallFilter: Sendable {
    /// A system call by number, with its name so that the list reads as names.
    public struct Call: Sendable, Equatable {
        public let number: UInt32
        public let name: String
        public init(_ number: Int32, _ name: String) {
            self.number = UInt32(number)
            self.name = name
        }
    }

    public var calls: [Call]
    /// The only ioctl(2) request numbers allowed (when ioctl is among `calls`).
    public var ioctlRequests: [UInt32]

    public init(calls: [Call], ioctlRequests: [UInt32]) {
        self.calls = calls
        self.ioctlRequests = ioctlRequests
    }

    /// The process status after a denied call (README, "Exit statuses").
    public static let deniedCallExitStatus = Int32(CSANDBOX_DENIED_CALL_EXIT_STATUS)

    private static let installed = Atomic<Bool>(false)
    /// Whether a filter is on in this process (it stays on until the process ends).
    public static var isInstalled: Bool { installed.load(ordering: .acquiring) }

    /// Installs the filter on every thread of the process, after the SIGSYS handler that reports
    /// a denied call. Only one filter is installed per process: later calls do nothing.
    public func installOnAllThreads() throws(SandboxError) {
        guard !Self.isInstalled else { return }
        var result = Int(csandbox_install_denied_call_reporter())
        guard result == 0 else { throw SandboxError(operation: "sigaction(SIGSYS)", errno: Int32(-result)) }
        result = Int(csandbox_set_no_new_privs())
        guard result == 0 else { throw SandboxError(operation: "prctl(PR_SET_NO_NEW_PRIVS)", errno: Int32(-result)) }
        let program = SeccompProgram.instructions(allowing: calls.map(\.number), ioctlRequests: ioctlRequests)
        result = program.withUnsafeBufferPointer { csandbox_install_filter_on_all_threads($0.baseAddress, UInt16($0.count)) }
        if result < 0 { throw SandboxError(operation: "seccomp(SECCOMP_SET_MODE_FILTER)", errno: Int32(-result)) }
        if result > 0 { throw SandboxError(operation: "seccomp(SECCOMP_FILTER_FLAG_TSYNC) on thread \(result)", errno: 0) }
        Self.installed.store(true, ordering: .releasing)
    }

    /// Test hook: makes a system call that no allow-list here admits (socket(2)), so that a test
    /// can check that the filter refuses it. Returns only when no filter is installed.
    public static func testHookMakeForbiddenCall() {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        if fd >= 0 { close(fd) }
    }
}

/// Installing the filter failed (the kernel lacks seccomp, or a thread could not be synchronized).
public struct SandboxError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32
    public var description: String {
        let reason = errno == 0 ? "a thread could not take the filter" : String(cString: strerror(errno))
        return "cannot install the seccomp filter: \(operation) failed: \(reason) (--no-seccomp runs without it)"
    }
}
