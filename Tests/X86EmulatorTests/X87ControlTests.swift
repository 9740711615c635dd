import Testing
import VMCore

/// The x87 control and environment instructions, the pointers FNSTENV stores, #NM and #MF, and
/// x87 code in 32-bit protected mode and real mode, against the manuals' layouts and values the
/// CPU gave for the same sequences (noted where measured).
@Suite struct X87ControlTests {
    static func le(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }

    /// Runs 64-bit `code` at 0x100000 with handlers for #UD (6), #NM (7), #GP (13) and #MF (16)
    /// that stop with the vector as the debug-exit value and RDX = the pushed RIP.
    func run64(_ code: [UInt8], cr0: (UInt64) -> UInt64 = { $0 }) throws -> EmulatorRun {
        try emulate(code + [0xE6, 0xF4], mode: .long) { memory, _, system in
            var idt = [UInt8](repeating: 0, count: 32 * 16)
            for vector in [6, 7, 13, 16] {
                let handler = 0x8000 + UInt64(vector) * 16
                idt[vector * 16] = UInt8(handler & 0xFF); idt[vector * 16 + 1] = UInt8(handler >> 8)
                idt[vector * 16 + 2] = 0x18; idt[vector * 16 + 5] = 0x8E
                let popError: [UInt8] = vector == 13 ? [0x5E] : []  // pop rsi
                try memory.write(popError + [0x5A, 0xB0, UInt8(vector), 0xE6, 0xF4], at: handler)  // pop rdx; mov al, v; out
            }
            try memory.write(idt, at: 0x9000)
            system.idt = DescriptorTable(base: 0x9000, limit: 32 * 16 - 1)
            system.cr0 = cr0(system.cr0)
        }
    }

    static let fninit: [UInt8] = [0xDB, 0xE3], fld1: [UInt8] = [0xD9, 0xE8], fldz: [UInt8] = [0xD9, 0xEE], fwait: [UInt8] = [0x9B]
    static func absolute(_ opcode: UInt8, reg: UInt8, _ address: UInt64) -> [UInt8] { [opcode, reg << 3 | 4, 0x25] + le(address, 4) }

    @Test func fnstenvStoresThePointersOfTheLastInstructions() throws {
        // fninit; fld qword [0x200000] (+0.0 here); fldz; fnstenv [0x200100]. On this CPU
        // (measured, with a nonzero double: TW 1FFF): CW 037F, SW 3000, FOP 01EE (fldz), FIP at
        // the fldz, FDP kept from the fld, reserved halves 0xFFFF.
        let code = Self.fninit + Self.absolute(0xDD, reg: 0, 0x20_0000) + Self.fldz + Self.absolute(0xD9, reg: 6, 0x20_0100)
        let run = try run64(code)
        #expect(run.stop == .debugExit(value: 0))
        let env = try run.memory.read(0x20_0100, count: 28)
        let fldzAddress: UInt64 = 0x10_0000 + 2 + 7
        let expected =
            Self.le(0xFFFF_037F, 4) + Self.le(0xFFFF_3000, 4) + Self.le(0xFFFF_5FFF, 4) + Self.le(fldzAddress, 4) + Self.le(0x01EE_0018, 4)
            + Self.le(0x20_0000, 4) + Self.le(0xFFFF_0010, 4)
        #expect(env == expected, "\(hexBytes(env))")
    }

