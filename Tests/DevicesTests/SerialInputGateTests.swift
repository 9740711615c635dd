import Devices
import Synchronization
import TestSupport
import Testing
import VMCore

/// The host-input gate: input waits until the guest opens the receiver (IER's received-data bit
/// with MCR.OUT2 set and loopback clear), so that Linux's port start-up does not drop it.
@Suite struct SerialInputGateTests {
    var uart = UART16550()

    @Test mutating func closedUntilReceivedDataInterruptsAndOUT2AreBothOn() {
        #expect(uart.hostInputSpace == 0)
        _ = uart.write(offset: 1, value: 0x01)  // IER: received data, but OUT2 clear
        #expect(!uart.hostInputOpen)
        _ = uart.write(offset: 4, value: 0x08)  // OUT2
        #expect(uart.hostInputOpen)
        #expect(uart.hostInputSpace == 1)  // no FIFO yet: the holding register
        _ = uart.write(offset: 2, value: 0x01)
        #expect(uart.hostInputSpace == 16)
    }

    @Test mutating func clearingIERLeavesItOpenButOUT2OrLoopbackCloseIt() {
        _ = uart.write(offset: 4, value: 0x08)
        _ = uart.write(offset: 1, value: 0x05)
        _ = uart.write(offset: 1, value: 0x00)  // the console write clears IER around each message
        #expect(uart.hostInputOpen)
        _ = uart.write(offset: 4, value: 0x18)  // loopback
        #expect(!uart.hostInputOpen)
        _ = uart.write(offset: 4, value: 0x08)
        #expect(!uart.hostInputOpen, "reopening needs the received-data bit written again")
        _ = uart.write(offset: 1, value: 0x01)
        #expect(uart.hostInputOpen)
        _ = uart.write(offset: 4, value: 0x00)  // the driver's shutdown drops OUT2
        #expect(!uart.hostInputOpen)
    }

    @Test mutating func theDivisorLatchIsNotIER() {
        _ = uart.write(offset: 4, value: 0x08)
        _ = uart.write(offset: 3, value: 0x83)  // DLAB
        _ = uart.write(offset: 1, value: 0x01)  // DLM
        #expect(!uart.hostInputOpen)
    }

    @Test mutating func aFIFOResetDropsWhatWasDeliveredAsTheHardwareDoes() {
        _ = uart.write(offset: 4, value: 0x08)
        _ = uart.write(offset: 1, value: 0x01)
        _ = uart.write(offset: 2, value: 0x01)
        for byte in 0..<5 { uart.receive(UInt8(byte)) }
        _ = uart.write(offset: 2, value: 0x03)
        #expect(uart.read(offset: 5) & 0x01 == 0)
        #expect(uart.hostInputOpen)
        #expect(uart.hostInputSpace == 16)
    }

    /// COM1's register accesses by Debian 12's cloud kernel from boot to the end of the port's
    /// start-up (QEMU 7.2 `-trace serial_read -trace serial_write`, console bytes left out):
    /// autoconfig's IER probe with OUT2 clear, the FIFO resets and RBR reads, the THRE tests with
    /// OUT2 set, then IER = RLSI|RDI; after it, set_termios and console writes toggling IER.
    static let linuxStartup: [(write: Bool, offset: UInt64, value: UInt8)] = [
        (true, 1, 0x02), (false, 1, 0), (false, 2, 0), (true, 1, 0x00), (true, 1, 0x00), (true, 3, 0x93), (true, 0, 0x0C), (true, 1, 0x00),
        (true, 3, 0x13), (true, 2, 0x00), (true, 4, 0x01), (false, 1, 0), (true, 1, 0x00), (false, 1, 0), (true, 1, 0x0F), (false, 1, 0),
        (true, 1, 0x00), (false, 4, 0), (false, 3, 0), (true, 3, 0xBF), (true, 2, 0x00), (true, 3, 0x00), (true, 2, 0x01), (false, 2, 0),
        (true, 3, 0x13), (true, 4, 0x01), (true, 2, 0x01), (true, 2, 0x07), (true, 2, 0x00), (false, 0, 0), (true, 1, 0x00), (true, 4, 0x01),
        (true, 2, 0x01), (true, 2, 0x07), (true, 2, 0x00), (false, 5, 0), (false, 0, 0), (false, 2, 0), (false, 6, 0), (false, 5, 0),
        (false, 5, 0), (true, 1, 0x02), (false, 2, 0), (true, 1, 0x00), (true, 1, 0x02), (false, 2, 0), (true, 1, 0x00), (false, 2, 0),
        (true, 3, 0x03), (true, 4, 0x09), (true, 1, 0x02), (false, 5, 0), (false, 2, 0), (true, 1, 0x00), (false, 2, 0), (false, 5, 0),
        (false, 0, 0), (false, 2, 0), (false, 6, 0), (true, 1, 0x05),
    ]
    static let afterStartup: [(write: Bool, offset: UInt64, value: UInt8)] = [
        (true, 3, 0x93), (true, 1, 0x00), (true, 3, 0x13), (true, 2, 0x01), (true, 2, 0x81), (true, 4, 0x09), (true, 4, 0x0B), (true, 1, 0x07),
        (false, 2, 0), (true, 1, 0x05), (true, 1, 0x00), (true, 1, 0x05),
    ]

    @Test mutating func linuxOpensTheReceiverOnlyAtTheEndOfItsPortStartup() {
        for (index, access) in Self.linuxStartup.enumerated() {
            #expect(!uart.hostInputOpen, "open before access \(index)")
            if access.write { _ = uart.write(offset: access.offset, value: access.value) } else { _ = uart.read(offset: access.offset) }
        }
        #expect(uart.hostInputOpen)
        for access in Self.afterStartup {
            if access.write { _ = uart.write(offset: access.offset, value: access.value) } else { _ = uart.read(offset: access.offset) }
            #expect(uart.hostInputOpen)
        }
        #expect(uart.hostInputSpace == 16)
    }

    @Test func thePortTakesNoInputUntilOpenAndSaysWhenItHasRoom() {
        let counter = WakeUpCounter()
        let port = SerialPort(console: Console(RecordingConsole()), receiverHasRoom: { counter.count.add(1, ordering: .relaxed) })
        #expect(port.receive([0x61, 0x62][...]) == 0)
        _ = port.write(offset: 4, width: .byte, value: 0x08)
        #expect(counter.count.load(ordering: .relaxed) == 0)
        _ = port.write(offset: 1, width: .byte, value: 0x01)
        #expect(counter.count.load(ordering: .relaxed) == 1, "opening the receiver wakes the input")
        #expect(port.receive([0x61, 0x62][...]) == 1)
        _ = port.write(offset: 2, width: .byte, value: 0x01)  // FIFO on: room for 15 more
        #expect(counter.count.load(ordering: .relaxed) == 2)
        #expect(port.read(offset: 0, width: .byte) == 0x61)
        #expect(counter.count.load(ordering: .relaxed) == 3)
        _ = port.read(offset: 0, width: .byte)  // empty: no more room than before
        #expect(counter.count.load(ordering: .relaxed) == 3)
    }
}

/// How often the port said it has room for input.
private final class WakeUpCounter: Sendable {
    let count = Atomic<Int>(0)
}
