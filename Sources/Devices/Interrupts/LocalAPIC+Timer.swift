/// The LAPIC timer (SDM 11.5.4): computed from `now`, never ticked. The counter falls by one every
/// `timerDivisor` cycles of `timerFrequencyHz`; the machine sleeps until `nextTimerDeadline()` and
/// then calls `fireTimer(now:)`.
extension LocalAPIC {
    public var timerMode: TimerMode {
        switch lvtTimer >> 17 & 3 {
        case 1: return .periodic
        case 2: return .tscDeadline
        default: return .oneShot
        }
    }

    /// The divide configuration register's bits 0, 1 and 3: 000b = 2, 001b = 4, ... 110b = 128,
    /// 111b = 1 (SDM figure 11-10).
    public var timerDivisor: UInt64 {
        let code = timerDivideConfiguration & 3 | timerDivideConfiguration >> 1 & 4
        return code == 7 ? 1 : 2 << UInt64(code)
    }

    /// When the timer next fires, in guest nanoseconds; nil when it is not armed. It may be in
    /// the past (a deadline written late): fire at once. Reported even when the LVT entry is
    /// masked, because counting goes on.
    public func nextTimerDeadline() -> UInt64? { timerDeadline }

    /// IA32_TSC_DEADLINE as RDMSR reads it: 0 when disarmed, fired, or not in TSC-deadline mode.
    public var tscDeadline: UInt64 { timerMode == .tscDeadline ? tscDeadlineValue : 0 }

    /// The guest TSC at `nanoseconds`, and back (rounded up, so a deadline is never early).
    public func tsc(atNanoseconds nanoseconds: UInt64) -> UInt64 {
        Self.scale(nanoseconds, by: tscFrequencyHz, dividedBy: Self.nanosecondsPerSecond, roundingUp: false)
    }

    public func nanoseconds(atTSC tsc: UInt64) -> UInt64 {
        Self.scale(tsc, by: Self.nanosecondsPerSecond, dividedBy: tscFrequencyHz, roundingUp: true)
    }

    /// A WRMSR to IA32_TSC_DEADLINE: ignored unless the timer is in TSC-deadline mode (SDM
    /// 11.5.4.1). 0 disarms; a deadline already passed fires at once.
    public mutating func writeTSCDeadline(_ tsc: UInt64, now: UInt64) -> APICWriteEffect {
        guard timerMode == .tscDeadline else { return .none }
        tscDeadlineValue = tsc
        if tsc == 0 {
            timerDeadline = nil
        } else {
            let deadline = nanoseconds(atTSC: tsc)
            timerDeadline = deadline
            if deadline <= now { fireTimer(now: now) }
        }
        return .timerChanged
    }

    /// The current-count register at `now`: 0 in TSC-deadline mode and once a one-shot count ran
    /// out; a periodic count wraps to the initial count.
    public func currentCount(now: UInt64) -> UInt32 {
        guard timerMode != .tscDeadline, timerDeadline != nil else { return 0 }
        let elapsed = ticks(since: timerLoadedAt, now: now)
        let atLoad = UInt64(timerCountAtLoad)
        if elapsed < atLoad { return UInt32(atLoad - elapsed) }
        guard timerMode == .periodic, timerInitialCount != 0 else { return 0 }
        let initial = UInt64(timerInitialCount)
        return UInt32(initial - (elapsed - atLoad) % initial)
    }

    /// The deadline has come (the machine calls this at or after `nextTimerDeadline()`): sets the
    /// LVT timer vector in IRR unless masked, re-arms a periodic timer (missed periods collapse into
    /// this one, as a single IRR bit would), leaves a one-shot count at 0 and clears a TSC deadline.
    /// Returns whether an interrupt was requested; before the deadline it does nothing.
    @discardableResult
    public mutating func fireTimer(now: UInt64) -> Bool {
        guard let deadline = timerDeadline, now >= deadline else { return false }
        switch timerMode {
        case .oneShot:
            timerDeadline = nil
        case .tscDeadline:
            timerDeadline = nil
            tscDeadlineValue = 0
        case .periodic:
            if timerInitialCount == 0 {
                timerDeadline = nil
            } else {
                let period = periodNanoseconds(count: timerInitialCount)
                let skipped = (now - deadline) / period
                let (offset, overflow) = skipped.multipliedReportingOverflow(by: period)
                timerLoadedAt = overflow ? .max : Self.saturatingAdd(deadline, offset)
                timerCountAtLoad = timerInitialCount
                timerDeadline = Self.saturatingAdd(timerLoadedAt, period)
            }
        }
        return deliverLocal(lvtTimer)
    }

