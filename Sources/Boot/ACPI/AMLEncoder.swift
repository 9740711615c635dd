/// Encoders for the few AML (ACPI Machine Language) terms a VMM's DSDT needs, following the
/// grammar in ACPI 6.5 chapter 20 ("AML Specification"). Each function returns the bytes of one
/// term or data object; callers nest them the way ASL nests the same constructs.
///
/// Malformed input (a name segment that is not 1-4 AML name characters, a package of more than
/// 255 elements, a package length of 2^28 or more) is a programming error and stops the process
/// with a precondition failure: the tables are built from the VMM's own constants.
public enum AML {
    // Opcodes (ACPI 6.5 section 20.3).
    static let zeroOp: UInt8 = 0x00
    static let oneOp: UInt8 = 0x01
    static let nameOp: UInt8 = 0x08
    static let bytePrefix: UInt8 = 0x0A
    static let wordPrefix: UInt8 = 0x0B
    static let dwordPrefix: UInt8 = 0x0C
    static let stringPrefix: UInt8 = 0x0D
    static let qwordPrefix: UInt8 = 0x0E
    static let scopeOp: UInt8 = 0x10
    static let bufferOp: UInt8 = 0x11
    static let packageOp: UInt8 = 0x12
    static let dualNamePrefix: UInt8 = 0x2E
    static let multiNamePrefix: UInt8 = 0x2F
    static let extendedOpPrefix: UInt8 = 0x5B
    static let deviceOp: UInt8 = 0x82  // after extendedOpPrefix
    static let rootChar = UInt8(ascii: "\\")
    static let parentPrefixChar = UInt8(ascii: "^")
    static let nullName: UInt8 = 0x00

    /// The largest value a PkgLength can hold (28 bits).
    public static let maximumPackageLength = (1 << 28) - 1

    /// `Name (path, value)`: DefName := NameOp NameString DataRefObject.
    public static func name(_ path: String, _ value: [UInt8]) -> [UInt8] {
        [nameOp] + nameString(path) + value
    }

    /// `Scope (path) { terms }`: DefScope := ScopeOp PkgLength NameString TermList.
    public static func scope(_ path: String, _ terms: [[UInt8]]) -> [UInt8] {
        [scopeOp] + withPackageLength(nameString(path) + terms.flatMap { $0 })
    }

    /// `Device (path) { terms }`: DefDevice := DeviceOp PkgLength NameString TermList.
    public static func device(_ path: String, _ terms: [[UInt8]]) -> [UInt8] {
        [extendedOpPrefix, deviceOp] + withPackageLength(nameString(path) + terms.flatMap { $0 })
    }

    /// `Package () { elements }`: DefPackage := PackageOp PkgLength NumElements PackageElementList.
    public static func package(_ elements: [[UInt8]]) -> [UInt8] {
        precondition(elements.count <= 0xFF, "an AML Package holds at most 255 elements (VarPackage is not implemented)")
        return [packageOp] + withPackageLength([UInt8(elements.count)] + elements.flatMap { $0 })
    }

    /// `Buffer () { bytes }`: DefBuffer := BufferOp PkgLength BufferSize ByteList.
    public static func buffer(_ bytes: [UInt8]) -> [UInt8] {
        [bufferOp] + withPackageLength(integer(UInt64(bytes.count)) + bytes)
    }

    /// An integer in the shortest encoding: ZeroOp, OneOp, or the smallest of BytePrefix,
    /// WordPrefix, DWordPrefix and QWordPrefix that holds it (as iasl emits constants).
    public static func integer(_ value: UInt64) -> [UInt8] {
        switch value {
        case 0: return [zeroOp]
        case 1: return [oneOp]
        case ...0xFF: return [bytePrefix, UInt8(value)]
        case ...0xFFFF: return [wordPrefix] + UInt16(value).littleEndianBytes
        case ...0xFFFF_FFFF: return [dwordPrefix] + UInt32(value).littleEndianBytes
        default: return [qwordPrefix] + value.littleEndianBytes
        }
    }

    /// A string: StringPrefix, the ASCII characters (0x01-0x7F), NUL.
    public static func string(_ text: String) -> [UInt8] {
        let characters = Array(text.utf8)
        precondition(characters.allSatisfy { (0x01...0x7F).contains($0) }, "an AML string is ASCII without NUL: \(text)")
        return [stringPrefix] + characters + [0]
    }

