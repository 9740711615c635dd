import Devices
import Synchronization
import TestSupport
import Testing
import VMCore

@Suite struct PIT8254Tests {
    var pit = PIT8254()

    /// The guest time of input clock tick `tick`.
    static func at(_ tick: UInt64) -> UInt64 { PIT8254.time(ofTick: tick)! }

    /// Reads channel 2's count low byte then high byte, as quick_pit_calibrate does (no latch).
    mutating func readCount(_ channel: UInt64, now: UInt64) -> UInt16 {
        let low = pit.read(offset: channel, now: now)
        let high = pit.read(offset: channel, now: now)
        return UInt16(high) << 8 | UInt16(low)
    }

    @Test func ticksFollowTheInputClockWithoutOverflow() {
        #expect(PIT8254.tick(at: 1_000_000_000) == 1_193_182)
        #expect(PIT8254.tick(at: 838) == 0 && PIT8254.tick(at: 839) == 1)  // one tick is 838.095 ns
        // Thirty days, and the far end of UInt64: exact 128-bit arithmetic, no trap.
        let month: UInt64 = 30 * 86_400 * 1_000_000_000
        #expect(PIT8254.tick(at: month) == 30 * 86_400 * 1_193_182)
        #expect(PIT8254.tick(at: .max) == UInt64((UInt128(UInt64.max) * 1_193_182) / 1_000_000_000))
        for tick: UInt64 in [1, 2, 1193, 65_536, 1 << 40, PIT8254.tick(at: .max)] {
            let time = PIT8254.time(ofTick: tick)!
            #expect(PIT8254.tick(at: time) == tick && PIT8254.tick(at: time - 1) == tick - 1)
        }
        #expect(PIT8254.time(ofTick: .max) == nil)
    }

    /// arch/x86/kernel/tsc.c quick_pit_calibrate: gate on, speaker off, channel 2 in mode 0 with
    /// 0xFFFF, then poll the MSB (reading LSB then MSB) and expect it to drop every 256 ticks.
    @Test mutating func quickPITCalibrationSeesTheMSBFallAtTheClockRate() {
        let start: UInt64 = 5_000_000
        pit.writePortB(pit.readPortB(now: start) & ~0x02 | 0x01, now: start)
        pit.write(offset: 3, value: 0xB0, now: start)
        pit.write(offset: 2, value: 0xFF, now: start)
        pit.write(offset: 2, value: 0xFF, now: start)
        let loaded = PIT8254.tick(at: start)
        #expect(readCount(2, now: start) == 0xFFFF)
        for step: UInt64 in [1, 255, 256, 257, 10_000, 40_000] {
            let now = Self.at(loaded + step)
            let count = readCount(2, now: now)
            #expect(count == UInt16(0xFFFF - step))
            #expect(pit.readPortB(now: now) & 0x20 == 0)  // OUT2 low until terminal count
        }
        // The MSB steps from 0xFF to 0xFE exactly 256 ticks (214.5 us) after the load.
        #expect(pit.read(offset: 2, now: Self.at(loaded + 255)) == 0x00)
        #expect(pit.read(offset: 2, now: Self.at(loaded + 255)) == 0xFF)
        _ = pit.read(offset: 2, now: Self.at(loaded + 256))
        #expect(pit.read(offset: 2, now: Self.at(loaded + 256)) == 0xFE)
        // 50 ms later the count fell by 50 ms of ticks.
        let later = start + 50_000_000
        #expect(readCount(2, now: later) == UInt16(0xFFFF - (PIT8254.tick(at: later) - loaded)))
    }

