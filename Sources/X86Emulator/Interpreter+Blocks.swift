import VMCore

/// Finding, building and running blocks of decoded 64-bit and flat 32-bit code.
extension Interpreter {
    /// Runs decoded blocks from RIP until `retired` reaches `limit`, the code leaves its page, or
    /// a block ends in an instruction for the full interpreter; or runs one instruction on the
    /// full interpreter when the code is neither 64-bit nor flat 32-bit, not on a cached RAM
    /// page, or not yet translated. Adds the instructions completed to `retired`.
    ///
    /// This is the hot path: `scripts/check-hot-path` checks over the disassembly that it and
    /// everything it calls (up to the byte interpreter and the TLB-miss paths) call nothing in
    /// the Swift runtime: no allocation, reference counting, exclusivity checks or generics.
    @inline(never)
    func runBlocks(_ retired: inout UInt64, limit: UInt64) throws(Interruption) {
        if debugActive {
            try debugStep()
            retired &+= 1
        } else if state.pointee.is64BitMode {
            try run64BitBlocks(&retired, limit: limit)
        } else if state.isFlat32 {
            try runFlat32Blocks(&retired, limit: limit)
        } else {
            try step()
            retired &+= 1
        }
    }

    /// `runBlocks` for 64-bit code: the block loop alone in its function, so that the compiler
    /// keeps `executeDecoded` inlined in it (with the dispatch around it, it did not).
    @inline(never)
    func run64BitBlocks(_ retired: inout UInt64, limit: UInt64) throws(Interruption) {
        try runChain(&retired, limit: limit, legacy: false)
    }

    /// `runBlocks` for flat 32-bit code: the same loop, compiled separately with `legacy` set
    /// (one function holding both loops was larger and slower).
    @inline(never)
    func runFlat32Blocks(_ retired: inout UInt64, limit: UInt64) throws(Interruption) {
        try runChain(&retired, limit: limit, legacy: true)
    }

    /// The TLB entry of `rip`'s page if it is cached RAM or ROM that the current privilege may
    /// execute (CS has base 0 in both kinds of code the blocks run).
    @_transparent
    func cachedCodePage(_ rip: UInt64) -> TLBEntry? {
        let page = rip >> 12
        let entry = tlb.lookup(page).pointee
        guard entry.tag == page &+ 1 && entry.hostRead != 0 && entry.executable && (entry.userAllowed || state.pointee.segments.1.dpl != 3)
        else { return nil }
        return entry
    }

    /// `cachedCodePage` as a call, for the block loop's page changes: expanded there it made the
    /// loop too large for the compiler to keep `executeDecoded` inlined (a call per instruction).
    @inline(never)
    func cachedCodePageOutOfLine(_ rip: UInt64) -> TLBEntry? { cachedCodePage(rip) }

