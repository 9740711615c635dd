import Testing
import VMCore

/// Faults raised while delivering INT n, in the SDM's order, reported at the INT instruction.
@Suite struct InterruptDeliveryTests {
    /// A 64-bit interrupt gate (DPL 0) to `handler` through the 64-bit code selector 0x18.
    func gate64(_ handler: UInt64) -> [UInt8] {
        var gate = [UInt8](repeating: 0, count: 16)
        gate[0] = UInt8(handler & 0xFF); gate[1] = UInt8((handler >> 8) & 0xFF)
        gate[2] = 0x18
        gate[5] = 0x8E  // present, DPL 0, 64-bit interrupt gate
        gate[6] = UInt8((handler >> 16) & 0xFF); gate[7] = UInt8((handler >> 24) & 0xFF)
        return gate
    }

    /// Runs `code` (at 0x100000, CPL 0) with an IDT of `entries` gates whose #GP (13) and #NP (11)
    /// handlers report vector, error code and the pushed RIP: SI = error code, RDX = pushed
    /// RIP, and the run stops with the vector as the debug-exit value.
    func runFaulting(_ code: [UInt8], entries: Int, patch: (inout [UInt8]) -> Void = { _ in }) throws -> EmulatorRun {
        // Handlers at 0x8000 + 16 * vector: pop rax; pop rdx; mov si, ax; mov al, vector; out 0xF4, al.
        try emulate(code, mode: .long) { memory, _, system in
            var idt = [UInt8](repeating: 0, count: entries * 16)
            for vector in [11, 13] where vector < entries {
                idt.replaceSubrange(vector * 16..<vector * 16 + 16, with: gate64(0x8000 + UInt64(vector) * 16))
                try memory.write([0x58, 0x5A, 0x66, 0x89, 0xC6, 0xB0, UInt8(vector), 0xE6, 0xF4], at: 0x8000 + UInt64(vector) * 16)
            }
            patch(&idt)
            try memory.write(idt, at: 0x9000)
            system.idt = DescriptorTable(base: 0x9000, limit: UInt16(entries * 16 - 1))
        }
    }

    @Test func intBeyondTheIDTLimitIsGPWithTheIDTErrorCodeAtTheINT() throws {
        let run = try runFaulting([0x90, 0xCD, 0x80, 0xF4], entries: 32)  // nop; int 0x80
        #expect(run.stop == .debugExit(value: 13))
        #expect(run.registers.rsi & 0xFFFF == 0x80 * 8 + 2)  // IDT bit set, EXT clear
        #expect(run.registers.rdx == 0x100001)  // the INT itself, not the instruction after it
    }

    @Test func anAllZeroGateIsGPBeforeNotPresent() throws {
        // Vector 0x20 is inside the limit but empty: type 0 is checked (#GP) before presence (#NP).
        let run = try runFaulting([0xCD, 0x20, 0xF4], entries: 64)
        #expect(run.stop == .debugExit(value: 13))
        #expect(run.registers.rsi & 0xFFFF == 0x20 * 8 + 2)
        #expect(run.registers.rdx == 0x100000)
    }

    @Test func aValidGateThatIsNotPresentIsNP() throws {
        let run = try runFaulting([0xCD, 0x21, 0xF4], entries: 64) { idt in
            idt.replaceSubrange(0x21 * 16..<0x22 * 16, with: gate64(0x7000))
            idt[0x21 * 16 + 5] = 0x0E  // a 64-bit interrupt gate, not present
        }
        #expect(run.stop == .debugExit(value: 11))
        #expect(run.registers.rsi & 0xFFFF == 0x21 * 8 + 2)
        #expect(run.registers.rdx == 0x100000)
    }
}
