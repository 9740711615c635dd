import Testing
import VMCore

/// ADC and SBB keep their flags lazily (the carry-in folded into the lazy kind): the flags they
/// leave must be exact, including the edge where a carry-in of 1 wraps the result to an operand.
@Suite struct CarryChainTests {
    @Test func adcAndSbbWithACarryInGiveExactFlags() throws {
        // stc; mov eax, 5; mov ecx, -1; adc eax, ecx; pushfq; pop rdx
        // stc; mov esi, 0; sbb esi, 0; pushfq; pop rdi
        // stc; mov r8d, 0x7FFFFFFF; adc r8d, 0; pushfq; pop r9; hlt
        let code: [UInt8] = [
            0xF9, 0xB8, 0x05, 0x00, 0x00, 0x00, 0xB9, 0xFF, 0xFF, 0xFF, 0xFF, 0x11, 0xC8, 0x9C, 0x5A, 0xF9, 0xBE, 0x00, 0x00, 0x00, 0x00,
            0x83, 0xDE, 0x00, 0x9C, 0x5F, 0xF9, 0x41, 0xB8, 0xFF, 0xFF, 0xFF, 0x7F, 0x41, 0x83, 0xD0, 0x00, 0x9C, 0x41, 0x59, 0xF4,
        ]
        let run = try emulate(code, mode: .long)
        let arithmetic: UInt64 = 0x8D5
        #expect(run.registers.rax == 5)
        #expect(run.registers.rdx & arithmetic == Flag.cf | Flag.pf | Flag.af)  // 5 + FFFFFFFF + 1: carry, wrapped to 5
        #expect(run.registers.rsi == 0xFFFF_FFFF)
        #expect(run.registers.rdi & arithmetic == Flag.cf | Flag.pf | Flag.af | Flag.sf)  // 0 - 0 - 1: borrow
        #expect(run.registers.r8 == 0x8000_0000)
        #expect(run.registers.r9 & arithmetic == Flag.of | Flag.sf | Flag.af | Flag.pf)  // signed overflow, no carry
    }
}
