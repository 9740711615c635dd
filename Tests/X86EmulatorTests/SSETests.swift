import Boot
import Testing
import VMCore

/// SSE, SSE2, MMX and FXSAVE on the software backend: results the manuals define, and the
/// exceptions (#NM, #UD, #GP, #XM) delivered where the SDM says. (The differential tester
/// compares the rest with the CPU; these cover what it cannot reach: CR0/CR4 settings, #GP for
/// misaligned operands and reserved MXCSR bits, which PVM misreports, and 32-bit code.)
@Suite struct SSETests {
    static let data: UInt64 = 0x20_0000
    static let image: UInt64 = 0x20_1000

    /// A 64-bit interrupt gate (DPL 0) to `handler` through the 64-bit code selector 0x18.
    func gate64(_ handler: UInt64) -> [UInt8] {
        var gate = [UInt8](repeating: 0, count: 16)
        gate[0] = UInt8(handler & 0xFF); gate[1] = UInt8((handler >> 8) & 0xFF)
        gate[2] = 0x18
        gate[5] = 0x8E
        gate[6] = UInt8((handler >> 16) & 0xFF); gate[7] = UInt8((handler >> 24) & 0xFF)
        return gate
    }

    /// Runs 64-bit `code` at CPL 0 with `words` (8 bytes each) at `data` and handlers for #UD,
    /// #NM, #GP, #MF and #XM that stop with the vector as the debug-exit value, RDX = the
    /// faulting RIP and RSI = the error code (#GP). The #XM handler also stores XMM0 at
    /// data+0x10 and MXCSR at data+0x24. A normal end is `mov al, 0; out 0xF4, al`.
    func run(
        _ code: [UInt8], words: [UInt64] = [], cr0Set: UInt64 = 0, cr4: UInt64 = 0x600, mode: CPUMode = .long
    ) throws -> EmulatorRun {
        try emulate(code, mode: mode) { memory, _, system in
            for (index, word) in words.enumerated() { try memory.store(word, at: Self.data + UInt64(index) * 8) }
            system.cr0 |= cr0Set
            system.cr4 |= cr4
            guard mode == .long else { return }
            var idt = [UInt8](repeating: 0, count: 32 * 16)
            for vector in [6, 7, 13, 16, 19] {
                let handler = 0x8000 + UInt64(vector) * 32
                idt.replaceSubrange(vector * 16..<vector * 16 + 16, with: gate64(handler))
                var body: [UInt8] = vector == 13 ? [0x5E] : []  // pop rsi (the error code)
                body += [0x5A]  // pop rdx (the faulting RIP)
                if vector == 19 {
                    body += assembled(
                        "movsd %xmm0, 0x200010; stmxcsr 0x200024",
                        [0xF2, 0x0F, 0x11, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00, 0x0F, 0xAE, 0x1C, 0x25, 0x24, 0x00, 0x20, 0x00])
                }
                body += [0xB0, UInt8(vector), 0xE6, 0xF4]
                try memory.write(body, at: handler)
            }
            try memory.write(idt, at: 0x9000)
            system.idt = DescriptorTable(base: 0x9000, limit: UInt16(32 * 16 - 1))
        }
    }

    func load64(_ memory: GuestMemory, _ offset: UInt64) throws -> UInt64 { try memory.load(UInt64.self, at: Self.data + offset) }

    static let end: [UInt8] = [0xB0, 0x00, 0xE6, 0xF4]
    static let oneThird: [UInt8] = assembled(
        "ldmxcsr 0x200020; movsd 0x200000, %xmm0; movsd 0x200008, %xmm1; divsd %xmm1, %xmm0; movsd %xmm0, 0x200010; stmxcsr 0x200024",
        [
            0x0F, 0xAE, 0x14, 0x25, 0x20, 0x00, 0x20, 0x00, 0xF2, 0x0F, 0x10, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xF2, 0x0F, 0x10, 0x0C, 0x25, 0x08,
            0x00, 0x20, 0x00, 0xF2, 0x0F, 0x5E, 0xC1, 0xF2, 0x0F, 0x11, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00, 0x0F, 0xAE, 0x1C, 0x25, 0x24, 0x00, 0x20,
            0x00,
        ])

