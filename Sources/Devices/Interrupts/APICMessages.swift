/// The delivery mode of an APIC interrupt message: bits 8-10 of an ICR, LVT or I/O APIC
/// redirection entry (SDM vol. 3, 11.6.1; 82093AA datasheet, 3.2.4).
public enum APICDeliveryMode: UInt8, Sendable, Equatable {
    case fixed = 0
    case lowestPriority = 1
    case smi = 2
    /// 011b, reserved.
    case reserved3 = 3
    case nmi = 4
    case initialize = 5
    /// Start-up (SIPI) in the ICR; reserved in LVTs and redirection entries.
    case startup = 6
    case extINT = 7

    init(bits value: UInt32) { self = APICDeliveryMode(rawValue: UInt8(truncatingIfNeeded: value >> 8) & 7) ?? .fixed }
}

/// The destination shorthand of an ICR, bits 18-19.
public enum APICDestinationShorthand: UInt8, Sendable, Equatable {
    case none = 0
    case this = 1
    case allIncludingSelf = 2
    case allExcludingSelf = 3
}

/// An interprocessor interrupt, decoded from a write to the ICR's low half.
public struct ICRCommand: Sendable, Equatable {
    public var vector: UInt8
    public var deliveryMode: APICDeliveryMode
    /// Bit 11: the destination is a logical mask (matched against LDR/DFR), not an APIC ID.
    public var logicalDestination: Bool
    /// Bit 14: assert (1) or de-assert (0); only an INIT de-assert uses 0.
    public var assert: Bool
    /// Bit 15: level-triggered.
    public var levelTriggered: Bool
    public var shorthand: APICDestinationShorthand
    /// ICR high bits 24-31.
    public var destination: UInt8

    public init(low: UInt32, high: UInt32) {
        vector = UInt8(truncatingIfNeeded: low)
        deliveryMode = APICDeliveryMode(bits: low)
        logicalDestination = low & 1 << 11 != 0
        assert = low & 1 << 14 != 0
        levelTriggered = low & 1 << 15 != 0
        shorthand = APICDestinationShorthand(rawValue: UInt8(truncatingIfNeeded: low >> 18) & 3) ?? .none
        destination = UInt8(truncatingIfNeeded: high >> 24)
    }
}

/// What a write to the LAPIC asks of the CPU side or the machine. After any write the CPU side
/// should look at `pendingVector()` and `nmiPending` again: a write can make an interrupt
/// deliverable (EOI, TPR, a self-IPI) without an effect of its own.
public enum APICWriteEffect: Sendable, Equatable {
    case none
    /// An EOI retired `vector` from the ISR. When `level` (its TMR bit was set), the machine
    /// broadcasts the EOI to the I/O APIC (`IOAPIC.endOfInterrupt(vector:)`).
    case eoi(vector: UInt8, level: Bool)
    /// An IPI for the machine to route. Fixed and NMI IPIs come here only when they may select
    /// APICs other than this one, and then the part aimed at this APIC is already delivered (the
    /// vector into IRR, NMI into `nmiPending`): deliver to the others only. A lowest-priority IPI
    /// that selects this APIC is delivered here and not returned. INIT, SIPI, SMI and ExtINT IPIs
    /// are always returned, whatever their destination (INIT and SIPI are the SMP bring-up).
    case sendIPI(ICRCommand)
    /// The timer's deadline changed (armed, disarmed, re-armed, mode or divide changed): the
    /// vCPU should read `nextTimerDeadline()` again.
    case timerChanged
}
