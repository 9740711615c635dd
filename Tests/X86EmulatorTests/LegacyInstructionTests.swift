import Boot
import Testing
import VMCore

/// The general-purpose instructions of 16/32-bit code that 64-bit mode removed (PUSHA/POPA, the
/// BCD adjustments, BOUND, ARPL, SALC, the 82 alias), XLAT in each address size, ICEBP, and
/// LAHF/SAHF in 64-bit mode. 16/32-bit code cannot run on the differential tester's host, so
/// these check the architecture directly.
@Suite struct LegacyInstructionTests {
    static let protectedEntry: UInt64 = 0x10_0000

    @Test func pushaStoresTheEightRegistersWithTheOriginalSP() throws {
        let code: [UInt8] = [
            0xB8, 0x01, 0x00, 0xB9, 0x02, 0x00, 0xBA, 0x03, 0x00, 0xBB, 0x04, 0x00, 0xBD, 0x06, 0x00, 0xBE, 0x07, 0x00, 0xBF, 0x08, 0x00,
            0x60, 0xF4,  // mov ax..di, 1..8 (sp 0x7C00); pusha; hlt
        ]
        let run = try emulate(code, mode: .real)
        #expect(run.registers.rsp == 0x7BF0)
        let slots = try (0..<8).map { try run.stackSlot($0, size: 2) }
        #expect(slots == [8, 7, 6, 0x7C00, 4, 3, 2, 1])
    }

    @Test func popaLoadsAllButSP() throws {
        let code: [UInt8] = [0xBC, 0x00, 0x70, 0x61, 0xF4]  // mov sp, 0x7000; popa; hlt
        let run = try emulate(code, mode: .real) { memory, _, _ in
            for (slot, value) in [8, 7, 6, 0xDEAD, 4, 3, 2, 1].enumerated() { try memory.store(UInt16(value), at: 0x7000 + UInt64(slot) * 2) }
        }
        let r = run.registers
        #expect([r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rcx, r.rax].map { $0 & 0xFFFF } == [8, 7, 6, 4, 3, 2, 1])
        #expect(r.rsp == 0x7010)
    }

    @Test func pushadAndPopadIn32BitCode() throws {
        let push: [UInt8] = [
            0xB8, 0x11, 0x11, 0x11, 0x11, 0xB9, 0x02, 0x00, 0x00, 0x00, 0xBA, 0x03, 0x00, 0x00, 0x00, 0xBB, 0x04, 0x00, 0x00, 0x00,
            0xBD, 0x06, 0x00, 0x00, 0x00, 0xBE, 0x07, 0x00, 0x00, 0x00, 0xBF, 0x08, 0x00, 0x00, 0x00, 0x60, 0xF4,
        ]
        let pushed = try emulate(push, mode: .protected)
        #expect(pushed.registers.rsp == 0x80000 - 32)
        #expect(try (0..<8).map { try pushed.stackSlot($0, size: 4) } == [8, 7, 6, 0x80000, 4, 3, 2, 0x1111_1111])

        let pop: [UInt8] = [0xBC, 0x00, 0x00, 0x07, 0x00, 0x61, 0xF4]  // mov esp, 0x70000; popad; hlt
        let popped = try emulate(pop, mode: .protected) { memory, _, _ in
            for (slot, value) in [8, 7, 6, 0xDEAD, 4, 3, 2, 0x1234_5678].enumerated() {
                try memory.store(UInt32(value), at: 0x70000 + UInt64(slot) * 4)
            }
        }
        let r = popped.registers
        #expect([r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rcx, r.rax] == [8, 7, 6, 4, 3, 2, 0x1234_5678])
        #expect(r.rsp == 0x70020)
    }

    @Test func popaWithOperandSizePrefixIn32BitCodeKeepsTheUpperHalves() throws {
        // mov esp, 0x70000; mov eax, 0xAAAA0000; popaw; hlt
        let code: [UInt8] = [0xBC, 0x00, 0x00, 0x07, 0x00, 0xB8, 0x00, 0x00, 0xAA, 0xAA, 0x66, 0x61, 0xF4]
        let run = try emulate(code, mode: .protected) { memory, _, _ in
            for (slot, value) in [8, 7, 6, 0xDEAD, 4, 3, 2, 1].enumerated() { try memory.store(UInt16(value), at: 0x70000 + UInt64(slot) * 2) }
        }
        #expect(run.registers.rax == 0xAAAA_0001)
        #expect(run.registers.rsp == 0x70010)
    }

