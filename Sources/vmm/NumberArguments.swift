import ArgumentParser

/// A byte count with an optional K/M/G suffix (powers of 1024): `64M`, `1G`, `65536`.
struct ByteSize: ExpressibleByArgument {
    var bytes: UInt64

    init(bytes: UInt64) { self.bytes = bytes }

    /// How `--help` shows the default.
    var defaultValueDescription: String { bytes % (1 << 20) == 0 ? "\(bytes >> 20)M" : String(bytes) }

    init?(argument: String) {
        let suffixes: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var text = argument.uppercased()
        if text.hasSuffix("IB") { text.removeLast(2) } else if text.hasSuffix("B") { text.removeLast() }
        var multiplier: UInt64 = 1
        if let last = text.last, let value = suffixes[last] {
            multiplier = value
            text.removeLast()
        }
        guard let number = UInt64(text) else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        bytes = product
    }
}

/// An address or number in decimal or 0x-prefixed hexadecimal.
struct Number: ExpressibleByArgument {
    var value: UInt64

    init?(argument: String) {
        let lower = argument.lowercased()
        let parsed = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(lower)
        guard let parsed else { return nil }
        value = parsed
    }
}

/// Checks a numeric option against its range; the message names the option, the limits and the
/// value given (status 64, as every usage error). NaN and infinities fall outside every range.
func checkRange<Value: Comparable>(_ option: String, _ value: Value, in range: ClosedRange<Value>, unit: String = "") throws {
    guard range.contains(value) else {
        let suffix = unit.isEmpty ? "" : " " + unit
        throw ValidationError("\(option) must be between \(range.lowerBound) and \(range.upperBound)\(suffix) (got \(value))")
    }
}
