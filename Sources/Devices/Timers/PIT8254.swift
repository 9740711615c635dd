/// The register model of an Intel 8254 programmable interval timer (three 16-bit counters on a
/// 1.193182 MHz clock) and of port 0x61 (system control port B: channel 2's gate, the speaker
/// data bit, OUT2 and the refresh toggle), which share channel 2.
///
/// A pure value: time is an argument (`now`, guest nanoseconds), and the counters are computed from
/// the tick at which they were loaded instead of being decremented, so an idle timer costs nothing.
/// Behaviour follows the 8254 datasheet (Intel 231164) and QEMU's `hw/timer/i8254_common.c`; where
/// they differ from each other Linux's uses decide (`arch/x86/kernel/tsc.c` quick_pit_calibrate and
/// pit_calibrate_tsc, `drivers/clocksource/i8253.c`).
public struct PIT8254: Sendable, Equatable {
    /// Port offsets: counters 0-2, then the control word register.
    public static let controlRegister: UInt64 = 3
    /// The input clock, in Hz.
    public static let frequency: UInt64 = 1_193_182
    /// Port 0x61 bits: gate 2, speaker data, refresh toggle, OUT2.
    static let portBGate2: UInt8 = 0x01, portBSpeakerData: UInt8 = 0x02
    static let portBRefresh: UInt8 = 0x10, portBOut2: UInt8 = 0x20
    /// Port 0x61's writable bits (gate 2, speaker data, and the parity and I/O check enables).
    static let portBWritable: UInt8 = 0x0F
    /// The DRAM refresh request toggles every 15.085 µs on a PC/AT (bit 4 of port 0x61).
    static let refreshPeriodNanoseconds: UInt64 = 15_085

    /// Control word fields: select counter (bits 7-6; 3 = read-back), read/write mode (bits 5-4;
    /// 0 = counter latch), mode (bits 3-1), BCD (bit 0).
    static let readBackSelect: UInt8 = 3
    /// Read-back command bits: bit 5 clear latches the counts, bit 4 clear latches the statuses,
    /// bits 3-1 select counters 2-0.
    static let readBackNoCount: UInt8 = 0x20, readBackNoStatus: UInt8 = 0x10

    public private(set) var channels: [Channel] = [Channel(), Channel(), Channel()]
    /// Port 0x61's stored bits (gate 2 and speaker data among them).
    public private(set) var portB: UInt8 = 0
    /// The tick up to which channel 0's rising edges have been reported by `advance(to:)`.
    private var reportedTick: UInt64 = 0
    /// Rising edges of OUT0 that a write found due but `advance(to:)` has not reported yet.
    private var unreportedEdges: UInt64 = 0

    public init() {
        // Port 0x61 starts at 0, so channel 2's gate starts low.
        channels[2].gate = false
    }

    /// One counter: its programming, its count and its latches.
    public struct Channel: Sendable, Equatable {
        /// Read/write modes: low byte only, high byte only, low then high.
        public enum Access: UInt8, Sendable {
            case lowByte = 1
            case highByte = 2
            case word = 3
        }
        enum Phase: Sendable, Equatable {
            /// No count written since the control word.
            case idle
            /// Modes 1 and 5: a count is written, waiting for a rising gate.
            case waitingForTrigger
            /// Counting from `loadTick`; while `frozenElapsed` is set the gate holds the counter.
            case counting
        }

        /// Mode 0-5 (6 and 7 are stored as 2 and 3, as the datasheet says they are).
        public private(set) var mode: UInt8 = 0
        public private(set) var access = Access.word
        public private(set) var bcd = false
        /// The last count written (0 means the maximum: 65536, or 10000 in BCD).
        public private(set) var countRegister: UInt16 = 0
        /// The gate input: always high for channels 0 and 1.
        public internal(set) var gate = true
        var phase = Phase.idle
        /// The initial count the counting element runs with (1...65536).
        var reload: UInt64 = 65_536
        var loadTick: UInt64 = 0
        var frozenElapsed: UInt64?
        /// Null count (status bit 6): a count was written and not yet loaded into the counter.
        var nullCount = true
        var writeHighNext = false
        var pendingLowByte: UInt8 = 0
        var readHighNext = false
        var latchedCount: UInt16?
        /// Whether the next latched byte is the high byte (word access).
        var latchHighNext = false
        var latchedStatus: UInt8?