    @Test func decimalAdjustments() throws {
        // mov al,0x79; add al,0x35; daa; mov bl,al; pushf; pop cx; mov al,0x35; sub al,0x47; das;
        // mov bh,al; mov ax,9; add al,8; aaa; mov dx,ax; mov ax,0x103; sub al,5; aas; mov si,ax; hlt
        let code: [UInt8] = [
            0xB0, 0x79, 0x04, 0x35, 0x27, 0x88, 0xC3, 0x9C, 0x59, 0xB0, 0x35, 0x2C, 0x47, 0x2F, 0x88, 0xC7, 0xB8, 0x09, 0x00, 0x04, 0x08,
            0x37, 0x89, 0xC2, 0xB8, 0x03, 0x01, 0x2C, 0x05, 0x3F, 0x89, 0xC6, 0xF4,
        ]
        let run = try emulate(code, mode: .real)
        #expect(run.registers.rbx & 0xFF == 0x14)  // 79 + 35 = 114: 14, carry
        #expect(run.registers.rcx & (Flag.cf | Flag.af) == Flag.cf | Flag.af)
        #expect((run.registers.rbx >> 8) & 0xFF == 0x88)  // 35 - 47 = -12: 88, borrow
        #expect(run.registers.rdx & 0xFFFF == 0x0107)  // 9 + 8 = 17 unpacked
        #expect(run.registers.rsi & 0xFFFF == 0x0008)  // 13 - 5 = 8 unpacked
        #expect(run.registers.rflags & Flag.cf != 0)
    }

    @Test func aamAndAadTakeAnyBase() throws {
        // mov al,79; aam; mov bx,ax; mov ax,0x709; aad; mov cx,ax; mov al,0x2f; aam 16; mov dx,ax;
        // mov ax,0x203; aad 7; mov si,ax; hlt
        let code: [UInt8] = [
            0xB0, 0x4F, 0xD4, 0x0A, 0x89, 0xC3, 0xB8, 0x09, 0x07, 0xD5, 0x0A, 0x89, 0xC1, 0xB0, 0x2F, 0xD4, 0x10, 0x89, 0xC2, 0xB8, 0x03,
            0x02, 0xD5, 0x07, 0x89, 0xC6, 0xF4,
        ]
        let run = try emulate(code, mode: .real)
        #expect(run.registers.rbx & 0xFFFF == 0x0709)
        #expect(run.registers.rcx & 0xFFFF == 0x004F)
        #expect(run.registers.rdx & 0xFFFF == 0x020F)
        #expect(run.registers.rsi & 0xFFFF == 0x0011)
        #expect(run.registers.rflags & (Flag.zf | Flag.sf | Flag.cf | Flag.of) == 0)
    }

    @Test func aamZeroIsADivideErrorAtTheInstruction() throws {
        let code: [UInt8] = [0xB0, 0x05, 0xD4, 0x00, 0xF4]  // mov al, 5; aam 0
        let real = try runCatchingFaults(code, mode: .real)
        #expect(real.stop == FaultHarness.caught(0))
        #expect(try real.stackSlot(0, size: 2) == 0x7C02)
        let protected = try runCatchingFaults(code, mode: .protected)
        #expect(protected.stop == FaultHarness.caught(0))
        #expect(try protected.stackSlot(0, size: 4) == Self.protectedEntry + 2)
    }

    @Test func boundOutsideTheRangeIsBoundRangeExceeded() throws {
        // mov bx, 0x900; mov ax, 5; bound ax, [bx]; mov ax, 11; bound ax, [bx]  ([bx] = 0, 10)
        let code16: [UInt8] = [0xBB, 0x00, 0x09, 0xB8, 0x05, 0x00, 0x62, 0x07, 0xB8, 0x0B, 0x00, 0x62, 0x07, 0xF4]
        let real = try runCatchingFaults(code16, mode: .real) { memory, _, _ in try memory.write([0, 0, 10, 0], at: 0x900) }
        #expect(real.stop == FaultHarness.caught(5))
        #expect(try real.stackSlot(0, size: 2) == 0x7C0B)  // a fault: the second BOUND's address

        // mov ebx, 0x9800; mov eax, -3; bound eax, [ebx]; mov eax, -6; bound eax, [ebx]  (-5, 5: signed)
        let code32: [UInt8] = [
            0xBB, 0x00, 0x98, 0x00, 0x00, 0xB8, 0xFD, 0xFF, 0xFF, 0xFF, 0x62, 0x03, 0xB8, 0xFA, 0xFF, 0xFF, 0xFF, 0x62, 0x03, 0xF4,
        ]
        let protected = try runCatchingFaults(code32, mode: .protected) { memory, _, _ in
            try memory.store(UInt32(bitPattern: -5), at: 0x9800)
            try memory.store(UInt32(5), at: 0x9804)
        }
        #expect(protected.stop == FaultHarness.caught(5))
        #expect(try protected.stackSlot(0, size: 4) == Self.protectedEntry + 17)
        #expect(try protected.stackSlot(1, size: 4) == 0x08)

        let registerForm = try runCatchingFaults([0x62, 0xC0], mode: .protected)  // bound eax, eax
        #expect(registerForm.stop == FaultHarness.caught(6))
    }

