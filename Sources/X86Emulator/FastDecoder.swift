/// Decodes the common instructions of 64-bit code, or of flat 32-bit code (`legacy32`), into
/// `DecodedInstruction`s. Pure: bytes in, a decoded instruction out. Whatever it does not handle
/// (other prefixes, system instructions, 16-bit addressing, bytes running past `available`)
/// comes back as `.slow` and runs on the full interpreter, which raises the right fault for it;
/// so this decoder only has to be exact for what it accepts.
struct FastDecoder {
    let bytes: UnsafeRawPointer
    /// Bytes readable from `bytes` (to the end of the code page).
    let available: Int
    /// 32-bit code: no REX (0x40-0x4F are INC/DEC), 32-bit stack, no RIP-relative addressing.
    let legacy32: Bool
    var cursor = 0
    var overrun = false
    /// A segment override prefix (64-bit code): the `DecodedInstruction.segment` it gives a
    /// memory operand.
    var segmentOverride: UInt8? = nil

    init(bytes: UnsafeRawPointer, available: Int, legacy32: Bool) {
        self.bytes = bytes
        self.available = min(available, 15)  // instructions are at most 15 bytes (SDM vol. 2, 2.3.11)
        self.legacy32 = legacy32
    }

    static func decode(_ bytes: UnsafeRawPointer, available: Int, legacy32: Bool = false) -> DecodedInstruction {
        var decoder = FastDecoder(bytes: bytes, available: available, legacy32: legacy32)
        var instruction = decoder.decodeInstruction()
        if decoder.overrun { instruction = DecodedInstruction() }
        // The override applies to an explicit memory operand; the stack of PUSH, POP, CALL and
        // RET never takes one.
        if let segment = decoder.segmentOverride, instruction.isMemory { instruction.segment = segment }
        instruction.length = UInt8(decoder.cursor)
        specialize(&instruction)
        instruction.mask = X86Emulator.mask(Int(instruction.size))
        return instruction
    }

    /// A flag-setting register instruction and the Jcc after it as one fused entry, or nil when
    /// the pair does not fuse. Both are register-only, so the pair cannot fault half-way.
    static func fuse(_ first: DecodedInstruction, _ jump: DecodedInstruction) -> DecodedInstruction? {
        guard jump.operation == .jumpIf else { return nil }
        var fused = first
        switch first.operation {
        case .compareRegisters: fused.operation = .compareRegistersJump
        case .compareImmediate: fused.operation = .compareImmediateJump
        case .testRegisters: fused.operation = .testRegistersJump
        case .addImmediate: fused.operation = .addImmediateJump
        case .subtractImmediate: fused.operation = .subtractImmediateJump
        case .incrementRegister: fused.operation = .incrementRegisterJump
        case .decrementRegister: fused.operation = .decrementRegisterJump
        default: return nil
        }
        fused.subop = jump.subop
        fused.displacement = Int32(truncatingIfNeeded: jump.immediate)
        fused.scale = jump.length
        return fused
    }

    /// Picks the register-only forms for 32- and 64-bit operands (never byte registers, so
    /// AH-BH and REX do not matter), with the destination in `rm`.
    static func specialize(_ d: inout DecodedInstruction) {
        guard !d.isMemory && d.size >= 4 else { return }
        // Indexed by the ALU operation; ADC and SBB (2, 3) keep the generic form.
        func registerForm(_ operation: UInt8) -> FastOperation? {
            switch operation {
            case 0: return .addRegisters
            case 1: return .orRegisters
            case 4: return .andRegisters
            case 5: return .subtractRegisters
            case 6: return .xorRegisters
            case 7: return .compareRegisters
            default: return nil
            }
        }
        func immediateForm(_ operation: UInt8) -> FastOperation? {
            switch operation {
            case 0: return .addImmediate
            case 1: return .orImmediate
            case 4: return .andImmediate
            case 5: return .subtractImmediate
            case 6: return .xorImmediate
            case 7: return .compareImmediate
            default: return nil
            }
        }
        switch d.operation {
        case .aluOperandRegister:
            if let form = registerForm(d.subop) { d.operation = form }
        case .aluRegisterOperand:
            if let form = registerForm(d.subop) {
                d.operation = form
                swap(&d.reg, &d.rm)
            }
        case .aluOperandImmediate:
            if let form = immediateForm(d.subop) { d.operation = form }
        case .testOperandRegister:
            d.operation = .testRegisters
        case .moveOperandFromRegister:
            d.operation = .moveRegisters
        case .moveRegisterFromOperand:
            d.operation = .moveRegisters
            swap(&d.reg, &d.rm)
        case .increment:
            d.operation = .incrementRegister
        case .decrement:
            d.operation = .decrementRegister
        default:
            break
        }
    }

