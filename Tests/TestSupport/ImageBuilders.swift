/// Builds small ELF and multiboot images byte by byte, so loader tests need no toolchain and
/// can corrupt any field.
public struct ELFBuilder {
    public struct Segment {
        public var physicalAddress: UInt64
        public var virtualAddress: UInt64
        public var contents: [UInt8]
        public var memorySize: UInt64
        public init(physicalAddress: UInt64, virtualAddress: UInt64? = nil, contents: [UInt8], memorySize: UInt64? = nil) {
            self.physicalAddress = physicalAddress
            self.virtualAddress = virtualAddress ?? physicalAddress
            self.contents = contents
            self.memorySize = memorySize ?? UInt64(contents.count)
        }
    }

    public var is64: Bool
    public var entry: UInt64
    public var segments: [Segment]
    public var type: UInt16 = 2
    public var machine: UInt16?
    public var prefix: [UInt8] = []  // bytes placed between the program headers and the contents
    /// ELF notes (already encoded) for one PT_NOTE program header after the PT_LOADs.
    public var notes: [UInt8]? = nil

    public init(is64: Bool, entry: UInt64, segments: [Segment]) {
        self.is64 = is64
        self.entry = entry
        self.segments = segments
    }

    public func build() -> [UInt8] {
        let headerSize = is64 ? 64 : 52
        let entrySize = is64 ? 56 : 32
        let headerCount = segments.count + (notes == nil ? 0 : 1)
        var dataOffset = headerSize + entrySize * headerCount + prefix.count
        var out = [UInt8](repeating: 0, count: headerSize)
        out[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        out[4] = is64 ? 2 : 1
        out[5] = 1
        out[6] = 1
        put16(&out, 16, type)
        put16(&out, 18, machine ?? (is64 ? 62 : 3))
        put32(&out, 20, 1)
        if is64 {
            put64(&out, 24, entry); put64(&out, 32, UInt64(headerSize))
            put16(&out, 52, UInt16(headerSize)); put16(&out, 54, UInt16(entrySize)); put16(&out, 56, UInt16(headerCount))
        } else {
            put32(&out, 24, UInt32(entry)); put32(&out, 28, UInt32(headerSize))
            put16(&out, 40, UInt16(headerSize)); put16(&out, 42, UInt16(entrySize)); put16(&out, 44, UInt16(headerCount))
        }
        var contents: [UInt8] = []
        for segment in segments {
            var header = [UInt8](repeating: 0, count: entrySize)
            put32(&header, 0, 1)  // PT_LOAD
            if is64 {
                put32(&header, 4, 5)
                put64(&header, 8, UInt64(dataOffset)); put64(&header, 16, segment.virtualAddress); put64(&header, 24, segment.physicalAddress)
                put64(&header, 32, UInt64(segment.contents.count)); put64(&header, 40, segment.memorySize)
            } else {
                put32(&header, 4, UInt32(dataOffset)); put32(&header, 8, UInt32(segment.virtualAddress));
                put32(&header, 12, UInt32(segment.physicalAddress))
                put32(&header, 16, UInt32(segment.contents.count)); put32(&header, 20, UInt32(segment.memorySize)); put32(&header, 24, 5)
            }
            out += header
            contents += segment.contents
            dataOffset += segment.contents.count
        }
        if let notes {
            precondition(is64, "notes are built for ELF64 only")
            var header = [UInt8](repeating: 0, count: entrySize)
            put32(&header, 0, 4)  // PT_NOTE
            put64(&header, 8, UInt64(dataOffset)); put64(&header, 32, UInt64(notes.count)); put64(&header, 40, UInt64(notes.count))
            out += header
            contents += notes
        }
        return out + prefix + contents
    }
}

/// A multiboot v1 header (magic, flags, checksum and, with flag 16, the address fields).
public func multibootHeader(flags: UInt32, checksum: UInt32? = nil, addressFields: [UInt32] = []) -> [UInt8] {
    let magic: UInt32 = 0x1BAD_B002
    var bytes: [UInt8] = []
    for value in [magic, flags, checksum ?? (0 &- (magic &+ flags))] + addressFields { put32(&bytes, bytes.count, value) }
    return bytes
}

public func put16(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt16) { putLE(&bytes, offset, UInt64(value), 2) }
public func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) { putLE(&bytes, offset, UInt64(value), 4) }
public func put64(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64) { putLE(&bytes, offset, value, 8) }

private func putLE(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64, _ size: Int) {
    if bytes.count < offset + size { bytes += [UInt8](repeating: 0, count: offset + size - bytes.count) }
    for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
}

/// Little-endian reads from a byte array, for asserting on planned memory.
public func read32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
}
public func read64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
}

/// One ELF note: name and descriptor, each padded to 4 bytes.
public func elfNote(name: String, type: UInt32, descriptor: [UInt8]) -> [UInt8] {
    let nameBytes = Array(name.utf8) + [0]
    var note: [UInt8] = []
    put32(&note, 0, UInt32(nameBytes.count)); put32(&note, 4, UInt32(descriptor.count)); put32(&note, 8, type)
    note += nameBytes + [UInt8](repeating: 0, count: (4 - nameBytes.count % 4) % 4)
    note += descriptor + [UInt8](repeating: 0, count: (4 - descriptor.count % 4) % 4)
    return note
}