    /// pit_calibrate_tsc: channel 2, mode 0, latch = 10 ms of ticks, then poll port 0x61 bit 5.
    @Test mutating func out2RisesAtTerminalCountAsPITCalibrateTSCPolls() {
        let latch: UInt64 = 1_193_182 / (1000 / 10)
        pit.writePortB(pit.readPortB(now: 0) & ~0x02 | 0x01, now: 0)
        pit.write(offset: 3, value: 0xB0, now: 0)
        pit.write(offset: 2, value: UInt8(latch & 0xFF), now: 0)
        pit.write(offset: 2, value: UInt8(latch >> 8), now: 0)
        #expect(pit.readPortB(now: Self.at(latch - 1)) & 0x20 == 0)
        #expect(pit.readPortB(now: Self.at(latch)) & 0x20 == 0x20)
        #expect(Self.at(latch) > 9_999_000 && Self.at(latch) < 10_000_000)
        // It stays high (mode 0), and the counter wraps on.
        #expect(pit.readPortB(now: Self.at(latch + 70_000)) & 0x20 == 0x20)
        #expect(readCount(2, now: Self.at(latch + 1)) == 0xFFFF)
    }

    @Test mutating func aLowGateHoldsChannelTwoInModeZero() {
        pit.write(offset: 3, value: 0xB0, now: 0)
        pit.write(offset: 2, value: 0x00, now: 0)
        pit.write(offset: 2, value: 0x10, now: 0)  // 0x1000, gate still low (port 0x61 is 0)
        #expect(readCount(2, now: Self.at(500)) == 0x1000)
        pit.writePortB(0x01, now: Self.at(500))
        #expect(readCount(2, now: Self.at(600)) == 0x1000 - 100)
        pit.writePortB(0x00, now: Self.at(600))
        #expect(readCount(2, now: Self.at(9000)) == 0x1000 - 100)
        pit.writePortB(0x01, now: Self.at(9000))
        #expect(readCount(2, now: Self.at(9010)) == 0x1000 - 110)
    }

    @Test mutating func modeOneIsTriggeredByTheGate() {
        pit.write(offset: 3, value: 0xB2, now: 0)  // channel 2, word, mode 1
        pit.write(offset: 2, value: 100, now: 0)
        pit.write(offset: 2, value: 0, now: 0)
        #expect(pit.readPortB(now: Self.at(50)) & 0x20 == 0x20)  // high, waiting
        pit.writePortB(0x01, now: Self.at(50))
        #expect(pit.readPortB(now: Self.at(51)) & 0x20 == 0)
        #expect(pit.readPortB(now: Self.at(150)) & 0x20 == 0x20)
        // Retriggering restarts the one-shot.
        pit.writePortB(0x00, now: Self.at(200))
        pit.writePortB(0x01, now: Self.at(200))
        #expect(pit.readPortB(now: Self.at(299)) & 0x20 == 0)
        #expect(readCount(2, now: Self.at(250)) == 50)
    }

    /// drivers/clocksource/i8253.c pit_set_periodic: 0x34, then LATCH = (1193182 + HZ/2) / HZ.
    @Test mutating func modeTwoOnChannelZeroInterruptsEveryPeriod() {
        pit.write(offset: 3, value: 0x34, now: 0)
        pit.write(offset: 0, value: 0xA9, now: 0)  // 1193 = 0x04A9
        pit.write(offset: 0, value: 0x04, now: 0)
        #expect(pit.nextIRQ0Edge(after: 0) == Self.at(1193))
        #expect(pit.advance(to: Self.at(1193) - 1) == 0)
        #expect(pit.advance(to: Self.at(1193)) == 1)
        #expect(pit.nextIRQ0Edge(after: Self.at(1193)) == Self.at(2386))
        // One second later: 1000 periods in all, the missed ones counted at once.
        #expect(pit.advance(to: 1_000_000_000) == 999)
        #expect(!pit.irq0Level(at: Self.at(2385)) && pit.irq0Level(at: Self.at(2386)))
        #expect(readCount(0, now: Self.at(1193 + 1)) == 1192)
        #expect(readCount(0, now: Self.at(1193 * 2 - 1)) == 1)
    }

