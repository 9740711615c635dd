/// The register model of a 16550A UART, as Linux's 8250 driver probes and drives it
/// (drivers/tty/serial/8250/8250_port.c: autoconfig, serial8250_console_write).
///
/// A pure value: tests drive it register by register. Transmitted bytes are returned to the caller,
/// which sends them to the console outside any lock.
public struct UART16550: Sendable, Equatable {
    // Register offsets from the base port.
    /// RBR (read) / THR (write), or DLL while LCR.DLAB is set.
    public static let dataRegister: UInt64 = 0
    /// IER, or DLM while LCR.DLAB is set.
    public static let interruptEnableRegister: UInt64 = 1
    /// IIR (read) / FCR (write).
    public static let interruptIdentificationRegister: UInt64 = 2
    public static let lineControlRegister: UInt64 = 3
    public static let modemControlRegister: UInt64 = 4
    public static let lineStatusRegister: UInt64 = 5
    public static let modemStatusRegister: UInt64 = 6
    public static let scratchRegister: UInt64 = 7

    /// LCR.DLAB: offsets 0 and 1 address the divisor latch.
    static let lcrDivisorLatchAccess: UInt8 = 0x80
    /// IER bits: received data available, THR empty, receiver line status, modem status.
    static let ierReceivedData: UInt8 = 0x01, ierTransmitterEmpty: UInt8 = 0x02
    static let ierLineStatus: UInt8 = 0x04, ierModemStatus: UInt8 = 0x08
    /// FCR bits: enable FIFOs, clear receive FIFO, clear transmit FIFO.
    static let fcrEnableFIFO: UInt8 = 0x01, fcrClearReceive: UInt8 = 0x02, fcrClearTransmit: UInt8 = 0x04
    /// IIR: no interrupt pending; the IDs below; FIFOs enabled (both bits set on a 16550A).
    static let iirNoInterrupt: UInt8 = 0x01
    static let iirLineStatus: UInt8 = 0x06, iirReceivedData: UInt8 = 0x04
    static let iirTransmitterEmpty: UInt8 = 0x02, iirModemStatus: UInt8 = 0x00
    static let iirFIFOEnabled: UInt8 = 0xC0
    /// MCR bits: DTR, RTS, OUT1, OUT2, loopback.
    static let mcrLoopback: UInt8 = 0x10, mcrOut2: UInt8 = 0x08
    /// LSR bits: data ready, overrun error, THR empty, transmitter empty.
    static let lsrDataReady: UInt8 = 0x01, lsrOverrun: UInt8 = 0x02
    static let lsrTransmitterHoldingEmpty: UInt8 = 0x20, lsrTransmitterEmpty: UInt8 = 0x40
    /// MSR bits: CTS, DSR, RI, DCD; the low nibble holds their change ("delta") bits.
    static let msrClearToSend: UInt8 = 0x10, msrDataSetReady: UInt8 = 0x20
    static let msrRingIndicator: UInt8 = 0x40, msrCarrierDetect: UInt8 = 0x80
    /// Receive FIFO depth of a 16550A.
    static let fifoDepth = 16

    public private(set) var divisorLatch: UInt16 = 12  // 9600 baud, as a PC BIOS leaves it
    public private(set) var interruptEnable: UInt8 = 0
    public private(set) var lineControl: UInt8 = 0x03  // 8N1
    public private(set) var modemControl: UInt8 = 0
    public private(set) var scratch: UInt8 = 0
    public private(set) var fifoEnabled = false
    private var receiveFIFO: [UInt8] = []
    private var overrun = false
    /// Set when the THR becomes empty with its interrupt enabled; cleared by reading IIR or
    /// writing THR (16550 datasheet, "THRE interrupt").
    private var transmitterEmptyPending = false
    /// MSR change bits, set when loopback changes the modem inputs.
    private var modemStatusDelta: UInt8 = 0
    /// Whether host input may enter the receiver (`hostInputSpace`). Linux's 8250 driver resets
    /// the FIFOs and reads RBR while it starts the port (serial8250_do_startup), so bytes handed
    /// over before it is done are lost. The gate opens when the guest shows it is reading: IER's
    /// received-data bit set while MCR.OUT2 is set and loopback is clear, the driver's last step
    /// (its probes set IER with OUT2 clear, or use loopback). Clearing IER later leaves it open
    /// (the console write does around each message); clearing OUT2 or entering loopback, as the
    /// driver's shutdown and probes do, closes it until it opens again.
    public private(set) var hostInputOpen = false

    public init() {}

    /// Whether an enabled interrupt condition is pending (what IIR reports to a polling driver).
    public var interruptPending: Bool { pendingInterruptID != nil }

    /// The level on the PC's IRQ line: a pending interrupt, gated by MCR.OUT2 as a PC's serial
    /// port wires it (Linux's 8250 driver sets OUT2 to enable the IRQ).
    public var interruptOutput: Bool { interruptPending && modemControl & Self.mcrOut2 != 0 }

    private var dlab: Bool { lineControl & Self.lcrDivisorLatchAccess != 0 }
    private var loopback: Bool { modemControl & Self.mcrLoopback != 0 }

    /// The highest-priority pending interrupt's IIR identification, if any.
    private var pendingInterruptID: UInt8? {
        if interruptEnable & Self.ierLineStatus != 0 && overrun { return Self.iirLineStatus }
        if interruptEnable & Self.ierReceivedData != 0 && !receiveFIFO.isEmpty { return Self.iirReceivedData }
        if interruptEnable & Self.ierTransmitterEmpty != 0 && transmitterEmptyPending { return Self.iirTransmitterEmpty }
        if interruptEnable & Self.ierModemStatus != 0 && modemStatusDelta != 0 { return Self.iirModemStatus }
        return nil
    }