    /// The block loop of `runBlocks`, inlined into its two callers with `legacy` a constant; or
    /// one instruction on the byte interpreter when RIP's page is not cached executable memory.
    @inline(__always)
    func runChain(_ retired: inout UInt64, limit: UInt64, legacy: Bool) throws(Interruption) {
        guard var entry = cachedCodePage(state.pointee.rip) else {
            try step()  // fills the TLB (or raises the fetch fault)
            retired &+= 1
            return
        }
        // Fields copied out of `self`, which arrives by address: otherwise every guest store
        // (through pointers that might alias it, as far as the compiler knows) reloads them.
        let state = self.state, codeCache = self.codeCache
        let start = state.pointee.rip
        // CPL cannot change inside the chain either: user-mode page rights are settled once.
        let mode = ChainMode(legacy: legacy, user: state.pointee.segments.1.dpl == 3)
        // 32-bit code's EIP wraps at 4 GiB: RIP is masked where it leaves the loop (inside, it
        // stays on one page below 4 GiB; a jump that wrapped leaves the page, so the loop).
        let ipMask: UInt64 = legacy ? 0xFFFF_FFFF : .max
        var rip = start
        var page = rip >> 12
        // Within one linear page the translation cannot change without a TLB flush, and
        // everything that flushes (MOV CR3, INVLPG...) runs on the full interpreter and ends the
        // chain: so the next block on this page is found from its offset alone. Likewise the
        // mode and the segments change only on the full interpreter.
        var pagePhysical = entry.physicalPage
        state.pointee.stopBlock = false
        var block = CodeBlock()
        var blockRIP: UInt64 = 0
        while true {
            // A loop that jumps back to its own start (the innermost loops) reuses the block it
            // holds; anything else is looked up. (Invalidation sets stopBlock, ending the chain.)
            if block.tag == 0 || rip != blockRIP {
                let physical = pagePhysical | (rip & 0xFFF)
                let slot = CodeCache.slot(physical)
                block = codeCache.blocks[slot]
                if block.tag != CodeCache.tag(physical, legacy: legacy) {
                    block = buildBlock(physical, host: entry.hostRead, offset: Int(rip & 0xFFF), legacy: legacy)
                    codeCache.blocks[slot] = block
                }
                blockRIP = rip
            }
            let first = UnsafePointer(codeCache.arena + Int(block.first))
            let end = first + Int(block.count)
            var instruction = first
            // RIP lives in a register while blocks run; state.rip is written back when they end.
            var current = rip
            do {
                repeat {
                    current = try executeDecoded(instruction, rip: current, mode: mode)
                    instruction += 1
                } while instruction < end && !state.pointee.stopBlock
            } catch {
                retired &+= UInt64(instruction - first)
                if instruction.pointee.operation != .slow {
                    // A fault leaves RIP at the instruction; a device's stop request during a
                    // write lets it complete, as a KVM exit does. (The byte interpreter does
                    // both itself.)
                    if case .stop = error { current &+= UInt64(instruction.pointee.length) }
                    state.pointee.rip = current & ipMask
                }
                throw error
            }
            // A fused pair is always last: a block run to its end retired all its instructions.
            retired &+= instruction == end ? UInt64(block.instructions) : UInt64(instruction - first)
            let last = instruction - 1
            if last.pointee.operation == .slow {
                return  // the byte interpreter has set RIP (and may have changed mode or paging)
            }
            rip = current
            guard retired < limit && !state.pointee.stopBlock else {
                state.pointee.rip = rip & ipMask
                return
            }
            // Onto another page (a call, a return, a jump: kernel code crosses pages all the
            // time): the chain goes on there if the TLB already has it as executable code, and
            // returns to the full interpreter to fill the TLB otherwise.
            if rip >> 12 != page {
                rip &= ipMask
                guard let next = cachedCodePageOutOfLine(rip) else {
                    state.pointee.rip = rip
                    return
                }
                entry = next
                page = rip >> 12
                pagePhysical = next.physicalPage
            }
        }
    }

    /// Decodes the block starting at `physical` (host page `host`, byte `offset`) into the arena.
    @inline(never)
    func buildBlock(_ physical: UInt64, host: UInt, offset start: Int, legacy: Bool) -> CodeBlock {
        if codeCache.arenaUsed.pointee + CodeCache.maximumBlockLength > CodeCache.arenaCapacity { codeCache.flushAll() }
        markCodePage(physical)
        let first = codeCache.arenaUsed.pointee
        let page = UnsafeRawPointer(bitPattern: host)!
        var offset = start
        var count = 0
        var instructions = 0
        while count < CodeCache.maximumBlockLength && offset < 0x1000 {
            let decoded = FastDecoder.decode(page + offset, available: 0x1000 - offset, legacy32: legacy)
            instructions += 1
            if count > 0, let fused = FastDecoder.fuse(codeCache.arena[first + count - 1], decoded) {
                codeCache.arena[first + count - 1] = fused
                break
            }
            codeCache.arena[first + count] = decoded
            count += 1
            if decoded.endsBlock {
                // A direct JMP or CALL to the same page: the block goes on at the target (the
                // entries after it are the target's), one block transition fewer.
                let target = offset + Int(decoded.length) + Int(Int64(bitPattern: decoded.immediate))
                if decoded.operation == .jump || decoded.operation == .call, target >= 0 && target < 0x1000 {
                    offset = target
                    continue
                }
                break
            }
            offset += Int(decoded.length)
        }
        codeCache.arenaUsed.pointee = first + count
        return CodeBlock(
            tag: CodeCache.tag(physical, legacy: legacy), first: UInt32(first), count: UInt16(count), instructions: UInt16(instructions))
    }

    /// Marks a page as holding decoded code and takes away the TLB's direct write pointers to it,
    /// so that every write to it reaches `writePhysical` and invalidates its blocks.
    func markCodePage(_ physical: UInt64) {
        guard codeCache.markCodePage(physical) else { return }
        let page = physical & ~0xFFF
        for index in 0..<TLB.size where tlb.entries[index].physicalPage == page {
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
