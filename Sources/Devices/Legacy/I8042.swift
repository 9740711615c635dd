import VMCore

/// A stub of the i8042 keyboard controller: enough for Linux's `reboot=k` and for its probe to
/// find an idle controller quickly (linux-boot-notes 2.2 and 2.5).
///
/// The status port reads 0 (output buffer empty, input buffer empty), so `kb_wait` returns at
/// once; the data port reads 0. Command 0xFE (pulse the reset line) stops the run with
/// `.guestReset`; every other command and every data byte is accepted and ignored. Register
/// `DataPort` at port 0x60 and `CommandPort` at 0x64 (port 0x61 between them is the PIT's port B).
public enum I8042 {
    public static let dataPort: UInt16 = 0x60
    public static let commandPort: UInt16 = 0x64
    /// The command that pulses the CPU reset line.
    public static let resetCommand: UInt8 = 0xFE

    /// Port 0x60: data in and out.
    public final class DataPort: BusDevice {
        public let name = "i8042-data"
        public init() {}
        public func read(offset: UInt64, width: AccessWidth) -> UInt64 { 0 }
        public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction { .proceed }
    }

    /// Port 0x64: status (read) and command (write).
    public final class CommandPort: BusDevice {
        public let name = "i8042-command"
        public init() {}
        public func read(offset: UInt64, width: AccessWidth) -> UInt64 { 0 }
        public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
            UInt8(truncatingIfNeeded: value) == I8042.resetCommand ? .stop(.guestReset) : .proceed
        }
    }
}
