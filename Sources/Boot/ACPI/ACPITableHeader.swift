/// The identification every table of ours carries (the System Description Table Header, ACPI 6.5
/// section 5.2.6, and the RSDP's OEMID).
enum ACPIIdentity {
    /// Six bytes, space-padded.
    static let oemID = Array("SWVMM ".utf8)
    static let oemRevision: UInt32 = 1
    /// The "compiler" that made the tables: the VMM itself.
    static let creatorID = Array("SWVM".utf8)
    static let creatorRevision: UInt32 = 1

    /// "SWVMM" and the first three letters of the signature ("SWVMMFAC"), so each table's OEM
    /// table ID says which one it is in Linux's boot log.
    static func oemTableID(for signature: String) -> [UInt8] {
        Array(("SWVMM" + signature.prefix(3)).utf8)
    }
}

/// A System Description Table: the 36-byte header, then `body`, with Length and Checksum filled.
enum ACPITable {
    static let headerLength = 36
    /// Offset of the Checksum byte in the header.
    static let checksumOffset = 9

    static func make(signature: String, revision: UInt8, body: [UInt8]) -> [UInt8] {
        precondition(signature.utf8.count == 4, "an ACPI table signature is four characters")
        var table = Array(signature.utf8)
        table += UInt32(headerLength + body.count).littleEndianBytes
        table += [revision, 0]  // the checksum, filled last
        table += ACPIIdentity.oemID + ACPIIdentity.oemTableID(for: signature)
        table += ACPIIdentity.oemRevision.littleEndianBytes + ACPIIdentity.creatorID + ACPIIdentity.creatorRevision.littleEndianBytes
        table += body
        table[checksumOffset] = ACPIChecksum.balancing(table)
        return table
    }
}
