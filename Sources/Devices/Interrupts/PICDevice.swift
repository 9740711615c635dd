import Synchronization
import VMCore

/// The PC's 8259A pair for the software backend: one `DualPIC` in a `Mutex`, reached by the guest
/// through three small bus devices (`busDevices`), by the devices' `InterruptLine`s as the router
/// of GSIs 0-15, and by the CPU through `interruptRequested` and `acknowledge()`.
///
/// The bus devices hold the controller, not the other way round, so there is no reference cycle.
public final class PICDevice: InterruptRouter {
    private let pic = Mutex(DualPIC())
    private let onInterruptRequest: (@Sendable () -> Void)?

    /// `onInterruptRequest` is called, outside the lock, whenever the INT output goes from low to
    /// high (a line rose, the guest unmasked or ended an interrupt). It runs on whichever thread
    /// caused the change, so it should only flag or wake the vCPU, which then reads
    /// `interruptRequested` when it can take an interrupt.
    public init(onInterruptRequest: (@Sendable () -> Void)? = nil) {
        self.onInterruptRequest = onInterruptRequest
    }

    /// The master's INT output.
    public var interruptRequested: Bool { pic.withLock { $0.interruptRequested } }

    /// The INTA cycle: the vector to deliver (the master's base + 7 when spurious).
    public func acknowledge() -> UInt8 { update { $0.acknowledge() } }

    /// INT and INTA in one step under the lock: the vector if INT is high, otherwise nil (so a
    /// CPU that has not sampled INT yet never takes a spurious interrupt for a request that went
    /// away; one can still arrive through the cascade, as on hardware).
    public func acknowledgeIfRequested() -> UInt8? {
        update { $0.interruptRequested ? $0.acknowledge() : nil }
    }

    /// Drives ISA IRQ `gsi` (0-15, except the cascade IRQ 2); other GSIs belong to the I/O APIC.
    public func setLevel(gsi: Int, high: Bool) { update { $0.setIRQ(gsi, high: high) } }

    /// The port blocks to put on the I/O bus: 0x20-0x21, 0xA0-0xA1 and 0x4D0-0x4D1.
    public var busDevices: [(BusRange, any BusDevice)] {
        DualPIC.PortBlock.allCases.map { block in
            (BusRange(base: UInt64(block.base), size: DualPIC.PortBlock.portCount), Ports(pic: self, block: block))
        }
    }

    /// The register state, for tests and debugging.
    public var state: DualPIC { pic.withLock { $0 } }

    /// Runs `body` on the model under the lock, then reports a rising INT outside it.
    private func update<Result>(_ body: (inout DualPIC) -> Result) -> Result {
        let (result, rose) = pic.withLock { pic in
            let before = pic.interruptRequested
            let result = body(&pic)
            return (result, !before && pic.interruptRequested)
        }
        if rose { onInterruptRequest?() }
        return result
    }

    /// One two-port block of the pair on the I/O bus. Wider accesses reach consecutive ports.
    final class Ports: BusDevice {
        let name: String
        private let pic: PICDevice
        private let block: DualPIC.PortBlock

        init(pic: PICDevice, block: DualPIC.PortBlock) {
            self.pic = pic
            self.block = block
            switch block {
            case .master: name = "pic-master"
            case .slave: name = "pic-slave"
            case .edgeLevelControl: name = "elcr"
            }
        }

        func read(offset: UInt64, width: AccessWidth) -> UInt64 {
            pic.update { pic in
                var value: UInt64 = 0
                for index in 0..<UInt64(width.byteCount) {
                    let port = offset &+ index
                    let byte = port < DualPIC.PortBlock.portCount ? pic.read(block, offset: port) : 0xFF
                    value |= UInt64(byte) << (8 * index)
                }
                return value
            }
        }

        func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
            pic.update { pic in
                for index in 0..<UInt64(width.byteCount) where offset &+ index < DualPIC.PortBlock.portCount {
                    pic.write(block, offset: offset &+ index, value: UInt8(truncatingIfNeeded: value >> (8 * index)))
                }
            }
            return .proceed
        }
    }
}
