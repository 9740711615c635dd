import VMCore

/// The Bochs/QEMU debug console (`debugcon`) on port 0xE9: every byte written goes to a console,
/// and reads return 0xE9 so that a guest can detect the port.
public final class DebugConsole: BusDevice {
    public static let port: UInt16 = 0xE9
    public static let portCount: UInt64 = 1
    /// What a read returns: the port number, as Bochs and QEMU answer.
    public static let readback: UInt8 = 0xE9

    public let name = "debugcon"
    private let console: Console

    public init(console: Console) { self.console = console }

    public func read(offset: UInt64, width: AccessWidth) -> UInt64 { UInt64(Self.readback) }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        // A byte port: only the low byte of a wider write reaches it.
        withUnsafeBytes(of: UInt8(truncatingIfNeeded: value)) { console.write($0) }
        return .proceed
    }
}
