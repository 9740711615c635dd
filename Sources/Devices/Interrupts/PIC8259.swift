/// The register model of one Intel 8259A programmable interrupt controller, as Linux drives it
/// (arch/x86/kernel/i8259.c) and as the datasheet (Intel 231468) describes it. QEMU's
/// hw/intc/i8259.c was the reference for the corner cases.
///
/// A pure value: tests drive it register by register. `DualPIC` wires two of them into the PC's
/// master/slave pair. Every guest write is accepted; no value can make it trap.
public struct PIC8259: Sendable, Equatable {
    /// Which chip of the pair this is; only the master has special fully nested mode.
    public enum Role: Sendable, Equatable {
        case master
        case slave
    }

    /// The command port (A0 = 0): ICW1, OCW2, OCW3 writes; IRR or ISR reads.
    public static let commandOffset: UInt64 = 0
    /// The data port (A0 = 1): ICW2-ICW4 during initialization, then OCW1 (the mask).
    public static let dataOffset: UInt64 = 1

    /// ICW1 marker bit (D4): a command-port write with it set starts initialization.
    static let icw1Marker: UInt8 = 0x10
    /// ICW1 bits: ICW4 needed, single (no cascade), level-triggered mode (LTIM).
    static let icw1NeedsICW4: UInt8 = 0x01, icw1Single: UInt8 = 0x02, icw1LevelTriggered: UInt8 = 0x08
    /// OCW3 marker bit (D3, with D4 clear); OCW2 has both clear.
    static let ocw3Marker: UInt8 = 0x08
    /// OCW3 bits: read register (RR) with its select (RIS: 1 = ISR), poll, special mask (ESMM/SMM).
    static let ocw3ReadISR: UInt8 = 0x01, ocw3ReadRegister: UInt8 = 0x02, ocw3Poll: UInt8 = 0x04
    static let ocw3SpecialMask: UInt8 = 0x20, ocw3SetSpecialMask: UInt8 = 0x40
    /// ICW4 bits: 8086 mode (µPM), automatic EOI, special fully nested mode.
    static let icw4Mode8086: UInt8 = 0x01, icw4AutoEOI: UInt8 = 0x02, icw4SpecialFullyNested: UInt8 = 0x10
    /// A poll read's "interrupt present" bit; the low three bits give the level.
    public static let pollInterruptBit: UInt8 = 0x80

    /// Where the data port is in the ICW2-ICW4 sequence.
    enum InitializationStep: Sendable, Equatable {
        case done
        case expectingICW2
        case expectingICW3
        case expectingICW4
    }

    public let role: Role
    /// OCW1: the interrupt mask register.
    public private(set) var interruptMask: UInt8 = 0
    /// The in-service register: levels acknowledged and not yet ended by an EOI.
    public private(set) var inService: UInt8 = 0
    /// The levels of the eight IR input pins, as the devices drive them.
    public private(set) var inputLevels: UInt8 = 0
    /// Requests latched by a rising edge on an edge-triggered input; cleared when acknowledged.
    private var edgeRequests: UInt8 = 0
    /// The chipset's ELCR bits for this chip (1 = level-triggered input); set by `DualPIC`.
    public private(set) var edgeLevelControl: UInt8 = 0
    /// ICW2's vector base (its low three bits are the level in 8086 mode).
    public private(set) var vectorBase: UInt8 = 0
    /// ICW3 as written: the inputs with slaves (master) or the slave's ID (slave). Recorded only:
    /// the PC's cascade is wired on IRQ 2 whatever the guest says, as in QEMU.
    public private(set) var cascadeConfiguration: UInt8 = 0
    /// ICW1.SNGL: no cascade, so no ICW3 is expected (and the master does not consult its slave).
    public private(set) var singleMode = false
    /// ICW1.LTIM: every input level-triggered, whatever the ELCR says.
    public private(set) var levelTriggeredMode = false
    /// ICW4.µPM. Only 8086 vectors are produced; the 8080 CALL sequence is not modelled.
    public private(set) var mode8086 = false
    /// ICW4.AEOI: acknowledging does not set the in-service bit.
    public private(set) var autoEOI = false
    /// ICW4.SFNM (master only): a slave in service does not block higher slave requests.
    public private(set) var specialFullyNested = false
    /// OCW2 "rotate in automatic EOI mode".
    public private(set) var rotateOnAutoEOI = false
    /// The level with the highest priority (0 until a rotation); priorities run upwards from it.
    public private(set) var highestPriorityLevel: UInt8 = 0
    /// OCW3.RIS: the command port reads the ISR instead of the IRR.
    public private(set) var readsInService = false
    /// OCW3.P: the next read is a poll (it acknowledges the highest request).
    public private(set) var pollPending = false
    /// OCW3.SMM: masked in-service levels stop inhibiting lower priorities.
    public private(set) var specialMaskMode = false
    private(set) var initializationStep = InitializationStep.done
    private var expectsICW4 = false

