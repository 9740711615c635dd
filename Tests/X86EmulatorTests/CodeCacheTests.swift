import Testing
import VMCore
import X86Emulator

/// The decoded-block cache must be invisible to the guest: code that rewrites itself sees its own
/// writes, and the lazily kept flags read back exactly.
@Suite struct CodeCacheTests {
    @Test func aLoopThatPatchesAnInstructionItRanBeforeRunsThePatchedBytes() throws {
        // Three passes over `mov eax, imm32` whose immediate the loop raises by 2 each pass:
        // 1 + 3 + 5 = 9. A stale decoded block would repeat an old immediate (1 + 3 + 3 = 7).
        let code: [UInt8] = [
            0xB9, 0x03, 0x00, 0x00, 0x00,  // 0: mov ecx, 3
            0xB8, 0x01, 0x00, 0x00, 0x00,  // 5: mov eax, 1 (immediate at 6)
            0x01, 0xC3,  // 10: add ebx, eax
            0x80, 0x05, 0xF3, 0xFF, 0xFF, 0xFF, 0x02,  // 12: add byte [rip - 13], 2 (-> offset 6)
            0xFF, 0xC9,  // 19: dec ecx
            0x75, 0xEE,  // 21: jnz 5
            0xF4,  // 23: hlt
        ]
        let run = try emulate(code, mode: .long) { _, registers, _ in registers.rbx = 0 }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rbx == 9)
        #expect(run.statistics.instructions == 16)  // mov, then 3 x 5; the HLT stopped the run
    }

    @Test func flat32BitCodeThatPatchesItselfRunsThePatchedBytes() throws {
        // The same loop as 32-bit protected-mode code (decoded blocks for flat 32-bit code):
        // absolute [disp32] addressing and the one-byte DEC.
        let code: [UInt8] = [
            0xB9, 0x03, 0x00, 0x00, 0x00,  // 0: mov ecx, 3
            0xB8, 0x01, 0x00, 0x00, 0x00,  // 5: mov eax, 1 (immediate at 0x100006)
            0x01, 0xC3,  // 10: add ebx, eax
            0x80, 0x05, 0x06, 0x00, 0x10, 0x00, 0x02,  // 12: add byte [0x100006], 2
            0x49,  // 19: dec ecx
            0x75, 0xEF,  // 20: jnz 5
            0xF4,  // 22: hlt
        ]
        let run = try emulate(code, mode: .protected) { _, registers, _ in registers.rbx = 0 }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rbx == 9)
        #expect(run.statistics.instructions == 16)
    }

    @Test func aWriteToTheNextInstructionInTheSameBlockIsSeen() throws {
        // The first instruction runs alone (it fills the TLB); the next two form one block.
        let code: [UInt8] = [
            0x31, 0xC0,  // 0: xor eax, eax
            0xC6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x07,  // 2: mov byte [rip + 1], 7 (-> offset 10)
            0xB8, 0x01, 0x00, 0x00, 0x00,  // 9: mov eax, 1, rewritten to mov eax, 7 before it runs
            0xF4,
        ]
        let run = try emulate(code, mode: .long)
        #expect(run.registers.rax == 7)
    }

    @Test func codeRewrittenThroughASecondMappingOfItsPageIsSeen() throws {
        // Linear 4 GiB maps the code's page (0x100000) a second time with a 4 KiB page (in
        // another TLB slot than the code's, so the code stays cached); the loop raises the
        // immediate through that alias, which must still invalidate the decoded blocks.
        let code: [UInt8] = [
            0xB9, 0x03, 0x00, 0x00, 0x00,  // 0: mov ecx, 3
            0xB8, 0x01, 0x00, 0x00, 0x00,  // 5: mov eax, 1 (immediate at 0x100006)
            0x01, 0xC3,  // 10: add ebx, eax
            0x48, 0xBA, 0x06, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // 12: mov rdx, 0x1_0000_0006
            0x80, 0x02, 0x02,  // 22: add byte [rdx], 2
            0xFF, 0xC9,  // 25: dec ecx
            0x75, 0xE8,  // 27: jnz 5
            0xF4,  // 29: hlt
        ]
        let run = try emulate(code, mode: .long) { memory, registers, system in
            registers.rbx = 0
            // PDPT entry 4 (linear 4-5 GiB) -> page directory 0x30000 -> page table 0x31000 -> 0x100000.
            let pml4 = system.cr3 & ~0xFFF
            let pdpt = try memory.load(UInt64.self, at: pml4) & 0x000F_FFFF_FFFF_F000
            try memory.store(UInt64(0x30003), at: pdpt + 4 * 8)
            try memory.store(UInt64(0x31003), at: 0x30000)
            try memory.store(UInt64(0x10_0003), at: 0x31000)
        }
        #expect(run.stop == .halted(interruptsEnabled: false), "rip \(hex(run.registers.rip))")
        #expect(run.registers.rbx == 9)  // 1 + 3 + 5
    }

    @Test func lazilyKeptFlagsReadBackExactly() throws {
        // add eax, 1 with eax = 0xFFFFFFFF: CF, PF, AF and ZF set; then inc ecx keeps that CF.
        let code: [UInt8] = [0x83, 0xC0, 0x01, 0xFF, 0xC1, 0xF4]
        let run = try emulate(code, mode: .long) { _, registers, _ in
            registers.rax = 0xFFFF_FFFF
            registers.rcx = 0x7F
        }
        #expect(run.registers.rax == 0)
        #expect(run.registers.rcx == 0x80)
        // From inc ecx (0x7F -> 0x80): AF set, ZF/SF/OF/PF clear; CF kept from the add.
        let arithmetic = run.registers.rflags & (Flag.cf | Flag.pf | Flag.af | Flag.zf | Flag.sf | Flag.of)
        #expect(arithmetic == Flag.cf | Flag.af)
    }
}