    mutating func next8() -> UInt8 {
        guard cursor < available else {
            overrun = true
            return 0
        }
        let byte = bytes.load(fromByteOffset: cursor, as: UInt8.self)
        cursor += 1
        return byte
    }

    mutating func next(_ size: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<size { value |= UInt64(next8()) << (8 * UInt64(index)) }
        return value
    }

    mutating func nextSigned(_ size: Int) -> UInt64 { signExtend(next(size), from: size) }

    private mutating func decodeInstruction() -> DecodedInstruction {
        var d = DecodedInstruction()
        var operandSizePrefix = false
        var repeatPrefix: UInt8 = 0  // F2/F3: taken only as SSE's mandatory prefixes (and TZCNT's)
        var rex: UInt8 = 0
        var opcode = next8()
        while true {
            if opcode == 0x66 {
                operandSizePrefix = true
                rex = 0
            } else if opcode == 0xF2 || opcode == 0xF3 {
                repeatPrefix = opcode
                rex = 0
            } else if opcode & 0xF0 == 0x40 && !legacy32 {
                rex = opcode  // REX counts only directly before the opcode
            } else if (opcode == 0x64 || opcode == 0x65) && !legacy32 {
                // FS and GS: Linux's per-CPU data (GS) and thread-local storage (FS).
                segmentOverride = opcode == 0x64 ? DecodedInstruction.fsSegment : DecodedInstruction.gsSegment
                rex = 0
            } else if (opcode == 0x26 || opcode == 0x2E || opcode == 0x36 || opcode == 0x3E) && !legacy32 {
                // ES, CS, SS and DS have no base in 64-bit code (SDM vol. 1, 3.3.7.1), but the
                // segment still decides between #SS and #GP for a non-canonical address.
                segmentOverride = opcode == 0x36 ? DecodedInstruction.stackSegment : DecodedInstruction.dataSegment
                rex = 0
            } else {
                break
            }
            opcode = next8()
            if overrun { return d }
        }
        d.hasREX = rex != 0
        if opcode == 0x0F, let media = decodeMedia(d, rex, operandSizePrefix: operandSizePrefix, repeatPrefix: repeatPrefix) {
            return media
        }
        guard repeatPrefix == 0 else { return DecodedInstruction() }
        let rexW = rex & 8 != 0
        let os: UInt8 = rexW ? 8 : (operandSizePrefix ? 2 : 4)
        d.size = os
        let rexB = rex & 1 != 0 ? UInt8(8) : 0

        switch opcode {
        case 0x00...0x3D where opcode & 7 < 6:
            d.subop = opcode >> 3
            let form = opcode & 7
            d.size = form & 1 == 0 ? 1 : os
            switch form {
            case 0, 1:
                d.operation = .aluOperandRegister
                decodeModRM(&d, rex)
            case 2, 3:
                d.operation = .aluRegisterOperand
                decodeModRM(&d, rex)
            default:
                d.operation = .aluOperandImmediate
                d.rm = 0
                d.immediate = nextSigned(min(Int(d.size), 4))
            }
        case 0x40...0x4F:  // INC/DEC r (32-bit code only: in 64-bit code these are REX)
            d.operation = opcode < 0x48 ? .increment : .decrement
            d.rm = opcode & 7
        case 0x50...0x57, 0x58...0x5F:
            guard !operandSizePrefix else { return DecodedInstruction() }
            d.operation = opcode < 0x58 ? .pushRegister : .popRegister
            d.reg = (opcode & 7) + rexB
            d.size = legacy32 ? 4 : 8
        case 0x63:
            guard !legacy32 else { return DecodedInstruction() }  // ARPL outside 64-bit mode
            d.operation = .signExtend32
            decodeModRM(&d, rex)
        case 0x68, 0x6A:
            guard !operandSizePrefix else { return DecodedInstruction() }
            d.operation = .pushImmediate
            d.size = legacy32 ? 4 : 8
            d.immediate = nextSigned(opcode == 0x6A ? 1 : 4)
        case 0x69, 0x6B:
            d.operation = .multiplyRegisterOperandImmediate
            decodeModRM(&d, rex)
            d.immediate = nextSigned(opcode == 0x6B ? 1 : min(Int(os), 4))
        case 0x70...0x7F:
            d.operation = .jumpIf
            d.subop = opcode & 0xF
            d.immediate = nextSigned(1)
        case 0x80, 0x81, 0x83:
            d.operation = .aluOperandImmediate
            d.size = opcode == 0x80 ? 1 : os
            decodeModRM(&d, rex)
            d.subop = d.reg & 7
            d.immediate = nextSigned(opcode == 0x81 ? min(Int(d.size), 4) : 1)
        case 0x84, 0x85:
            d.operation = .testOperandRegister
            d.size = opcode == 0x84 ? 1 : os
            decodeModRM(&d, rex)
        case 0x88...0x8B:
            d.operation = opcode < 0x8A ? .moveOperandFromRegister : .moveRegisterFromOperand
            d.size = opcode & 1 == 0 ? 1 : os
            decodeModRM(&d, rex)
        case 0x8D:
            d.operation = .loadEffectiveAddress
            decodeModRM(&d, rex)
            guard d.isMemory else { return DecodedInstruction() }  // #UD, from the interpreter
        case 0x90 where rexB == 0:
            d.operation = .nop
        case 0x98:
            d.operation = .signExtendAccumulator
        case 0x99:
            d.operation = .signExtendIntoDX
        case 0xA8, 0xA9:
            d.operation = .testOperandImmediate
            d.size = opcode == 0xA8 ? 1 : os
            d.rm = 0
            d.immediate = nextSigned(min(Int(d.size), 4))
        case 0xB0...0xB7:
            d.operation = .moveRegisterFromImmediate
            d.size = 1
            d.reg = (opcode & 7) + rexB
            d.immediate = next(1)
        case 0xB8...0xBF:
            d.operation = .moveRegisterFromImmediate
            d.reg = (opcode & 7) + rexB
            d.immediate = next(Int(os))
        case 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3:
            d.size = opcode & 1 == 0 ? 1 : os
            decodeModRM(&d, rex)
            d.subop = d.reg & 7
            if opcode <= 0xC1 {
                d.operation = .shiftByImmediate
                d.immediate = next(1)
            } else if opcode <= 0xD1 {
                d.operation = .shiftByImmediate
                d.immediate = 1
            } else {
                d.operation = .shiftByCL
            }
        case 0xC3:
            guard !operandSizePrefix else { return DecodedInstruction() }
            d.operation = .ret
        case 0xC6, 0xC7:
            d.operation = .moveOperandFromImmediate
            d.size = opcode == 0xC6 ? 1 : os
            decodeModRM(&d, rex)
            guard d.reg & 7 == 0 else { return DecodedInstruction() }
            d.immediate = nextSigned(min(Int(d.size), 4))
        case 0xE8, 0xE9, 0xEB:
            guard !operandSizePrefix else { return DecodedInstruction() }
            d.operation = opcode == 0xE8 ? .call : .jump
            d.immediate = nextSigned(opcode == 0xEB ? 1 : 4)
        case 0xF6, 0xF7:
            d.size = opcode == 0xF6 ? 1 : os
            decodeModRM(&d, rex)
            switch d.reg & 7 {
            case 0, 1:
                d.operation = .testOperandImmediate
                d.immediate = nextSigned(min(Int(d.size), 4))
            case 2: d.operation = .not
            case 3: d.operation = .negate
            case 4, 5: d.operation = .multiplyAccumulator
            default: d.operation = .divideAccumulator
            }
            d.subop = d.reg & 7
        case 0xFE, 0xFF:
            d.size = opcode == 0xFE ? 1 : os
            decodeModRM(&d, rex)
            switch d.reg & 7 {
            case 0: d.operation = .increment
            case 1: d.operation = .decrement
            default: return DecodedInstruction()
            }
        case 0x0F:
            return decodeTwoByte(d, rex)
        default:
            return DecodedInstruction()
        }
        return d
    }

