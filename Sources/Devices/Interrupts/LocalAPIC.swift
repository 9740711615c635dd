/// The register model of one vCPU's local APIC in xAPIC mode (SDM vol. 3, chapter 11, "Advanced
/// Programmable Interrupt Controller"), as Linux drives it (arch/x86/kernel/apic/apic.c).
///
/// A pure value owned by its vCPU: the CPU side handles accesses to the 4 KiB page at
/// `baseAddress` before the MMIO bus, passing offsets within the page and the guest time `now`
/// (nanoseconds). It asks `pendingVector()` whether to interrupt, `acknowledge()` as INTA, and
/// `nextTimerDeadline()` when to call `fireTimer(now:)`. Every input is a guest's to choose, so every
/// path is total and overflow-safe.
public struct LocalAPIC: Sendable, Equatable {
    // Register offsets within the page (SDM table 11-1). Each register sits at a 16-byte boundary.
    public static let idRegister: UInt64 = 0x20
    public static let versionRegister: UInt64 = 0x30
    public static let taskPriorityRegister: UInt64 = 0x80
    public static let arbitrationPriorityRegister: UInt64 = 0x90
    public static let processorPriorityRegister: UInt64 = 0xA0
    public static let eoiRegister: UInt64 = 0xB0
    public static let remoteReadRegister: UInt64 = 0xC0
    public static let logicalDestinationRegister: UInt64 = 0xD0
    public static let destinationFormatRegister: UInt64 = 0xE0
    public static let spuriousVectorRegister: UInt64 = 0xF0
    /// In-service, trigger-mode and request registers: eight 32-bit registers each.
    public static let inServiceRegisters: UInt64 = 0x100
    public static let triggerModeRegisters: UInt64 = 0x180
    public static let interruptRequestRegisters: UInt64 = 0x200
    public static let errorStatusRegister: UInt64 = 0x280
    public static let lvtCMCIRegister: UInt64 = 0x2F0
    public static let interruptCommandLow: UInt64 = 0x300
    public static let interruptCommandHigh: UInt64 = 0x310
    public static let lvtTimerRegister: UInt64 = 0x320
    public static let lvtThermalRegister: UInt64 = 0x330
    public static let lvtPerformanceRegister: UInt64 = 0x340
    public static let lvtLINT0Register: UInt64 = 0x350
    public static let lvtLINT1Register: UInt64 = 0x360
    public static let lvtErrorRegister: UInt64 = 0x370
    public static let timerInitialCountRegister: UInt64 = 0x380
    public static let timerCurrentCountRegister: UInt64 = 0x390
    public static let timerDivideRegister: UInt64 = 0x3E0
    /// The size of the register page.
    public static let pageSize: UInt64 = 0x1000

    /// Where the page is after reset (IA32_APIC_BASE bits 12 and up).
    public static let defaultBase: UInt64 = 0xFEE0_0000
    /// IA32_APIC_BASE: BSP flag (bit 8), x2APIC enable (bit 10, not offered), global enable (bit 11).
    public static let baseMSR: UInt32 = 0x1B
    static let baseBootstrapProcessor: UInt64 = 1 << 8
    static let baseGlobalEnable: UInt64 = 1 << 11
    /// IA32_TSC_DEADLINE.
    public static let tscDeadlineMSR: UInt32 = 0x6E0
    /// Version 0x14 (an integrated xAPIC), max LVT entry 5 (timer, thermal, perf, LINT0, LINT1,
    /// error), no EOI-broadcast suppression (bit 24 clear).
    public static let versionValue: UInt32 = 0x0005_0014

    /// ESR bits (SDM 11.5.3): an ICR write sent a vector below 16; a vector below 16 arrived or
    /// was generated locally; an access hit an unimplemented register.
    public static let esrSendIllegalVector: UInt32 = 1 << 5
    public static let esrReceivedIllegalVector: UInt32 = 1 << 6
    public static let esrIllegalRegisterAddress: UInt32 = 1 << 7

    /// LVT bits: the mask (16) and the timer mode (17-18).
    static let lvtMasked: UInt32 = 1 << 16
    /// Writable LVT bits (SDM figure 11-8): vector, delivery mode, polarity, trigger, mask, timer
    /// mode; delivery status (12) and remote IRR (14) read 0 because delivery is immediate.
    static let lvtTimerWritable: UInt32 = 0x0007_00FF
    static let lvtDeliveryModeWritable: UInt32 = 0x0001_07FF  // thermal, perf, CMCI
    static let lvtLINTWritable: UInt32 = 0x0001_A7FF
    static let lvtErrorWritable: UInt32 = 0x0001_00FF
    /// SVR: vector (0-7), APIC software enable (8), focus processor checking (9).
    static let svrWritable: UInt32 = 0x3FF
    static let svrSoftwareEnable: UInt32 = 1 << 8
    /// ICR low bits kept: vector, delivery mode, destination mode, level, trigger, shorthand.
    /// Delivery status (bit 12) always reads 0: the IPI leaves at once.
    static let icrLowWritable: UInt32 = 0x000C_CFFF
    /// The 8-bit IDs and destinations in bits 24-31 of ID, LDR and ICR high.
    static let highByte: UInt32 = 0xFF00_0000
    static let nanosecondsPerSecond: UInt64 = 1_000_000_000

