import VMCore

/// Prefixes and ModRM/SIB addressing (SDM vol. 2, chapter 2).
extension Interpreter {
    /// Reads prefixes (and REX in 64-bit mode); returns the first opcode byte.
    func decodePrefixes(_ instruction: inout Instruction) throws(Interruption) -> UInt8 {
        let long = state.pointee.is64BitMode
        let default32 = long || state.pointee.segments.1.defaultSize32
        var p = Prefixes()
        p.operandSize = default32 ? 4 : 2
        p.addressSize = long ? 8 : (default32 ? 4 : 2)
        while true {
            let byte = try fetch8(&instruction)
            switch byte {
            case 0x66:
                p.hasOperandSizePrefix = true
                p.operandSize = default32 ? 2 : 4
                p.rex = 0
            case 0x67:
                p.addressSize = long ? 4 : (default32 ? 2 : 4)
                p.rex = 0
            case 0x26: p.segmentOverride = .es; p.rex = 0
            case 0x2E: p.segmentOverride = .cs; p.rex = 0
            case 0x36: p.segmentOverride = .ss; p.rex = 0
            case 0x3E: p.segmentOverride = .ds; p.rex = 0
            case 0x64: p.segmentOverride = .fs; p.rex = 0
            case 0x65: p.segmentOverride = .gs; p.rex = 0
            case 0xF0: p.lock = true; p.rex = 0
            case 0xF2, 0xF3: p.rep = byte; p.rex = 0
            case 0x40...0x4F where long:
                p.rex = byte  // REX counts only directly before the opcode; later prefixes reset it
            default:
                if long && p.rexW { p.operandSize = 8 }
                instruction.prefixes = p
                return byte
            }
        }
    }

    /// The ModRM byte split into its fields, with REX extensions applied to reg.
    struct ModRM {
        var mod: UInt8
        var reg: Int
        var rm: UInt8
        var operand: Operand
        var isRegister: Bool { mod == 3 }
    }

    /// Decodes ModRM (and SIB, displacement) into an operand. RIP-relative offsets are relative to
    /// the end of the instruction, so callers fetch any immediate first via `immediateSize`.
    func decodeModRM(_ instruction: inout Instruction, immediateSize: Int = 0) throws(Interruption) -> ModRM {
        let byte = try fetch8(&instruction)
        let mod = byte >> 6, regField = Int((byte >> 3) & 7), rm = byte & 7
        let p = instruction.prefixes
        let reg = regField + p.rexR
        if mod == 3 { return ModRM(mod: mod, reg: reg, rm: rm, operand: .register(Int(rm) + p.rexB)) }
        var segment: SegmentIndex = .ds
        var offset: UInt64
        if p.addressSize == 2 {
            let bx = gpr[3], bp = gpr[5], si = gpr[6], di = gpr[7]
            switch rm {
            case 0: offset = bx &+ si
            case 1: offset = bx &+ di
            case 2: offset = bp &+ si; segment = .ss
            case 3: offset = bp &+ di; segment = .ss
            case 4: offset = si
            case 5: offset = di
            case 6:
                if mod == 0 { offset = try fetch(&instruction, size: 2) } else { offset = bp; segment = .ss }
            default: offset = bx
            }
            if mod == 1 { offset &+= try fetchSigned(&instruction, size: 1) }
            if mod == 2 { offset &+= try fetch(&instruction, size: 2) }
            offset &= 0xFFFF
        } else {
            var ripRelative = false
            if rm == 4 {
                let sib = try fetch8(&instruction)
                let scale = sib >> 6, index = Int((sib >> 3) & 7) + p.rexX, base = Int(sib & 7)
                offset = index == 4 ? 0 : gpr[index] << UInt64(scale)
                if base == 5 && mod == 0 {
                    offset &+= try fetchSigned(&instruction, size: 4)
                } else {
                    offset &+= gpr[base + p.rexB]
                    if base == 4 || base == 5 { segment = .ss }
                }
            } else if rm == 5 && mod == 0 {
                offset = try fetchSigned(&instruction, size: 4)
                ripRelative = state.pointee.is64BitMode
            } else {
                offset = gpr[Int(rm) + p.rexB]
                if rm == 5 { segment = .ss }
            }
            if mod == 1 { offset &+= try fetchSigned(&instruction, size: 1) }
            if mod == 2 { offset &+= try fetchSigned(&instruction, size: 4) }
            if ripRelative {
                // The instruction ends after its immediate, which has not been fetched yet.
                offset &+= instruction.cursor &+ UInt64(immediateSize)
            }
            if p.addressSize == 4 { offset &= 0xFFFF_FFFF }
        }
        return ModRM(mod: mod, reg: reg, rm: rm, operand: .memory(p.segmentOverride ?? segment, offset))
    }

    func read(_ operand: Operand, size: Int, _ p: Prefixes) throws(Interruption) -> UInt64 {
        switch operand {
        case .register(let index): return readRegister(index, size: size, rex: p.rex != 0)
        case .memory(let segment, let offset): return try readSegmented(segment, offset, size: size)
        }
    }

    func write(_ operand: Operand, size: Int, _ p: Prefixes, _ value: UInt64) throws(Interruption) {
        switch operand {
        case .register(let index): writeRegister(index, size: size, rex: p.rex != 0, value)
        case .memory(let segment, let offset): try writeSegmented(segment, offset, size: size, value)
        }
    }

    /// The register operand named by ModRM.reg.
    func readReg(_ modrm: ModRM, size: Int, _ p: Prefixes) -> UInt64 { readRegister(modrm.reg, size: size, rex: p.rex != 0) }
    func writeReg(_ modrm: ModRM, size: Int, _ p: Prefixes, _ value: UInt64) { writeRegister(modrm.reg, size: size, rex: p.rex != 0, value) }

    /// An address-size-masked value (for string instruction pointers and counters).
    func addressMask(_ p: Prefixes) -> UInt64 { mask(p.addressSize) }
}
