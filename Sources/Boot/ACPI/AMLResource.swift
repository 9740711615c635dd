/// Resource descriptors for `_CRS` buffers (ACPI 6.5 section 6.4, "Resource Data Types for
/// ACPI"), and the `ResourceTemplate ()` buffer that ends them with an End Tag.
public enum AMLResource {
    public enum Trigger: Sendable { case edge, level }
    public enum Polarity: Sendable { case activeHigh, activeLow }

    /// `IO (Decode16, base, base, 0, length)`: a fixed range of `length` ports at `base`
    /// (small descriptor 0x08, 8 bytes; 16-bit address decode).
    public static func io(base: UInt16, length: UInt8) -> [UInt8] {
        let decodes16Bits: UInt8 = 0x01
        // Tag 0x47: small item, type 0x08, 7 bytes follow. Minimum = maximum: nothing to relocate.
        return [0x47, decodes16Bits] + base.littleEndianBytes + base.littleEndianBytes + [0x00, length]
    }

    /// `Memory32Fixed (ReadWrite or ReadOnly, base, length)` (large descriptor 0x86, 12 bytes).
    public static func memory32Fixed(base: UInt32, length: UInt32, writable: Bool = true) -> [UInt8] {
        [0x86] + UInt16(9).littleEndianBytes + [writable ? 0x01 : 0x00] + base.littleEndianBytes + length.littleEndianBytes
    }

    /// `Interrupt (ResourceConsumer, trigger, polarity, Exclusive or Shared) { gsis }`: the
    /// extended interrupt descriptor (large descriptor 0x89) that names GSIs directly.
    public static func interrupt(_ gsis: [UInt32], trigger: Trigger, polarity: Polarity, shared: Bool = false) -> [UInt8] {
        precondition((1...0xFF).contains(gsis.count), "an extended interrupt descriptor lists 1-255 interrupts")
        let consumer: UInt8 = 1 << 0
        let edge: UInt8 = trigger == .edge ? 1 << 1 : 0
        let activeLow: UInt8 = polarity == .activeLow ? 1 << 2 : 0
        let sharing: UInt8 = shared ? 1 << 3 : 0
        let bodyLength = UInt16(2 + 4 * gsis.count)  // flags, table length, the table
        return [0x89] + bodyLength.littleEndianBytes + [consumer | edge | activeLow | sharing, UInt8(gsis.count)]
            + gsis.flatMap(\.littleEndianBytes)
    }

    /// `ResourceTemplate () { descriptors }`: a Buffer of the descriptors and the End Tag (small
    /// descriptor 0x0F: 0x79 and a checksum byte that makes the template's bytes sum to zero).
    public static func template(_ descriptors: [[UInt8]]) -> [UInt8] {
        let body: [UInt8] = descriptors.flatMap { $0 } + [0x79]
        return AML.buffer(body + [ACPIChecksum.balancing(body)])
    }
}