    /// How the LAPIC timer counts (LVT timer bits 17-18; the reserved value 3 counts as one-shot).
    public enum TimerMode: Sendable, Equatable {
        case oneShot, periodic, tscDeadline
    }

    // Configuration.
    /// The clock the timer's divider is fed with (the "bus clock"), in Hz.
    public let timerFrequencyHz: UInt64
    /// The guest TSC's frequency, for TSC-deadline mode: guest TSC = now × tscFrequencyHz / 10^9.
    public let tscFrequencyHz: UInt64
    /// The shortest period the periodic timer runs at (KVM's `min_timer_period_us` does the same):
    /// a guest asking for a 1 ns period would otherwise cost an exit per nanosecond.
    public let minimumPeriodNanoseconds: UInt64

    // Registers.
    public internal(set) var apicBase: UInt64
    /// The ID register (the ID in bits 24-31).
    public internal(set) var idRegister: UInt32
    public internal(set) var taskPriority: UInt32 = 0
    public internal(set) var logicalDestination: UInt32 = 0
    public internal(set) var destinationFormat: UInt32 = 0xFFFF_FFFF
    public internal(set) var spuriousVector: UInt32 = 0xFF
    public internal(set) var irr = VectorBitmap()
    public internal(set) var isr = VectorBitmap()
    public internal(set) var tmr = VectorBitmap()
    /// What ESR reads: the errors latched by the last write to it.
    public internal(set) var errorStatus: UInt32 = 0
    /// Errors seen since the last write to ESR.
    public internal(set) var pendingErrors: UInt32 = 0
    public internal(set) var interruptCommandLow: UInt32 = 0
    public internal(set) var interruptCommandHigh: UInt32 = 0
    public internal(set) var lvtTimer: UInt32 = lvtMasked
    public internal(set) var lvtThermal: UInt32 = lvtMasked
    public internal(set) var lvtPerformance: UInt32 = lvtMasked
    public internal(set) var lvtLINT0: UInt32 = lvtMasked
    public internal(set) var lvtLINT1: UInt32 = lvtMasked
    public internal(set) var lvtError: UInt32 = lvtMasked
    public internal(set) var lvtCMCI: UInt32 = lvtMasked
    public internal(set) var timerInitialCount: UInt32 = 0
    public internal(set) var timerDivideConfiguration: UInt32 = 0
    /// An NMI delivered to this CPU (an NMI IPI, LINT1), not yet taken by the CPU side.
    public internal(set) var nmiPending = false

    // Timer state: the count was `timerCountAtLoad` at `timerLoadedAt`; it reaches zero (or the TSC
    // deadline passes) at `timerDeadline`, nil when the timer is not armed.
    var timerLoadedAt: UInt64 = 0
    var timerCountAtLoad: UInt32 = 0
    var timerDeadline: UInt64?
    /// IA32_TSC_DEADLINE as written; 0 when disarmed or fired.
    var tscDeadlineValue: UInt64 = 0
    var lint0High = false, lint1High = false

    /// A LAPIC at power-up (SDM 11.4.7.1: SVR 0xFF, every LVT masked, DFR all ones).
    ///
    /// `virtualWire` leaves it the way PC firmware hands the BSP to an OS (KVM's
    /// `KVM_X86_QUIRK_LINT0_REENABLED` does the same): software-enabled, LINT0 ExtINT, LINT1 NMI,
    /// so the 8259's interrupts reach the CPU before the OS programs the APIC. A VMM without
    /// firmware wants this for the BSP.
    public init(
        id: UInt8 = 0, timerFrequencyHz: UInt64 = 1_000_000_000, tscFrequencyHz: UInt64 = 1_000_000_000,
        bootstrapProcessor: Bool = true, virtualWire: Bool = false, minimumPeriodNanoseconds: UInt64 = 200_000
    ) {
        self.timerFrequencyHz = max(timerFrequencyHz, 1)
        self.tscFrequencyHz = max(tscFrequencyHz, 1)
        self.minimumPeriodNanoseconds = minimumPeriodNanoseconds
        idRegister = UInt32(id) << 24
        apicBase = Self.defaultBase | Self.baseGlobalEnable | (bootstrapProcessor ? Self.baseBootstrapProcessor : 0)
        if virtualWire {
            spuriousVector = 0xFF | Self.svrSoftwareEnable
            lvtLINT0 = UInt32(APICDeliveryMode.extINT.rawValue) << 8
            lvtLINT1 = UInt32(APICDeliveryMode.nmi.rawValue) << 8
        }
    }

