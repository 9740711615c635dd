import Devices
import TestSupport
import Testing
import VMCore

@Suite struct CMOSRTCTests {
    static let newYearsEve2023: Int64 = 1_704_067_199  // 2023-12-31 23:59:59 UTC, a Sunday
    static let tuesdayMorning: Int64 = 1_796_121_347  // 2026-12-01 10:35:47 UTC
    static let second: UInt64 = 1_000_000_000

    /// Registers 0-9 and the century, in order: s, alarm s, m, alarm m, h, alarm h, weekday, day,
    /// month, year, century.
    static func time(_ rtc: inout CMOSRTC, now: UInt64) -> [UInt8] {
        (0...9).map { rtc.read(register: UInt8($0), now: now) } + [rtc.read(register: 0x32, now: now)]
    }

    @Test func readsTheWallClockInBCDAndRollsOverTheYear() {
        var rtc = CMOSRTC(ramSize: 64 << 20, wallClock: Self.newYearsEve2023)
        #expect(Self.time(&rtc, now: 0) == [0x59, 0, 0x59, 0, 0x23, 0, 1, 0x31, 0x12, 0x23, 0x20])
        #expect(Self.time(&rtc, now: Self.second - 1) == [0x59, 0, 0x59, 0, 0x23, 0, 1, 0x31, 0x12, 0x23, 0x20])
        #expect(Self.time(&rtc, now: Self.second) == [0x00, 0, 0x00, 0, 0x00, 0, 2, 0x01, 0x01, 0x24, 0x20])
    }

    static let leapCases: [(Int64, [UInt8])] = [
        (1_709_164_799, [0x29, 0x02, 0x24]),  // 2024 is a leap year
        (4_107_542_399, [0x01, 0x03, 0x00]),  // 2100 is not
        (951_782_399, [0x29, 0x02, 0x00]),  // 2000 is
    ]

    @Test(arguments: leapCases)
    func leapYearsGetTheirTwentyNinthOfFebruary(start: Int64, dayMonthYear: [UInt8]) {
        var rtc = CMOSRTC(ramSize: 0, wallClock: start)
        #expect((7...9).map { rtc.read(register: UInt8($0), now: Self.second) } == dayMonthYear)
    }