    @Test func anUnmaskedExceptionIsPendingUntilTheNextWaitingInstruction() throws {
        // FLDCW 037B unmasks zero divide; fld1; fldz; fdivp leaves ST unchanged (measured: SW
        // B084); FNSTSW AX does not wait; FWAIT raises #MF (CR0.NE) at itself.
        let setup = [0x66, 0xC7, 0x04, 0x25] + Self.le(0x20_0000, 4) + [0x7B, 0x03] + Self.absolute(0xD9, reg: 5, 0x20_0000)
        let divide = Self.fninit + setup + Self.fld1 + Self.fldz + [0xDE, 0xF9] + [0xDF, 0xE0]
        let waitAddress = 0x10_0000 + UInt64(divide.count)
        for next in [Self.fwait, Self.fld1] {
            let run = try run64(divide + next) { $0 | 0x20 }
            #expect(run.stop == .debugExit(value: 16))
            #expect(run.registers.rdx == waitAddress)
            #expect(run.registers.rax & 0xFF00 == 0xB000)  // AH; the handler's AL is the vector
        }
        // CR0.NE clear: no FERR# wire here, so the instruction runs (as with IGNNE#), and the
        // exception stays pending.
        let legacy = try run64(divide + Self.fwait)
        #expect(legacy.stop == .debugExit(value: 0x84))
    }

    @Test func fnclexAndFninitClearAPendingException() throws {
        let setup = [0x66, 0xC7, 0x04, 0x25] + Self.le(0x20_0000, 4) + [0x7B, 0x03] + Self.absolute(0xD9, reg: 5, 0x20_0000)
        let divide = Self.fninit + setup + Self.fld1 + Self.fldz + [0xDE, 0xF9]
        let run = try run64(divide + [0xDB, 0xE2] + Self.fwait + [0xDF, 0xE0]) { $0 | 0x20 }  // fnclex; fwait; fnstsw ax
        #expect(run.stop == .debugExit(value: 0))
        #expect(run.registers.rax & 0xFFFF == 0x3000)
    }

    @Test func fldcwThatUnmasksARaisedFlagMakesItPending() throws {
        // Measured: zero divide raised masked, then FLDCW 037B: SW B884 (ES and B set).
        let setup = [0x66, 0xC7, 0x04, 0x25] + Self.le(0x20_0000, 4) + [0x7B, 0x03] + Self.absolute(0xD9, reg: 5, 0x20_0000)
        let run = try run64(Self.fninit + Self.fld1 + Self.fldz + [0xDE, 0xF9] + setup + [0xDF, 0xE0])
        #expect(run.registers.rax & 0xFFFF == 0xB884)
    }

    @Test func crZeroTSAndEMRaiseDeviceNotAvailable() throws {
        let ts: UInt64 = 8, em: UInt64 = 4, mp: UInt64 = 2
        #expect(try run64(Self.fld1) { $0 | ts }.stop == .debugExit(value: 7))
        #expect(try run64([0xDF, 0xE0]) { $0 | ts }.stop == .debugExit(value: 7))  // FNSTSW AX too
        #expect(try run64(Self.fld1) { $0 | em }.stop == .debugExit(value: 7))
        // WAIT: #NM only with MP and TS both set.
        #expect(try run64(Self.fwait) { $0 | ts }.stop == .debugExit(value: 0))
        #expect(try run64(Self.fwait) { $0 | em }.stop == .debugExit(value: 0))
        let both = try run64(Self.fwait) { $0 | ts | mp }
        #expect(both.stop == .debugExit(value: 7))
        #expect(both.registers.rdx == 0x10_0000)
    }

    @Test func undefinedFormsAndFisttpAreInvalidOpcodes() throws {
        #expect(try run64([0xD9, 0xD1]).stop == .debugExit(value: 6))
        #expect(try run64(Self.absolute(0xDB, reg: 1, 0x20_0000)).stop == .debugExit(value: 6))  // FISTTP: SSE3, not advertised
        #expect(try run64(Self.absolute(0xD9, reg: 1, 0x20_0000)).stop == .debugExit(value: 6))
        #expect(try run64([0xF0] + Self.fld1).stop == .debugExit(value: 6))  // LOCK
    }

