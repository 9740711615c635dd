/// The Multiple APIC Description Table, revision 5 (ACPI 6.3/6.5 section 5.2.12): one local APIC
/// per vCPU and one I/O APIC. This kernel has no MP-table parser, so without it there is one CPU
/// and no I/O APIC (linux-boot-notes 0.1).
///
/// No Interrupt Source Override: the platform routes ISA IRQ n to GSI n (no PIT override to pin
/// 2), which is what Linux assumes for every IRQ without one, and in hardware-reduced mode it
/// ignores the PIC and PIT anyway. No Local APIC NMI entry: Linux makes LINT1 the BSP's NMI by
/// itself.
enum MADT {
    static let revision: UInt8 = 5
    static let localAPICAddress: UInt32 = 0xFEE0_0000
    static let ioAPICAddress: UInt32 = 0xFEC0_0000
    /// Flags 0: no PCAT_COMPAT, so Linux does not probe for a dual 8259.
    static let flags: UInt32 = 0

    static let localAPICType: UInt8 = 0
    static let localAPICLength: UInt8 = 8
    static let ioAPICType: UInt8 = 1
    static let ioAPICLength: UInt8 = 12
    static let localAPICEnabled: UInt32 = 1 << 0

    /// Processor UIDs and APIC IDs are 0 to `cpuCount - 1`; the I/O APIC takes `ioAPICID` and
    /// serves GSIs from 0.
    static func table(cpuCount: Int, ioAPICID: UInt8) -> [UInt8] {
        var body = localAPICAddress.littleEndianBytes + flags.littleEndianBytes
        for cpu in 0..<cpuCount {
            let id = UInt8(cpu)
            body += [localAPICType, localAPICLength, id, id] + localAPICEnabled.littleEndianBytes
        }
        body += [ioAPICType, ioAPICLength, ioAPICID, 0] + ioAPICAddress.littleEndianBytes + UInt32(0).littleEndianBytes
        return ACPITable.make(signature: "APIC", revision: revision, body: body)
    }
}