    private mutating func decodeTwoByte(_ decoded: DecodedInstruction, _ rex: UInt8) -> DecodedInstruction {
        var d = decoded
        let opcode = next8()
        switch opcode {
        case 0x1F:
            d.operation = .nop  // the multi-byte NOP compilers pad with
            decodeModRM(&d, rex)
        case 0x40...0x4F:
            d.operation = .conditionalMove
            d.subop = opcode & 0xF
            decodeModRM(&d, rex)
        case 0x80...0x8F:
            guard d.size != 2 else { return DecodedInstruction() }
            d.operation = .jumpIf
            d.subop = opcode & 0xF
            d.immediate = nextSigned(4)
        case 0x90...0x9F:
            d.operation = .setIf
            d.subop = opcode & 0xF
            d.size = 1
            decodeModRM(&d, rex)
        case 0xAF:
            d.operation = .multiplyRegisterOperand
            decodeModRM(&d, rex)
        case 0xB6, 0xB7, 0xBE, 0xBF:
            switch opcode {
            case 0xB6: d.operation = .zeroExtend8
            case 0xB7: d.operation = .zeroExtend16
            case 0xBE: d.operation = .signExtend8
            default: d.operation = .signExtend16
            }
            decodeModRM(&d, rex)
        default:
            return DecodedInstruction()
        }
        return d
    }