    /// pit_set_oneshot (0x38, mode 4) then pit_next_event(delta): one interrupt, delta + 1 ticks on.
    @Test mutating func modeFourIsAOneShot() {
        pit.write(offset: 3, value: 0x38, now: 0)
        #expect(pit.nextIRQ0Edge(after: 0) == nil)
        let now = Self.at(1000)
        pit.write(offset: 0, value: 50, now: now)
        pit.write(offset: 0, value: 0, now: now)
        #expect(pit.nextIRQ0Edge(after: now) == Self.at(1051))
        #expect(!pit.irq0Level(at: Self.at(1050)) && pit.irq0Level(at: Self.at(1049)))
        #expect(pit.advance(to: Self.at(5000)) == 1)
        #expect(pit.nextIRQ0Edge(after: Self.at(5000)) == nil)
    }

    @Test mutating func modeZeroInterruptsOnceAndAReprogrammingKeepsAnEdgeAlreadyDue() {
        pit.write(offset: 3, value: 0x30, now: 0)  // pit_shutdown: mode 0, count 0 = 65536
        pit.write(offset: 0, value: 0, now: 0)
        pit.write(offset: 0, value: 0, now: 0)
        #expect(pit.nextIRQ0Edge(after: 0) == Self.at(65_536))
        // The guest reprograms after the edge came due but before the machine serviced it.
        pit.write(offset: 3, value: 0x34, now: Self.at(70_000))
        #expect(pit.advance(to: Self.at(70_001)) == 1)
        #expect(pit.nextIRQ0Edge(after: Self.at(70_001)) == nil)  // no count written yet
    }

    @Test mutating func modeThreeIsASquareWave() {
        pit.write(offset: 3, value: 0x36, now: 0)
        pit.write(offset: 0, value: 10, now: 0)
        pit.write(offset: 0, value: 0, now: 0)
        let levels = (0..<20).map { pit.irq0Level(at: Self.at(UInt64($0))) }
        #expect(levels == (0..<20).map { $0 % 10 < 5 })
        #expect(pit.advance(to: Self.at(100)) == 10)
        #expect(readCount(0, now: Self.at(101)) == 8)  // steps by two
    }

    @Test mutating func countZeroMeansSixtyFiveThousandFiveHundredThirtySix() {
        pit.write(offset: 3, value: 0x34, now: 0)
        pit.write(offset: 0, value: 0, now: 0)
        pit.write(offset: 0, value: 0, now: 0)
        #expect(pit.nextIRQ0Edge(after: 0) == Self.at(65_536))
        #expect(readCount(0, now: Self.at(1)) == 0xFFFF)
    }

    @Test mutating func theCounterLatchHoldsTheCountUntilBothBytesAreRead() {
        pit.write(offset: 3, value: 0x34, now: 0)
        pit.write(offset: 0, value: 0x00, now: 0)
        pit.write(offset: 0, value: 0x40, now: 0)  // 0x4000
        pit.write(offset: 3, value: 0x00, now: Self.at(0x100))  // latch channel 0
        pit.write(offset: 3, value: 0x00, now: Self.at(0x200))  // ignored: already latched
        #expect(readCount(0, now: Self.at(0x300)) == 0x3F00)
        #expect(readCount(0, now: Self.at(0x300)) == 0x3D00)  // live again
    }

    @Test mutating func lowAndHighByteOnlyAccess() {
        pit.write(offset: 3, value: 0x54, now: 0)  // channel 1, LSB only, mode 2
        pit.write(offset: 1, value: 0x80, now: 0)
        #expect(pit.read(offset: 1, now: Self.at(0x10)) == 0x70)
        #expect(pit.read(offset: 1, now: Self.at(0x10)) == 0x70)  // no flip-flop
        pit.write(offset: 3, value: 0x64, now: 0)  // channel 1, MSB only
        pit.write(offset: 1, value: 0x02, now: 0)  // 0x0200
        #expect(pit.read(offset: 1, now: Self.at(0x101)) == 0x00)  // 0x00FF
        #expect(pit.read(offset: 1, now: Self.at(0x100)) == 0x01)
    }