    // MARK: State the CPU side asks about

    /// The APIC ID (bits 24-31 of the ID register).
    public var id: UInt8 { UInt8(truncatingIfNeeded: idRegister >> 24) }
    /// The page's guest-physical address (IA32_APIC_BASE bits 12 and up).
    public var baseAddress: UInt64 { apicBase & 0x000F_FFFF_FFFF_F000 }
    /// IA32_APIC_BASE bit 11. When clear the page is ordinary memory (or the bus), the PIC's INTR
    /// and NMI reach the CPU directly, and the APIC accepts nothing.
    public var isHardwareEnabled: Bool { apicBase & Self.baseGlobalEnable != 0 }
    /// SVR bit 8.
    public var isSoftwareEnabled: Bool { spuriousVector & Self.svrSoftwareEnable != 0 }
    /// Whether the CPU takes external interrupts from the 8259 (INTA to the PIC for the vector):
    /// LINT0 unmasked in ExtINT mode (virtual wire), or the APIC globally disabled.
    public var lint0IsExtINT: Bool {
        !isHardwareEnabled || (lvtLINT0 & Self.lvtMasked == 0 && APICDeliveryMode(bits: lvtLINT0) == .extINT)
    }

    /// The highest vector being serviced (ISRV), 0 when none.
    var inServiceVector: UInt32 { UInt32(isr.highest ?? 0) }

    /// PPR (SDM 11.8.3.1): TPR if its class is at least ISRV's, else ISRV's class.
    public var processorPriority: UInt32 {
        let tpr = taskPriority & 0xFF
        let isrv = inServiceVector
        return tpr >> 4 >= isrv >> 4 ? tpr : isrv & 0xF0
    }

    /// APR (the P6-family rule, SDM 11.8.3.1 of older editions): TPR unless a requested or
    /// in-service class is higher.
    public var arbitrationPriority: UInt32 {
        let tpr = taskPriority & 0xFF
        let irrv = UInt32(irr.highest ?? 0), isrv = inServiceVector
        if tpr >> 4 >= irrv >> 4 && tpr >> 4 > isrv >> 4 { return tpr }
        return max(tpr & 0xF0, isrv & 0xF0, irrv & 0xF0)
    }

    /// The vector the CPU should take now, if any: the highest requested vector whose priority
    /// class is above PPR's (SDM 11.8.3). The CPU side also needs IF=1 and no interrupt shadow.
    public func pendingVector() -> UInt8? {
        guard let vector = irr.highest, UInt32(vector >> 4) > processorPriority >> 4 else { return nil }
        return vector
    }

    /// The CPU's INTA: moves `pendingVector()` from IRR to ISR and returns it.
    public mutating func acknowledge() -> UInt8? {
        guard let vector = pendingVector() else { return nil }
        irr.remove(vector)
        isr.insert(vector)
        return vector
    }

    /// Takes the pending NMI, if any (the CPU side then delivers vector 2).
    public mutating func takeNMI() -> Bool {
        defer { nmiPending = false }
        return nmiPending
    }

    /// Does `destination` select this APIC (SDM 11.6.2)? Physical: the ID or the broadcast 0xFF.
    /// Logical: the LDR bits in the flat model (DFR 0xF), the cluster and a member bit in the
    /// cluster model (DFR 0x0).
    public func matchesDestination(_ destination: UInt8, logical: Bool) -> Bool {
        guard logical else { return destination == 0xFF || destination == id }
        if destination == 0xFF { return true }
        let ldr = UInt8(truncatingIfNeeded: logicalDestination >> 24)
        switch destinationFormat >> 28 {
        case 0xF: return ldr & destination != 0
        case 0x0: return ldr >> 4 == destination >> 4 && ldr & destination & 0x0F != 0
        default: return false
        }
    }

    // MARK: Interrupt sources

    /// A fixed interrupt arriving from the I/O APIC, an MSI or another CPU's IPI: sets IRR (and
    /// TMR for level-triggered ones). Vectors below 16 are illegal (ESR bit 6) and dropped, as is
    /// everything while the APIC is disabled (KVM's `__apic_accept_irq` drops them too).
    @discardableResult
    public mutating func accept(vector: UInt8, levelTriggered: Bool) -> Bool {
        guard isHardwareEnabled && isSoftwareEnabled else { return false }
        guard vector >= 16 else {
            recordError(Self.esrReceivedIllegalVector)
            return false
        }
        irr.insert(vector)
        if levelTriggered { tmr.insert(vector) } else { tmr.remove(vector) }
        return true
    }

