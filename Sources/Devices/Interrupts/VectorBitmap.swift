/// A set of the 256 interrupt vectors, one bit each: the LAPIC's IRR, ISR and TMR.
///
/// Four words instead of an array, so a `LocalAPIC` copies without allocating.
public struct VectorBitmap: Sendable, Equatable {
    private var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    public init() {}

    private func word(_ index: Int) -> UInt64 {
        switch index {
        case 0: return w0
        case 1: return w1
        case 2: return w2
        default: return w3
        }
    }

    private mutating func setWord(_ index: Int, _ value: UInt64) {
        switch index {
        case 0: w0 = value
        case 1: w1 = value
        case 2: w2 = value
        default: w3 = value
        }
    }

    public func contains(_ vector: UInt8) -> Bool { word(Int(vector >> 6)) & (1 << UInt64(vector & 63)) != 0 }

    public mutating func insert(_ vector: UInt8) { setWord(Int(vector >> 6), word(Int(vector >> 6)) | 1 << UInt64(vector & 63)) }

    public mutating func remove(_ vector: UInt8) { setWord(Int(vector >> 6), word(Int(vector >> 6)) & ~(1 << UInt64(vector & 63))) }

    public var isEmpty: Bool { w0 | w1 | w2 | w3 == 0 }

    /// The highest vector in the set: the one with the highest priority.
    public var highest: UInt8? {
        for index in stride(from: 3, through: 0, by: -1) where word(index) != 0 {
            return UInt8(index * 64 + 63 - word(index).leadingZeroBitCount)
        }
        return nil
    }

    /// Bits 32*index ..< 32*index+32, as the register at 0x100 + 0x10*index of the block reads.
    public func register(_ index: Int) -> UInt32 {
        guard (0..<8).contains(index) else { return 0 }
        return UInt32(truncatingIfNeeded: word(index / 2) >> (index % 2 == 0 ? 0 : 32))
    }
}
