import VMCore

/// A run of decoded instructions starting at one physical address, within one page.
struct CodeBlock {
    /// `CodeCache.tag(...)` of the first instruction; 0 marks an empty slot.
    var tag: UInt64 = 0
    /// Index of the first instruction in the arena.
    var first: UInt32 = 0
    /// Decoded entries in the block.
    var count: UInt16 = 0
    /// Guest instructions in the block (more than `count` when pairs were fused).
    var instructions: UInt16 = 0
}

/// Decoded blocks of 64-bit and flat 32-bit code, keyed by physical address (so two mappings of one page share
/// them, and a write through any mapping finds them). Everything lives in memory allocated once:
/// a direct-mapped block table, an arena of decoded instructions, and one byte per RAM page
/// saying whether blocks were decoded from it.
///
/// Self-modifying code: the TLB never gives a host write pointer for a code page, so every write
/// to one takes the slow path, which calls `invalidate(page:)`: the page's blocks are dropped and
/// the running block stops after the writing instruction.
struct CodeCache {
    static let blockSlots = 8192
    static let arenaCapacity = 65536
    static let maximumBlockLength = 64

    let blocks: UnsafeMutablePointer<CodeBlock>
    let arena: UnsafeMutablePointer<DecodedInstruction>
    /// One byte per RAM page: nonzero when blocks were decoded from it.
    let codePages: UnsafeMutablePointer<UInt8>
    let ramPageCount: Int
    /// Arena slots in use (one word, reached through a pointer so the cache is a plain value).
    let arenaUsed: UnsafeMutablePointer<Int>

    init(ramSize: UInt64) {
        blocks = .allocate(capacity: Self.blockSlots)
        blocks.initialize(repeating: CodeBlock(), count: Self.blockSlots)
        // Not initialized: a plain value type, and every entry is written by buildBlock before a
        // block can reach it; so its 2 MiB are only touched as code is decoded.
        arena = .allocate(capacity: Self.arenaCapacity)
        ramPageCount = Int(ramSize >> 12)
        codePages = .allocate(capacity: max(ramPageCount, 1))
        codePages.initialize(repeating: 0, count: max(ramPageCount, 1))
        arenaUsed = .allocate(capacity: 1)
        arenaUsed.initialize(to: 0)
    }

    func deallocate() {
        blocks.deallocate()
        arena.deallocate()
        codePages.deallocate()
        arenaUsed.deallocate()
    }

    @inline(__always) static func slot(_ physical: UInt64) -> Int {
        Int(truncatingIfNeeded: physical ^ (physical >> 11)) & (blockSlots - 1)
    }

    /// Blocks decoded as flat 32-bit code carry this bit in their tag, so the same bytes decoded
    /// for the other mode are a different block.
    static let legacyTagBit: UInt64 = 1 << 62

    /// The tag of the block at `physical` decoded for 64-bit or flat 32-bit code.
    @inline(__always) static func tag(_ physical: UInt64, legacy: Bool) -> UInt64 {
        (physical &+ 1) | (legacy ? legacyTagBit : 0)
    }

    /// Drops every block (the arena is reused from the start).
    func flushAll() {
        for index in 0..<Self.blockSlots { blocks[index].tag = 0 }
        arenaUsed.pointee = 0
    }

    /// The index in `codePages` of the page holding `physical`, or nil outside RAM.
    @inline(__always) func ramPage(_ physical: UInt64) -> Int? {
        physical >> 12 < UInt64(ramPageCount) ? Int(truncatingIfNeeded: physical >> 12) : nil
    }

    /// Whether blocks were decoded from the RAM page holding `physical`.
    @inline(__always) func isCodePage(_ physical: UInt64) -> Bool {
        guard let page = ramPage(physical) else { return false }
        return codePages[page] != 0
    }

    /// Records that blocks are decoded from the RAM page holding `physical`; false when it was
    /// already recorded or is not RAM.
    func markCodePage(_ physical: UInt64) -> Bool {
        guard let page = ramPage(physical), codePages[page] == 0 else { return false }
        codePages[page] = 1
        return true
    }

    /// Drops the blocks decoded from the page holding `physical`.
    func invalidate(page physical: UInt64) {
        let page = physical >> 12
        for index in 0..<Self.blockSlots where blocks[index].tag != 0 && ((blocks[index].tag & ~Self.legacyTagBit) &- 1) >> 12 == page {
            blocks[index].tag = 0
        }
        if let page = ramPage(physical) { codePages[page] = 0 }
    }
}