        var modulus: UInt64 { bcd ? 10_000 : 65_536 }

        /// Ticks counted since the load, or nil when not counting.
        func elapsed(at tick: UInt64) -> UInt64? {
            guard phase == .counting else { return nil }
            if let frozenElapsed { return frozenElapsed }
            return tick >= loadTick ? tick - loadTick : 0
        }

        /// The counting element's value at `tick`, in binary (0...modulus-1; 0 reads as 65536).
        func count(at tick: UInt64) -> UInt64 {
            let n = reload
            guard let d = elapsed(at: tick) else { return n % modulus }
            switch mode {
            case 2: return (n - d % n) % modulus
            // The counter steps by two, reloading every half period (QEMU computes it this way).
            case 3: return (n - (d % n &* 2) % n) % modulus
            default: return (n + modulus - d % modulus) % modulus
            }
        }

        /// The level of OUT at `tick`.
        func output(at tick: UInt64) -> Bool {
            switch phase {
            case .idle: return mode != 0
            case .waitingForTrigger: return true
            case .counting: break
            }
            guard let d = elapsed(at: tick) else { return true }
            let n = reload
            // A low gate stops modes 2 and 3 with OUT high.
            if (mode == 2 || mode == 3) && !gate { return true }
            switch mode {
            case 0, 1: return d >= n
            case 2: return n < 2 || d % n != n - 1
            case 3: return d % n < (n + 1) / 2
            default: return d != n  // modes 4 and 5: low for the one clock at terminal count
            }
        }

        /// The first tick after `tick` at which OUT rises from counting (nil if it never does, or
        /// not until a write or the gate changes something).
        func nextRisingEdge(after tick: UInt64) -> UInt64? {
            guard phase == .counting, frozenElapsed == nil else { return nil }
            let n = reload
            let d = tick >= loadTick ? tick - loadTick : 0
            let edge: UInt64
            switch mode {
            case 0, 1: edge = n
            case 2, 3:
                let (next, overflow) = (d / n + 1).multipliedReportingOverflow(by: n)
                guard n >= 2, !overflow else { return nil }
                edge = next
            default: edge = n + 1
            }
            let (at, overflow) = loadTick.addingReportingOverflow(edge)
            guard !overflow, at > tick else { return nil }
            return at
        }

        /// Rising edges of OUT in ticks `(from, to]`.
        func risingEdges(from: UInt64, to: UInt64) -> UInt64 {
            guard to > from, let first = nextRisingEdge(after: from), first <= to else { return 0 }
            guard mode == 2 || mode == 3 else { return 1 }
            return (to - first) / reload + 1
        }

        /// The status byte: OUT, null count, read/write mode, mode, BCD.
        func status(at tick: UInt64) -> UInt8 {
            let loaded = phase == .counting && tick > loadTick
            return (output(at: tick) ? 0x80 : 0) | (nullCount && !loaded ? 0x40 : 0) | access.rawValue << 4 | mode << 1 | (bcd ? 1 : 0)
        }

        mutating func program(controlWord: UInt8, access: Access) {
            self.access = access
            let mode = controlWord >> 1 & 7
            self.mode = mode >= 6 ? mode - 4 : mode
            bcd = controlWord & 1 != 0
            phase = .idle
            frozenElapsed = nil
            nullCount = true
            writeHighNext = false
            readHighNext = false
            latchedCount = nil
            latchedStatus = nil
        }

        /// A complete count was written: load it (modes 1 and 5 wait for the gate instead).
        mutating func load(_ value: UInt16, tick: UInt64) {
            countRegister = value
            nullCount = true
            if mode == 1 || mode == 5 {
                if phase != .counting { phase = .waitingForTrigger }
                return  // takes effect at the next trigger
            }
            start(tick: tick)
            // Modes 0 and 4 pause and modes 2 and 3 wait while the gate is low.
            if !gate { frozenElapsed = 0 }
        }

