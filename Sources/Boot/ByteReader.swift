/// Bounds-checked little-endian reads from an image file. Every read names what it was reading,
/// so a truncated file is reported as "the ELF program header 3 needs ... bytes".
struct ByteReader {
    let bytes: [UInt8]

    func u8(_ offset: UInt64, _ what: @autoclosure () -> String) throws(BootError) -> UInt8 {
        UInt8(try integer(offset, 1, what))
    }
    func u16(_ offset: UInt64, _ what: @autoclosure () -> String) throws(BootError) -> UInt16 {
        UInt16(try integer(offset, 2, what))
    }
    func u32(_ offset: UInt64, _ what: @autoclosure () -> String) throws(BootError) -> UInt32 {
        UInt32(try integer(offset, 4, what))
    }
    func u64(_ offset: UInt64, _ what: @autoclosure () -> String) throws(BootError) -> UInt64 {
        try integer(offset, 8, what)
    }

    /// `length` bytes at `offset`, checked against the file size with overflow-checked arithmetic.
    func slice(_ offset: UInt64, _ length: UInt64, _ what: @autoclosure () -> String) throws(BootError) -> ArraySlice<UInt8> {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= UInt64(bytes.count) else {
            throw .truncated(what: what(), needed: overflow ? .max : end, available: UInt64(bytes.count))
        }
        return bytes[Int(offset)..<Int(end)]
    }

    private func integer(_ offset: UInt64, _ size: UInt64, _ what: () -> String) throws(BootError) -> UInt64 {
        let field = try slice(offset, size, what())
        var value: UInt64 = 0
        for (index, byte) in field.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
        return value
    }
}
