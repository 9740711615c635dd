import VMCore

/// Executes guest instructions one at a time against `state`, with guest memory and device I/O.
///
/// This is the byte interpreter: it decodes each instruction as it executes it and handles the
/// whole instruction set in every mode. 64-bit code mostly runs as decoded blocks instead
/// (`runBlock`), which fall back to `step()` for whatever they do not handle.
struct Interpreter {
    let state: UnsafeMutablePointer<CPUState>
    let memory: GuestMemory
    /// An existential: device I/O is rare next to instructions, and a non-generic interpreter is
    /// compiled once, fully optimized, whatever module calls it.
    let io: any GuestIO
    let statistics: UnsafeMutablePointer<CPUStatistics>
    let unimplemented: UnsafeMutablePointer<UnimplementedLog>
    let tlb: TLB
    let codeCache: CodeCache
    /// The local APIC, NMIs and platform MSRs (nil: a bare CPU, as in unit tests).
    let platform: (any InterruptSource)?
    /// Guest time, which the TSC counts at 1 GHz.
    let clock: any GuestClock
    /// The general registers' storage inside `state`, for access without copying the state.
    let gpr: UnsafeMutablePointer<UInt64>

    init(
        state: UnsafeMutablePointer<CPUState>, memory: GuestMemory, io: any GuestIO, statistics: UnsafeMutablePointer<CPUStatistics>,
        unimplemented: UnsafeMutablePointer<UnimplementedLog>, tlb: TLB, codeCache: CodeCache, platform: (any InterruptSource)? = nil,
        clock: any GuestClock = HostGuestClock()
    ) {
        self.platform = platform
        self.clock = clock
        self.state = state
        self.memory = memory
        self.io = io
        self.statistics = statistics
        self.unimplemented = unimplemented
        self.tlb = tlb
        self.codeCache = codeCache
        gpr = (UnsafeMutableRawPointer(state) + MemoryLayout<CPUState>.offset(of: \CPUState.gpr)!).assumingMemoryBound(to: UInt64.self)
    }

    /// Decoding state of the current instruction.
    struct Prefixes {
        var operandSize = 4
        var addressSize = 4
        var segmentOverride: SegmentIndex?
        var rep: UInt8 = 0  // 0xF3 or 0xF2
        var lock = false
        var rex: UInt8 = 0
        var rexW: Bool { rex & 8 != 0 }
        var rexR: Int { rex & 4 != 0 ? 8 : 0 }
        var rexX: Int { rex & 2 != 0 ? 8 : 0 }
        var rexB: Int { rex & 1 != 0 ? 8 : 0 }
        var hasOperandSizePrefix = false
    }

    /// A decoded ModRM operand: a register, or a memory location (segment and offset).
    enum Operand {
        case register(Int)
        case memory(SegmentIndex, UInt64)
    }

    /// The instruction being executed: where it started, the fetch cursor and its prefixes.
    struct Instruction {
        var start: UInt64
        var cursor: UInt64
        var prefixes = Prefixes()
    }

    // MARK: - Fetching

    @inline(__always)
    func fetch8(_ instruction: inout Instruction) throws(Interruption) -> UInt8 {
        let offset = instruction.cursor
        // Instructions are at most 15 bytes (SDM vol. 2, 2.3.11).
        guard offset &- instruction.start < 15 else { throw .fault(.gp()) }
        // Fast path: 64-bit code (no segment base or limit) on a cached executable RAM page.
        if state.pointee.is64BitMode {
            let page = offset >> 12
            let entry = tlb.lookup(page).pointee
            if entry.tag == page &+ 1 && entry.hostRead != 0 && entry.executable && (entry.userAllowed || state.pointee.segments.1.dpl != 3) {
                instruction.cursor = offset &+ 1
                return UnsafeRawPointer(bitPattern: entry.hostRead)!.load(fromByteOffset: Int(offset & 0xFFF), as: UInt8.self)
            }
        }
        let byte = try readSegmented(.cs, offset, size: 1, fetch: true)
        instruction.cursor = maskIP(offset &+ 1)
        return UInt8(byte)
    }

    func fetch(_ instruction: inout Instruction, size: Int) throws(Interruption) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<size { value |= UInt64(try fetch8(&instruction)) << (8 * UInt64(index)) }
        return value
    }

    /// A sign-extended immediate of `size` bytes, truncated to 64 bits.
    func fetchSigned(_ instruction: inout Instruction, size: Int) throws(Interruption) -> UInt64 {
        signExtend(try fetch(&instruction, size: size), from: size)
    }

    func maskIP(_ value: UInt64) -> UInt64 {
        if state.pointee.is64BitMode { return value }
        return state.pointee.segments.1.defaultSize32 ? value & 0xFFFF_FFFF : value & 0xFFFF
    }

    // MARK: - Registers

    @inline(__always)
    func readRegister(_ index: Int, size: Int, rex: Bool) -> UInt64 {
        if size == 1 && !rex && index >= 4 && index < 8 {
            return (gpr[index - 4] >> 8) & 0xFF  // AH, CH, DH, BH
        }
        return gpr[index] & mask(size)
    }

    @inline(__always)
    func writeRegister(_ index: Int, size: Int, rex: Bool, _ value: UInt64) {
        switch size {
        case 1:
            if !rex && index >= 4 && index < 8 {
                gpr[index - 4] = gpr[index - 4] & ~0xFF00 | (value & 0xFF) << 8
            } else {
                gpr[index] = gpr[index] & ~0xFF | value & 0xFF
            }
        case 2: gpr[index] = gpr[index] & ~0xFFFF | value & 0xFFFF
        case 4: gpr[index] = value & 0xFFFF_FFFF  // 32-bit writes zero-extend
        default: gpr[index] = value
        }
    }
}

/// Instructions the emulator met but does not implement, with their bytes, for `--stats`.
struct UnimplementedLog {
    var count: UInt64 = 0
    var examples: [[UInt8]] = []
    mutating func record(_ bytes: [UInt8]) {
        count += 1
        if examples.count < 8 && !examples.contains(bytes) { examples.append(bytes) }
    }
}

// Wrapping arithmetic in these helpers: sizes are 1, 2, 4 or 8, and checked operations would add
// overflow branches to every handler.
@inline(__always) func mask(_ size: Int) -> UInt64 { size == 8 ? .max : (1 &<< UInt64(truncatingIfNeeded: size &* 8)) &- 1 }

@inline(__always) func signExtend(_ value: UInt64, from size: Int) -> UInt64 {
    switch size {
    case 1: return UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: value)))
    case 2: return UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: value)))
    case 4: return UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
    default: return value
    }
}

@inline(__always) func signBit(_ size: Int) -> UInt64 { 1 &<< UInt64(truncatingIfNeeded: size &* 8 &- 1) }