        /// Loads the count register into the counting element and starts counting at `tick`.
        /// (In modes 2 and 3 the datasheet loads a new count at the end of the current period;
        /// as in QEMU it is loaded at once.)
        mutating func start(tick: UInt64) {
            var n = UInt64(countRegister)
            if bcd { n = Self.binary(fromBCD: countRegister) }
            reload = n == 0 ? modulus : n
            loadTick = tick
            frozenElapsed = nil
            phase = .counting
        }

        mutating func setGate(_ high: Bool, tick: UInt64) {
            guard high != gate else { return }
            gate = high
            switch (mode, high) {
            case (1, true), (5, true):
                if phase != .idle { start(tick: tick) }
            case (2, true), (3, true):
                if phase == .counting { start(tick: tick) }
            case (0, false), (4, false), (2, false), (3, false):
                if phase == .counting { frozenElapsed = elapsed(at: tick) }
            case (0, true), (4, true):
                if phase == .counting, let held = frozenElapsed {
                    loadTick = tick >= held ? tick - held : 0
                    frozenElapsed = nil
                }
            default: break
            }
        }

        mutating func latchCount(tick: UInt64) {
            guard latchedCount == nil else { return }  // a second latch before reading is ignored
            latchedCount = encoded(count(at: tick))
            latchHighNext = false
        }

        mutating func latchStatus(tick: UInt64) {
            if latchedStatus == nil { latchedStatus = status(at: tick) }
        }

        func encoded(_ count: UInt64) -> UInt16 {
            bcd ? Self.bcd(fromBinary: count % 10_000) : UInt16(truncatingIfNeeded: count)
        }

        mutating func read(tick: UInt64) -> UInt8 {
            if let status = latchedStatus {
                latchedStatus = nil
                return status
            }
            if let latched = latchedCount {
                let high: Bool
                switch access {
                case .lowByte: high = false
                case .highByte: high = true
                case .word: high = latchHighNext
                }
                if access == .word && !latchHighNext {
                    latchHighNext = true
                } else {
                    latchedCount = nil
                }
                return UInt8(truncatingIfNeeded: high ? latched >> 8 : latched)
            }
            let value = encoded(count(at: tick))
            switch access {
            case .lowByte: return UInt8(truncatingIfNeeded: value)
            case .highByte: return UInt8(truncatingIfNeeded: value >> 8)
            case .word:
                defer { readHighNext.toggle() }
                return UInt8(truncatingIfNeeded: readHighNext ? value >> 8 : value)
            }
        }

        mutating func write(_ byte: UInt8, tick: UInt64) {
            switch access {
            case .lowByte: load(UInt16(byte), tick: tick)
            case .highByte: load(UInt16(byte) << 8, tick: tick)
            case .word:
                if writeHighNext {
                    writeHighNext = false
                    load(UInt16(byte) << 8 | UInt16(pendingLowByte), tick: tick)
                } else {
                    writeHighNext = true
                    pendingLowByte = byte
                    // Mode 0: writing the first byte stops the count and sets OUT low.
                    if mode == 0 { phase = .idle }
                }
            }
        }

        /// Four BCD digits to binary; a nibble above 9 (undefined on the chip) counts as its value.
        static func binary(fromBCD value: UInt16) -> UInt64 {
            let v = UInt64(value)
            return ((v >> 12 & 0xF) * 1000 + (v >> 8 & 0xF) * 100 + (v >> 4 & 0xF) * 10 + (v & 0xF)) % 10_000
        }

        static func bcd(fromBinary value: UInt64) -> UInt16 {
            UInt16(value / 1000 % 10) << 12 | UInt16(value / 100 % 10) << 8 | UInt16(value / 10 % 10) << 4 | UInt16(value % 10)
        }
    }

    // MARK: Time

    /// Input clock ticks since the machine started: `now * 1193182 / 1e9`, in 128-bit arithmetic.
    public static func tick(at now: UInt64) -> UInt64 {
        let product = now.multipliedFullWidth(by: frequency)
        return UInt64(1_000_000_000).dividingFullWidth(product).quotient
    }

