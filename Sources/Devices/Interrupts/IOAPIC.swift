/// An interrupt message from the I/O APIC, for the machine to hand to the LAPIC(s) that
/// `destination` selects (`LocalAPIC.matchesDestination`, then `accept`, `nmiPending`, or the
/// PIC for ExtINT).
public struct IOAPICDelivery: Sendable, Equatable {
    public var pin: Int
    public var vector: UInt8
    public var deliveryMode: APICDeliveryMode
    /// Bit 11: `destination` is a logical mask rather than an APIC ID.
    public var logicalDestination: Bool
    public var destination: UInt8
    /// Level-triggered: the LAPIC sets TMR, and its EOI must come back through
    /// `IOAPIC.endOfInterrupt(vector:)`.
    public var levelTriggered: Bool

    public init(pin: Int, vector: UInt8, deliveryMode: APICDeliveryMode, logicalDestination: Bool, destination: UInt8, levelTriggered: Bool) {
        self.pin = pin
        self.vector = vector
        self.deliveryMode = deliveryMode
        self.logicalDestination = logicalDestination
        self.destination = destination
        self.levelTriggered = levelTriggered
    }
}

/// The register model of an 82093AA-style I/O APIC with 24 pins (82093AA datasheet; Linux's
/// arch/x86/kernel/apic/io_apic.c), at 0xFEC00000 on a PC.
///
/// Two MMIO registers, IOREGSEL (offset 0x00) and IOWIN (0x10), reach the indexed registers: ID
/// (0), version (1), arbitration (2) and the redirection table (0x10 + 2 × pin: low dword, then
/// high). A pure value: `setLevel` and `endOfInterrupt` return the messages to deliver instead of
/// delivering them, so an interrupt storm cannot recurse.
public struct IOAPIC: Sendable, Equatable {
    /// MMIO offsets.
    public static let registerSelect: UInt64 = 0x00
    public static let registerWindow: UInt64 = 0x10
    /// Indexed registers.
    public static let idIndex: UInt8 = 0, versionIndex: UInt8 = 1, arbitrationIndex: UInt8 = 2
    public static let redirectionTableIndex: UInt8 = 0x10
    public static let pinCount = 24
    public static let defaultBase: UInt64 = 0xFEC0_0000
    /// Version 0x11, maximum redirection entry 23.
    public static let versionValue: UInt32 = 0x0017_0011

    // Redirection entry bits (82093AA 3.2.4).
    static let deliveryStatus: UInt64 = 1 << 12
    static let polarityLow: UInt64 = 1 << 13
    static let remoteIRR: UInt64 = 1 << 14
    static let levelTrigger: UInt64 = 1 << 15
    static let masked: UInt64 = 1 << 16
    /// Writable: vector, delivery mode, destination mode, polarity, trigger, mask, destination
    /// (bits 56-63). Delivery status and remote IRR are read-only.
    static let writableLow: UInt64 = 0x0001_AFFF
    static let writableHigh: UInt64 = 0xFF00_0000 << 32

    /// IOREGSEL.
    public internal(set) var selectedIndex: UInt8 = 0
    /// The ID register (the ID in bits 24-27).
    public internal(set) var idRegister: UInt32 = 0
    /// The 24 redirection entries; all masked at reset.
    public internal(set) var redirection = [UInt64](repeating: masked, count: pinCount)
    /// Which input lines are asserted, one bit per pin.
    public internal(set) var lineLevels: UInt32 = 0

    public init(id: UInt8 = 0) { idRegister = UInt32(id & 0xF) << 24 }

    /// Reads IOREGSEL or IOWIN; other offsets read 0.
    public func read(offset: UInt64) -> UInt32 {
        switch offset {
        case Self.registerSelect: return UInt32(selectedIndex)
        case Self.registerWindow: return readIndexed(selectedIndex)
        default: return 0
        }
    }

    /// Writes IOREGSEL or IOWIN; other offsets are ignored. Returns a message when the write
    /// makes a level-triggered pin deliverable (unmasking it while its line is asserted).
    public mutating func write(offset: UInt64, value: UInt32) -> IOAPICDelivery? {
        switch offset {
        case Self.registerSelect:
            selectedIndex = UInt8(truncatingIfNeeded: value)
            return nil
        case Self.registerWindow:
            return writeIndexed(selectedIndex, value: value)
        default:
            return nil
        }
    }

    /// Out-of-range indices read 0.
    func readIndexed(_ index: UInt8) -> UInt32 {
        switch index {
        case Self.idIndex: return idRegister
        case Self.versionIndex: return Self.versionValue
        case Self.arbitrationIndex: return idRegister  // The arbitration ID is the APIC ID after reset.
        default:
            guard let (pin, high) = Self.redirectionSlot(index) else { return 0 }
            let entry = redirection[pin]
            return UInt32(truncatingIfNeeded: high ? entry >> 32 : entry)
        }
    }

