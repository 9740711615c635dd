import Devices
import Synchronization
import TestSupport
import Testing
import VMCore

/// A router that keeps the last level of each GSI.
final class LevelRouter: InterruptRouter {
    let levels = Mutex<[Int: Bool]>([:])
    func setLevel(gsi: Int, high: Bool) { levels.withLock { $0[gsi] = high } }
    func level(_ gsi: Int) -> Bool { levels.withLock { $0[gsi] ?? false } }
}

/// The UART's IRQ line follows its interrupt state, gated by MCR.OUT2 as on a PC.
@Suite struct SerialInterruptTests {
    @Test func theTransmitterEmptyInterruptRaisesIRQ4UntilIIRIsRead() {
        let router = LevelRouter()
        let port = SerialPort(console: Console(RecordingConsole()), irq: InterruptLine(gsi: 4, router: router))
        _ = port.write(offset: 1, width: .byte, value: 0x02)  // IER: THR empty
        #expect(!router.level(4), "OUT2 clear: the line stays low")
        _ = port.write(offset: 4, width: .byte, value: 0x08)  // MCR: OUT2
        _ = port.write(offset: 1, width: .byte, value: 0x02)  // re-enabling ETBEI with THR empty sets THRE
        #expect(router.level(4))
        #expect(port.read(offset: 2, width: .byte) & 0x0F == 0x02)  // IIR: THR empty, which reading clears
        #expect(!router.level(4))
        _ = port.write(offset: 0, width: .byte, value: 0x41)  // transmitting empties THR again at once
        #expect(router.level(4))
    }

    @Test func receivedDataInLoopbackRaisesTheLineUntilRead() {
        let router = LevelRouter()
        let port = SerialPort(console: Console(RecordingConsole()), irq: InterruptLine(gsi: 4, router: router))
        _ = port.write(offset: 4, width: .byte, value: 0x18)  // MCR: OUT2 and loopback
        _ = port.write(offset: 1, width: .byte, value: 0x01)  // IER: received data
        _ = port.write(offset: 0, width: .byte, value: 0x5A)  // loops back into the receiver
        #expect(router.level(4))
        #expect(port.read(offset: 0, width: .byte) == 0x5A)
        #expect(!router.level(4))
    }
}
