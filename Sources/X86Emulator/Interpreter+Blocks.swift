import VMCore

/// Finding, building and running blocks of decoded 64-bit code.
extension Interpreter {
    /// Runs the block at RIP, or one instruction on the full interpreter when the code is not
    /// 64-bit, not on a cached RAM page, or not yet translated. Adds the instructions completed
    /// to `retired`.
    @inline(__always)
    func runBlock(_ retired: inout UInt64) throws(Interruption) {
        guard state.pointee.is64BitMode else {
            try step()
            retired &+= 1
            return
        }
        let rip = state.pointee.rip
        let page = rip >> 12
        let entry = tlb.entries[TLB.index(page)]
        guard entry.tag == page &+ 1 && entry.hostRead != 0 && entry.executable && (entry.userAllowed || state.pointee.segments.1.dpl != 3) else {
            try step()  // fills the TLB (or raises the fetch fault)
            retired &+= 1
            return
        }
        let physical = entry.physicalPage | (rip & 0xFFF)
        let slot = CodeCache.slot(physical)
        var block = codeCache.blocks[slot]
        if block.tag != physical &+ 1 {
            block = buildBlock(physical, host: entry.hostRead, offset: Int(rip & 0xFFF))
            codeCache.blocks[slot] = block
        }
        state.pointee.stopBlock = false
        var instruction = UnsafePointer(codeCache.arena + Int(block.first))
        let end = instruction + Int(block.count)
        repeat {
            let start = state.pointee.rip
            do {
                try executeDecoded(instruction)
            } catch .stop(let reason) {
                // A device asked to stop during a write: the instruction completed, as on KVM.
                if instruction.pointee.operation != .slow && state.pointee.rip == start {
                    state.pointee.rip &+= UInt64(instruction.pointee.length)
                }
                throw .stop(reason)
            }
            retired &+= 1
            instruction += 1
        } while instruction < end && !state.pointee.stopBlock
    }

    /// Decodes the block starting at `physical` (host page `host`, byte `offset`) into the arena.
    @inline(never)
    func buildBlock(_ physical: UInt64, host: UInt, offset start: Int) -> CodeBlock {
        if codeCache.arenaUsed.pointee + CodeCache.maximumBlockLength > CodeCache.arenaCapacity { codeCache.flushAll() }
        markCodePage(physical)
        let first = codeCache.arenaUsed.pointee
        let page = UnsafeRawPointer(bitPattern: host)!
        var offset = start
        var count = 0
        while count < CodeCache.maximumBlockLength && offset < 0x1000 {
            let decoded = FastDecoder.decode(page + offset, available: 0x1000 - offset)
            codeCache.arena[first + count] = decoded
            count += 1
            if decoded.endsBlock { break }
            offset += Int(decoded.length)
        }
        codeCache.arenaUsed.pointee = first + count
        return CodeBlock(tag: physical &+ 1, first: UInt32(first), count: UInt32(count))
    }

    /// Marks a page as holding decoded code and takes away the TLB's direct write pointers to it,
    /// so that every write to it reaches `writePhysical` and invalidates its blocks.
    func markCodePage(_ physical: UInt64) {
        let page = physical >> 12
        guard page < UInt64(codeCache.ramPageCount), codeCache.codePages[Int(page)] == 0 else { return }
        codeCache.codePages[Int(page)] = 1
        for index in 0..<TLB.size where tlb.entries[index].physicalPage == page << 12 {
            tlb.entries[index].hostWrite = 0
        }
    }

    /// A guest write reached a page blocks were decoded from: drop them and stop the running block.
    @inline(never)
    func codeWritten(_ physical: UInt64) {
        codeCache.invalidate(page: physical)
        state.pointee.stopBlock = true
    }
}
