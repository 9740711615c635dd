/// The Differentiated System Description Table: the devices Linux cannot find by itself on a
/// hardware-reduced platform, and the S5 (soft-off) sleep type.
///
/// ```
/// Scope (\_SB) {
///     Device (COM1) { _HID EisaId ("PNP0501"), _UID 0, _CRS { IO 0x3F8/8, Interrupt edge high 4 } }
///     Device (RTC0) { _HID EisaId ("PNP0B00"), _CRS { IO 0x70/2, Interrupt edge high 8 } }
///     Device (V000) { _HID "LNRO0005", _UID 0, _CCA 1, _CRS { Memory32Fixed, Interrupt level high } }
///     ...
/// }
/// Name (\_S5, Package () { 5, 0, 0, 0 })
/// ```
enum DSDT {
    /// Revision 2: integers are 64 bits.
    static let revision: UInt8 = 2

    static func table(virtioDevices: [VirtioMMIODescription]) -> [UInt8] {
        let devices = [ACPIDevices.com1(), ACPIDevices.rtc()] + virtioDevices.enumerated().map { ACPIDevices.virtioMMIO($1, index: $0) }
        let body = AML.scope("\\_SB", devices) + softOffSleepType()
        return ACPITable.make(signature: "DSDT", revision: revision, body: body)
    }

    /// `Name (\_S5, Package () { SLP_TYPa, SLP_TYPb, 0, 0 })`: the value Linux puts in SLP_TYP
    /// when it writes SLP_EN to the sleep control register to power off.
    static func softOffSleepType() -> [UInt8] {
        let sleepType = UInt64(ACPITables.softOffSleepType)
        return AML.name("\\_S5", AML.package([AML.integer(sleepType), AML.integer(0), AML.integer(0), AML.integer(0)]))
    }
}

/// The device objects our DSDT declares under `\_SB`.
public enum ACPIDevices {
    /// The 16550 UART's ports and GSI (the platform's COM1).
    public static let com1Port: UInt16 = 0x3F8
    public static let com1PortCount: UInt8 = 8
    public static let com1GSI: UInt32 = 4

    /// COM1 as a PNP0501 (16550A-compatible) device. In hardware-reduced mode Linux gives ttyS0
    /// no IRQ unless the DSDT describes it, and user-space console output stalls (notes 0.4).
    public static func com1() -> [UInt8] {
        AML.device(
            "COM1",
            [
                AML.name("_HID", AML.eisaID("PNP0501")),
                AML.name("_UID", AML.integer(0)),
                AML.name(
                    "_CRS",
                    AMLResource.template([
                        AMLResource.io(base: com1Port, length: com1PortCount),
                        AMLResource.interrupt([com1GSI], trigger: .edge, polarity: .activeHigh),
                    ])),
            ])
    }

    /// The CMOS RTC's ports and GSI.
    public static let rtcPort: UInt16 = 0x70
    public static let rtcPortCount: UInt8 = 2
    public static let rtcGSI: UInt32 = 8

    /// The CMOS RTC as a PNP0B00 (AT real-time clock) device: Linux's rtc_cmos driver binds to it
    /// with its interrupt and gives /dev/rtc0 (without it the platform fallback finds no IRQ on
    /// a hardware-reduced machine).
    public static func rtc() -> [UInt8] {
        AML.device(
            "RTC0",
            [
                AML.name("_HID", AML.eisaID("PNP0B00")),
                AML.name(
                    "_CRS",
                    AMLResource.template([
                        AMLResource.io(base: rtcPort, length: rtcPortCount),
                        AMLResource.interrupt([rtcGSI], trigger: .edge, polarity: .activeHigh),
                    ])),
            ])
    }

    /// A virtio-mmio transport: `_HID "LNRO0005"` is what Linux's virtio_mmio driver matches
    /// (drivers/virtio/virtio_mmio.c); `_CCA 1` says DMA is cache-coherent. Named `V000`, `V001`,
    /// ... by `index`, which is also its `_UID`.
    public static func virtioMMIO(_ device: VirtioMMIODescription, index: Int) -> [UInt8] {
        precondition((0..<ACPITables.maximumVirtioDevices).contains(index), "virtio device index \(index) has no V000-V999 name")
        let digits = String(index)
        return AML.device(
            "V" + String(repeating: "0", count: 3 - digits.count) + digits,
            [
                AML.name("_HID", AML.string("LNRO0005")),
                AML.name("_UID", AML.integer(UInt64(index))),
                AML.name("_CCA", AML.integer(1)),
                AML.name(
                    "_CRS",
                    AMLResource.template([
                        AMLResource.memory32Fixed(base: device.base, length: device.length),
                        AMLResource.interrupt([device.gsi], trigger: .level, polarity: .activeHigh),
                    ])),
            ])
    }
}