    @Test func xlatInEveryAddressSize() throws {
        let table = (0..<16).map { UInt8(0x40 + $0) }
        let real = try emulate([0xBB, 0x00, 0x09, 0xB0, 0x03, 0xD7, 0xF4], mode: .real) { memory, _, _ in try memory.write(table, at: 0x900) }
        #expect(real.registers.rax & 0xFF == 0x43)
        // mov ebx, 0x9800; mov eax, 0xFFFFFF03; xlat
        let protected = try emulate([0xBB, 0x00, 0x98, 0x00, 0x00, 0xB8, 0x03, 0xFF, 0xFF, 0xFF, 0xD7, 0xF4], mode: .protected) { memory, _, _ in
            try memory.write(table, at: 0x9800)
        }
        #expect(protected.registers.rax == 0xFFFF_FF43)
        // mov rbx, 0x9800; mov eax, 0x103; xlat
        let long = try emulate([0x48, 0xC7, 0xC3, 0x00, 0x98, 0x00, 0x00, 0xB8, 0x03, 0x01, 0x00, 0x00, 0xD7, 0xF4], mode: .long) { memory, _, _ in
            try memory.write(table, at: 0x9800)
        }
        #expect(long.registers.rax == 0x143)
        // 16-bit addressing wraps BX + AL at 64 KiB: bx = 0xFFFF, al = 2 reads DS:0001.
        let wrap = try emulate([0xBB, 0xFF, 0xFF, 0xB0, 0x02, 0xD7, 0xF4], mode: .real) { memory, _, _ in try memory.write([0x99], at: 1) }
        #expect(wrap.registers.rax & 0xFF == 0x99)
    }

    @Test func arplRaisesTheRPLAndSetsZF() throws {
        // mov ax, 0x10; mov cx, 0x13; arpl ax, cx; pushf; pop edx; arpl ax, cx; pushf; pop esi
        let code: [UInt8] = [0x66, 0xB8, 0x10, 0x00, 0x66, 0xB9, 0x13, 0x00, 0x63, 0xC8, 0x9C, 0x5A, 0x63, 0xC8, 0x9C, 0x5E, 0xF4]
        let run = try emulate(code, mode: .protected)
        #expect(run.registers.rax & 0xFFFF == 0x13)
        #expect(run.registers.rdx & Flag.zf != 0)
        #expect(run.registers.rsi & Flag.zf == 0)
        let real = try runCatchingFaults([0x63, 0xC8], mode: .real)  // not in real mode
        #expect(real.stop == FaultHarness.caught(6))
    }

    @Test func salcAndThe82AliasOutside64BitMode() throws {
        // stc; salc; mov bl, al; clc; salc; mov bh, al; mov al, 3; add al, 5 (82 /0); hlt
        let code: [UInt8] = [0xF9, 0xD6, 0x88, 0xC3, 0xF8, 0xD6, 0x88, 0xC7, 0xB0, 0x03, 0x82, 0xC0, 0x05, 0xF4]
        for mode in [CPUMode.real, .protected] {
            let run = try emulate(code, mode: mode)
            #expect(run.registers.rbx & 0xFFFF == 0x00FF, "\(mode)")
            #expect(run.registers.rax & 0xFF == 8, "\(mode)")
        }
    }

    @Test func instructionsRemovedFrom64BitModeAreInvalidOpcodes() throws {
        let removed: [[UInt8]] = [
            [0x60], [0x61], [0x62, 0x03], [0x27], [0x2F], [0x37], [0x3F], [0xD4, 0x0A], [0xD5, 0x0A], [0xD6], [0x82, 0xC0, 0x01],
        ]
        for bytes in removed {
            let run = try runCatchingFaults(bytes + [0xF4], mode: .long)
            #expect(run.stop == FaultHarness.caught(6), "\(bytes)")
            #expect(try run.stackSlot(0, size: 8) == Self.protectedEntry, "\(bytes)")
        }
    }

    @Test func icebpIsADebugTrapAfterTheInstruction() throws {
        for (mode, size, entry) in [(CPUMode.real, 2, UInt64(0x7C00)), (.protected, 4, Self.protectedEntry), (.long, 8, Self.protectedEntry)] {
            let run = try runCatchingFaults([0xF1, 0xF4], mode: mode)
            #expect(run.stop == FaultHarness.caught(1), "\(mode)")
            #expect(try run.stackSlot(0, size: size) == entry + 1, "\(mode)")
        }
    }

    @Test func lahfAndSahfRunIn64BitMode() throws {
        // mov eax, 0; stc; lahf; mov ebx, eax; mov ah, 0xD5; sahf; pushfq; pop rcx; hlt
        let code: [UInt8] = [0xB8, 0x00, 0x00, 0x00, 0x00, 0xF9, 0x9F, 0x89, 0xC3, 0xB4, 0xD5, 0x9E, 0x9C, 0x59, 0xF4]
        let run = try emulate(code, mode: .long)
        #expect(run.registers.rbx == 0x0300)
        #expect(run.registers.rcx & 0xFF == 0xD7)
        #expect(CPUModel.softwareBackend.cpuid(leaf: 0x8000_0001).ecx & CPUModel.ExtendedLeaf1.lahfInLongMode != 0)
    }
}