    @Test(
        arguments: [(0, 0x3FD5_5555_5555_5555), (1, 0x3FD5_5555_5555_5555), (2, 0x3FD5_5555_5555_5556), (3, 0x3FD5_5555_5555_5555)]
            as [(UInt64, UInt64)])
    func divisionRoundsAsMXCSRSays(rounding: UInt64, expected: UInt64) throws {
        let mxcsr = 0x1F80 | rounding << 13
        let run = try run(Self.oneThird + Self.end, words: [0x3FF0_0000_0000_0000, 0x4008_0000_0000_0000, 0, 0, mxcsr])
        #expect(run.stop == .debugExit(value: 0))
        #expect(try load64(run.memory, 0x10) == expected)
        #expect(try run.memory.load(UInt32.self, at: Self.data + 0x24) == UInt32(mxcsr) | 0x20)  // PE
    }

    @Test func anUnmaskedDivideByZeroIsXMAndLeavesTheDestination() throws {
        // 1.0 / 0.0 with ZM clear: #XM at the DIVSD, XMM0 still 1.0, ZE set, no PE.
        let run = try run(Self.oneThird + Self.end, words: [0x3FF0_0000_0000_0000, 0, 0, 0, 0x1D80])
        #expect(run.stop == .debugExit(value: 19))
        #expect(run.registers.rdx == 0x10_0000 + 26)
        #expect(try load64(run.memory, 0x10) == 0x3FF0_0000_0000_0000)
        #expect(try run.memory.load(UInt32.self, at: Self.data + 0x24) == 0x1D84)
    }

    @Test func withoutOSXMMEXCPTAnUnmaskedExceptionIsUD() throws {
        let run = try run(Self.oneThird + Self.end, words: [0x3FF0_0000_0000_0000, 0, 0, 0, 0x1D80], cr4: 0x200)
        #expect(run.stop == .debugExit(value: 6))
        #expect(run.registers.rdx == 0x10_0000 + 26)
    }

    @Test func maskedDivideByZeroGivesInfinityAndTheFlag() throws {
        let run = try run(Self.oneThird + Self.end, words: [0xBFF0_0000_0000_0000, 0, 0, 0, 0x1F80])
        #expect(run.stop == .debugExit(value: 0))
        #expect(try load64(run.memory, 0x10) == 0xFFF0_0000_0000_0000)
        #expect(try run.memory.load(UInt32.self, at: Self.data + 0x24) == 0x1F84)
    }

    static let addps: [UInt8] = assembled("addps %xmm1, %xmm0", [0x0F, 0x58, 0xC1])
    static let paddb: [UInt8] = assembled("paddb %mm1, %mm0", [0x0F, 0xFC, 0xC1])
    static let fxsave: [UInt8] = assembled("fxsave64 0x201000", [0x48, 0x0F, 0xAE, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00])

    @Test func taskSwitchedIsNMForSSEMMXAndFXSAVE() throws {
        for code in [Self.addps, Self.paddb, Self.fxsave] {
            let run = try run(code + Self.end, cr0Set: 1 << 3)
            #expect(run.stop == .debugExit(value: 7))
            #expect(run.registers.rdx == 0x10_0000)
        }
    }

    @Test func emulationIsUDForSSEAndMMXButNMForFXSAVE() throws {
        #expect(try run(Self.addps + Self.end, cr0Set: 1 << 2).stop == .debugExit(value: 6))
        #expect(try run(Self.paddb + Self.end, cr0Set: 1 << 2).stop == .debugExit(value: 6))
        #expect(try run(Self.fxsave + Self.end, cr0Set: 1 << 2).stop == .debugExit(value: 7))
    }

    @Test func withoutOSFXSRSSEIsUDButMMXRuns() throws {
        #expect(try run(Self.addps + Self.end, cr4: 0).stop == .debugExit(value: 6))
        #expect(try run(Self.paddb + Self.end, cr4: 0).stop == .debugExit(value: 0))
    }

