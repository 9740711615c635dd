import Devices
import Foundation
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

/// Host input (the input thread) and guest reads (the vCPU thread) change the UART at the same
/// time: whichever sets the IRQ line last must set the level the UART has then. (The line used
/// to be set outside the lock from each thread's own snapshot, so a guest read's "low" could land
/// after the input thread's "high": data waiting, the line low, and an edge-triggered guest never
/// interrupted again. Linux's shell stalled on piped input that way.)
@Suite struct SerialInterruptRaceTests {
    /// Takes its time to lower a line, as a controller behind a contended lock may, and says when
    /// it has begun: the test raises the line from the other thread in that window.
    final class SlowToLowerRouter: InterruptRouter {
        let levels = LevelRouter()
        let lowering = Atomic<Bool>(false)
        func setLevel(gsi: Int, high: Bool) {
            if !high {
                lowering.store(true, ordering: .releasing)
                usleep(200)
            }
            levels.setLevel(gsi: gsi, high: high)
        }
        func level(_ gsi: Int) -> Bool { levels.level(gsi) }
    }

    @Test func theLineEndsAtTheUARTsLevelWhenInputAndReadsRace() {
        let router = SlowToLowerRouter()
        let port = SerialPort(console: Console(RecordingConsole()), irq: InterruptLine(gsi: 4, router: router))
        _ = port.write(offset: 4, width: .byte, value: 0x08)  // MCR: OUT2
        _ = port.write(offset: 1, width: .byte, value: 0x01)  // IER: received data (opens the input gate)
        let rounds = 300
        let start = Atomic<Int>(0)
        var mismatches = 0
        for round in 0..<rounds {
            let reader = Thread {
                while start.load(ordering: .acquiring) <= round {}
                _ = port.read(offset: 0, width: .byte)  // RBR: empties the receiver
            }
            router.lowering.store(false, ordering: .releasing)
            reader.start()
            start.store(round + 1, ordering: .releasing)
            // Input arrives while the guest's read is lowering the line.
            let patience = Date().addingTimeInterval(0.1)
            while !router.lowering.load(ordering: .acquiring) && Date() < patience {}
            _ = port.receive([0x41][...])
            while !reader.isFinished {}
            let expected = port.state.interruptOutput
            if router.level(4) != expected { mismatches += 1 }
            while port.read(offset: 5, width: .byte) & 0x01 != 0 { _ = port.read(offset: 0, width: .byte) }  // LSR data ready
        }
        #expect(mismatches == 0, "\(mismatches) of \(rounds) rounds left the line at the wrong level")
    }
}