    @Test func binaryModeShowsPlainNumbers() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning)
        rtc.write(register: 0x0B, value: 0x06, now: 0)
        #expect(Self.time(&rtc, now: 0) == [47, 0, 35, 0, 10, 0, 3, 1, 12, 26, 20])
    }

    static let twelveHourCases: [(Int64, UInt8)] = [
        (1_796_085_000, 0x12),  // 00:30 is 12 AM
        (1_796_085_000 + 11 * 3600, 0x11),  // 11:30 AM
        (1_796_085_000 + 12 * 3600, 0x92),  // 12:30 PM
        (1_796_085_000 + 13 * 3600, 0x81),  // 1:30 PM
        (1_796_085_000 + 23 * 3600, 0x91),  // 11:30 PM
    ]

    @Test(arguments: twelveHourCases)
    func twelveHourModeCountsFromTwelveWithBitSevenAfterNoon(start: Int64, hours: UInt8) {
        var rtc = CMOSRTC(ramSize: 0, wallClock: start)
        rtc.write(register: 0x0B, value: 0x00, now: 0)
        #expect(rtc.read(register: 0x04, now: 0) == hours)
        // Written back in 12-hour form, it reads the same in 24-hour form as before.
        var copy = CMOSRTC(ramSize: 0, wallClock: start)
        rtc.write(register: 0x04, value: hours, now: 0)
        rtc.write(register: 0x0B, value: 0x02, now: 0)
        #expect(rtc.read(register: 0x04, now: 0) == copy.read(register: 0x04, now: 0))
    }

    @Test func updateInProgressIsSetForThe244MicrosecondsBeforeEachUpdate() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning, nanoseconds: 250_000_000)
        let update = Self.second - 250_000_000
        #expect(rtc.read(register: 0x0A, now: update - 244_001) == 0x26)
        #expect(rtc.read(register: 0x0A, now: update - 244_000) == 0xA6)
        #expect(rtc.read(register: 0x00, now: update - 1) == 0x47)
        #expect(rtc.read(register: 0x0A, now: update - 1) == 0xA6)
        #expect(rtc.read(register: 0x0A, now: update) == 0x26)
        #expect(rtc.read(register: 0x00, now: update) == 0x48)
        #expect(rtc.read(register: 0x0A, now: update + Self.second - 1) == 0xA6)
        rtc.write(register: 0x0A, value: 0xFF, now: update)  // UIP is read-only
        #expect(rtc.registerAValue == 0x7F)
    }

    @Test func setFreezesTheClockAndStartsItFromWhatTheGuestWrote() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: 1_707_552_000)  // 2024-02-10 08:00:00
        rtc.write(register: 0x0B, value: 0x92, now: 0)  // SET with UIE: SET clears UIE
        #expect(rtc.read(register: 0x0B, now: 0) == 0x82)
        #expect(rtc.read(register: 0x0A, now: Self.second - 1) & 0x80 == 0)  // no UIP while set
        #expect(rtc.read(register: 0x00, now: 5 * Self.second) == 0x00)
        // Set 2025-03-31 12:00:00 field by field: the 31st must survive February in between.
        for (register, value) in [(0, 0x00), (2, 0x00), (4, 0x12), (7, 0x31), (8, 0x03), (9, 0x25)] {
            rtc.write(register: UInt8(register), value: UInt8(value), now: 5 * Self.second)
        }
        #expect(Self.time(&rtc, now: 6 * Self.second) == [0, 0, 0, 0, 0x12, 0, 2, 0x31, 0x03, 0x25, 0x20])
        rtc.write(register: 0x0B, value: 0x02, now: 6 * Self.second)
        #expect(rtc.read(register: 0x00, now: 7 * Self.second - 1) == 0x00)
        #expect(rtc.read(register: 0x00, now: 7 * Self.second) == 0x01)  // the divider kept its phase
        #expect(rtc.read(register: 0x0C, now: 7 * Self.second) == 0x50)  // UF and PF, no IRQF
    }

    /// drivers/rtc/rtc-mc146818-lib.c mc146818_set_time: SET, divider reset, the fields, then
    /// register B and register A restored.
    @Test func linuxSetTimeStartsTheClockHalfASecondAfterRestoringRegisterA() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning)
        let control = rtc.read(register: 0x0B, now: 1000)
        rtc.write(register: 0x0B, value: control | 0x80, now: 1000)
        let select = rtc.read(register: 0x0A, now: 1000)
        rtc.write(register: 0x0A, value: select | 0x70, now: 1000)
        for (register, value) in [(9, 0x30), (8, 0x06), (7, 0x15), (4, 0x08), (2, 0x30), (0, 0x05)] {
            rtc.write(register: UInt8(register), value: UInt8(value), now: 2000)
        }
        rtc.write(register: 0x0B, value: control, now: 3 * Self.second)
        #expect(rtc.read(register: 0x00, now: 4 * Self.second) == 0x05)  // still held by the divider
        rtc.write(register: 0x0A, value: select, now: 4 * Self.second)
        #expect(Self.time(&rtc, now: 4 * Self.second + 499_999_999) == [0x05, 0, 0x30, 0, 0x08, 0, 7, 0x15, 0x06, 0x30, 0x20])
        #expect(rtc.read(register: 0x00, now: 4 * Self.second + 500_000_000) == 0x06)
    }

    @Test func aDividerResetHoldsTheClockAndTheFirstUpdateComesHalfASecondAfter() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning)
        rtc.write(register: 0x0A, value: 0x66, now: 100)
        #expect(rtc.read(register: 0x00, now: 10 * Self.second) == 0x47)
        rtc.write(register: 0x0A, value: 0x26, now: 10 * Self.second)
        #expect(rtc.read(register: 0x00, now: 10 * Self.second + 499_999_999) == 0x47)
        #expect(rtc.read(register: 0x00, now: 10 * Self.second + 500_000_000) == 0x48)
    }

    static let rateCases: [(UInt8, UInt64, UInt64)] = [
        (0x26, 976_563, 1024),  // 32768 / 2^5 Hz, rounded up to a nanosecond
        (0x23, 122_071, 8192),
        (0x21, 3_906_250, 256),
        (0x22, 7_812_500, 128),
        (0x2F, 500_000_000, 2),
    ]

    @Test(arguments: rateCases)
    func periodicInterruptsComeAtTheSelectedRate(registerA: UInt8, period: UInt64, frequency: UInt64) {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning)
        rtc.write(register: 0x0A, value: registerA, now: 0)
        #expect(rtc.periodicFrequency == frequency)
        #expect(rtc.nextEvent(after: 0) == nil)  // PIE off
        rtc.write(register: 0x0B, value: 0x42, now: 0)
        #expect(rtc.nextEvent(after: 0) == period)
        rtc.advance(to: period - 1)
        #expect(!rtc.irqAsserted)
        rtc.advance(to: period)
        #expect(rtc.irqAsserted && rtc.nextEvent(after: period) == nil)
        #expect(rtc.read(register: 0x0C, now: period) == 0xC0)
        #expect(!rtc.irqAsserted)
        #expect(rtc.nextEvent(after: period)! > period)
    }

    @Test func rateZeroTurnsThePeriodicInterruptOff() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning)
        rtc.write(register: 0x0A, value: 0x20, now: 0)
        rtc.write(register: 0x0B, value: 0x42, now: 0)
        #expect(rtc.periodicFrequency == nil && rtc.nextEvent(after: 0) == nil)
    }

    @Test func anAlarmWithDontCareHoursFiresAtTheNextMatchingMinute() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning)  // 10:35:47
        rtc.write(register: 0x01, value: 0x00, now: 0)
        rtc.write(register: 0x03, value: 0x00, now: 0)
        rtc.write(register: 0x05, value: 0xC0, now: 0)
        rtc.write(register: 0x0B, value: 0x22, now: 0)
        let eleven = (24 * 60 + 13) * Self.second
        #expect(rtc.nextEvent(after: 0) == eleven)
        rtc.advance(to: eleven - 1)
        #expect(!rtc.irqAsserted)
        rtc.advance(to: eleven)
        #expect(rtc.irqAsserted)
        #expect(rtc.read(register: 0x0C, now: eleven) == 0xF0)  // IRQF, AF; PF and UF (not enabled)
        #expect(rtc.nextEvent(after: eleven) == eleven + 3600 * Self.second)
    }

    @Test func anExactAlarmFiresOnceADayAndAnImpossibleOneNever() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning)
        for (register, value) in [(1, 0x50), (3, 0x35), (5, 0x10), (0x0B, 0x22)] {
            rtc.write(register: UInt8(register), value: UInt8(value), now: 0)
        }
        #expect(rtc.nextEvent(after: 0) == 3 * Self.second)
        // Collected even when nobody serviced the timer at the time.
        rtc.advance(to: 3 * Self.second + 86_000 * Self.second)
        #expect(rtc.read(register: 0x0C, now: 86_003 * Self.second) & 0x20 == 0x20)
        #expect(rtc.nextEvent(after: 86_003 * Self.second) == 86_403 * Self.second)
        rtc.write(register: 0x05, value: 0x24, now: 86_003 * Self.second)  // hour 24 never comes
        #expect(rtc.nextEvent(after: 86_003 * Self.second) == nil)
    }

    @Test func theUpdateEndedInterruptComesOnceASecond() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: Self.tuesdayMorning, nanoseconds: 300_000_000)
        rtc.write(register: 0x0B, value: 0x12, now: 0)
        #expect(rtc.nextEvent(after: 0) == 700_000_000)
        rtc.advance(to: 700_000_000)
        // IRQF and UF; PF too: flags are set whatever the enables, and the 1024 Hz rate runs.
        #expect(rtc.read(register: 0x0C, now: 700_000_000) == 0xD0)
        #expect(rtc.read(register: 0x0C, now: 700_000_000) == 0x00)  // read clears
        #expect(rtc.nextEvent(after: 700_000_000) == 1_700_000_000)
    }

    @Test func theIndexPortKeepsTheNMIMaskApart() {
        var rtc = CMOSRTC(ramSize: 0, wallClock: 0)
        rtc.select(0x8D)
        #expect(rtc.nmiMasked && rtc.index == 0x0D)
        #expect(rtc.readData(now: 0) == 0x80)  // VRT
        rtc.select(0x40)
        rtc.writeData(0x5A, now: 0)
        #expect(!rtc.nmiMasked && rtc.read(register: 0x40, now: 0) == 0x5A)
        rtc.write(register: 0x0D, value: 0, now: 0)
        #expect(rtc.read(register: 0x0D, now: 0) == 0x80)
    }

    static let memoryCases: [(UInt64, [UInt8])] = [
        (64 << 20, [0x80, 0x02, 0x00, 0xFC, 0x00, 0xFC, 0x00, 0x03]),
        (3 << 30, [0x80, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xBF]),
        (512 << 10, [0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]),
    ]

    @Test(arguments: memoryCases)
    func memorySizesAreWhereABIOSPutsThem(ramSize: UInt64, fields: [UInt8]) {
        var rtc = CMOSRTC(ramSize: ramSize, wallClock: Self.tuesdayMorning)
        #expect([0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35].map { rtc.read(register: $0, now: 0) } == fields)
        #expect(rtc.read(register: 0x32, now: 0) == 0x20)
    }

    @Test func randomRegisterSequencesNeverTrapAndKeepTheInvariants() {
        var random = SplitMix64(seed: 0x146818)
        for _ in 0..<300 {
            let ramSize = UInt64.random(in: 0...UInt64.max, using: &random)
            var rtc = CMOSRTC(ramSize: ramSize, wallClock: Int64.random(in: .min ... .max, using: &random))
            var now: UInt64 = UInt64.random(in: 0...(1 << 50), using: &random)
            for _ in 0..<100 {
                let step = Bool.random(using: &random) ? 2_000_000_000 : UInt64(1) << 45
                now &+= UInt64.random(in: 0...step, using: &random)
                let register = Bool.random(using: &random) ? UInt8.random(in: 0...0x0D, using: &random) : UInt8.random(in: 0...0xFF, using: &random)
                let value = UInt8.random(in: 0...0xFF, using: &random)
                switch UInt8.random(in: 0..<4, using: &random) {
                case 0: _ = rtc.read(register: register, now: now)
                case 1: rtc.advance(to: now)
                default: rtc.write(register: register, value: value, now: now)
                }
                if let next = rtc.nextEvent(after: now) { #expect(next > now) }
                #expect(rtc.read(register: 0x0D, now: now) == 0x80)
                let c = rtc.read(register: 0x0C, now: now)
                #expect(c & 0x0F == 0 && !rtc.irqAsserted)
                let seconds = rtc.read(register: 0, now: now)
                let binary = rtc.read(register: 0x0B, now: now) & 0x04 != 0
                #expect((binary ? seconds : (seconds >> 4) * 10 + seconds & 0x0F) < 60)
            }
        }
    }
}

