import VMCore

/// Guest memory as the instructions see it: segmentation, paging, then RAM or MMIO.
extension Interpreter {
    /// The linear address of `offset` in segment `index`, with the limit check of 16/32-bit modes.
    @inline(__always)
    func linearAddress(_ index: SegmentIndex, _ offset: UInt64, size: Int) throws(Interruption) -> UInt64 {
        if state.pointee.is64BitMode {
            let base: UInt64 = index == .fs ? state.pointee.segments.4.base : (index == .gs ? state.pointee.segments.5.base : 0)
            let linear = base &+ offset
            // Non-canonical addresses fault (#SS for stack references, #GP otherwise).
            let high = linear >> 47
            guard high == 0 || high == 0x1FFFF else {
                throw .fault(index == .ss ? Fault(vector: Fault.stackFault, errorCode: 0) : .gp())
            }
            return linear
        }
        return try legacyLinearAddress(index, offset, size: size)
    }

    /// Segmentation outside 64-bit mode: base plus offset, with the limit check.
    @inline(never)
    func legacyLinearAddress(_ index: SegmentIndex, _ offset: UInt64, size: Int) throws(Interruption) -> UInt64 {
        let segment = state.pointee.segment(index)
        if state.pointee.isProtected && segment.unusable { throw .fault(index == .ss ? Fault(vector: Fault.stackFault, errorCode: 0) : .gp()) }
        // Expand-down data segments (type bit 2 without the code bit) are valid above the limit.
        let expandDown = segment.isCodeOrData && segment.type & 0xC == 0x4
        let last = offset &+ UInt64(size - 1)
        let limit = UInt64(segment.limit)
        let inside = expandDown ? (offset > limit && last <= (segment.defaultSize32 ? 0xFFFF_FFFF : 0xFFFF)) : (last <= limit && last >= offset)
        guard inside else { throw .fault(index == .ss ? Fault(vector: Fault.stackFault, errorCode: 0) : .gp()) }
        return (segment.base &+ offset) & 0xFFFF_FFFF
    }

    func readSegmented(_ index: SegmentIndex, _ offset: UInt64, size: Int, fetch: Bool = false) throws(Interruption) -> UInt64 {
        try readLinear(linearAddress(index, offset, size: size), size: size, fetch: fetch)
    }

    func writeSegmented(_ index: SegmentIndex, _ offset: UInt64, size: Int, _ value: UInt64) throws(Interruption) {
        try writeLinear(linearAddress(index, offset, size: size), size: size, value)
    }

    /// Reads `size` bytes at a linear address; accesses that cross a page are split into bytes.
    /// The fast path is a TLB hit on RAM: one compare and a host load. (A hit in the set's second
    /// way is served by the slow path, which swaps it into the first.)
    /// `user` is whether the access is made at CPL 3, when the caller knows (the block loop does,
    /// once per chain); otherwise it is read from the state.
    @inline(__always)
    func readLinear(_ linear: UInt64, size: Int, fetch: Bool = false, user: Bool? = nil) throws(Interruption) -> UInt64 {
        let page = linear >> 12
        let entry = tlb.lookup(page).pointee
        if entry.tag == page &+ 1 && entry.hostRead != 0 && linear & 0xFFF + UInt64(size) <= 0x1000
            && (entry.userAllowed || !(user ?? (state.pointee.cpl == 3))) && (entry.executable || !fetch)
        {
            return loadHost(entry.hostRead, Int(linear & 0xFFF), size)
        }
        return try readLinearSlow(linear, size: size, fetch: fetch)
    }

