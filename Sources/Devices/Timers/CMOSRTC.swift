/// The register model of a Motorola MC146818 real-time clock and its 128 bytes of CMOS RAM, as a
/// PC BIOS leaves them (the MC146818A datasheet; the DS12887's is clearer on SET and UIE).
///
/// A pure value: time is an argument (`now`, guest nanoseconds). The clock is a wall-clock second
/// count anchored to a guest time, and events (the update once a second, the periodic rate, the
/// alarm) are computed when a register is read or `advance(to:)` is called, so the machine only
/// needs a timer for `nextEvent(after:)`. The time registers are computed from that count in the
/// format register B selects (BCD or binary, 12 or 24 hours); while SET is set they hold what the
/// guest writes, and clearing SET starts the clock from them.
public struct CMOSRTC: Sendable, Equatable {
    // Register indices.
    public static let seconds: UInt8 = 0x00, secondsAlarm: UInt8 = 0x01
    public static let minutes: UInt8 = 0x02, minutesAlarm: UInt8 = 0x03
    public static let hours: UInt8 = 0x04, hoursAlarm: UInt8 = 0x05
    public static let dayOfWeek: UInt8 = 0x06, dayOfMonth: UInt8 = 0x07
    public static let month: UInt8 = 0x08, year: UInt8 = 0x09
    public static let registerA: UInt8 = 0x0A, registerB: UInt8 = 0x0B
    public static let registerC: UInt8 = 0x0C, registerD: UInt8 = 0x0D
    /// The century byte PC BIOSes keep (ACPI FADT `century` points here), in the clock's format.
    public static let century: UInt8 = 0x32

    /// Register A: update in progress (read-only), divider (bits 6-4), rate select (bits 3-0).
    static let aUpdateInProgress: UInt8 = 0x80
    /// Register B: SET, PIE, AIE, UIE, SQWE, DM (binary), 24/12, DSE.
    static let bSet: UInt8 = 0x80, bPeriodicEnable: UInt8 = 0x40, bAlarmEnable: UInt8 = 0x20
    static let bUpdateEnable: UInt8 = 0x10, bBinary: UInt8 = 0x04, b24Hour: UInt8 = 0x02
    /// Register C: IRQF, PF, AF, UF (bits 3-0 read 0).
    static let cInterruptRequest: UInt8 = 0x80, cPeriodic: UInt8 = 0x40, cAlarm: UInt8 = 0x20, cUpdate: UInt8 = 0x10
    /// Register D: VRT, valid RAM and time (the battery is good).
    static let dValidRAM: UInt8 = 0x80
    /// Alarm bytes with both top bits set match any value ("don't care").
    static let alarmDontCare: UInt8 = 0xC0
    /// UIP is set this long before each update (t_BUC in the datasheet).
    public static let updateInProgressNanoseconds: UInt64 = 244_000
    /// The divider holds the time base while register A bits 6-4 are 11x; leaving reset, the
    /// first update comes half a second later.
    static let dividerRestartOffset: UInt64 = 500_000_000
    static let second: UInt64 = 1_000_000_000

    /// The register port 0x71 reaches (port 0x70 bits 6-0).
    public private(set) var index: UInt8 = 0
    /// Port 0x70 bit 7: NMIs are masked (the VMM has none to mask; kept for the guest).
    public private(set) var nmiMasked = false
    /// Registers A and B as a BIOS leaves them: 32.768 kHz time base, 1024 Hz rate; BCD, 24 hours.
    public private(set) var registerAValue: UInt8 = 0x26
    public private(set) var registerBValue: UInt8 = 0x02
    /// Register C's PF, AF and UF.
    private var flags: UInt8 = 0
    /// CMOS RAM; indices 0x00-0x0D and 0x32 are the clock's (the alarms are kept here too).
    private var ram = [UInt8](repeating: 0, count: 128)

