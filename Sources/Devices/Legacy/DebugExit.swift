import VMCore

/// QEMU's `isa-debug-exit`: writing value v ends the run, and the VMM exits with status
/// `(v << 1) | 1` (so a guest can never fake a clean exit status 0).
public final class DebugExit: BusDevice {
    /// The port QEMU users conventionally configure (`iobase=0xf4`).
    public static let port: UInt16 = 0xF4
    public static let portCount: UInt64 = 4
    public let name = "debug-exit"
    public init() {}

    public func read(offset: UInt64, width: AccessWidth) -> UInt64 { 0 }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        .stop(.debugExit(value: UInt32(truncatingIfNeeded: value)))
    }

    /// The process status for a debug-exit write of `value`, as QEMU computes it.
    public static func exitStatus(for value: UInt32) -> Int32 {
        Int32(truncatingIfNeeded: (UInt64(value) << 1 | 1) & 0xFF)
    }
}
