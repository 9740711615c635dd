/// A software TLB: linear page -> host memory for RAM pages, with the access rights the page walk
/// found. Direct-mapped; flushed on CR0/CR3/CR4/EFER writes and INVLPG, as a CPU's TLB is (a
/// guest that edits page tables without flushing sees stale entries, as on hardware).
struct TLBEntry {
    /// Linear page number + 1; 0 marks an empty entry.
    var tag: UInt64 = 0
    var physicalPage: UInt64 = 0
    /// Host address of the page for reads, or 0 when it is not RAM/ROM (MMIO: slow path).
    var hostRead: UInt = 0
    /// Host address for writes: 0 unless the page is RAM, writable here, and already dirty.
    var hostWrite: UInt = 0
    var userAllowed = false
    var executable = false
}

struct TLB {
    static let size = 512
    let entries: UnsafeMutablePointer<TLBEntry>
    let counters: UnsafeMutablePointer<Counters>

    struct Counters {
        /// Every refill: page walks made by the slow path (misses, and accesses that cannot
        /// hit: MMIO, a first write to a clean page).
        var refills: UInt64 = 0
    }

    init() {
        entries = .allocate(capacity: Self.size)
        entries.initialize(repeating: TLBEntry(), count: Self.size)
        counters = .allocate(capacity: 1)
        counters.initialize(to: Counters())
    }

    func deallocate() {
        entries.deinitialize(count: Self.size)
        entries.deallocate()
        counters.deallocate()
    }

    @inline(__always) static func index(_ page: UInt64) -> Int { Int(truncatingIfNeeded: page) & (size - 1) }

    func flushAll() {
        for index in 0..<Self.size { entries[index].tag = 0 }
    }

    func flush(linear: UInt64) {
        let page = linear >> 12
        let entry = entries.advanced(by: Self.index(page))
        if entry.pointee.tag == page &+ 1 { entry.pointee.tag = 0 }
    }
}