    mutating func writeLVTTimer(_ value: UInt32) -> APICWriteEffect {
        let oldMode = timerMode
        lvtTimer = value & Self.lvtTimerWritable | (isSoftwareEnabled ? 0 : Self.lvtMasked)
        guard timerMode != oldMode else { return .timerChanged }
        // "A write to the LVT Timer Register that changes the timer mode disarms the local APIC
        // timer" (SDM 11.5.4.1). Across TSC-deadline mode the initial count goes too, as in KVM.
        timerDeadline = nil
        if oldMode == .tscDeadline || timerMode == .tscDeadline {
            timerInitialCount = 0
            tscDeadlineValue = 0
        }
        return .timerChanged
    }

    mutating func writeInitialCount(_ value: UInt32, now: UInt64) -> APICWriteEffect {
        guard timerMode != .tscDeadline else { return .none }  // Ignored in TSC-deadline mode.
        timerInitialCount = value
        load(count: value, now: now)
        return .timerChanged
    }

    mutating func writeDivideConfiguration(_ value: UInt32, now: UInt64) -> APICWriteEffect {
        let running = timerMode != .tscDeadline && timerDeadline != nil
        let remaining = running ? currentCount(now: now) : 0
        timerDivideConfiguration = value & 0xB
        // A count already at 0 keeps its deadline: the interrupt is still owed.
        guard running, remaining != 0 else { return .none }
        // The count left goes on at the new rate (KVM's update_target_expiration does the same).
        load(count: remaining, now: now)
        return .timerChanged
    }

    /// Starts counting down from `count` at `now`; 0 stops the timer.
    private mutating func load(count: UInt32, now: UInt64) {
        guard count != 0 else {
            timerDeadline = nil
            return
        }
        timerLoadedAt = now
        timerCountAtLoad = count
        let duration = timerMode == .periodic ? periodNanoseconds(count: count) : nanoseconds(forTicks: count)
        timerDeadline = Self.saturatingAdd(now, duration)
    }

    /// Nanoseconds for `count` ticks, rounded up so the count has reached 0 at the deadline.
    private func nanoseconds(forTicks count: UInt32) -> UInt64 {
        Self.scale(UInt64(count) * timerDivisor, by: Self.nanosecondsPerSecond, dividedBy: timerFrequencyHz, roundingUp: true)
    }

    private func periodNanoseconds(count: UInt32) -> UInt64 {
        max(nanoseconds(forTicks: count), minimumPeriodNanoseconds, 1)
    }

    /// Whole ticks of the divided clock from `start` to `now` (0 if `now` is earlier).
    private func ticks(since start: UInt64, now: UInt64) -> UInt64 {
        guard now > start else { return 0 }
        return Self.scale(now - start, by: timerFrequencyHz, dividedBy: Self.nanosecondsPerSecond * timerDivisor, roundingUp: false)
    }

    /// value × multiplier / divisor in 128-bit arithmetic, saturating at UInt64.max.
    static func scale(_ value: UInt64, by multiplier: UInt64, dividedBy divisor: UInt64, roundingUp: Bool) -> UInt64 {
        let product = value.multipliedFullWidth(by: multiplier)
        guard divisor != 0, product.high < divisor else { return .max }
        let (quotient, remainder) = divisor.dividingFullWidth(product)
        return roundingUp && remainder != 0 ? saturatingAdd(quotient, 1) : quotient
    }

    static func saturatingAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }
}
