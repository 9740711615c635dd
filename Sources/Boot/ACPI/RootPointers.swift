/// The Root System Description Pointer and the Extended System Description Table: how the guest
/// finds every other table.
enum RootPointers {
    static let rsdpLength = 36
    /// The first checksum covers the ACPI 1.0 part of the RSDP.
    static let rsdpVersion1Length = 20

    /// RSDP revision 2 (ACPI 6.5 section 5.2.5.3): signature, checksum over 20 bytes, OEMID,
    /// revision, RSDT address (none: the XSDT replaces it), length, XSDT address, extended
    /// checksum over all 36 bytes, 3 reserved bytes.
    static func rsdp(xsdtAddress: UInt64) -> [UInt8] {
        var rsdp = Array("RSD PTR ".utf8) + [0] + ACPIIdentity.oemID + [2]
        rsdp += UInt32(0).littleEndianBytes + UInt32(rsdpLength).littleEndianBytes + xsdtAddress.littleEndianBytes
        rsdp += [0, 0, 0, 0]  // extended checksum, reserved
        rsdp[8] = ACPIChecksum.balancing(rsdp[0..<rsdpVersion1Length])
        rsdp[32] = ACPIChecksum.balancing(rsdp)
        return rsdp
    }

    /// XSDT revision 1 (section 5.2.8): the header and one 64-bit address per table.
    static func xsdt(entries: [UInt64]) -> [UInt8] {
        ACPITable.make(signature: "XSDT", revision: 1, body: entries.flatMap(\.littleEndianBytes))
    }
}