    /// ModRM, SIB and displacement with 64-bit addressing.
    mutating func decodeModRM(_ d: inout DecodedInstruction, _ rex: UInt8) {
        let byte = next8()
        let mod = byte >> 6, rm = byte & 7
        d.reg = (byte >> 3) & 7 | (rex & 4 != 0 ? 8 : 0)
        let rexB: UInt8 = rex & 1 != 0 ? 8 : 0
        if mod == 3 {
            d.rm = rm + rexB
            return
        }
        d.isMemory = true
        var displacement: UInt64 = 0
        if rm == 4 {
            let sib = next8()
            d.scale = sib >> 6
            let index = (sib >> 3) & 7 | (rex & 2 != 0 ? 8 : 0)
            d.index = index == 4 ? DecodedInstruction.noRegister : index
            let base = sib & 7
            if base == 5 && mod == 0 {
                displacement = nextSigned(4)
            } else {
                d.base = base + rexB
                if base == 4 || base == 5 { d.segment = DecodedInstruction.stackSegment }
            }
        } else if rm == 5 && mod == 0 {
            d.base = legacy32 ? DecodedInstruction.noRegister : DecodedInstruction.ripBase  // [disp32] in 32-bit code
            displacement = nextSigned(4)
        } else {
            d.base = rm + rexB
            if rm == 5 { d.segment = DecodedInstruction.stackSegment }
        }
        if mod == 1 { displacement = nextSigned(1) }
        if mod == 2 { displacement = nextSigned(4) }
        d.displacement = Int32(truncatingIfNeeded: displacement)
    }
}

/// The fast decoder's verdict on one instruction, for the fuzz target (`FastDecoder` and
/// `DecodedInstruction` stay internal to this module).
package struct FastDecodeResult: Equatable {
    /// Bytes consumed (0 when the decoder gave up before the end of an instruction).
    package var length: Int
    /// Whether the fast path executes it (otherwise it is `.slow` and goes to the interpreter).
    package var accepted: Bool
    package var endsBlock: Bool
    /// Operand size in bytes.
    package var size: Int
    package var isMemory: Bool
    package var reg: UInt8
    package var rm: UInt8
    package var base: UInt8
    package var index: UInt8
    package var scale: UInt8

    /// `base` and `index` when there is no such register, and `base` for RIP-relative operands.
    package static let noRegister = DecodedInstruction.noRegister
    package static let ripBase = DecodedInstruction.ripBase
}

/// Decodes one instruction from `available` bytes at `bytes` (64-bit code, or flat 32-bit code
/// with `legacy32`) as a block build does.
package func fastDecode(_ bytes: UnsafeRawPointer, available: Int, legacy32: Bool) -> FastDecodeResult {
    let d = FastDecoder.decode(bytes, available: available, legacy32: legacy32)
    return FastDecodeResult(
        length: Int(d.length), accepted: d.operation != .slow, endsBlock: d.endsBlock, size: Int(d.size), isMemory: d.isMemory,
        reg: d.reg, rm: d.rm, base: d.base, index: d.index, scale: d.scale)
}