    public init(role: Role) { self.role = role }

    /// The inputs that are level-triggered, from ICW1.LTIM or the ELCR.
    public var levelTriggered: UInt8 { levelTriggeredMode ? 0xFF : edgeLevelControl }

    /// The interrupt request register: latched edges, and the current level of level inputs.
    public var interruptRequests: UInt8 { edgeRequests & ~levelTriggered | inputLevels & levelTriggered }

    /// The INT output: an unmasked request whose priority beats every level in service.
    public var interruptRequested: Bool { pendingLevel != nil }

    /// The vector a spurious acknowledge returns: the base with level 7.
    public var spuriousVector: UInt8 { vectorBase | 7 }

    /// The vector for `level` (0-7).
    public func vector(forLevel level: Int) -> UInt8 { vectorBase | UInt8(truncatingIfNeeded: level & 7) }

    /// The rank (0 = highest) of the best level set in `levels` under the current rotation, or nil.
    private func bestRank(in levels: UInt8) -> Int? {
        guard levels != 0 else { return nil }
        for rank in 0..<8 where levels & Self.bit(rank &+ Int(highestPriorityLevel)) != 0 { return rank }
        return nil
    }

    private static func bit(_ level: Int) -> UInt8 { 1 << UInt8(truncatingIfNeeded: level & 7) }

    /// The level the chip would deliver now, if any (the priority resolver).
    public var pendingLevel: Int? {
        guard let requestRank = bestRank(in: interruptRequests & ~interruptMask) else { return nil }
        var blocking = inService
        if specialMaskMode { blocking &= ~interruptMask }
        // In special fully nested mode the cascade input's own in-service bit does not block a
        // higher-priority request from the same slave.
        if specialFullyNested && role == .master { blocking &= ~Self.bit(DualPIC.cascadeIRQ) }
        if let serviceRank = bestRank(in: blocking), serviceRank <= requestRank { return nil }
        return (requestRank &+ Int(highestPriorityLevel)) & 7
    }

    /// Drives IR input `pin` (0-7). A rising edge latches a request on an edge-triggered input;
    /// a level-triggered input's request simply follows the pin. Other pins are ignored.
    public mutating func setInput(_ pin: Int, high: Bool) {
        guard (0..<8).contains(pin) else { return }
        let bit = Self.bit(pin)
        if high {
            if inputLevels & bit == 0 && levelTriggered & bit == 0 { edgeRequests |= bit }
            inputLevels |= bit
        } else {
            inputLevels &= ~bit
        }
    }

    /// Sets the ELCR bits for this chip (the caller masks the bits the chipset reserves).
    public mutating func setEdgeLevelControl(_ value: UInt8) {
        edgeLevelControl = value
        // A level input's request follows its pin, so an edge latched earlier no longer counts.
        edgeRequests &= ~levelTriggered
    }

    /// The INTA cycle on this chip alone: the level delivered (its ISR bit now set unless in
    /// automatic EOI mode), or nil when nothing is requested any more (a spurious interrupt, which
    /// leaves the ISR alone).
    public mutating func acknowledgeLevel() -> Int? {
        guard let level = pendingLevel else { return nil }
        acknowledge(level: level)
        return level
    }

    /// The INTA cycle of a chip on its own: the vector, base + 7 when spurious.
    public mutating func acknowledge() -> UInt8 {
        guard let level = acknowledgeLevel() else { return spuriousVector }
        return vector(forLevel: level)
    }

    private mutating func acknowledge(level: Int) {
        let bit = Self.bit(level)
        if autoEOI {
            if rotateOnAutoEOI { highestPriorityLevel = UInt8(truncatingIfNeeded: (level &+ 1) & 7) }
        } else {
            inService |= bit
        }
        // Only an edge latch is consumed; a level input keeps requesting while its pin is high.
        edgeRequests &= ~bit
    }