    mutating func writeIndexed(_ index: UInt8, value: UInt32) -> IOAPICDelivery? {
        if index == Self.idIndex {
            idRegister = value & 0x0F00_0000
            return nil
        }
        guard let (pin, high) = Self.redirectionSlot(index) else { return nil }  // Read-only or absent.
        var entry = redirection[pin]
        if high {
            entry = entry & ~Self.writableHigh | UInt64(value) << 32 & Self.writableHigh
        } else {
            entry = entry & ~Self.writableLow | UInt64(value) & Self.writableLow
            // Remote IRR means nothing for an edge pin (KVM clears it the same way).
            if entry & Self.levelTrigger == 0 { entry &= ~Self.remoteIRR }
        }
        redirection[pin] = entry
        return deliverIfLevelAsserted(pin)
    }

    /// The pin and half that an index in the redirection table addresses.
    static func redirectionSlot(_ index: UInt8) -> (pin: Int, high: Bool)? {
        guard index >= redirectionTableIndex else { return nil }
        let pin = Int(index - redirectionTableIndex) / 2
        guard pin < pinCount else { return nil }
        return (pin, index & 1 == 1)
    }

    /// Sets input `pin`'s line (`high` = asserted; the polarity bit describes the wire, which the
    /// device models do not have, so it is stored but not applied, as in KVM and QEMU). An edge pin
    /// delivers on a rising edge while unmasked (a masked edge is lost); a level pin delivers
    /// while asserted, unmasked and its remote IRR clear, and sets remote IRR. Pins out of range
    /// are ignored.
    public mutating func setLevel(pin: Int, high: Bool) -> IOAPICDelivery? {
        guard (0..<Self.pinCount).contains(pin) else { return nil }
        let bit: UInt32 = 1 << UInt32(pin)
        let wasHigh = lineLevels & bit != 0
        lineLevels = high ? lineLevels | bit : lineLevels & ~bit
        guard high else { return nil }
        if isLevelTriggered(redirection[pin]) { return deliverIfLevelAsserted(pin) }
        guard !wasHigh, redirection[pin] & Self.masked == 0 else { return nil }
        return message(pin)
    }

    /// The LAPIC's EOI broadcast for `vector`: clears remote IRR on the level pins with that
    /// vector, and delivers again those whose line is still asserted.
    public mutating func endOfInterrupt(vector: UInt8) -> [IOAPICDelivery] {
        var deliveries: [IOAPICDelivery] = []
        for pin in 0..<Self.pinCount {
            let entry = redirection[pin]
            guard UInt8(truncatingIfNeeded: entry) == vector, entry & Self.remoteIRR != 0 else { continue }
            redirection[pin] = entry & ~Self.remoteIRR
            if let delivery = deliverIfLevelAsserted(pin) { deliveries.append(delivery) }
        }
        return deliveries
    }

    /// No LAPIC took the message from `pin` (`LocalAPIC.receive` returned false everywhere):
    /// clears its remote IRR, as KVM's ioapic_service sets it only on a delivery, so the pin is
    /// not stuck waiting for an EOI that cannot come. Nothing is delivered again here.
    public mutating func deliveryRejected(pin: Int) {
        guard (0..<Self.pinCount).contains(pin) else { return }
        redirection[pin] &= ~Self.remoteIRR
    }

    /// Level semantics apply to fixed and lowest-priority entries only: SMI, NMI, INIT and ExtINT
    /// are always edge (82093AA 3.2.4, "Delivery Mode").
    func isLevelTriggered(_ entry: UInt64) -> Bool {
        guard entry & Self.levelTrigger != 0 else { return false }
        let mode = APICDeliveryMode(bits: UInt32(truncatingIfNeeded: entry))
        return mode == .fixed || mode == .lowestPriority
    }

    private mutating func deliverIfLevelAsserted(_ pin: Int) -> IOAPICDelivery? {
        let entry = redirection[pin]
        guard isLevelTriggered(entry), lineLevels & 1 << UInt32(pin) != 0, entry & (Self.masked | Self.remoteIRR) == 0 else {
            return nil
        }
        redirection[pin] = entry | Self.remoteIRR
        return message(pin)
    }

    private func message(_ pin: Int) -> IOAPICDelivery {
        let entry = redirection[pin]
        return IOAPICDelivery(
            pin: pin, vector: UInt8(truncatingIfNeeded: entry), deliveryMode: APICDeliveryMode(bits: UInt32(truncatingIfNeeded: entry)),
            logicalDestination: entry & 1 << 11 != 0, destination: UInt8(truncatingIfNeeded: entry >> 56),
            levelTriggered: isLevelTriggered(entry))
    }
}
