import Synchronization
import VMCore

/// The i8042 keyboard controller, as far as Linux's driver and `reboot=k` need it, with no
/// keyboard or mouse behind it (linux-boot-notes 2.2 and 2.5).
///
/// The controller answers its own commands through the output buffer: read the command byte
/// (0x20), write it (0x60), self-test (0xAA: 0x55), keyboard-interface test (0xAB: 0x00),
/// mouse-interface test (0xA9: 0xFF, no mouse port), the port enables and disables (0xA7/0xA8,
/// 0xAD/0xAE), read and write the output port (0xD0/0xD1) and echo (0xD2). So Linux's probe
/// reads a stable command byte at once instead of timing out (half a second of busy waiting).
/// The input buffer is always empty (status bit 1 clear), so `kb_wait` returns at once; command
/// 0xFE (pulse the reset line) stops the run with `.guestReset`. Bytes for the keyboard or the
/// mouse go nowhere, as to an unplugged device. Register `DataPort` at port 0x60 and
/// `CommandPort` at 0x64 (port 0x61 between them is the PIT's port B).
public enum I8042 {
    public static let dataPort: UInt16 = 0x60
    public static let commandPort: UInt16 = 0x64
    /// The command that pulses the CPU reset line.
    public static let resetCommand: UInt8 = 0xFE

    /// Status: the system flag (self-test passed) and "keyboard not inhibited"; bit 0 when the
    /// output buffer holds a byte.
    static let idleStatus: UInt8 = 0x14
    static let outputBufferFull: UInt8 = 0x01
    /// What a BIOS leaves in the command byte: keyboard interrupt, system flag, translation.
    static let initialCommandByte: UInt8 = 0x45
    /// A guest that issues commands without reading the answers cannot grow the buffer.
    static let outputCapacity = 16

    /// The controller both ports share.
    public final class Controller: Sendable {
        private struct State {
            var commandByte = I8042.initialCommandByte
            var outputPort: UInt8 = 0x03  // A20 on, reset line high
            var output: [UInt8] = []
            /// A command whose data byte comes through port 0x60 next.
            var awaitingData: UInt8? = nil
        }
        private let state = Mutex(State())

        public init() {}

        var status: UInt8 { state.withLock { $0.output.isEmpty ? I8042.idleStatus : I8042.idleStatus | I8042.outputBufferFull } }

        func readData() -> UInt8 {
            state.withLock { $0.output.isEmpty ? 0 : $0.output.removeFirst() }
        }

        func writeData(_ byte: UInt8) {
            state.withLock { state in
                switch state.awaitingData {
                case 0x60: state.commandByte = byte
                case 0xD1: state.outputPort = byte
                case 0xD2: Self.answer(&state, byte)
                default: break  // to the keyboard or the mouse: none attached
                }
                state.awaitingData = nil
            }
        }

        func writeCommand(_ command: UInt8) -> IOAction {
            if command == I8042.resetCommand { return .stop(.guestReset) }
            state.withLock { state in
                state.awaitingData = nil
                switch command {
                case 0x20: Self.answer(&state, state.commandByte)
                case 0x60, 0xD1, 0xD2, 0xD3, 0xD4: state.awaitingData = command
                case 0xAA: Self.answer(&state, 0x55)
                case 0xAB: Self.answer(&state, 0x00)
                case 0xA9: Self.answer(&state, 0xFF)
                case 0xA7: state.commandByte |= 0x20
                case 0xA8: state.commandByte &= ~0x20
                case 0xAD: state.commandByte |= 0x10
                case 0xAE: state.commandByte &= ~0x10
                case 0xD0: Self.answer(&state, state.outputPort)
                default: break
                }
            }
            return .proceed
        }

        private static func answer(_ state: inout State, _ byte: UInt8) {
            if state.output.count < I8042.outputCapacity { state.output.append(byte) }
        }
    }

    /// Port 0x60: data in and out.
    public final class DataPort: BusDevice {
        public let name = "i8042-data"
        let controller: Controller
        public init(_ controller: Controller = Controller()) { self.controller = controller }
        public func read(offset: UInt64, width: AccessWidth) -> UInt64 { UInt64(controller.readData()) }
        public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
            controller.writeData(UInt8(truncatingIfNeeded: value))
            return .proceed
        }
    }

    /// Port 0x64: status (read) and command (write).
    public final class CommandPort: BusDevice {
        public let name = "i8042-command"
        let controller: Controller
        public init(_ controller: Controller = Controller()) { self.controller = controller }
        public func read(offset: UInt64, width: AccessWidth) -> UInt64 { UInt64(controller.status) }
        public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
            controller.writeCommand(UInt8(truncatingIfNeeded: value))
        }
    }
}