    /// The modem inputs: wired to the outputs in loopback, otherwise a connected terminal.
    private var modemInputs: UInt8 {
        guard loopback else { return Self.msrCarrierDetect | Self.msrDataSetReady | Self.msrClearToSend }
        // Loopback wiring: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD.
        let mcr = modemControl
        return (mcr & 0x01 != 0 ? Self.msrDataSetReady : 0) | (mcr & 0x02 != 0 ? Self.msrClearToSend : 0)
            | (mcr & 0x04 != 0 ? Self.msrRingIndicator : 0) | (mcr & 0x08 != 0 ? Self.msrCarrierDetect : 0)
    }

    /// Reads the register at `offset` (0-7); reads have side effects (RBR pops, LSR and MSR clear).
    public mutating func read(offset: UInt64) -> UInt8 {
        switch offset {
        case Self.dataRegister:
            if dlab { return UInt8(truncatingIfNeeded: divisorLatch) }
            return receiveFIFO.isEmpty ? 0 : receiveFIFO.removeFirst()
        case Self.interruptEnableRegister:
            return dlab ? UInt8(truncatingIfNeeded: divisorLatch >> 8) : interruptEnable
        case Self.interruptIdentificationRegister:
            let id = pendingInterruptID
            if id == Self.iirTransmitterEmpty { transmitterEmptyPending = false }
            return (id ?? Self.iirNoInterrupt) | (fifoEnabled ? Self.iirFIFOEnabled : 0)
        case Self.lineControlRegister:
            return lineControl
        case Self.modemControlRegister:
            return modemControl
        case Self.lineStatusRegister:
            var status = Self.lsrTransmitterHoldingEmpty | Self.lsrTransmitterEmpty
            if !receiveFIFO.isEmpty { status |= Self.lsrDataReady }
            if overrun { status |= Self.lsrOverrun }
            overrun = false
            return status
        case Self.modemStatusRegister:
            let status = modemInputs | modemStatusDelta
            modemStatusDelta = 0
            return status
        case Self.scratchRegister:
            return scratch
        default:
            return 0xFF
        }
    }

    /// Writes the register at `offset` (0-7). Returns the byte to transmit, if this write sent one
    /// to the line (in loopback mode bytes go to the receiver instead).
    public mutating func write(offset: UInt64, value: UInt8) -> UInt8? {
        switch offset {
        case Self.dataRegister:
            if dlab {
                divisorLatch = divisorLatch & 0xFF00 | UInt16(value)
                return nil
            }
            // The byte leaves at once, so the THR is empty again right away.
            transmitterEmptyPending = interruptEnable & Self.ierTransmitterEmpty != 0
            if loopback {
                receive(value)
                return nil
            }
            return value
        case Self.interruptEnableRegister:
            if dlab {
                divisorLatch = divisorLatch & 0x00FF | UInt16(value) << 8
                return nil
            }
            let enablesTransmitterEmpty = value & Self.ierTransmitterEmpty != 0 && interruptEnable & Self.ierTransmitterEmpty == 0
            // Only the four standard enable bits exist on a 16550A; Linux's probe relies on that.
            interruptEnable = value & 0x0F
            if enablesTransmitterEmpty { transmitterEmptyPending = true }
            updateHostInputGate()
        case Self.interruptIdentificationRegister:
            fifoEnabled = value & Self.fcrEnableFIFO != 0
            if value & Self.fcrClearReceive != 0 || !fifoEnabled { receiveFIFO.removeAll() }
        case Self.lineControlRegister:
            lineControl = value
        case Self.modemControlRegister:
            let before = modemInputs
            modemControl = value & 0x1F
            let changed = before ^ modemInputs
            // Delta bits: DCTS, DDSR, TERI (RI falling edge only), DDCD.
            modemStatusDelta |= (changed & 0xB0) >> 4
            if changed & Self.msrRingIndicator != 0 && before & Self.msrRingIndicator != 0 { modemStatusDelta |= 0x04 }
            updateHostInputGate()
        case Self.scratchRegister:
            scratch = value
        default:
            break  // LSR and MSR are read-only.
        }
        return nil
    }

    /// How many bytes the receiver can take before it overruns (the FIFO's free space, or the
    /// one-byte holding register without FIFOs).
    public var receiveSpace: Int { max((fifoEnabled ? Self.fifoDepth : 1) - receiveFIFO.count, 0) }

    /// How many bytes a host input may feed now: the receiver's space once the guest has opened
    /// it (`hostInputOpen`), else none. A FIFO reset after that drops what the receiver holds, as
    /// the hardware does; the host keeps the rest.
    public var hostInputSpace: Int { hostInputOpen ? receiveSpace : 0 }

    private mutating func updateHostInputGate() {
        if modemControl & Self.mcrOut2 == 0 || loopback {
            hostInputOpen = false
        } else if interruptEnable & Self.ierReceivedData != 0 {
            hostInputOpen = true
        }
    }

    /// A byte arriving on the line (or looped back); sets overrun when the receiver is full.
    public mutating func receive(_ byte: UInt8) {
        let capacity = fifoEnabled ? Self.fifoDepth : 1
        if receiveFIFO.count >= capacity {
            overrun = true
            return
        }
        receiveFIFO.append(byte)
    }
}
