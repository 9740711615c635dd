import Synchronization
import VMCore

/// A 16550A UART on the port bus (COM1 at 0x3F8 by default), sending what the guest transmits
/// to a console.
public final class SerialPort: BusDevice {
    /// COM1's base port.
    public static let com1: UInt16 = 0x3F8
    /// The eight registers of a 16550A.
    public static let portCount: UInt64 = 8

    public let name = "serial"
    private let uart = Mutex(UART16550())
    private let console: Console
    /// IRQ 4 on a PC: follows the UART's interrupt state (IER and the pending conditions, with
    /// the IIR priorities), as its INTR pin does.
    private let irq: SerializedInterruptLine

    /// Called (outside the lock) when a guest access gave host input more room: a read of the
    /// receive buffer, the guest opening the receiver (`UART16550.hostInputOpen`), a FIFO enable
    /// or reset. A host input waiting for room then feeds the next bytes.
    private let receiverHasRoom: @Sendable () -> Void

    public init(console: Console, irq: InterruptLine = .unconnected, receiverHasRoom: @escaping @Sendable () -> Void = {}) {
        self.console = console
        self.irq = SerializedInterruptLine(irq)
        self.receiverHasRoom = receiverHasRoom
    }

    /// Bytes from the host side of the line: as many as the receiver has room for (never more, so
    /// none is lost to an overrun), and none until the guest has opened it (Linux's driver would
    /// drop them while it starts the port); returns how many it took.
    public func receive(_ bytes: ArraySlice<UInt8>) -> Int {
        let taken = uart.withLock { uart in
            let count = min(bytes.count, uart.hostInputSpace)
            for byte in bytes.prefix(count) { uart.receive(byte) }
            return count
        }
        updateLine()
        return taken
    }

    public func read(offset: UInt64, width: AccessWidth) -> UInt64 {
        // Wider accesses read consecutive registers, as the ISA bus splits them.
        let (value, roomGrew) = uart.withLock { uart in
            let room = uart.hostInputSpace
            var value: UInt64 = 0
            for index in 0..<UInt64(width.byteCount) {
                let register = offset + index
                let byte = register < Self.portCount ? uart.read(offset: register) : 0xFF
                value |= UInt64(byte) << (8 * index)
            }
            return (value, uart.hostInputSpace > room)
        }
        updateLine()  // reading IIR or RBR can clear the condition
        if roomGrew { receiverHasRoom() }
        return value
    }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        var transmitted: [UInt8] = []
        let roomGrew = uart.withLock { uart in
            let room = uart.hostInputSpace
            for index in 0..<UInt64(width.byteCount) where offset + index < Self.portCount {
                if let byte = uart.write(offset: offset + index, value: UInt8(truncatingIfNeeded: value >> (8 * index))) {
                    transmitted.append(byte)
                }
            }
            return uart.hostInputSpace > room
        }
        // Console I/O, the interrupt line and the input wake-up happen outside the lock.
        if !transmitted.isEmpty { transmitted.withUnsafeBytes { console.write($0) } }
        updateLine()
        if roomGrew { receiverHasRoom() }
        return .proceed
    }

    /// The line follows the UART's interrupt output as it is now (whichever thread changed it).
    private func updateLine() { irq.update { uart.withLock { $0.interruptOutput } } }

    /// The register state, for tests and debugging.
    public var state: UART16550 { uart.withLock { $0 } }
}