    /// `EisaId ("PNP0501")`: the compressed 32-bit EISA ID, as a DWord integer. Three letters of
    /// five bits each (letter - 0x40) and four hexadecimal digits, stored most significant byte
    /// first (the ASL EISAID macro, ACPI 6.5 chapter 19).
    public static func eisaID(_ id: String) -> [UInt8] {
        let characters = Array(id.utf8)
        precondition(
            characters.count == 7 && characters[0..<3].allSatisfy { (0x41...0x5A).contains($0) }
                && characters[3...].allSatisfy { hexDigitValue($0) != nil },
            "an EISA ID is three capital letters and four hexadecimal digits: \(id)")
        var value: UInt32 = 0
        for letter in characters[0..<3] { value = value << 5 | UInt32(letter - 0x40) }
        for digit in characters[3...] { value = value << 4 | UInt32(hexDigitValue(digit)!) }
        // The DWord's bytes in memory are `value` most significant first.
        return [dwordPrefix] + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }
    }

    /// A NameString: an optional root ("\") or parent ("^") prefix, then dot-separated name
    /// segments of 1-4 characters (padded with "_" to 4), as NameSeg, DualNamePath or
    /// MultiNamePath. A path of only prefixes ends in NullName.
    public static func nameString(_ path: String) -> [UInt8] {
        var rest = Substring(path)
        var prefix: [UInt8] = []
        if rest.first == "\\" {
            prefix.append(rootChar)
            rest = rest.dropFirst()
        } else {
            while rest.first == "^" {
                prefix.append(parentPrefixChar)
                rest = rest.dropFirst()
            }
        }
        let segments = rest.isEmpty ? [] : rest.split(separator: ".", omittingEmptySubsequences: false).map(nameSegment)
        switch segments.count {
        case 0: return prefix + [nullName]
        case 1: return prefix + segments[0]
        case 2: return prefix + [dualNamePrefix] + segments[0] + segments[1]
        default:
            precondition(segments.count <= 0xFF, "an AML name path has at most 255 segments")
            return prefix + [multiNamePrefix, UInt8(segments.count)] + segments.flatMap { $0 }
        }
    }

    /// One NameSeg: a lead character (A-Z or _), up to three more (A-Z, 0-9, _), padded with _.
    static func nameSegment(_ text: Substring) -> [UInt8] {
        let characters = Array(text.utf8)
        let isLead = { (c: UInt8) in (0x41...0x5A).contains(c) || c == 0x5F }
        let isName = { (c: UInt8) in isLead(c) || (0x30...0x39).contains(c) }
        precondition(
            (1...4).contains(characters.count) && isLead(characters[0]) && characters.allSatisfy(isName),
            "an AML name segment is 1-4 characters of A-Z, 0-9 and _, not starting with a digit: \(text)")
        return characters + [UInt8](repeating: 0x5F, count: 4 - characters.count)
    }

    /// `content` preceded by the PkgLength that covers it: the length counts the PkgLength
    /// bytes themselves, so the encoding is the shortest one whose total still fits.
    public static func withPackageLength(_ content: [UInt8]) -> [UInt8] {
        packageLength(containing: content.count) + content
    }

    /// The PkgLength for `contentCount` following bytes (ACPI 6.5 section 20.2.4): one byte up to
    /// a total of 63, else a lead byte with the count of following bytes in bits 7-6 and the low
    /// nibble in bits 3-0, then 1-3 bytes (totals up to 2^12-1, 2^20-1 and 2^28-1).
    public static func packageLength(containing contentCount: Int) -> [UInt8] {
        for size in 1...4 {
            let total = contentCount + size
            if total <= maximumEncodable(bytes: size) { return packageLengthEncoding(total, bytes: size) }
        }
        preconditionFailure("AML package of \(contentCount) bytes exceeds the 28-bit PkgLength")
    }

    /// The largest PkgLength value an encoding of `bytes` bytes holds: 6 bits in one byte, then
    /// 4 bits plus 8 per following byte.
    static func maximumEncodable(bytes: Int) -> Int {
        bytes == 1 ? 0x3F : (1 << (4 + 8 * (bytes - 1))) - 1
    }

    /// `total` (which includes these bytes) encoded in exactly `bytes` bytes.
    static func packageLengthEncoding(_ total: Int, bytes: Int) -> [UInt8] {
        precondition(total >= 0 && total <= maximumEncodable(bytes: bytes))
        if bytes == 1 { return [UInt8(total)] }
        let lead = UInt8(bytes - 1) << 6 | UInt8(total & 0x0F)
        return [lead] + (0..<(bytes - 1)).map { UInt8(truncatingIfNeeded: total >> (4 + 8 * $0)) }
    }

    private static func hexDigitValue(_ character: UInt8) -> UInt8? {
        switch character {
        case 0x30...0x39: return character - 0x30
        case 0x41...0x46: return character - 0x41 + 10
        default: return nil
        }
    }
}