    /// Reads the command (offset 0) or data (offset 1) port; only A0 is decoded.
    /// After an OCW3 poll command either port returns the poll word and acknowledges.
    public mutating func read(offset: UInt64) -> UInt8 {
        if pollPending {
            pollPending = false
            guard let level = acknowledgeLevel() else { return 0 }
            return Self.pollInterruptBit | UInt8(truncatingIfNeeded: level)
        }
        if offset & 1 == Self.dataOffset { return interruptMask }
        return readsInService ? inService : interruptRequests
    }

    /// Writes the command (offset 0) or data (offset 1) port; only A0 is decoded.
    public mutating func write(offset: UInt64, value: UInt8) {
        if offset & 1 == Self.commandOffset {
            if value & Self.icw1Marker != 0 {
                startInitialization(icw1: value)
            } else if value & Self.ocw3Marker != 0 {
                writeOCW3(value)
            } else {
                writeOCW2(value)
            }
            return
        }
        switch initializationStep {
        case .done:
            interruptMask = value
        case .expectingICW2:
            vectorBase = value & 0xF8
            initializationStep = singleMode ? (expectsICW4 ? .expectingICW4 : .done) : .expectingICW3
        case .expectingICW3:
            cascadeConfiguration = value
            initializationStep = expectsICW4 ? .expectingICW4 : .done
        case .expectingICW4:
            mode8086 = value & Self.icw4Mode8086 != 0
            autoEOI = value & Self.icw4AutoEOI != 0
            specialFullyNested = value & Self.icw4SpecialFullyNested != 0
            initializationStep = .done
        }
    }

    /// ICW1: the datasheet's initialization clears the mask, the in-service register and the edge
    /// sense circuit (an input must rise again to request), resets the priorities and selects the
    /// IRR for status reads. The ELCR and the input pins belong to the outside world and stay.
    private mutating func startInitialization(icw1 value: UInt8) {
        interruptMask = 0
        inService = 0
        edgeRequests = 0
        highestPriorityLevel = 0
        readsInService = false
        pollPending = false
        specialMaskMode = false
        rotateOnAutoEOI = false
        // Without ICW4 its functions are all zero.
        autoEOI = false
        specialFullyNested = false
        mode8086 = false
        expectsICW4 = value & Self.icw1NeedsICW4 != 0
        singleMode = value & Self.icw1Single != 0
        levelTriggeredMode = value & Self.icw1LevelTriggered != 0
        initializationStep = .expectingICW2
    }

    private mutating func writeOCW3(_ value: UInt8) {
        if value & Self.ocw3Poll != 0 { pollPending = true }
        if value & Self.ocw3ReadRegister != 0 { readsInService = value & Self.ocw3ReadISR != 0 }
        if value & Self.ocw3SetSpecialMask != 0 { specialMaskMode = value & Self.ocw3SpecialMask != 0 }
    }

    /// OCW2: bits 7-5 are R, SL, EOI; bits 2-0 the level for the specific forms.
    private mutating func writeOCW2(_ value: UInt8) {
        let level = Int(value & 7)
        switch value >> 5 {
        case 0b000, 0b100:  // clear / set rotate in automatic EOI mode
            rotateOnAutoEOI = value & 0x80 != 0
        case 0b001, 0b101:  // non-specific EOI, optionally rotating
            // Ends the highest-priority level in service (the datasheet's "last level acknowledged"
            // in fully nested mode).
            guard let rank = bestRank(in: inService) else { return }
            let ended = (rank &+ Int(highestPriorityLevel)) & 7
            inService &= ~Self.bit(ended)
            if value & 0x80 != 0 { highestPriorityLevel = UInt8((ended &+ 1) & 7) }
        case 0b011:  // specific EOI
            inService &= ~Self.bit(level)
        case 0b110:  // set priority: `level` becomes the lowest
            highestPriorityLevel = UInt8((level &+ 1) & 7)
        case 0b111:  // rotate on specific EOI
            inService &= ~Self.bit(level)
            highestPriorityLevel = UInt8((level &+ 1) & 7)
        default:  // 0b010: no operation
            break
        }
    }
}