    /// The LINT0 input. ExtINT mode does nothing here (the CPU side asks the PIC, see
    /// `lint0IsExtINT`); fixed and NMI modes deliver on a rising edge while unmasked.
    public mutating func setLINT0(high: Bool) {
        let wasHigh = lint0High
        lint0High = high
        localPin(lvtLINT0, rising: high && !wasHigh)
    }

    /// The LINT1 input, wired to NMI on a PC: a rising edge delivers an NMI (LVT LINT1 in NMI
    /// mode, or the APIC globally disabled).
    public mutating func setLINT1(high: Bool) {
        let wasHigh = lint1High
        lint1High = high
        guard isHardwareEnabled else {
            if high && !wasHigh { nmiPending = true }
            return
        }
        localPin(lvtLINT1, rising: high && !wasHigh)
    }

    private mutating func localPin(_ lvt: UInt32, rising: Bool) {
        guard rising, isHardwareEnabled, lvt & Self.lvtMasked == 0 else { return }
        switch APICDeliveryMode(bits: lvt) {
        case .nmi: nmiPending = true
        case .fixed: accept(vector: UInt8(truncatingIfNeeded: lvt), levelTriggered: false)
        default: break  // ExtINT goes through the PIC; SMI and INIT are not modelled.
        }
    }

    /// Interrupts from an LVT entry (timer, error): nothing while masked.
    @discardableResult
    mutating func deliverLocal(_ lvt: UInt32) -> Bool {
        guard lvt & Self.lvtMasked == 0 else { return false }
        return accept(vector: UInt8(truncatingIfNeeded: lvt), levelTriggered: false)
    }

    /// Logs errors for the next ESR write to latch, and raises the LVT error interrupt for new
    /// ones. An error vector below 16 only logs "received illegal vector", so this never recurses.
    mutating func recordError(_ bits: UInt32) {
        let new = bits & ~pendingErrors
        pendingErrors |= bits
        guard new != 0, lvtError & Self.lvtMasked == 0, isHardwareEnabled, isSoftwareEnabled else { return }
        let vector = UInt8(truncatingIfNeeded: lvtError)
        guard vector >= 16 else {
            pendingErrors |= Self.esrReceivedIllegalVector
            return
        }
        irr.insert(vector)
        tmr.remove(vector)
    }

    /// A message from the I/O APIC: fixed and lowest-priority vectors go to IRR (level ones set
    /// TMR), NMI to `nmiPending`. Returns whether this APIC took it: not selected by its
    /// destination, disabled, an illegal vector, or a mode not modelled (SMI, INIT, ExtINT).
    @discardableResult
    public mutating func receive(_ delivery: IOAPICDelivery) -> Bool {
        guard isHardwareEnabled, matchesDestination(delivery.destination, logical: delivery.logicalDestination) else { return false }
        switch delivery.deliveryMode {
        case .fixed, .lowestPriority: return accept(vector: delivery.vector, levelTriggered: delivery.levelTriggered)
        case .nmi:
            nmiPending = true
            return true
        default: return false
        }
    }

    /// An INIT (SDM 11.4.7.3): every register back to its power-up value except the ID and
    /// IA32_APIC_BASE. The vCPU's own INIT handling (wait for SIPI) is the machine's.
    public mutating func receiveINIT() {
        let kept = (idRegister, apicBase)
        self = LocalAPIC(
            id: id, timerFrequencyHz: timerFrequencyHz, tscFrequencyHz: tscFrequencyHz, minimumPeriodNanoseconds: minimumPeriodNanoseconds)
        (idRegister, apicBase) = kept
    }

    // MARK: IA32_APIC_BASE

    /// A WRMSR to IA32_APIC_BASE. Returns false (the CPU raises #GP) for reserved bits, including
    /// bit 10 (x2APIC is not offered) and address bits at or above `physicalAddressBits`. The BSP
    /// flag is read-only. Clearing the global enable resets the APIC to its power-up state
    /// (SDM 11.4.3), keeping its ID.
    public mutating func writeBaseMSR(_ value: UInt64, physicalAddressBits: Int = 36) -> Bool {
        let addressBits = UInt64(min(max(physicalAddressBits, 13), 52))
        let allowed = Self.baseBootstrapProcessor | Self.baseGlobalEnable | ((1 << addressBits) - 1) & ~0xFFF
        guard value & ~allowed == 0 else { return false }
        let newBase = value & ~Self.baseBootstrapProcessor | apicBase & Self.baseBootstrapProcessor
        if isHardwareEnabled && newBase & Self.baseGlobalEnable == 0 {
            self = LocalAPIC(
                id: id, timerFrequencyHz: timerFrequencyHz, tscFrequencyHz: tscFrequencyHz,
                minimumPeriodNanoseconds: minimumPeriodNanoseconds)
        }
        apicBase = newBase
        return true
    }
}