    @Test func misalignedAlignedOperandsAreGP() throws {
        let misaligned: [[UInt8]] = [
            assembled("movaps 0x200001, %xmm0", [0x0F, 0x28, 0x04, 0x25, 0x01, 0x00, 0x20, 0x00]),
            assembled("movdqa 0x200008, %xmm0", [0x66, 0x0F, 0x6F, 0x04, 0x25, 0x08, 0x00, 0x20, 0x00]),
            assembled("addps 0x200004, %xmm0", [0x0F, 0x58, 0x04, 0x25, 0x04, 0x00, 0x20, 0x00]),
            assembled("movntdq %xmm0, 0x200008", [0x66, 0x0F, 0xE7, 0x04, 0x25, 0x08, 0x00, 0x20, 0x00]),
            assembled("fxsave64 0x201008", [0x48, 0x0F, 0xAE, 0x04, 0x25, 0x08, 0x10, 0x20, 0x00]),
        ]
        for code in misaligned {
            let run = try run(code + Self.end)
            #expect(run.stop == .debugExit(value: 13))
            #expect(run.registers.rsi == 0)
            #expect(run.registers.rdx == 0x10_0000)
        }
        // The unaligned forms and scalar operands do not care.
        #expect(
            try run(
                assembled(
                    "movups 0x200001, %xmm0; movdqu 0x200003, %xmm1; addss 0x200005, %xmm0",
                    [
                        0x0F, 0x10, 0x04, 0x25, 0x01, 0x00, 0x20, 0x00, 0xF3, 0x0F, 0x6F, 0x0C, 0x25, 0x03, 0x00, 0x20, 0x00, 0xF3, 0x0F, 0x58, 0x04,
                        0x25, 0x05, 0x00, 0x20, 0x00,
                    ]) + Self.end
            ).stop == .debugExit(value: 0))
    }

    @Test func reservedMXCSRBitsAreGPInLDMXCSRAndFXRSTOR() throws {
        let ldmxcsr = try run(
            assembled("ldmxcsr 0x200020", [0x0F, 0xAE, 0x14, 0x25, 0x20, 0x00, 0x20, 0x00]) + Self.end, words: [0, 0, 0, 0, 0x2_1F80])
        #expect(ldmxcsr.stop == .debugExit(value: 13))
        let fxrstor = try run(
            assembled(
                "fxsave64 0x201000; movl $0x10000, 0x201018; fxrstor64 0x201000",
                [
                    0x48, 0x0F, 0xAE, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00, 0xC7, 0x04, 0x25, 0x18, 0x10, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x48,
                    0x0F, 0xAE, 0x0C, 0x25, 0x00, 0x10, 0x20, 0x00,
                ]) + Self.end)
        #expect(fxrstor.stop == .debugExit(value: 13))
        #expect(fxrstor.registers.rdx == 0x10_0000 + 20)
    }

    @Test func fxsaveAndFXRSTORRoundTrip() throws {
        // XMM values, an MXCSR, an MMX write (TOP 0, all tags valid, exponent all ones); FXSAVE;
        // clobber; FXRSTOR; FXSAVE again: the two images agree.
        let code = assembled(
            "movdqu 0x200000, %xmm0; movdqu 0x200010, %xmm15; ldmxcsr 0x200020; movabs $0x1122334455667788, %rax; movq %rax, %mm2; fxsave64 0x201000; pxor %xmm0, %xmm0; pxor %xmm15, %xmm15; emms; movl $0x1f80, 0x200030; ldmxcsr 0x200030; fxrstor64 0x201000; fxsave64 0x201200",
            [
                0xF3, 0x0F, 0x6F, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xF3, 0x44, 0x0F, 0x6F, 0x3C, 0x25, 0x10, 0x00, 0x20, 0x00, 0x0F, 0xAE, 0x14,
                0x25, 0x20, 0x00, 0x20, 0x00, 0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x48, 0x0F, 0x6E, 0xD0, 0x48, 0x0F, 0xAE,
                0x04, 0x25, 0x00, 0x10, 0x20, 0x00, 0x66, 0x0F, 0xEF, 0xC0, 0x66, 0x45, 0x0F, 0xEF, 0xFF, 0x0F, 0x77, 0xC7, 0x04, 0x25, 0x30, 0x00,
                0x20, 0x00, 0x80, 0x1F, 0x00, 0x00, 0x0F, 0xAE, 0x14, 0x25, 0x30, 0x00, 0x20, 0x00, 0x48, 0x0F, 0xAE, 0x0C, 0x25, 0x00, 0x10, 0x20,
                0x00, 0x48, 0x0F, 0xAE, 0x04, 0x25, 0x00, 0x12, 0x20, 0x00,
            ])
        let run = try run(code + Self.end, words: [1, 2, 3, 4, 0x7F80])
        #expect(run.stop == .debugExit(value: 0))
        let first = try run.memory.read(Self.image, count: 416), second = try run.memory.read(Self.image + 0x200, count: 416)
        #expect(first == second)
        #expect(first[4] == 0xFF)  // abridged tag: every register valid after the MMX write
        let mm2: UInt64 = Self.image + 64, xmm15High: UInt64 = Self.image + 408
        #expect(try run.memory.load(UInt64.self, at: mm2) == 0x1122_3344_5566_7788)
        #expect(try run.memory.load(UInt16.self, at: mm2 + 8) == 0xFFFF)
        #expect(try run.memory.load(UInt32.self, at: Self.image + 24) == 0x7F80)
        #expect(try run.memory.load(UInt32.self, at: Self.image + 28) == 0xFFFF)  // MXCSR_MASK
        #expect(try run.memory.load(UInt64.self, at: Self.image + 160) == 1)
        #expect(try run.memory.load(UInt64.self, at: xmm15High) == 4)
    }

    @Test func emmsEmptiesTheTagWord() throws {
        let run = try run(
            assembled(
                "movq %rax, %mm2; emms; fxsave64 0x201000",
                [0x48, 0x0F, 0x6E, 0xD0, 0x0F, 0x77, 0x48, 0x0F, 0xAE, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00]) + Self.end)
        #expect(try run.memory.read(Self.image + 4, count: 1) == [0])
    }

    @Test func conversionsToIntegersGiveTheIndefiniteValue() throws {
        // NaN and 1e10 to int32, NaN to int64: 0x80000000 (0x8000000000000000), IE set.
        let code = assembled(
            "movsd 0x200000, %xmm0; cvttsd2si %xmm0, %eax; cvttsd2si %xmm0, %rcx; movsd 0x200008, %xmm1; cvtsd2si %xmm1, %edx; cvttsd2si %xmm1, %r8; stmxcsr 0x200024",
            [
                0xF2, 0x0F, 0x10, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xF2, 0x0F, 0x2C, 0xC0, 0xF2, 0x48, 0x0F, 0x2C, 0xC8, 0xF2, 0x0F, 0x10, 0x0C,
                0x25, 0x08, 0x00, 0x20, 0x00, 0xF2, 0x0F, 0x2D, 0xD1, 0xF2, 0x4C, 0x0F, 0x2C, 0xC1, 0x0F, 0xAE, 0x1C, 0x25, 0x24, 0x00, 0x20, 0x00,
            ])
        let run = try run(code + Self.end, words: [0x7FF8_0000_0000_0000, 0x4202_A05F_2000_0000])
        #expect(run.registers.rax == 0x8000_0000)
        #expect(run.registers.rcx == 0x8000_0000_0000_0000)
        #expect(run.registers.rdx == 0x8000_0000)
        #expect(run.registers.r8 == 10_000_000_000)
        #expect(try run.memory.load(UInt32.self, at: Self.data + 0x24) & 1 == 1)
    }

    @Test func aSignalingNaNFirstOperandIsQuietedAndReturned() throws {
        let code = assembled(
            "movsd 0x200000, %xmm0; movsd 0x200008, %xmm1; addsd %xmm1, %xmm0; movsd %xmm0, 0x200010; stmxcsr 0x200024",
            [
                0xF2, 0x0F, 0x10, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xF2, 0x0F, 0x10, 0x0C, 0x25, 0x08, 0x00, 0x20, 0x00, 0xF2, 0x0F, 0x58, 0xC1,
                0xF2, 0x0F, 0x11, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00, 0x0F, 0xAE, 0x1C, 0x25, 0x24, 0x00, 0x20, 0x00,
            ])
        let run = try run(code + Self.end, words: [0x7FF0_0000_0000_0001, 0x7FF8_0000_0000_0002])
        #expect(try load64(run.memory, 0x10) == 0x7FF8_0000_0000_0001)
        #expect(try run.memory.load(UInt32.self, at: Self.data + 0x24) == 0x1F81)
    }

    @Test func stringStyleCompareFindsTheTerminator() throws {
        // glibc's strlen step: compare 16 bytes with zero, take the byte mask, find its lowest bit.
        let code = assembled(
            "pxor %xmm1, %xmm1; movdqa 0x200000, %xmm0; pcmpeqb %xmm1, %xmm0; pmovmskb %xmm0, %esi; tzcnt %esi, %ecx; pminub 0x200000, %xmm1",
            [
                0x66, 0x0F, 0xEF, 0xC9, 0x66, 0x0F, 0x6F, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x66, 0x0F, 0x74, 0xC1, 0x66, 0x0F, 0xD7, 0xF0, 0xF3,
                0x0F, 0xBC, 0xCE, 0x66, 0x0F, 0xDA, 0x0C, 0x25, 0x00, 0x00, 0x20, 0x00,
            ])
        let text = Array("hello, world".utf8) + [0, 0x41, 0x42, 0]
        let words = stride(from: 0, to: 16, by: 8).map { start in (0..<8).reduce(UInt64(0)) { $0 | UInt64(text[start + $1]) << (8 * UInt64($1)) } }
        let run = try run(code + Self.end, words: words)
        #expect(run.registers.rsi == 0x8000 | 0x1000)
        #expect(run.registers.rcx == 12)  // TZCNT runs as BSF (BMI1 is not advertised)
    }

    @Test func mmxArithmeticSaturatesAndPacks() throws {
        let code = assembled(
            "movq 0x200000, %mm0; movq 0x200008, %mm1; movq %mm0, %mm2; paddusb %mm1, %mm0; packsswb %mm1, %mm2; punpckhbw %mm1, %mm1; movq %mm0, %rsi; movq %mm2, %rcx; movq %mm1, %rdx",
            [
                0x0F, 0x6F, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0x0F, 0x6F, 0x0C, 0x25, 0x08, 0x00, 0x20, 0x00, 0x0F, 0x6F, 0xD0, 0x0F, 0xDC, 0xC1,
                0x0F, 0x63, 0xD1, 0x0F, 0x68, 0xC9, 0x48, 0x0F, 0x7E, 0xC6, 0x48, 0x0F, 0x7E, 0xD1, 0x48, 0x0F, 0x7E, 0xCA,
            ])
        let run = try run(code + Self.end, words: [0x00FF_0080_7F01_FF10, 0x0102_0304_0506_0708])
        #expect(run.registers.rsi == 0x01FF_0384_8407_FF18)
        #expect(run.registers.rcx == 0x7F7F_7F7F_7F7F_7F80)
        #expect(run.registers.rdx == 0x0101_0202_0303_0404)
    }

    @Test func protectedModeCodeRunsSSE() throws {
        // 32-bit code: packed single arithmetic, a conversion, and the legacy FXSAVE layout (XMM0-7
        // only: the XMM8-15 area is left alone).
        let code = assembled(
            "movups 0x200000, %xmm0; addps 0x200010, %xmm0; cvttss2si %xmm0, %ebx; movl $0xeeeeeeee, 0x201120; fxsave 0x201000; movd %xmm0, %ecx; mov $0, %al; out %al, $0xf4",
            [
                0x0F, 0x10, 0x05, 0x00, 0x00, 0x20, 0x00, 0x0F, 0x58, 0x05, 0x10, 0x00, 0x20, 0x00, 0xF3, 0x0F, 0x2C, 0xD8, 0xC7, 0x05, 0x20, 0x11,
                0x20, 0x00, 0xEE, 0xEE, 0xEE, 0xEE, 0x0F, 0xAE, 0x05, 0x00, 0x10, 0x20, 0x00, 0x66, 0x0F, 0x7E, 0xC1, 0xB0, 0x00, 0xE6, 0xF4,
            ])
        let one = 0x3F80_0000 as UInt64, two = 0x4000_0000 as UInt64, half = 0x3F00_0000 as UInt64
        let run = try run(code, words: [two | one << 32, one | one << 32, half | one << 32, one | one << 32], mode: .protected)
        #expect(run.stop == .debugExit(value: 0))
        #expect(run.registers.rbx == 2)  // 2.5 truncated
        #expect(run.registers.rcx == 0x4020_0000)
        #expect(try run.memory.load(UInt64.self, at: Self.image + 160) == 0x4000_0000_4020_0000)
        #expect(try run.memory.load(UInt32.self, at: Self.image + 288) == 0xEEEE_EEEE)
    }
}

/// Machine code with the assembly it came from (GNU as syntax), which documents the bytes.
func assembled(_ source: String, _ bytes: [UInt8]) -> [UInt8] { bytes }