    // The time base: divider time `divider(at:)` runs from `dividerOffset` at guest time
    // `dividerAnchor`; updates happen at its whole seconds.
    private var dividerAnchor: UInt64 = 0
    private var dividerOffset: UInt64
    // The clock: `secondsAtAnchor` (seconds since 1970, UTC or whatever the guest set) at the
    // divider's second `anchorSecondIndex`.
    private var secondsAtAnchor: Int64
    private var anchorSecondIndex: UInt64 = 0
    /// The time registers while SET is set or the divider is held.
    private var frozen: DateTime?
    private var dayOfWeekOffset = 0
    // Where events were last collected.
    private var lastDivider: UInt64
    private var lastSeconds: Int64

    /// A CMOS for a machine with `ramSize` bytes below 4 GiB, its clock at `wallClock` seconds
    /// since 1970 plus `nanoseconds` at guest time 0 (the host's time at machine start).
    public init(ramSize: UInt64, wallClock: Int64, nanoseconds: UInt64 = 0) {
        secondsAtAnchor = min(max(wallClock, Self.earliestSeconds), Self.latestSeconds)
        dividerOffset = nanoseconds % Self.second
        lastDivider = dividerOffset
        lastSeconds = secondsAtAnchor
        Self.store(min(640, ramSize / 1024), at: 0x15, in: &ram)
        let extended = ramSize > 1 << 20 ? min((ramSize - (1 << 20)) / 1024, 0xFFFF) : 0
        Self.store(extended, at: 0x17, in: &ram)
        Self.store(extended, at: 0x30, in: &ram)
        Self.store(ramSize > 16 << 20 ? min((ramSize - (16 << 20)) / 65_536, 0xFFFF) : 0, at: 0x34, in: &ram)
        // The standard checksum over 0x10-0x2D, high byte first.
        let sum = ram[0x10...0x2D].reduce(0) { $0 + UInt16($1) }
        ram[0x2E] = UInt8(sum >> 8)
        ram[0x2F] = UInt8(sum & 0xFF)
    }