    @Test func frstorFromANonCanonicalAddressFaultsAndChangesNothing() throws {
        // movabs rax, 0x8000_0000_0000_0000; fld1; frstor [rax]: #GP(0), the stack keeps its 1.
        let code = [0x48, 0xB8] + Self.le(1 << 63, 8) + Self.fninit + Self.fld1 + [0xDD, 0x20]
        let run = try run64(code)
        #expect(run.stop == .debugExit(value: 13))
        #expect(run.registers.rsi == 0)
        let check = try run64(code.dropLast(2) + [0xDF, 0xE0])
        #expect(check.registers.rax & 0xFFFF == 0x3800)
    }

    @Test func thirtyTwoBitProtectedModeGuestComputesAndStoresItsEnvironment() throws {
        // fninit; fldpi; fld1; faddp; fstp qword [0x200000]; fnstenv [0x200100];
        // o16 fnstenv [0x200200]; fld dword [0x200300]; fnsave [0x200400]; out 0xF4, al
        func abs32(_ prefix: [UInt8], _ opcode: UInt8, reg: UInt8, _ address: UInt64) -> [UInt8] {
            prefix + [opcode, reg << 3 | 5] + Self.le(address, 4)
        }
        var code = Self.fninit + [0xD9, 0xEB] + Self.fld1 + [0xDE, 0xC1]
        let fstpAddress = 0x10_0000 + UInt64(code.count)
        code += abs32([], 0xDD, reg: 3, 0x20_0000) + abs32([], 0xD9, reg: 6, 0x20_0100) + abs32([0x66], 0xD9, reg: 6, 0x20_0200)
        let fldAddress = 0x10_0000 + UInt64(code.count)
        code += abs32([], 0xD9, reg: 0, 0x20_0300) + abs32([], 0xDD, reg: 6, 0x20_0400) + [0xE6, 0xF4]
        let run = try emulate(code, mode: .protected) { memory, _, _ in try memory.store(UInt32(0x3FC0_0000), at: 0x20_0300) }  // 1.5
        #expect(run.stop == .debugExit(value: 0))
        #expect(try run.memory.load(UInt64.self, at: 0x20_0000) == Double(Float80.pi + 1).bitPattern)
        let env = try run.memory.read(0x20_0100, count: 28)
        #expect(
            Array(env[8..<28]) == Self.le(0xFFFF_FFFF, 4) + Self.le(fstpAddress, 4) + Self.le(0x051D_0008, 4) + Self.le(0x20_0000, 4)
                + Self.le(0xFFFF_0010, 4))
        let env16 = try run.memory.read(0x20_0200, count: 14)
        #expect(Array(env16[4..<14]) == Self.le(0xFFFF, 2) + Self.le(fstpAddress & 0xFFFF, 2) + Self.le(8, 2) + Self.le(0, 2) + Self.le(0x10, 2))
        let save = try run.memory.read(0x20_0400, count: 108)
        #expect(
            Array(save[8..<28]) == Self.le(0xFFFF_3FFF, 4) + Self.le(fldAddress, 4) + Self.le(0x0105_0008, 4) + Self.le(0x20_0300, 4)
                + Self.le(0xFFFF_0010, 4))
        #expect(Array(save[28..<38]) == Self.le(0xC000_0000_0000_0000, 8) + Self.le(0x3FFF, 2))
    }

    @Test func realModeFnstenvStoresLinearPointersWithTheOpcode() throws {
        // fninit; fld1; fnstenv [0x600]; out 0xF4, al at 0000:7C00 (SDM vol. 1, figure 8-11).
        let code = Self.fninit + Self.fld1 + [0xD9, 0x36, 0x00, 0x06, 0xE6, 0xF4]
        let run = try emulate(code, mode: .real)
        #expect(run.stop == .debugExit(value: 0))
        let env = try run.memory.read(0x600, count: 14)
        #expect(env == Self.le(0x037F, 2) + Self.le(0x3800, 2) + Self.le(0x3FFF, 2) + Self.le(0x7C02, 2) + Self.le(0x01E8, 2) + Self.le(0, 4))
    }
}
