/// A guest-physical address.
public struct GuestAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }
    public static func < (a: GuestAddress, b: GuestAddress) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "0x" + String(rawValue, radix: 16) }

    /// The address `count` bytes further on, or nil where that passes 2^64.
    public func advanced(by count: UInt64) -> GuestAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(count)
        return overflow ? nil : GuestAddress(sum)
    }
}

/// An x86 I/O port number.
public struct IOPort: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ value: UInt16) { self.rawValue = value }
    public static func < (a: IOPort, b: IOPort) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// The size of one device access. Backends split string and wider accesses into these.
public enum AccessWidth: Int, Sendable, CaseIterable {
    case byte = 1
    case word = 2
    case doubleWord = 4
    case quadWord = 8

    public init?(byteCount: Int) { self.init(rawValue: byteCount) }
    public var byteCount: Int { rawValue }
    /// The mask that keeps the low `byteCount` bytes of a value.
    public var mask: UInt64 { self == .quadWord ? .max : (1 << UInt64(rawValue * 8)) - 1 }
}

/// Formats a number as 0x-prefixed hexadecimal, the way addresses and registers are printed.
public func hex<T: BinaryInteger>(_ value: T, width: Int = 0) -> String {
    let digits = String(value, radix: 16)
    let padding = width > digits.count ? String(repeating: "0", count: width - digits.count) : ""
    return "0x" + padding + digits
}

/// Bytes as two-digit hexadecimal separated by spaces ("0f 0b"), as instruction bytes are shown.
public func hexBytes(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { $0 < 0x10 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}

extension String {
    /// The string padded with spaces to `width` characters, for aligned columns.
    public func padded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
