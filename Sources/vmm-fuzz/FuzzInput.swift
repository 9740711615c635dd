/// The fuzz input read front to back as the parameters of one run (which mode, which registers,
/// which access) and then the payload. Reads past the end give zeros, so every input, even the
/// empty one, is a valid run and the fuzzer never wastes executions on rejected inputs.
struct FuzzInput {
    let bytes: UnsafeRawBufferPointer
    private(set) var cursor = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { cursor >= bytes.count }
    var remaining: Int { max(bytes.count - cursor, 0) }

    mutating func byte() -> UInt8 {
        guard cursor < bytes.count else { return 0 }
        defer { cursor += 1 }
        return bytes[cursor]
    }

    mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_ type: T.Type = T.self) -> T {
        var value: T = 0
        for index in 0..<(T.bitWidth / 8) { value |= T(byte()) << (8 * index) }
        return value
    }

    mutating func bool() -> Bool { byte() & 1 != 0 }

    /// One of `choices`, picked by the next byte.
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(byte()) % choices.count] }

    /// Up to `count` bytes (fewer at the end of the input).
    mutating func bytes(_ count: Int) -> [UInt8] {
        let taken = min(count, remaining)
        defer { cursor += taken }
        return Array(bytes[cursor..<cursor + taken])
    }

    /// The rest of the input.
    mutating func rest() -> [UInt8] { bytes(remaining) }
}

/// A failed property: the message and the input are what libFuzzer (or the built-in runner)
/// reports, and the trap makes it save the input as a crash.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz property violated: \(message())") }
}
