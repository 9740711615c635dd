import Synchronization
import VMCore

/// The hypercall port. A write records the call number and asks the backend for the registers;
/// the machine then serves the call with `HypercallHandler`.
public final class HypercallPort: BusDevice {
    public static let portCount: UInt64 = 4
    public let name = "hypercall"
    private let lastNumber = Atomic<UInt32>(0)
    public init() {}

    /// Reads return the ABI version, so a guest can probe for the port without a hypercall.
    public func read(offset: UInt64, width: AccessWidth) -> UInt64 { Hypercall.version }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        lastNumber.store(UInt32(truncatingIfNeeded: value), ordering: .relaxed)
        return .hypercall
    }

    /// The number written by the most recent hypercall.
    public var pendingNumber: UInt32 { lastNumber.load(ordering: .relaxed) }
}

/// Serves hypercalls: reads arguments from the registers, checks every guest-supplied address and
/// length against guest memory, and writes the result to RAX.
public struct HypercallHandler: Sendable {
    let memory: GuestMemory
    let console: Console
    let startNanoseconds: UInt64

    public init(memory: GuestMemory, console: Console, startNanoseconds: UInt64 = monotonicNanoseconds()) {
        self.memory = memory
        self.console = console
        self.startNanoseconds = startNanoseconds
    }

    public func serve(number: UInt32, registers: inout Registers, longMode: Bool) -> IOAction {
        let argumentMask: UInt64 = longMode ? .max : 0xFFFF_FFFF
        let arguments = (registers.rbx & argumentMask, registers.rcx & argumentMask)
        guard let call = Hypercall(rawValue: number) else {
            registers.rax = Hypercall.errorNoSuchCall
            return .proceed
        }
        switch call {
        case .abiVersion:
            registers.rax = Hypercall.version
        case .consoleWrite:
            registers.rax = consoleWrite(address: arguments.0, length: arguments.1)
        case .exit:
            return .stop(.exitHypercall(status: arguments.0))
        case .monotonicTime:
            registers.rax = monotonicNanoseconds() &- startNanoseconds
        }
        return .proceed
    }

    private func consoleWrite(address: UInt64, length: UInt64) -> UInt64 {
        guard length <= Hypercall.maximumConsoleWrite else { return Hypercall.errorInvalidArgument }
        do {
            try memory.withBytes(at: address, count: length) { console.write($0) }
            return length
        } catch {
            return Hypercall.errorBadAddress
        }
    }
}