/// Blocks end at page boundaries; an instruction that straddles one runs on the byte interpreter.
@Suite struct PageBoundaryTests {
    @Test func anInstructionStraddlingTwoPagesRunsAndTheLoopAroundItStaysExact() throws {
        // Entered at 0x100FF8: `mov eax, imm32` spans 0x100FFD-0x101001, across the page end.
        var code = [UInt8](repeating: 0x90, count: 0x1010)
        let loop: [UInt8] = [
            0xB9, 0x05, 0x00, 0x00, 0x00,  // 0x100FF8: mov ecx, 5
            0xB8, 0x07, 0x00, 0x00, 0x00,  // 0x100FFD: mov eax, 7 (straddles 0x101000)
            0x01, 0xC3,  // 0x101002: add ebx, eax
            0xFF, 0xC9,  // 0x101004: dec ecx
            0x75, 0xF5,  // 0x101006: jnz 0x100FFD
            0xF4,  // 0x101008: hlt
        ]
        code.replaceSubrange(0xFF8..<0xFF8 + loop.count, with: loop)
        let run = try emulate(code, mode: .long) { _, registers, _ in
            registers.rip = 0x100FF8
            registers.rbx = 0
        }
        #expect(run.stop == .halted(interruptsEnabled: false), "rip \(hex(run.registers.rip))")
        #expect(run.registers.rbx == 35)
        #expect(run.statistics.instructions == 1 + 5 * 4)
    }
}

/// A device that asks to stop during a store in the middle of a decoded block: the store
/// completes, RIP is the next instruction, and the instructions before it are counted.
@Suite struct StopInsideABlockTests {
    final class StoppingIO: GuestIO {
        var written: [(GuestAddress, UInt64)] = []
        func portRead(_ port: IOPort, width: AccessWidth) -> UInt32 { 0 }
        func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction { .proceed }
        func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64 { 0 }
        func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction {
            written.append((address, value))
            return .stop(.debugExit(value: UInt32(truncatingIfNeeded: value)))
        }
        func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction { .proceed }
    }

