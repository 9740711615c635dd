import Devices
import VMCore

/// The software backend's wiring of device lines, the same as KVM's default GSI routing: ISA IRQs
/// 0-15 reach both the 8259 pair and the I/O APIC pin of the same number, higher GSIs only the
/// I/O APIC. So the PIT's IRQ 0 is pin 0 (not pin 2 as on PC chipsets, where an MADT interrupt
/// source override says so; Firecracker's MADT has none either).
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
        ioapic.setLevel(gsi: gsi, high: high)
    }
}