    @inline(__always)
    func loadHost(_ base: UInt, _ offset: Int, _ size: Int) -> UInt64 {
        let pointer = UnsafeRawPointer(bitPattern: base)!.advanced(by: offset)
        switch size {
        case 1: return UInt64(pointer.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: pointer.loadUnaligned(as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: pointer.loadUnaligned(as: UInt32.self)))
        default: return UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self))
        }
    }

    @inline(never)
    func readLinearSlow(_ linear: UInt64, size: Int, fetch: Bool) throws(Interruption) -> UInt64 {
        if linear & 0xFFF + UInt64(size) > 0x1000 {
            var value: UInt64 = 0
            for index in 0..<size {
                value |= try readLinear(linear &+ UInt64(index), size: 1, fetch: fetch) << (8 * UInt64(index))
            }
            return value
        }
        if tlb.promote(linear >> 12) {
            let entry = tlb.lookup(linear >> 12).pointee
            if entry.hostRead != 0 && (entry.userAllowed || state.pointee.cpl != 3) && (entry.executable || !fetch) {
                return loadHost(entry.hostRead, Int(linear & 0xFFF), size)
            }
        }
        let physical = try translate(linear, write: false, fetch: fetch)
        return readPhysical(physical, size: size)
    }

    @inline(__always)
    func writeLinear(_ linear: UInt64, size: Int, user: Bool? = nil, _ value: UInt64) throws(Interruption) {
        let page = linear >> 12
        let entry = tlb.lookup(page).pointee
        if entry.tag == page &+ 1 && entry.hostWrite != 0 && linear & 0xFFF + UInt64(size) <= 0x1000
            && (entry.userAllowed || !(user ?? (state.pointee.cpl == 3)))
        {
            storeHost(entry.hostWrite, Int(linear & 0xFFF), size, value)
            return
        }
        try writeLinearSlow(linear, size: size, value)
    }

    @inline(__always)
    func storeHost(_ base: UInt, _ offset: Int, _ size: Int, _ value: UInt64) {
        let pointer = UnsafeMutableRawPointer(bitPattern: base)!.advanced(by: offset)
        switch size {
        case 1: pointer.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: pointer.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        case 4: pointer.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        default: pointer.storeBytes(of: value.littleEndian, as: UInt64.self)
        }
    }

    @inline(never)
    func writeLinearSlow(_ linear: UInt64, size: Int, _ value: UInt64) throws(Interruption) {
        if linear & 0xFFF + UInt64(size) > 0x1000 {
            // Translate every byte first so a fault leaves memory untouched.
            var physical: [UInt64] = []
            for index in 0..<size { physical.append(try translate(linear &+ UInt64(index), write: true, fetch: false)) }
            for (index, address) in physical.enumerated() { try writePhysical(address, size: 1, value >> (8 * UInt64(index))) }
            return
        }
        if tlb.promote(linear >> 12) {
            let entry = tlb.lookup(linear >> 12).pointee
            if entry.hostWrite != 0 && (entry.userAllowed || state.pointee.cpl != 3) {
                storeHost(entry.hostWrite, Int(linear & 0xFFF), size, value)
                return
            }
        }
        try writePhysical(translate(linear, write: true, fetch: false), size: size, value)
    }

    /// RAM is read directly; anything else is MMIO, handed to the machine like a KVM MMIO exit.
    func readPhysical(_ address: UInt64, size: Int) -> UInt64 {
        if let value = try? memory.readLittleEndian(address, size: size) { return value }
        statistics.pointee[.mmio] += 1
        if let platform, let page = platform.localAPICPage, address & ~0xFFF == page {
            return platform.readLocalAPIC(offset: address & 0xFFF, width: AccessWidth(byteCount: size) ?? .byte)
        }
        return io.mmioRead(GuestAddress(address), width: AccessWidth(byteCount: size) ?? .byte)
    }

    func writePhysical(_ address: UInt64, size: Int, _ value: UInt64) throws(Interruption) {
        if (try? memory.writeLittleEndian(address, size: size, value)) != nil {
            if codeCache.isCodePage(address) { codeWritten(address) }
            return
        }
        // Outside RAM or in the read-only firmware: an MMIO write, as KVM reports it.
        statistics.pointee[.mmio] += 1
        if let platform, let page = platform.localAPICPage, address & ~0xFFF == page {
            platform.writeLocalAPIC(offset: address & 0xFFF, width: AccessWidth(byteCount: size) ?? .byte, value: value & mask(size))
            // The write may have made an interrupt deliverable (EOI, TPR): end the block.
            state.pointee.stopBlock = true
            return
        }
        if case .stop(let reason) = io.mmioWrite(GuestAddress(address), width: AccessWidth(byteCount: size) ?? .byte, value: value & mask(size)) {
            throw .stop(reason)
        }
    }

    // MARK: - Paging

    /// Page-fault error code bits (SDM vol. 3, 4.7).
    static var pfPresent: UInt32 { 1 }
    static var pfWrite: UInt32 { 2 }
    static var pfUser: UInt32 { 4 }
    static var pfFetch: UInt32 { 16 }

    /// Translates a linear address and fills the TLB with the result.
    func translate(_ linear: UInt64, write: Bool, fetch: Bool) throws(Interruption) -> UInt64 {
        let walk = try walk(linear, write: write, fetch: fetch)
        let physicalPage = walk.physical & ~0xFFF
        var entry = TLBEntry(page: linear >> 12, physicalPage: physicalPage, userAllowed: walk.user, executable: walk.executable)
        if let region = memory.region(containing: physicalPage, length: 0x1000) {
            let host = region.hostAddress + UInt(physicalPage - region.guestStart)
            entry.hostRead = host
            // Writes take the fast path only once the page is known writable and marked dirty.
            // Pages holding decoded code never get one: their writes must invalidate the code.
            if !region.readOnly && walk.writable && walk.dirty && !codeCache.isCodePage(physicalPage) { entry.hostWrite = host }
        }
        tlb.refill(entry)
        return walk.physical
    }

    /// The result of a page walk: the physical address and the rights of the page.
    struct Walk {
        var physical: UInt64
        var writable = true
        var user = true
        var executable = true
        /// Whether the dirty bit is set (always true without paging).
        var dirty = true
    }

    /// Walks the page tables of the current paging mode, setting accessed and dirty bits, or
    /// raises #PF with CR2 set.
    func walk(_ linear: UInt64, write: Bool, fetch: Bool) throws(Interruption) -> Walk {
        let s = state.pointee
        guard s.isPaging else { return Walk(physical: s.isLongModeActive ? linear : linear & 0xFFFF_FFFF) }
        let user = s.cpl == 3
        let writeProtect = s.cr0 & (1 << 16) != 0
        let nxEnabled = s.efer & (1 << 11) != 0
        var errorCode: UInt32 = (write ? Self.pfWrite : 0) | (user ? Self.pfUser : 0) | (fetch && nxEnabled ? Self.pfFetch : 0)
        func pageFault() -> Interruption {
            state.pointee.cr2 = linear
            return .fault(Fault(vector: Fault.pageFault, errorCode: errorCode))
        }

        // The chain of tables: the first level's index shift and width, then `step` bits a level.
        let levelCount: Int
        let firstShift: UInt64, firstBits: UInt64, step: UInt64
        var table: UInt64
        let entrySize: Int
        if s.isLongModeActive {
            (levelCount, firstShift, firstBits, step) = (4, 39, 9, 9)
            table = s.cr3 & 0x000F_FFFF_FFFF_F000
            entrySize = 8
        } else if s.cr4 & ControlBits.cr4PhysicalAddressExtension != 0 {
            (levelCount, firstShift, firstBits, step) = (3, 30, 2, 9)
            table = s.cr3 & 0xFFFF_FFE0
            entrySize = 8
        } else {
            (levelCount, firstShift, firstBits, step) = (2, 22, 10, 10)
            table = s.cr3 & 0xFFFF_F000
            entrySize = 4
        }
        let pae = entrySize == 8
        let legacyPDPT = pae && !s.isLongModeActive
        var writable = true, userAllowed = true, executable = true
        // The entries used so far (a fixed-size buffer: a TLB miss allocates nothing).
        var entryAddresses = InlineArray<4, UInt64>(repeating: 0)
        var entryValues = InlineArray<4, UInt64>(repeating: 0)
        for depth in 0..<levelCount {
            let shift = firstShift - UInt64(depth) * step
            let bits = depth == 0 ? firstBits : step
            let index = (linear >> shift) & ((1 << bits) - 1)
            let entryAddress = table + index * UInt64(entrySize)
            let entry = readPhysical(entryAddress, size: entrySize)
            guard entry & 1 != 0 else { throw pageFault() }
            if !(legacyPDPT && depth == 0) {  // PAE PDPTEs carry no access rights
                writable = writable && entry & 2 != 0
                userAllowed = userAllowed && entry & 4 != 0
                if nxEnabled && entry >> 63 != 0 { executable = false }
            }
            entryAddresses[depth] = entryAddress
            entryValues[depth] = entry
            let isLast = depth == levelCount - 1
            // A large page: PS at the PDPT (1 GiB, long mode) or the PD (2 MiB or 4 MiB).
            let largePageLevel = shift == 30 && s.isLongModeActive || shift == 21 || (shift == 22 && s.cr4 & (1 << 4) != 0)
            if isLast || (largePageLevel && entry & 0x80 != 0) {
                errorCode |= Self.pfPresent
                if write && !writable && (user || writeProtect) { throw pageFault() }
                if user && !userAllowed { throw pageFault() }
                if fetch && !executable { throw pageFault() }
                // Accessed bits on every level, dirty on the final entry for writes.
                for position in 0...depth where !(legacyPDPT && position == 0) {
                    var updated = entryValues[position] | 0x20
                    if write && position == depth { updated |= 0x40 }
                    if updated != entryValues[position] {
                        try? memory.writeLittleEndian(entryAddresses[position], size: entrySize, updated)
                        if codeCache.isCodePage(entryAddresses[position]) { codeWritten(entryAddresses[position]) }
                    }
                }
                let pageMask: UInt64 = (1 << shift) - 1
                let dirty = write || entry & 0x40 != 0
                var frame: UInt64
                if isLast {
                    frame = entry & (pae ? 0x000F_FFFF_FFFF_F000 : 0xFFFF_F000)
                } else if !pae {
                    // 4 MiB page: bits 13-20 extend the frame above 4 GiB (PSE-36); kept below.
                    frame = entry & 0xFFC0_0000
                } else {
                    frame = entry & 0x000F_FFFF_FFFF_F000 & ~pageMask
                }
                frame &= ~pageMask
                return Walk(physical: frame | (linear & pageMask), writable: writable, user: userAllowed, executable: executable, dirty: dirty)
            }
            table = entry & (pae ? 0x000F_FFFF_FFFF_F000 : 0xFFFF_F000)
        }
        throw pageFault()
    }
}

extension GuestMemory {
    /// A little-endian value of 1, 2, 4 or 8 bytes from RAM or ROM.
    func readLittleEndian(_ address: UInt64, size: Int) throws(MemoryError) -> UInt64 {
        switch size {
        case 1: return UInt64(try load(UInt8.self, at: address))
        case 2: return UInt64(try load(UInt16.self, at: address))
        case 4: return UInt64(try load(UInt32.self, at: address))
        default: return try load(UInt64.self, at: address)
        }
    }

    /// Writes a little-endian value of 1, 2, 4 or 8 bytes to RAM.
    func writeLittleEndian(_ address: UInt64, size: Int, _ value: UInt64) throws(MemoryError) {
        switch size {
        case 1: try store(UInt8(truncatingIfNeeded: value), at: address)
        case 2: try store(UInt16(truncatingIfNeeded: value), at: address)
        case 4: try store(UInt32(truncatingIfNeeded: value), at: address)
        default: try store(value, at: address)
        }
    }
}
