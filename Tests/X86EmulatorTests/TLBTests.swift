import Boot
import Testing
import VMCore
import X86Emulator

/// The software TLB must hold pages that a guest uses together even when their addresses differ
/// by a large power of two (buffers 2 MiB, 4 MiB or 1 GiB apart, and the code using them). A TLB
/// that lets them evict each other walks the page tables on every access; these tests count the
/// walks (`tlbRefills`), not time.
@Suite struct TLBTests {
    static let mebibyte: UInt64 = 1 << 20

    /// Maps the 2 MiB page holding each linear address in `buffers` to physical 2 MiB, 4 MiB,
    /// 6 MiB... (same offset within it), in the long-mode identity map's page directories, so
    /// buffers gigabytes apart stay in an 8 MiB guest.
    func alias(_ buffers: [UInt64], in memory: GuestMemory) throws {
        let firstDirectory = BootLayout.pml4Address + 0x2000  // after the PML4 and the PDPT
        for (index, linear) in buffers.enumerated() {
            precondition(linear < 4 << 30 && linear >> 21 != 0)  // inside the map, not the code's page
            let physical = UInt64(2 + 2 * index) * Self.mebibyte
            try memory.store(physical | 0x83, at: firstDirectory + (linear >> 21) * 8)  // present, writable, 2 MiB
        }
    }

    @Test(arguments: [2 * mebibyte, 4 * mebibyte, 1 << 30])
    func aCopyBetweenBuffersAPowerOfTwoApartWalksOncePerPage(distance: UInt64) throws {
        let pages: UInt64 = 16
        let source = 2 * Self.mebibyte, destination = source + distance
        let code: [UInt8] = [0xF3, 0xA4, 0xF4]  // rep movsb; hlt
        let run = try emulate(code, mode: .long) { memory, registers, _ in
            try alias([source, destination], in: memory)
            for page in 0..<pages { try memory.store(UInt64(0x1111 * (page + 1)), at: 2 * Self.mebibyte + page * 0x1000) }
            (registers.rsi, registers.rdi, registers.rcx) = (source, destination, pages * 0x1000)
        }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rcx == 0)
        for page in 0..<pages {
            #expect(try run.memory.load(UInt64.self, at: 4 * Self.mebibyte + page * 0x1000) == 0x1111 * (page + 1))
        }
        // One walk for each source and destination page, a few for the code and its chunks.
        // (A TLB where the two buffers collide walks twice per byte: about 131,000.)
        #expect(run.statistics.tlbRefills <= 2 * pages + 8, "\(run.statistics.tlbRefills) TLB refills")
    }

    // (Three pages a multiple of 1 GiB apart share a set of two ways: not covered.)
    @Test(arguments: [2 * mebibyte, 4 * mebibyte])
    func codeAndTwoBuffersAPowerOfTwoApartWalkOncePerPage(distance: UInt64) throws {
        // lodsb/stosb run on the byte interpreter, which fetches every instruction through the
        // TLB: three pages in use at once, the code's and the two buffers'.
        let pages: UInt64 = 2
        let code: [UInt8] = [
            0xAC,  // lodsb
            0xAA,  // stosb
            0x48, 0xFF, 0xC9,  // dec rcx
            0x75, 0xF9,  // jnz lodsb
            0xF4,  // hlt
        ]
        let codePage = BootLayout.protectedModeLoadAddress
        let source = codePage + distance, destination = codePage + 2 * distance
        let run = try emulate(code, mode: .long) { memory, registers, _ in
            try alias([source, destination], in: memory)
            try memory.store(UInt64(0x0123_4567_89AB_CDEF), at: 2 * Self.mebibyte + (source & 0x1F_FFFF) + 0x1000)
            (registers.rsi, registers.rdi, registers.rcx) = (source, destination, pages * 0x1000)
        }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rcx == 0)
        #expect(try run.memory.load(UInt64.self, at: 4 * Self.mebibyte + (destination & 0x1F_FFFF) + 0x1000) == 0x0123_4567_89AB_CDEF)
        // (A TLB where the three pages collide walks three times per byte: about 24,600.)
        #expect(run.statistics.tlbRefills <= 3 * pages + 8, "\(run.statistics.tlbRefills) TLB refills")
    }

    @Test func invlpgAndCR3WritesDropPagesFromBothWays() throws {
        // Two pages 1 GiB apart share a set: A lands in way 1 when B is loaded after it. Each is
        // then remapped and flushed (A by INVLPG, B by reloading CR3) and read again.
        let a = 2 * Self.mebibyte, b = a + (1 << 30)
        let firstDirectory = BootLayout.pml4Address + 0x2000
        let code: [UInt8] = [
            0x48, 0x8B, 0x06,  // mov rax, [rsi]      A
            0x48, 0x8B, 0x1F,  // mov rbx, [rdi]      B (A moves to way 1)
            0x4D, 0x89, 0x08,  // mov [r8], r9        remap A to 6 MiB
            0x0F, 0x01, 0x3E,  // invlpg [rsi]
            0x48, 0x8B, 0x0E,  // mov rcx, [rsi]
            0x4D, 0x89, 0x1A,  // mov [r10], r11      remap B to 2 MiB
            0x41, 0x0F, 0x20, 0xDC,  // mov r12, cr3
            0x41, 0x0F, 0x22, 0xDC,  // mov cr3, r12
            0x48, 0x8B, 0x17,  // mov rdx, [rdi]
            0xF4,  // hlt
        ]
        let run = try emulate(code, mode: .long) { memory, registers, _ in
            try alias([a, b], in: memory)  // A at physical 2 MiB, B at 4 MiB
            try memory.store(UInt64(0xAAAA), at: 2 * Self.mebibyte)
            try memory.store(UInt64(0xBBBB), at: 4 * Self.mebibyte)
            try memory.store(UInt64(0xCCCC), at: 6 * Self.mebibyte)
            registers.rsi = a
            registers.rdi = b
            registers.r8 = firstDirectory + (a >> 21) * 8
            registers.r9 = 6 * Self.mebibyte | 0x83
            registers.r10 = firstDirectory + (b >> 21) * 8
            registers.r11 = 2 * Self.mebibyte | 0x83
        }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rax == 0xAAAA)
        #expect(run.registers.rbx == 0xBBBB)
        #expect(run.registers.rcx == 0xCCCC)
        #expect(run.registers.rdx == 0xAAAA)
    }
}