    @Test mutating func readBackLatchesStatusThenCountOfSeveralChannels() {
        pit.write(offset: 3, value: 0x34, now: 0)
        #expect(pit.channels[0].mode == 2)
        pit.write(offset: 3, value: 0xE2, now: 0)  // read-back: status only, channel 0
        #expect(pit.read(offset: 0, now: 0) == 0xF4)  // OUT high, null count, word, mode 2
        pit.write(offset: 0, value: 0x00, now: 0)
        pit.write(offset: 0, value: 0x01, now: 0)  // 0x0100
        pit.write(offset: 3, value: 0xB0, now: 0)  // channel 2, mode 0
        pit.write(offset: 2, value: 0x34, now: 0)
        pit.write(offset: 2, value: 0x12, now: 0)
        // Count and status of channels 0 and 2 at tick 0x10 (gate 2 is low: 2 holds).
        pit.write(offset: 3, value: 0xCA, now: Self.at(0x10))
        #expect(pit.read(offset: 0, now: Self.at(0x50)) == 0xB4)  // OUT high, loaded
        #expect(readCount(0, now: Self.at(0x50)) == 0x00F0)
        #expect(pit.read(offset: 2, now: Self.at(0x50)) == 0x30)  // OUT low, mode 0, loaded
        #expect(readCount(2, now: Self.at(0x50)) == 0x1234)
    }

    @Test mutating func bcdCountsAndReadsBackInDecimal() {
        pit.write(offset: 3, value: 0x31, now: 0)  // channel 0, word, mode 0, BCD
        pit.write(offset: 0, value: 0x00, now: 0)
        pit.write(offset: 0, value: 0x10, now: 0)  // 1000
        #expect(readCount(0, now: Self.at(1)) == 0x0999)
        #expect(readCount(0, now: Self.at(1000)) == 0x0000)
        #expect(readCount(0, now: Self.at(1001)) == 0x9999)
        pit.write(offset: 3, value: 0xE2, now: Self.at(1001))
        #expect(pit.read(offset: 0, now: Self.at(1001)) & 0x01 == 1)
        #expect(pit.nextIRQ0Edge(after: 0) == Self.at(1000))
    }

    @Test mutating func portBStoresItsBitsAndTogglesRefresh() {
        pit.writePortB(0xFF, now: 0)
        #expect(pit.readPortB(now: 0) & 0x0F == 0x0F)
        #expect(pit.speakerEnabled)
        let refresh = (0..<6).map { pit.readPortB(now: UInt64($0) * 15_085) & 0x10 != 0 }
        #expect(refresh == [false, true, false, true, false, true])
        pit.writePortB(0x01, now: 0)
        #expect(pit.readPortB(now: 0) & 0x0F == 0x01 && !pit.speakerEnabled)
    }

