import VMCore

/// The checks every loader applies before it plans a write: inside RAM, clear of the VMM's own
/// structures, computed with overflow-checked arithmetic.
struct MemoryBounds {
    let memorySize: UInt64
    let reserved: [ClosedRange<UInt64>]

    func check(what: String, address: UInt64, length: UInt64) throws(BootError) {
        let (end, overflow) = address.addingReportingOverflow(length)
        guard !overflow, end <= memorySize else {
            throw .outsideMemory(what: what, address: address, length: length, memorySize: memorySize)
        }
        guard length > 0 else { return }
        for range in reserved where address <= range.upperBound && end - 1 >= range.lowerBound {
            throw .overlapsBootStructures(what: what, address: address, length: length, reserved: range)
        }
    }

    /// Fails if any two writes share a byte.
    static func checkDisjoint(_ writes: [MemoryWrite]) throws(BootError) {
        let sorted = writes.filter { $0.end > $0.address }.sorted { $0.address < $1.address }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.end > next.address {
            throw .overlappingSegments(first: previous.address, second: next.address)
        }
    }
}