    /// The first guest nanosecond at which `tick(at:)` reaches `tick` (nil past UInt64's range).
    public static func time(ofTick tick: UInt64) -> UInt64? {
        let product = tick.multipliedFullWidth(by: 1_000_000_000)
        guard product.high < frequency else { return nil }
        let (quotient, remainder) = frequency.dividingFullWidth(product)
        if remainder == 0 { return quotient }
        return quotient == .max ? nil : quotient + 1
    }

    // MARK: Ports 0x40-0x43

    /// Reads port offset 0-3 (the control register reads 0, as in QEMU).
    public mutating func read(offset: UInt64, now: UInt64) -> UInt8 {
        guard offset < 3 else { return 0 }
        return channels[Int(offset)].read(tick: Self.tick(at: now))
    }

    /// Writes port offset 0-3.
    public mutating func write(offset: UInt64, value: UInt8, now: UInt64) {
        let tick = Self.tick(at: now)
        guard offset <= 3 else { return }
        if offset < 3 {
            if offset == 0 { settleChannel0(tick: tick) }
            channels[Int(offset)].write(value, tick: tick)
            return
        }
        let select = value >> 6
        if select == Self.readBackSelect {
            for index in 0..<3 where value & (2 << index) != 0 {
                // Status first: with both latched, the status is read before the count.
                if value & Self.readBackNoStatus == 0 { channels[index].latchStatus(tick: tick) }
                if value & Self.readBackNoCount == 0 { channels[index].latchCount(tick: tick) }
            }
            return
        }
        let index = Int(select)
        guard let access = Channel.Access(rawValue: value >> 4 & 3) else {
            channels[index].latchCount(tick: tick)
            return
        }
        if index == 0 { settleChannel0(tick: tick) }
        channels[index].program(controlWord: value, access: access)
    }

    // MARK: Port 0x61

    /// Reads port 0x61: stored gate/speaker/enable bits, the refresh toggle and OUT2.
    public func readPortB(now: UInt64) -> UInt8 {
        let refresh = (now / Self.refreshPeriodNanoseconds) & 1 != 0
        let out2 = channels[2].output(at: Self.tick(at: now))
        return portB & Self.portBWritable | (refresh ? Self.portBRefresh : 0) | (out2 ? Self.portBOut2 : 0)
    }

    /// Writes port 0x61: bit 0 is channel 2's gate, bit 1 the speaker data.
    public mutating func writePortB(_ value: UInt8, now: UInt64) {
        portB = value & Self.portBWritable
        channels[2].setGate(value & Self.portBGate2 != 0, tick: Self.tick(at: now))
    }

    /// The speaker sounds channel 2's OUT while both port 0x61 bits 0 and 1 are set.
    public var speakerEnabled: Bool { portB & 0x03 == 0x03 }

    // MARK: IRQ 0

    /// The level of OUT0 (and so of IRQ 0) at `now`.
    public func irq0Level(at now: UInt64) -> Bool { channels[0].output(at: Self.tick(at: now)) }

    /// The guest time of the next rising edge of OUT0 after `now`, for the machine's timer (nil if
    /// channel 0 will not raise OUT again without a write). Call `advance(to:)` first.
    public func nextIRQ0Edge(after now: UInt64) -> UInt64? {
        guard let edge = channels[0].nextRisingEdge(after: max(Self.tick(at: now), reportedTick)) else { return nil }
        return Self.time(ofTick: edge)
    }

    /// Counts the rising edges of OUT0 since the last call, up to `now`: the wrapper pulses IRQ 0
    /// once if there were any. Edges the guest causes directly by reprogramming (a control word
    /// that sets OUT high) are not counted, as in QEMU: only terminal counts interrupt.
    public mutating func advance(to now: UInt64) -> UInt64 {
        let tick = Self.tick(at: now)
        settleChannel0(tick: tick)
        defer { unreportedEdges = 0 }
        return unreportedEdges
    }

    /// Moves edges due by `tick` into `unreportedEdges` before channel 0 changes, so that a
    /// reprogramming write does not lose an interrupt already due.
    private mutating func settleChannel0(tick: UInt64) {
        guard tick > reportedTick else { return }
        unreportedEdges &+= channels[0].risingEdges(from: reportedTick, to: tick)
        reportedTick = tick
    }
}
