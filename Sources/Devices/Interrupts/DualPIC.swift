/// The PC/AT's two 8259A chips: the master at 0x20/0x21 takes IRQs 0-7, the slave at 0xA0/0xA1
/// takes IRQs 8-15 and drives the master's IR2 with its INT output. The chipset's edge/level
/// control registers (ELCR, 0x4D0/0x4D1, as on the PIIX) choose level triggering per IRQ.
///
/// A pure value, the CPU's view of the legacy interrupt system: `interruptRequested` is the
/// master's INT pin, `acknowledge()` the INTA cycle that returns the vector.
public struct DualPIC: Sendable, Equatable {
    /// The master's input the slave's INT output drives.
    public static let cascadeIRQ = 2
    /// The ELCR bits that can be set: IRQs 0, 1, 2 (master) and 8, 13 (slave) are always edge,
    /// as on the PIIX and in QEMU.
    public static let masterELCRMask: UInt8 = 0xF8
    public static let slaveELCRMask: UInt8 = 0xDE

    /// The three two-port blocks the pair answers on.
    public enum PortBlock: Sendable, Equatable, CaseIterable {
        case master
        case slave
        case edgeLevelControl

        /// The block's first port.
        public var base: UInt16 {
            switch self {
            case .master: return 0x20
            case .slave: return 0xA0
            case .edgeLevelControl: return 0x4D0
            }
        }
        /// Every block has two ports.
        public static let portCount: UInt64 = 2
    }

    public private(set) var master = PIC8259(role: .master)
    public private(set) var slave = PIC8259(role: .slave)

    public init() {}

    /// The master's INT output: the CPU should run an INTA cycle when it can take an interrupt.
    public var interruptRequested: Bool { master.interruptRequested }

    /// The INTA cycle: returns the vector and moves the request from IRR to ISR.
    ///
    /// Spurious interrupts (the request went away after INT was seen) return the master's
    /// base + 7 with no ISR bit set; a spurious slave interrupt returns the slave's base + 7 and,
    /// as on real hardware, sets the master's IR2 in-service bit but none on the slave.
    public mutating func acknowledge() -> UInt8 {
        guard let level = master.acknowledgeLevel() else { return master.spuriousVector }
        guard level == Self.cascadeIRQ && !master.singleMode else { return master.vector(forLevel: level) }
        let vector = slave.acknowledgeLevel().map { slave.vector(forLevel: $0) } ?? slave.spuriousVector
        updateCascade()
        return vector
    }

    /// Sets the level of ISA IRQ `irq` (0-15). IRQ 2 is the cascade and out-of-range values have no
    /// pin, so those are ignored.
    public mutating func setIRQ(_ irq: Int, high: Bool) {
        switch irq {
        case 0..<8 where irq != Self.cascadeIRQ:
            master.setInput(irq, high: high)
        case 8..<16:
            slave.setInput(irq - 8, high: high)
            updateCascade()
        default:
            break
        }
    }

    /// Reads one port of a block (`offset` 0 or 1).
    public mutating func read(_ block: PortBlock, offset: UInt64) -> UInt8 {
        switch block {
        case .master:
            return master.read(offset: offset)
        case .slave:
            defer { updateCascade() }  // a poll read acknowledges
            return slave.read(offset: offset)
        case .edgeLevelControl:
            return offset & 1 == 0 ? master.edgeLevelControl : slave.edgeLevelControl
        }
    }

    /// Writes one port of a block (`offset` 0 or 1).
    public mutating func write(_ block: PortBlock, offset: UInt64, value: UInt8) {
        switch block {
        case .master:
            master.write(offset: offset, value: value)
        case .slave:
            slave.write(offset: offset, value: value)
            updateCascade()
        case .edgeLevelControl:
            if offset & 1 == 0 {
                master.setEdgeLevelControl(value & Self.masterELCRMask)
            } else {
                slave.setEdgeLevelControl(value & Self.slaveELCRMask)
                updateCascade()
            }
        }
    }

    /// The block and offset of an absolute port, if the pair answers on it.
    public static func block(forPort port: UInt16) -> (block: PortBlock, offset: UInt64)? {
        for block in PortBlock.allCases where port >= block.base && UInt64(port - block.base) < PortBlock.portCount {
            return (block, UInt64(port - block.base))
        }
        return nil
    }

    /// Reads an absolute port (0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1); others float at 0xFF.
    public mutating func read(port: UInt16) -> UInt8 {
        guard let (block, offset) = Self.block(forPort: port) else { return 0xFF }
        return read(block, offset: offset)
    }

    /// Writes an absolute port; writes elsewhere are dropped.
    public mutating func write(port: UInt16, value: UInt8) {
        guard let (block, offset) = Self.block(forPort: port) else { return }
        write(block, offset: offset, value: value)
    }

    /// Both IRRs, the slave's in the high byte.
    public var interruptRequests: UInt16 { UInt16(slave.interruptRequests) << 8 | UInt16(master.interruptRequests) }
    /// Both ISRs, the slave's in the high byte.
    public var inService: UInt16 { UInt16(slave.inService) << 8 | UInt16(master.inService) }
    /// Both IMRs, the slave's in the high byte.
    public var interruptMask: UInt16 { UInt16(slave.interruptMask) << 8 | UInt16(master.interruptMask) }

    /// The slave's INT output is wired to the master's IR2 (an edge-triggered input: the ELCR
    /// cannot make it level).
    private mutating func updateCascade() {
        master.setInput(Self.cascadeIRQ, high: slave.interruptRequested)
    }
}
