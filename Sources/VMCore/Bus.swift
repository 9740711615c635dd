/// One device's claimed range on a bus: `size` addresses starting at `base`.
public struct BusRange: Sendable, Equatable, CustomStringConvertible {
    public var base: UInt64
    public var size: UInt64
    public init(base: UInt64, size: UInt64) {
        self.base = base
        self.size = size
    }
    /// The last address in the range; ranges never wrap (checked when the bus is built).
    public var last: UInt64 { base &+ (size &- 1) }
    public var description: String { "\(hex(base))-\(hex(last))" }
}

/// Why a bus could not be built.
public enum BusError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyRange(device: String)
    case rangeWraps(device: String, range: BusRange)
    case overlap(String, String)

    public var description: String {
        switch self {
        case .emptyRange(let device): return "device \(device) claims an empty range"
        case .rangeWraps(let device, let range):
            return "device \(device) claims \(range.size) addresses from \(hex(range.base)), past the end of the address space"
        case .overlap(let a, let b): return "devices \(a) and \(b) claim overlapping ranges"
        }
    }
}

/// A port-I/O or MMIO bus: sorted, non-overlapping ranges searched by binary search.
///
/// Built once before the vCPUs start and read-only afterwards, so lookups take no lock.
public struct Bus: Sendable {
    public struct Entry: Sendable {
        public let range: BusRange
        public let device: any BusDevice
    }
    public let entries: [Entry]

    public init(_ devices: [(BusRange, any BusDevice)]) throws(BusError) {
        for (range, device) in devices {
            guard range.size > 0 else { throw .emptyRange(device: device.name) }
            guard range.base.addingReportingOverflow(range.size - 1).overflow == false else {
                throw .rangeWraps(device: device.name, range: range)
            }
        }
        let sorted = devices.map { Entry(range: $0.0, device: $0.1) }.sorted { $0.range.base < $1.range.base }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.range.last >= next.range.base {
            throw .overlap(previous.device.name, next.device.name)
        }
        entries = sorted
    }

    /// The device whose range holds all `length` bytes at `address`, with the offset into that range
    /// and the entry's index (for per-device counters). An access that straddles a range's end
    /// finds nothing, like an unclaimed address.
    @inline(__always)
    public func lookup(_ address: UInt64, length: UInt64 = 1) -> (entry: Entry, offset: UInt64, index: Int)? {
        var low = 0
        var high = entries.count
        while low < high {
            let middle = (low + high) / 2
            if entries[middle].range.last < address { low = middle + 1 } else { high = middle }
        }
        guard low < entries.count else { return nil }
        let entry = entries[low]
        guard address >= entry.range.base else { return nil }
        let offset = address - entry.range.base
        guard length >= 1, length - 1 <= entry.range.last - address else { return nil }
        return (entry, offset, low)
    }
}
