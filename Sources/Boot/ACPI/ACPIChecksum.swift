/// The 8-bit checksums ACPI uses everywhere: a structure's bytes sum to zero modulo 256.
enum ACPIChecksum {
    /// The byte that, added to `bytes`, makes their sum zero.
    static func balancing(_ bytes: some Sequence<UInt8>) -> UInt8 {
        0 &- bytes.reduce(0, &+)
    }
}
