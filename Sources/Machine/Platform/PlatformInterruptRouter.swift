import Devices
import VMCore

/// The software backend's wiring of device lines: ISA IRQs 0-15 reach both the 8259 pair and the
/// I/O APIC, higher GSIs only the I/O APIC. ISA IRQ 0 (the PIT) arrives at I/O APIC pin 2, as on
/// PC chipsets (an MADT interrupt source override describes it), and pin 0 stays unconnected.
final class PlatformInterruptRouter: InterruptRouter {
    let pic: PICDevice
    let ioapic: IOAPICDevice

    init(pic: PICDevice, ioapic: IOAPICDevice) {
        self.pic = pic
        self.ioapic = ioapic
    }

    func setLevel(gsi: Int, high: Bool) {
        guard gsi >= 0 && gsi < IOAPIC.pinCount else { return }
        if gsi < 16 && gsi != 2 { pic.setLevel(gsi: gsi, high: high) }
        ioapic.setLevel(gsi: gsi == 0 ? 2 : gsi, high: high)
    }
}
