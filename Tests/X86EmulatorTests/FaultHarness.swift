import Boot
import VMCore

/// Where `runCatchingFaults` puts its exception stubs and table.
enum FaultHarness {
    static let stubs: UInt64 = 0x8000
    static let table: UInt64 = 0x9000

    /// The stop a stub reports for `vector`.
    static func caught(_ vector: UInt8) -> StopReason { .debugExit(value: UInt32(vector)) }
}

/// Runs `code` in `mode` with exception vectors 0-31 routed to stubs that report the vector on
/// port 0xF4 (`mov al, vector; out 0xF4, al`), leaving the exception frame on the stack at RSP:
/// through the IVT in real mode, 32-bit interrupt gates (selector 0x08) in protected mode, 64-bit
/// gates (selector 0x18) in long mode.
func runCatchingFaults(
    _ code: [UInt8], mode: CPUMode, prepare: (GuestMemory, inout Registers, inout SystemRegisters) throws -> Void = { _, _, _ in }
) throws -> EmulatorRun {
    try emulate(code, mode: mode) { memory, registers, system in
        for vector in 0..<32 {
            let stub = FaultHarness.stubs + UInt64(vector) * 8
            try memory.write([0xB0, UInt8(vector), 0xE6, 0xF4], at: stub)
            switch mode {
            case .real:
                try memory.store(UInt32(stub), at: UInt64(vector) * 4)  // 0000:stub
            case .protected:
                let gate = stub & 0xFFFF | UInt64(0x08) << 16 | UInt64(0x8E) << 40 | (stub >> 16) << 48
                try memory.store(gate, at: FaultHarness.table + UInt64(vector) * 8)
            case .long:
                let gate = stub & 0xFFFF | UInt64(0x18) << 16 | UInt64(0x8E) << 40 | (stub >> 16) << 48
                try memory.store(gate, at: FaultHarness.table + UInt64(vector) * 16)
                try memory.store(UInt64(0), at: FaultHarness.table + UInt64(vector) * 16 + 8)
            }
        }
        if mode != .real { system.idt = DescriptorTable(base: FaultHarness.table, limit: mode == .long ? 0x1FF : 0xFF) }
        try prepare(memory, &registers, &system)
    }
}

extension EmulatorRun {
    /// The `index`th slot of `size` bytes above RSP (the exception frame, after an error code).
    func stackSlot(_ index: Int, size: Int) throws -> UInt64 {
        let address = (system.ss.base &+ registers.rsp &+ UInt64(index * size)) & (size == 8 ? .max : 0xFFFF_FFFF)
        switch size {
        case 2: return UInt64(try memory.load(UInt16.self, at: address))
        case 4: return UInt64(try memory.load(UInt32.self, at: address))
        default: return try memory.load(UInt64.self, at: address)
        }
    }
}

/// `pieces` placed at their offsets in one image (the gaps filled with NOPs).
func image(_ pieces: [(offset: Int, bytes: [UInt8])]) -> [UInt8] {
    var code = [UInt8](repeating: 0x90, count: pieces.map { $0.offset + $0.bytes.count }.max() ?? 0)
    for piece in pieces { code.replaceSubrange(piece.offset..<piece.offset + piece.bytes.count, with: piece.bytes) }
    return code
}

/// A TSS at 0x600 whose ring-0 stack is 0x90000 (SS0 0x10 for a 32-bit TSS), loaded in TR, so that
/// faults at CPL 3 reach the harness's ring-0 stubs.
func installRingZeroStack(_ memory: GuestMemory, _ system: inout SystemRegisters, long: Bool) throws {
    if long {
        try memory.store(UInt64(0x9_0000), at: 0x604)
    } else {
        try memory.store(UInt32(0x9_0000), at: 0x604)
        try memory.store(UInt32(0x10), at: 0x608)
    }
    system.tr = Segment(base: 0x600, limit: 0x67, selector: 0x40, type: 0xB, defaultSize32: false, isCodeOrData: false, granularity: false)
}