    private static func store(_ value: UInt64, at index: Int, in ram: inout [UInt8]) {
        ram[index] = UInt8(truncatingIfNeeded: value)
        ram[index + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    // MARK: Ports

    /// A write to port 0x70: the NMI mask (bit 7) and the register index.
    public mutating func select(_ value: UInt8) {
        nmiMasked = value & 0x80 != 0
        index = value & 0x7F
    }

    /// A read of port 0x71.
    public mutating func readData(now: UInt64) -> UInt8 { read(register: index, now: now) }
    /// A write to port 0x71.
    public mutating func writeData(_ value: UInt8, now: UInt64) { write(register: index, value: value, now: now) }

    /// Reads register `register` (0-0x7F); reading C clears it and lowers the interrupt.
    public mutating func read(register: UInt8, now: UInt64) -> UInt8 {
        advance(to: now)
        let time = frozen ?? dateTime(now: now)
        switch register & 0x7F {
        case Self.seconds: return encode(time.second)
        case Self.minutes: return encode(time.minute)
        case Self.hours: return encodeHour(time.hour)
        case Self.dayOfWeek: return UInt8((time.weekday + dayOfWeekOffset) % 7 + 1)
        case Self.dayOfMonth: return encode(time.day)
        case Self.month: return encode(time.month)
        case Self.year: return encode(time.year % 100)
        case Self.century: return encode(time.year / 100)
        case Self.registerA: return registerAValue | (updateInProgress(now: now) ? Self.aUpdateInProgress : 0)
        case Self.registerB: return registerBValue
        case Self.registerC:
            let value = flags | (irqAsserted ? Self.cInterruptRequest : 0)
            flags = 0
            return value
        case Self.registerD: return Self.dValidRAM
        case let other: return ram[Int(other)]
        }
    }

    /// Writes register `register` (0-0x7F). C and D are read-only.
    public mutating func write(register: UInt8, value: UInt8, now: UInt64) {
        advance(to: now)
        let register = register & 0x7F
        switch register {
        case Self.seconds, Self.minutes, Self.hours, Self.dayOfMonth, Self.month, Self.year, Self.century:
            var time = frozen ?? dateTime(now: now)
            let decoded = decode(value)
            switch register {
            case Self.seconds: time.second = min(decoded, 59)
            case Self.minutes: time.minute = min(decoded, 59)
            case Self.hours: time.hour = decodeHour(value)
            case Self.dayOfMonth: time.day = min(max(decoded, 1), 31)
            case Self.month: time.month = min(max(decoded, 1), 12)
            case Self.year: time.year = time.year / 100 * 100 + min(decoded, 99)
            default: time.year = min(decoded, 99) * 100 + time.year % 100
            }
            if frozen != nil { frozen = time } else { start(from: time, now: now) }
        case Self.dayOfWeek:
            // The weekday follows the date; a write sets how far the guest's numbering is off.
            let time = frozen ?? dateTime(now: now)
            dayOfWeekOffset = (Int(min(max(decode(value), 1), 7)) - 1 - time.weekday + 7) % 7
        case Self.registerA:
            let wasFrozen = isFrozen
            let before = frozen ?? dateTime(now: now)
            let wasRunning = dividerRunning
            let held = divider(at: now)
            registerAValue = value & ~Self.aUpdateInProgress
            if wasRunning && !dividerRunning { dividerOffset = held }
            if !wasRunning && dividerRunning {
                dividerAnchor = now
                dividerOffset = Self.dividerRestartOffset
            }
            freezeOrStart(wasFrozen: wasFrozen, time: before, now: now)
        case Self.registerB:
            let wasFrozen = isFrozen
            let before = frozen ?? dateTime(now: now)
            // Setting SET clears UIE (DS12887: "UIE is cleared when SET is written to 1").
            registerBValue = value & Self.bSet != 0 ? value & ~Self.bUpdateEnable : value
            freezeOrStart(wasFrozen: wasFrozen, time: before, now: now)
        case Self.registerC, Self.registerD:
            break
        default:
            ram[Int(register)] = value
        }
        lastDivider = divider(at: now)
    }

    // MARK: Interrupts and events

    /// Whether IRQ 8 is asserted: IRQF, a flag whose interrupt is enabled, until C is read.
    public var irqAsserted: Bool { flags & registerBValue & (Self.cPeriodic | Self.cAlarm | Self.cUpdate) != 0 }

    /// Collects the periodic, alarm and update-ended events up to `now` into register C.
    public mutating func advance(to now: UInt64) {
        let dividerNow = divider(at: now)
        if let period = periodicTicks, dividerRunning,
            Self.ticks32k(dividerNow) / period > Self.ticks32k(lastDivider) / period
        {
            flags |= Self.cPeriodic
        }
        lastDivider = dividerNow
        guard !isFrozen else { return }
        let seconds = self.seconds(atDivider: dividerNow)
        guard seconds > lastSeconds else {
            lastSeconds = seconds
            return
        }
        flags |= Self.cUpdate
        if flags & Self.cAlarm == 0, let alarm = nextAlarm(after: lastSeconds), alarm <= seconds { flags |= Self.cAlarm }
        lastSeconds = seconds
    }

    /// The guest time of the next event that would assert IRQ 8, for the machine's timer (nil if
    /// it is already asserted or no enabled event is coming). Call `advance(to:)` first.
    public func nextEvent(after now: UInt64) -> UInt64? {
        guard !irqAsserted else { return nil }
        let dividerNow = divider(at: now)
        var events: [UInt64] = []
        if registerBValue & Self.bPeriodicEnable != 0, dividerRunning, let period = periodicTicks {
            let next = (Self.ticks32k(dividerNow) / period + 1).multipliedReportingOverflow(by: period)
            if !next.overflow, let at = Self.dividerTime(ofTick32k: next.partialValue) { events.append(at) }
        }
        if !isFrozen {
            if registerBValue & Self.bUpdateEnable != 0 { events.append((dividerNow / Self.second + 1) &* Self.second) }
            if registerBValue & Self.bAlarmEnable != 0, let alarm = nextAlarm(after: seconds(atDivider: dividerNow)) {
                let index = UInt64(clamping: alarm &- secondsAtAnchor) &+ anchorSecondIndex
                let at = index.multipliedReportingOverflow(by: Self.second)
                if !at.overflow { events.append(at.partialValue) }
            }
        }
        guard let first = events.min(), first >= dividerOffset else { return nil }
        let (at, overflow) = dividerAnchor.addingReportingOverflow(first - dividerOffset)
        return overflow ? nil : at
    }

    /// UIP: set during the 244 us before each update, while the clock updates.
    public func updateInProgress(now: UInt64) -> Bool {
        guard !isFrozen else { return false }
        return divider(at: now) % Self.second >= Self.second - Self.updateInProgressNanoseconds
    }

    /// The periodic interrupt's rate in Hz (register A bits 3-0), or nil when off.
    public var periodicFrequency: UInt64? { periodicTicks.map { 32_768 / $0 } }

    // MARK: Time base

    private var dividerRunning: Bool { registerAValue >> 4 & 0x06 != 0x06 }
    private var isFrozen: Bool { registerBValue & Self.bSet != 0 || !dividerRunning }

    /// The periodic interval in 32.768 kHz ticks: rates 1 and 2 give 256 and 128 Hz, rates 3-15
    /// give 32768 >> (rate - 1) Hz.
    private var periodicTicks: UInt64? {
        let rate = registerAValue & 0x0F
        switch rate {
        case 0: return nil
        case 1: return 128
        case 2: return 256
        default: return 1 << UInt64(rate - 1)
        }
    }

    private func divider(at now: UInt64) -> UInt64 {
        guard dividerRunning else { return dividerOffset }
        return (now >= dividerAnchor ? now - dividerAnchor : 0) &+ dividerOffset
    }

    private func seconds(atDivider divider: UInt64) -> Int64 {
        let index = divider / Self.second
        return secondsAtAnchor &+ Int64(index >= anchorSecondIndex ? index - anchorSecondIndex : 0)
    }

    /// 32.768 kHz ticks in `nanoseconds` of divider time.
    private static func ticks32k(_ nanoseconds: UInt64) -> UInt64 {
        UInt64(1_000_000_000).dividingFullWidth(nanoseconds.multipliedFullWidth(by: 32_768)).quotient
    }

    /// The first divider nanosecond at which `ticks32k` reaches `tick`.
    private static func dividerTime(ofTick32k tick: UInt64) -> UInt64? {
        let product = tick.multipliedFullWidth(by: 1_000_000_000)
        guard product.high < 32_768 else { return nil }
        let (quotient, remainder) = UInt64(32_768).dividingFullWidth(product)
        return remainder == 0 ? quotient : quotient == .max ? nil : quotient + 1
    }

    private mutating func freezeOrStart(wasFrozen: Bool, time: DateTime, now: UInt64) {
        if !wasFrozen && isFrozen { frozen = time }
        if wasFrozen && !isFrozen {
            frozen = nil
            start(from: time, now: now)
        }
    }

    /// Runs the clock from `time` at `now`, keeping the divider's phase.
    private mutating func start(from time: DateTime, now: UInt64) {
        secondsAtAnchor = time.secondsSince1970
        anchorSecondIndex = divider(at: now) / Self.second
        lastSeconds = secondsAtAnchor
    }

    private func dateTime(now: UInt64) -> DateTime { DateTime(secondsSince1970: seconds(atDivider: divider(at: now))) }

    // MARK: Format

    private var binary: Bool { registerBValue & Self.bBinary != 0 }
    private var twentyFourHour: Bool { registerBValue & Self.b24Hour != 0 }

    private func encode(_ value: Int) -> UInt8 {
        let value = UInt8(value % 100)
        return binary ? value : (value / 10) << 4 | value % 10
    }

    private func decode(_ value: UInt8) -> Int { binary ? Int(value) : Int(value >> 4) * 10 + Int(value & 0x0F) }

    /// In 12-hour mode hours run 12, 1, ..., 11 with bit 7 set after noon.
    private func encodeHour(_ hour: Int) -> UInt8 {
        guard !twentyFourHour else { return encode(hour) }
        let twelve = hour % 12 == 0 ? 12 : hour % 12
        return encode(twelve) | (hour >= 12 ? 0x80 : 0)
    }

    private func decodeHour(_ value: UInt8) -> Int {
        guard !twentyFourHour else { return min(decode(value), 23) }
        return min(decode(value & 0x7F), 12) % 12 + (value & 0x80 != 0 ? 12 : 0)
    }

    /// The first second after `seconds` whose time of day matches the alarm registers.
    private func nextAlarm(after seconds: Int64) -> Int64? {
        let (alarmSecond, alarmMinute, alarmHour) = (ram[1], ram[3], ram[5])
        func matches(_ alarm: UInt8, _ value: UInt8) -> Bool { alarm & Self.alarmDontCare == Self.alarmDontCare || alarm == value }
        func second(_ s: Int) -> Bool { matches(alarmSecond, encode(s)) }
        func minute(_ m: Int) -> Bool { matches(alarmMinute, encode(m)) }
        func hour(_ h: Int) -> Bool { matches(alarmHour, encodeHour(h)) }
        guard (0..<60).contains(where: second), (0..<60).contains(where: minute), (0..<24).contains(where: hour) else { return nil }
        let next = seconds &+ 1
        let day = DateTime.floorDivide(next, 86_400)
        let timeOfDay = Int(next - day * 86_400)
        let (h0, m0, s0) = (timeOfDay / 3600, timeOfDay / 60 % 60, timeOfDay % 60)
        for hours in h0...(h0 + 24) where hour(hours % 24) {
            for m in (hours == h0 ? m0 : 0)..<60 where minute(m) {
                for s in (hours == h0 && m == m0 ? s0 : 0)..<60 where second(s) {
                    return day * 86_400 + Int64(hours * 3600 + m * 60 + s)
                }
            }
        }
        return nil
    }

    /// Year 0 to year 9999: what the year and century registers can hold.
    static let earliestSeconds = DateTime.daysFromCivil(year: 0, month: 1, day: 1) * 86_400
    static let latestSeconds = DateTime.daysFromCivil(year: 9999, month: 12, day: 31) * 86_400 + 86_399
}

/// A civil date and time (proleptic Gregorian, no time zone), converted with Howard Hinnant's
/// days-from-civil algorithms (http://howardhinnant.github.io/date_algorithms.html).
struct DateTime: Sendable, Equatable {
    var year: Int, month: Int, day: Int
    var hour: Int, minute: Int, second: Int

    init(secondsSince1970 seconds: Int64) {
        let seconds = min(max(seconds, CMOSRTC.earliestSeconds), CMOSRTC.latestSeconds)
        let days = Self.floorDivide(seconds, 86_400)
        let timeOfDay = Int(seconds - days * 86_400)
        (hour, minute, second) = (timeOfDay / 3600, timeOfDay / 60 % 60, timeOfDay % 60)
        (year, month, day) = Self.civil(fromDays: days)
    }

    /// 0 = Sunday; 1970-01-01 was a Thursday.
    var weekday: Int { Int((Self.daysFromCivil(year: year, month: month, day: day) % 7 + 11) % 7) }

    /// The time as seconds since 1970; a day past the month's end counts as its last day.
    var secondsSince1970: Int64 {
        let day = min(day, Self.daysInMonth(year: year, month: month))
        return Self.daysFromCivil(year: year, month: month, day: day) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * Int64(month > 2 ? month - 3 : month + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
    }
}
