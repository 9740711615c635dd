import Testing
import VMCore

/// Real mode cannot be compared against this machine's KVM (it emulates it itself), so these
/// check the architecture directly.
@Suite struct RealModeTests {
    @Test func segmentArithmeticAddsTheSegmentTimesSixteen() throws {
        let code: [UInt8] = [
            0xB8, 0x00, 0x20,  // mov ax, 0x2000
            0x8E, 0xD8,  // mov ds, ax
            0xA0, 0x34, 0x12,  // mov al, [0x1234]   ; linear 0x21234
            0xF4,  // hlt
        ]
        let run = try emulate(code, mode: .real) { memory, _, _ in try memory.write([0x77], at: 0x21234) }
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rax & 0xFF == 0x77)
        #expect(run.system.ds.base == 0x20000)
    }

    @Test func operandAndAddressSizePrefixesReach32Bits() throws {
        let code: [UInt8] = [
            0x66, 0xB8, 0x78, 0x56, 0x34, 0x12,  // mov eax, 0x12345678
            0x66, 0x67, 0x89, 0x05, 0x00, 0x90, 0x00, 0x00,  // mov [0x9000], eax  (32-bit address)
            0x66, 0x8B, 0x1E, 0x00, 0x90,  // mov ebx, [0x9000]    (16-bit address)
            0xF4,
        ]
        let run = try emulate(code, mode: .real)
        #expect(run.registers.rbx == 0x1234_5678)
        #expect(try run.memory.load(UInt32.self, at: 0x9000) == 0x1234_5678)
    }

    @Test func intGoesThroughTheIVTAndIRETComesBack() throws {
        // Handler at 0000:0500 sets BX and returns; the IVT entry for vector 0x21 points at it.
        let code: [UInt8] = [
            0xCD, 0x21,  // int 0x21
            0xB9, 0x02, 0x00,  // mov cx, 2
            0xF4,
        ]
        let run = try emulate(code, mode: .real) { memory, _, _ in
            try memory.write([0x00, 0x05, 0x00, 0x00], at: 0x21 * 4)  // 0000:0500
            try memory.write([0xBB, 0x01, 0x00, 0xCF], at: 0x500)  // mov bx, 1; iret
        }
        #expect(run.registers.rbx & 0xFFFF == 1)
        #expect(run.registers.rcx & 0xFFFF == 2)
        #expect(run.registers.rsp == 0x7C00)  // the frame was popped
    }

    @Test func divideByZeroIsDeliveredAsVectorZero() throws {
        let code: [UInt8] = [
            0x31, 0xC9,  // xor cx, cx
            0xF7, 0xF1,  // div cx   -> #DE, handled at 0000:0600
            0xF4,
        ]
        let run = try emulate(code, mode: .real) { memory, _, _ in
            try memory.write([0x00, 0x06, 0x00, 0x00], at: 0)
            try memory.write([0xB0, 0x21, 0xE6, 0xF4], at: 0x600)  // mov al, 0x21; out 0xF4, al
        }
        #expect(run.stop == .debugExit(value: 0x21))
        // The faulting instruction's address was pushed: 0000:7C02.
        #expect(try run.memory.load(UInt16.self, at: 0x7C00 - 6) == 0x7C02)
    }

    @Test func farJumpReloadsCSAndItsBase() throws {
        let code: [UInt8] = [
            0xEA, 0x00, 0x00, 0x00, 0x08,  // jmp 0800:0000 -> linear 0x8000
        ]
        let run = try emulate(code, mode: .real) { memory, _, _ in try memory.write([0xF4], at: 0x8000) }
        #expect(run.system.cs.selector == 0x0800 && run.system.cs.base == 0x8000)
        #expect(run.registers.rip == 1)
    }

    @Test func repMovsbCopiesForwardAndBackward() throws {
        let code: [UInt8] = [
            0xBE, 0x00, 0x90,  // mov si, 0x9000
            0xBF, 0x00, 0xA0,  // mov di, 0xA000
            0xB9, 0x04, 0x00,  // mov cx, 4
            0xF3, 0xA4,  // rep movsb
            0xF4,
        ]
        let run = try emulate(code, mode: .real) { memory, _, _ in try memory.write([1, 2, 3, 4], at: 0x9000) }
        #expect(try run.memory.read(0xA000, count: 4) == [1, 2, 3, 4])
        #expect(run.registers.rcx & 0xFFFF == 0 && run.registers.rsi & 0xFFFF == 0x9004)
    }

    @Test func xlatAndLdsReadThroughTheDataSegment() throws {
        let code: [UInt8] = [
            0xBB, 0x00, 0x90,  // mov bx, 0x9000
            0xB0, 0x02,  // mov al, 2
            0xD7,  // xlat            -> al = [0x9002]
            0xC5, 0x36, 0x10, 0x90,  // lds si, [0x9010] -> si = 0x1234, ds = 0x0050
            0xF4,
        ]
        let run = try emulate(code, mode: .real) { memory, _, _ in
            try memory.write([0, 0, 0x99], at: 0x9000)
            try memory.write([0x34, 0x12, 0x50, 0x00], at: 0x9010)
        }
        #expect(run.registers.rax & 0xFF == 0x99)
        #expect(run.registers.rsi & 0xFFFF == 0x1234)
        #expect(run.system.ds.selector == 0x50 && run.system.ds.base == 0x500)
    }

    @Test func selfModifyingCodeRunsTheNewBytes() throws {
        let code: [UInt8] = [
            0xC6, 0x06, 0x0A, 0x7C, 0x42,  // mov byte [0x7C0A], 0x42   ; patch the immediate below
            0x90, 0x90, 0x90, 0x90,  // nops
            0xB0, 0x00,  // mov al, 0  (becomes mov al, 0x42)
            0xF4,
        ]
        let run = try emulate(code, mode: .real)
        #expect(run.registers.rax & 0xFF == 0x42)
    }
}

@Suite struct InvalidOpcodeTests {
    @Test func anUnimplementedInstructionRaisesUDAndIsCountedWithItsBytes() throws {
        let code: [UInt8] = [
            0x0F, 0x37,  // getsec: not implemented -> #UD, handled at 0000:0600
            0xF4,
        ]
        let run = try emulate(code, mode: .real) { memory, _, _ in
            try memory.write([0x00, 0x06, 0x00, 0x00], at: 6 * 4)
            try memory.write([0xB0, 0x06, 0xE6, 0xF4], at: 0x600)  // mov al, 6; out 0xF4, al
        }
        #expect(run.stop == .debugExit(value: 6))
        #expect(run.statistics.invalidOpcodes == 1)
        #expect(run.statistics.invalidOpcodeSamples.first?.prefix(3) == [0x0F, 0x37, 0xF4])
    }

    @Test func segmentPushesAreInvalidIn64BitMode() throws {
        // PUSH ES (06) is #UD in 64-bit mode; with no IDT that ends in a triple fault.
        #expect(try emulate([0x06, 0xF4], mode: .long).stop == .shutdown)
        #expect(try emulate([0x06, 0xF4], mode: .protected).stop == .halted(interruptsEnabled: false))
    }

    @Test func ud2WithoutAnIDTEndsInATripleFault() throws {
        let run = try emulate([0x0F, 0x0B], mode: .long)
        #expect(run.stop == .shutdown)
    }
}