    @Test func randomPortSequencesNeverTrapAndKeepTheInvariants() {
        var random = SplitMix64(seed: 0x8254)
        for _ in 0..<400 {
            var pit = PIT8254()
            var now: UInt64 = 0
            for _ in 0..<100 {
                switch UInt8.random(in: 0..<10, using: &random) {
                case 0: now &+= UInt64.random(in: 0...(1 << 40), using: &random)
                case 1: now = UInt64.random(in: now...UInt64.max, using: &random)
                default: now &+= UInt64.random(in: 0...100_000, using: &random)
                }
                if now < 1000 { now = 1000 }  // a wrap above: stay monotonic from here
                let value = UInt8.random(in: 0...255, using: &random)
                switch UInt8.random(in: 0..<6, using: &random) {
                case 0: _ = pit.read(offset: UInt64.random(in: 0...4, using: &random), now: now)
                case 1: pit.writePortB(value, now: now)
                case 2: _ = pit.readPortB(now: now)
                default: pit.write(offset: UInt64.random(in: 0...4, using: &random), value: value, now: now)
                }
                _ = pit.advance(to: now)
                if let next = pit.nextIRQ0Edge(after: now) { #expect(next > now) }
                for channel in pit.channels { #expect(channel.mode <= 5) }
            }
        }
    }
}

@Suite struct PITDeviceTests {
    @Test func serviceTimerPulsesIRQZeroAtTheDeadlineItReturned() {
        let clock = ManualGuestClock()
        let router = LevelRecorder()
        let changes = ChangeCounter()
        let pit = PITDevice(clock: clock, irq0: InterruptLine(gsi: 0, router: router), timerChanged: { changes.bump() })
        #expect(pit.serviceTimer() == nil)
        _ = pit.write(offset: 3, width: .byte, value: 0x34)
        _ = pit.write(offset: 0, width: .byte, value: 0x9C)
        _ = pit.write(offset: 0, width: .byte, value: 0x2E)  // 11932: 100 Hz
        _ = pit.write(offset: 2, width: .byte, value: 0)  // channel 2 cannot move the deadline
        #expect(changes.count == 3)
        let deadline = pit.serviceTimer()!
        #expect(deadline == PIT8254.time(ofTick: 11_932))
        clock.set(deadline - 1)
        #expect(pit.serviceTimer() == deadline)
        #expect(router.risingEdges == 0)
        clock.set(deadline)
        #expect(pit.serviceTimer() == PIT8254.time(ofTick: 2 * 11_932))
        #expect(router.risingEdges == 1 && router.levels.last == false)
    }

    /// A vCPU that slept past several periods (a busy host) gets the missed ticks one by one once
    /// it waits in HLT again, as KVM's PIT reinjects them; a reprogramming drops the debt.
    @Test func ticksMissedTogetherAreReinjectedOneByOne() {
        let clock = ManualGuestClock()
        let router = LevelRecorder()
        let pit = PITDevice(clock: clock, irq0: InterruptLine(gsi: 0, router: router))
        _ = pit.write(offset: 3, width: .byte, value: 0x34)
        _ = pit.write(offset: 0, width: .byte, value: 0x9C)
        _ = pit.write(offset: 0, width: .byte, value: 0x2E)  // 11932: 100 Hz
        let first = pit.serviceTimer()!
        clock.set(first + 4 * PIT8254.time(ofTick: 11_932)! + 1)  // five periods at once
        let next = pit.serviceTimer()
        #expect(router.risingEdges == 1, "one pulse for the five edges while the guest is busy")
        #expect(next != clock.nanoseconds, "nothing owed comes back before the guest halts")
        for expected in 2...5 {
            #expect(pit.serviceTimer(reinjecting: true) != nil)
            #expect(router.risingEdges == expected)
        }
        #expect(pit.serviceTimer(reinjecting: true) == next, "the debt is paid: back to the schedule")
        #expect(router.risingEdges == 5)
        clock.set(next! + 3 * PIT8254.time(ofTick: 11_932)!)
        _ = pit.serviceTimer()
        _ = pit.write(offset: 3, width: .byte, value: 0x34)  // reprogrammed: the owed ticks go
        _ = pit.serviceTimer(reinjecting: true)
        #expect(router.risingEdges == 6)
    }

    @Test func portBGatesChannelTwoOfTheSameModel() {
        let clock = ManualGuestClock()
        let pit = PITDevice(clock: clock)
        let portB = pit.portB
        _ = portB.write(offset: 0, width: .byte, value: 0x01)
        _ = pit.write(offset: 3, width: .byte, value: 0xB0)
        // A word access reaches consecutive ports, as on the ISA bus: LSB and MSB are two writes.
        _ = pit.write(offset: 2, width: .byte, value: 0x64)
        _ = pit.write(offset: 2, width: .byte, value: 0x00)
        #expect(portB.read(offset: 0, width: .byte) & 0x21 == 0x01)
        clock.set(PIT8254.time(ofTick: PIT8254.tick(at: 0) + 100)!)
        #expect(portB.read(offset: 0, width: .byte) & 0x20 == 0x20)
        #expect(pit.state.channels[2].gate)
    }
}

/// Counts `timerChanged` calls.
final class ChangeCounter: Sendable {
    private let calls = Atomic<Int>(0)
    func bump() { calls.add(1, ordering: .relaxed) }
    var count: Int { calls.load(ordering: .relaxed) }
}