    @Test func anMMIOStopMidBlockCompletesTheStoreAndLeavesRIPAfterIt() throws {
        // A loop warms the block cache, then a store to an address beyond RAM (MMIO) stops the
        // run. 0xE0000000 is mapped by the 4 GiB identity map of the long-mode plan.
        let code: [UInt8] = [
            0xB9, 0x03, 0x00, 0x00, 0x00,  // 0: mov ecx, 3
            0xFF, 0xC9,  // 5: dec ecx
            0x75, 0xFC,  // 7: jnz 5
            0xBA, 0x00, 0x00, 0x00, 0xE0,  // 9: mov edx, 0xE0000000
            0xB8, 0x2A, 0x00, 0x00, 0x00,  // 14: mov eax, 42
            0x89, 0x02,  // 19: mov [rdx], eax  (MMIO: the device stops the run)
            0xFF, 0xC0,  // 21: inc eax (must not run)
            0xF4,  // 23: hlt
        ]
        let (cpu, _) = try loadedCPU(code, mode: .long)
        let io = StoppingIO()
        let stop = try cpu.run(io: io, kicker: CPUKicker())
        #expect(stop == .debugExit(value: 42))
        #expect(io.written.count == 1 && io.written.first?.0 == GuestAddress(0xE000_0000))
        let registers = try cpu.registers()
        #expect(registers.rip == 0x100000 + 21)
        #expect(registers.rax == 42)
        #expect(cpu.statistics.instructions == 1 + 3 * 2 + 2)  // the store itself stopped the run
    }
}

/// More code than the decoded-instruction arena holds: the cache flushes and refills, twice over.
@Suite struct CodeCacheCapacityTests {
    @Test func codeLargerThanTheArenaRunsExactly() throws {
        // 200,000 x `inc eax` (FF C0) in a loop run twice: about 3,100 blocks of 64 entries,
        // three arena fills (65,536 entries), per pass.
        let count = 200_000
        var code: [UInt8] = [0xB9, 0x02, 0x00, 0x00, 0x00]  // mov ecx, 2
        for _ in 0..<count { code += [0xFF, 0xC0] }
        // dec ecx; jnz back to the first inc (a rel32 jump over the whole run); hlt
        let back = -(count * 2 + 2 + 6)
        code += [0xFF, 0xC9, 0x0F, 0x85] + withUnsafeBytes(of: Int32(back).littleEndian, Array.init) + [0xF4]
        let run = try emulate(code, mode: .long, memorySize: 16 << 20) { _, registers, _ in registers.rax = 0 }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rax == UInt64(2 * count))
        #expect(run.statistics.instructions == UInt64(1 + 2 * (count + 2)))
    }
}

/// Blocks follow direct JMP/CALL to their page: results and counts stay exact, and a JMP to itself
/// still lets the run be stopped.
@Suite struct FollowedJumpTests {
    @Test func aLoopCallingAFunctionOnItsPageCountsExactly() throws {
        let code: [UInt8] = [
            0xB9, 0x0A, 0x00, 0x00, 0x00,  // 0: mov ecx, 10
            0xE8, 0x09, 0x00, 0x00, 0x00,  // 5: call 19
            0xEB, 0x02,  // 10: jmp 14
            0x0F, 0x0B,  // 12: ud2 (skipped)
            0xFF, 0xC9,  // 14: dec ecx
            0x75, 0xF3,  // 16: jnz 5
            0xF4,  // 18: hlt
            0x48, 0x83, 0xC3, 0x03,  // 19: add rbx, 3
            0xC3,  // 23: ret
        ]
        let run = try emulate(code, mode: .long) { _, registers, _ in registers.rbx = 0 }
        #expect(run.stop == .halted(interruptsEnabled: false), "rip \(hex(run.registers.rip))")
        #expect(run.registers.rbx == 30)
        #expect(run.statistics.instructions == 1 + 10 * 6)  // call, add, ret, jmp, dec, jnz
        #expect(run.statistics.invalidOpcodes == 0)
    }

    @Test func aJumpToItselfIsStoppedByAStopRequest() throws {
        let (cpu, _) = try loadedCPU([0xEB, 0xFE], mode: .long)  // jmp $
        #expect(try cpu.run(io: TestIO(), kicker: kicker(stoppingAfter: 0.05)) == .timedOut)
        #expect(try cpu.registers().rip == 0x100000)
        #expect(cpu.statistics.instructions > 1000)
    }
}
