import VMCore

/// A Multiboot (version 0.6.96) kernel header, found in the first 8 KiB of the image.
public struct MultibootHeader: Sendable, Equatable {
    public static let magic: UInt32 = 0x1BAD_B002
    /// The value the kernel finds in EAX when a multiboot loader started it.
    public static let bootloaderMagic: UInt32 = 0x2BAD_B002
    static let searchLimit = 8192

    // Header flags (spec 3.1.2).
    /// Modules must be page-aligned.
    static let flagPageAlignModules: UInt32 = 1 << 0
    /// mem_* fields (and the memory map) are required.
    static let flagMemoryInfo: UInt32 = 1 << 1
    /// Video mode information is requested.
    static let flagVideoMode: UInt32 = 1 << 2
    /// The address fields (a.out kludge) are valid.
    static let flagAddressFields: UInt32 = 1 << 16
    /// Flags this loader understands among the required ones (bits 0-15).
    static let knownRequiredFlags: UInt32 = 0x7

    public struct AddressFields: Sendable, Equatable {
        public var headerAddress: UInt32
        public var loadAddress: UInt32
        public var loadEndAddress: UInt32
        public var bssEndAddress: UInt32
        public var entryAddress: UInt32
    }

    public var offset: Int
    public var flags: UInt32
    public var addressFields: AddressFields?

    /// Finds and checks the header; nil when there is no magic number, an error when there is one
    /// with a bad checksum or flags this loader cannot honour.
    /// The offset of a well-formed multiboot header (magic and checksum) past the first 8 KiB,
    /// where the specification says no loader looks: a kernel linked with one there runs as a
    /// plain image, which the user should be told.
    public static func offsetBeyondSearchLimit(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= searchLimit + 12 else { return nil }
        let reader = ByteReader(bytes: bytes)
        for offset in stride(from: searchLimit, through: bytes.count - 12, by: 4) {
            guard let word = try? reader.u32(UInt64(offset), ""), word == magic,
                let flags = try? reader.u32(UInt64(offset + 4), ""), let checksum = try? reader.u32(UInt64(offset + 8), ""),
                magic &+ flags &+ checksum == 0
            else { continue }
            return offset
        }
        return nil
    }

    public static func find(in bytes: [UInt8]) throws(BootError) -> MultibootHeader? {
        let reader = ByteReader(bytes: bytes)
        let limit = min(bytes.count, searchLimit) - 12
        guard limit >= 0 else { return nil }
        for offset in stride(from: 0, through: limit, by: 4) {
            guard try reader.u32(UInt64(offset), "the multiboot header") == magic else { continue }
            let flags = try reader.u32(UInt64(offset + 4), "the multiboot header")
            let checksum = try reader.u32(UInt64(offset + 8), "the multiboot header")
            guard magic &+ flags &+ checksum == 0 else {
                throw .badMultiboot("header at offset \(hex(offset)) has a bad checksum \(hex(checksum))")
            }
            let unknown = flags & 0xFFFF & ~knownRequiredFlags
            guard unknown == 0 else {
                throw .badMultiboot("header requires features this loader does not know (flags \(hex(unknown)))")
            }
            var header = MultibootHeader(offset: offset, flags: flags)
            if flags & flagAddressFields != 0 {
                let base = UInt64(offset + 12)
                let what = "the multiboot address fields"
                header.addressFields = AddressFields(
                    headerAddress: try reader.u32(base, what), loadAddress: try reader.u32(base + 4, what),
                    loadEndAddress: try reader.u32(base + 8, what), bssEndAddress: try reader.u32(base + 12, what),
                    entryAddress: try reader.u32(base + 16, what))
            }
            return header
        }
        return nil
    }

    /// Whether modules must start on 4 KiB boundaries.
    var pageAlignModules: Bool { flags & Self.flagPageAlignModules != 0 }
}
