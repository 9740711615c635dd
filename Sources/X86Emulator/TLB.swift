/// A software TLB: linear page -> host memory for RAM pages, with the access rights the page walk
/// found. Flushed on CR0/CR3/CR4/EFER writes and INVLPG, as a CPU's TLB is (a guest that edits
/// page tables without flushing sees stale entries, as on hardware).
///
/// Two-way set-associative: 512 sets of two entries, each set one 64-byte cache line, the set
/// chosen by the page number's low 9 bits XOR its next 9. (Direct-mapped by the low bits alone,
/// two pages a multiple of 2 MiB apart evicted each other on every access: a copy between such
/// buffers walked the page tables for every byte, 40 times slower.) With the fold, pages a
/// multiple of 2 MiB apart, up to 1 GiB, land in different sets; pages that still share a set
/// (a multiple of 1 GiB apart, say) have the two ways.
///
/// The inlined fast paths look at way 0 only, one tag compare as with one way; the slow path
/// first looks at way 1 and swaps a hit there into way 0 (a swap, not a page walk), and a refill
/// goes to way 0, moving its entry to way 1: way 0 holds the set's most recently used page.
struct TLBEntry {
    /// Linear page number + 1; 0 marks an empty entry.
    var tag: UInt64 = 0
    /// Host address of the page for reads, or 0 when it is not RAM/ROM (MMIO: slow path).
    var hostRead: UInt = 0
    /// Host address for writes: 0 unless the page is RAM, writable here, and already dirty.
    var hostWrite: UInt = 0
    /// The physical page number (only RAM and ROM pages, below 16 TiB, are looked up by it).
    var physicalFrame: UInt32 = 0
    var userAllowed = false
    var executable = false

    var physicalPage: UInt64 { UInt64(physicalFrame) << 12 }

    init() {}

    init(page: UInt64, physicalPage: UInt64, userAllowed: Bool, executable: Bool) {
        tag = page &+ 1
        physicalFrame = UInt32(truncatingIfNeeded: physicalPage >> 12)
        self.userAllowed = userAllowed
        self.executable = executable
    }
}

struct TLB {
    static let ways = 2
    static let sets = 512
    static let size = sets * ways
    /// How many refilled sets `flushAll` can clear one by one; beyond that it clears them all.
    static let refillLogCapacity = 128

    /// `size` entries, set by set, aligned so that each set is one cache line.
    let entries: UnsafeMutablePointer<TLBEntry>
    /// The sets refilled since the last flush (the first `refillLogCapacity` of them), and their
    /// count, so that `flushAll` (every CR3 write) clears what was used rather than the table.
    let refillLog: UnsafeMutablePointer<UInt16>
    let counters: UnsafeMutablePointer<Counters>

    struct Counters {
        /// Refills since the last flush (may exceed the log's capacity).
        var refillsSinceFlush = 0
        /// Every refill: page walks made by the slow path (misses, and accesses that cannot
        /// hit: MMIO, a first write to a clean page).
        var refills: UInt64 = 0
    }

    init() {
        precondition(MemoryLayout<TLBEntry>.stride * Self.ways == 64)
        entries = UnsafeMutableRawPointer.allocate(byteCount: Self.size * MemoryLayout<TLBEntry>.stride, alignment: 64)
            .bindMemory(to: TLBEntry.self, capacity: Self.size)
        entries.initialize(repeating: TLBEntry(), count: Self.size)
        refillLog = .allocate(capacity: Self.refillLogCapacity)
        refillLog.initialize(repeating: 0, count: Self.refillLogCapacity)
        counters = .allocate(capacity: 1)
        counters.initialize(to: Counters())
    }

    func deallocate() {
        entries.deinitialize(count: Self.size)
        UnsafeMutableRawPointer(entries).deallocate()
        refillLog.deallocate()
        counters.deallocate()
    }

    /// The set of a linear page: bits 0-8 XOR bits 9-17. (Folding in bits 18-26 as well, for
    /// strides of 1 GiB, cost about 5% on the call/memory benchmark; this fold costs no more than
    /// its noise.)
    @inline(__always) static func set(_ page: UInt64) -> Int {
        Int(truncatingIfNeeded: page ^ (page >> 9)) & (sets - 1)
    }

    /// Way 0 of `page`'s set, the only entry the inlined fast paths look at: they compare its
    /// tag, as with one way. (Checking way 1 there too cost 10-20% on the call/memory benchmark:
    /// with a branch the block loop grew too large for the compiler to inline into it, and a
    /// select put a second dependent load on every access.)
    @inline(__always) func lookup(_ page: UInt64) -> UnsafeMutablePointer<TLBEntry> {
        entries + Self.set(page) &* Self.ways
    }

    /// The slow paths' second chance: when way 1 holds `page`, swaps it into way 0 (which then
    /// holds the set's most recently used page) and returns true.
    func promote(_ page: UInt64) -> Bool {
        let way0 = lookup(page)
        let way1 = way0 + 1
        guard way1.pointee.tag == page &+ 1 else { return false }
        swap(&way0.pointee, &way1.pointee)
        return true
    }

    /// Puts a fresh translation in: over the page's old entry if it has one (a refill for rights
    /// the entry lacked), else in way 0, moving way 0's entry to way 1.
    func refill(_ entry: TLBEntry) {
        let set = Self.set(entry.tag &- 1)
        let way0 = lookup(entry.tag &- 1)
        counters.pointee.refills &+= 1
        if (way0 + 1).pointee.tag == entry.tag {
            (way0 + 1).pointee = entry
            return
        }
        if way0.pointee.tag != entry.tag { (way0 + 1).pointee = way0.pointee }
        way0.pointee = entry
        let logged = counters.pointee.refillsSinceFlush
        if logged < Self.refillLogCapacity { refillLog[logged] = UInt16(set) }
        counters.pointee.refillsSinceFlush = logged &+ 1
    }

    /// Empties the table: the sets refilled since the last flush when there were few, else all.
    func flushAll() {
        let logged = counters.pointee.refillsSinceFlush
        if logged <= Self.refillLogCapacity {
            for index in 0..<logged {
                let way0 = entries + Int(refillLog[index]) &* Self.ways
                way0.pointee.tag = 0
                (way0 + 1).pointee.tag = 0
            }
        } else {
            for index in 0..<Self.size { entries[index].tag = 0 }
        }
        counters.pointee.refillsSinceFlush = 0
    }

    /// INVLPG: drops the page from whichever way holds it.
    func flush(linear: UInt64) {
        let page = linear >> 12
        let way0 = lookup(page)
        if way0.pointee.tag == page &+ 1 { way0.pointee.tag = 0 }
        if (way0 + 1).pointee.tag == page &+ 1 { (way0 + 1).pointee.tag = 0 }
    }
}
