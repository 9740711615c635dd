/// The Fixed ACPI Description Table, revision 6 (ACPI 6.5 section 5.2.9), for a hardware-reduced
/// platform: no PM1 blocks, SCI, PM timer or FACS, only the DSDT, the reset register and the
/// sleep control/status registers (linux-boot-notes 2.1, 2.5 and 4).
enum FADT {
    static let length = 276
    static let revision: UInt8 = 6
    /// FADT Minor Version: with revision 6, ACPI 6.3 (the spec whose MADT revision 5 we emit).
    static let minorVersion: UInt8 = 3

    // Byte offsets (Table 5.9).
    static let dsdtOffset = 40
    static let bootArchitectureOffset = 109  // IAPC_BOOT_ARCH
    static let flagsOffset = 112
    static let resetRegisterOffset = 116
    static let resetValueOffset = 128
    static let minorVersionOffset = 131
    static let extendedDSDTOffset = 140  // X_DSDT
    static let sleepControlOffset = 244
    static let sleepStatusOffset = 256
    static let hypervisorVendorOffset = 268

    // IAPC_BOOT_ARCH: no VGA. The 8042 bit stays clear (Linux then treats an i8042 as
    // "firmware absent" but still probes it), and CMOS_RTC_NOT_PRESENT stays clear: the RTC at
    // 0x70 is there and saves a second of boot (notes 0.7).
    static let vgaNotPresent: UInt16 = 1 << 2
    // Flags.
    /// The power and sleep buttons are not fixed-feature hardware (there are none).
    static let powerButtonIsNotFixed: UInt32 = 1 << 4
    static let sleepButtonIsNotFixed: UInt32 = 1 << 5
    static let resetRegisterSupported: UInt32 = 1 << 10  // RESET_REG_SUP
    static let hardwareReducedACPI: UInt32 = 1 << 20  // HW_REDUCED_ACPI
    static let flags = hardwareReducedACPI | resetRegisterSupported | powerButtonIsNotFixed | sleepButtonIsNotFixed

    /// The Hypervisor Vendor Identity (8 bytes, new in revision 6).
    static let hypervisorVendor = Array("SWIFTVMM".utf8)

    /// The table, with the DSDT at `dsdtAddress` (which must be below 4 GiB: the 32-bit DSDT
    /// field holds it too, equal to X_DSDT so ACPICA sees no mismatch), and reset, sleep control
    /// and sleep status all at the one byte-wide I/O port `powerControlPort`.
    static func table(dsdtAddress: UInt32, powerControlPort: UInt16, resetValue: UInt8) -> [UInt8] {
        var fields = [UInt8](repeating: 0, count: length)
        func place(_ bytes: [UInt8], at offset: Int) { fields.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        let register = GenericAddress.ioPortByte(powerControlPort)
        place(dsdtAddress.littleEndianBytes, at: dsdtOffset)
        place(vgaNotPresent.littleEndianBytes, at: bootArchitectureOffset)
        place(flags.littleEndianBytes, at: flagsOffset)
        place(register.bytes, at: resetRegisterOffset)
        place([resetValue], at: resetValueOffset)
        place([minorVersion], at: minorVersionOffset)
        place(UInt64(dsdtAddress).littleEndianBytes, at: extendedDSDTOffset)
        place(register.bytes, at: sleepControlOffset)
        place(register.bytes, at: sleepStatusOffset)
        place(hypervisorVendor, at: hypervisorVendorOffset)
        // The signature "FACP" is the FADT's, for historical reasons.
        return ACPITable.make(signature: "FACP", revision: revision, body: Array(fields[ACPITable.headerLength...]))
    }
}