@Suite struct RTCDeviceTests {
    @Test func irqEightIsRaisedAtTheUpdateAndLoweredByReadingC() {
        let clock = ManualGuestClock()
        let router = LevelRecorder()
        let rtc = RTCDevice(clock: clock, ramSize: 1 << 30, wallClock: CMOSRTCTests.tuesdayMorning, irq8: InterruptLine(gsi: 8, router: router))
        _ = rtc.write(offset: 0, width: .byte, value: 0x0B)
        _ = rtc.write(offset: 1, width: .byte, value: 0x12)  // UIE
        #expect(rtc.serviceTimer() == 1_000_000_000)
        clock.set(1_000_000_000)
        #expect(rtc.serviceTimer() == nil)  // asserted until C is read
        #expect(router.levels == [true])
        _ = rtc.write(offset: 0, width: .byte, value: 0x0C)
        #expect(rtc.read(offset: 1, width: .byte) == 0xD0)  // IRQF, UF, and PF (set with PIE off)
        #expect(router.levels == [true, false])
        #expect(rtc.serviceTimer() == 2_000_000_000)
        // A word write selects and writes in one access; port 0x70 reads as a floating bus.
        _ = rtc.write(offset: 0, width: .word, value: 0xAA_0E)
        #expect(rtc.read(offset: 0, width: .word) == 0xAAFF)
        #expect(rtc.state.nmiMasked == false && rtc.state.index == 0x0E)
    }
}
