/// What the fast path does with a decoded instruction. Anything else is `.slow`: the block ends
/// there and the full interpreter executes it from its bytes.
enum FastOperation: UInt8 {
    case slow
    case nop
    case moveRegisterFromOperand, moveOperandFromRegister, moveOperandFromImmediate, moveRegisterFromImmediate
    /// `subop` is the ALU operation (ADD OR ADC SBB AND SUB XOR CMP).
    case aluOperandRegister, aluRegisterOperand, aluOperandImmediate
    case testOperandRegister, testOperandImmediate
    case increment, decrement, not, negate
    /// Specialized forms for 32- and 64-bit registers (the bulk of compiled code): the
    /// destination register is `rm`, the source `reg` (or `immediate`); no operation switch.
    case addRegisters, orRegisters, andRegisters, subtractRegisters, xorRegisters, compareRegisters, testRegisters
    case addImmediate, orImmediate, andImmediate, subtractImmediate, xorImmediate, compareImmediate
    case moveRegisters, incrementRegister, decrementRegister
    /// One of the above fused with the Jcc after it (one dispatch for the pair): `subop` is the
    /// condition, `displacement` the jump's, `scale` the Jcc's length.
    case compareRegistersJump, compareImmediateJump, testRegistersJump, addImmediateJump, subtractImmediateJump
    case incrementRegisterJump, decrementRegisterJump
    case loadEffectiveAddress
    /// `subop` is the condition code; `immediate` the displacement from the next instruction.
    case jumpIf, jump, call
    case ret
    case pushRegister, popRegister, pushImmediate
    case zeroExtend8, zeroExtend16, signExtend8, signExtend16, signExtend32
    /// `subop` is the group-2 operation; `immediate` the count (`shiftByCL`: CL).
    case shiftByImmediate, shiftByCL
    case multiplyRegisterOperand, multiplyRegisterOperandImmediate
    /// MUL/IMUL (`subop` 4/5) and DIV/IDIV (6/7) of rDX:rAX by the operand.
    case multiplyAccumulator, divideAccumulator
    case conditionalMove, setIf
    /// CBW/CWDE/CDQE and CWD/CDQ/CQO.
    case signExtendAccumulator, signExtendIntoDX
    /// SSE (FastDecoder+SSE.swift): 128-bit moves (`subop` 1 for a store, `immediate` 1 when
    /// aligned), MOVSS/MOVSD (`size` 4 or 8), a host instruction (`immediate` the
    /// `csse_binary_op`, `subop` the memory operand's size), PMOVMSKB, (U)COMISS/SD (`immediate`
    /// the kind, `subop` the size), CVTSI2SS/SD and CVT(T)SS/SD2SI (`size` the integer's),
    /// MOVD/MOVQ to and from general registers, MOVQ xmm/m64 (`subop` 1 for the store), PSHUFD.
    case mediaMove, scalarMove, mediaBinary, moveMaskBytes, compareScalarFlags, convertToFloat, convertToInteger
    case moveToXMM, moveFromXMM, moveQuadword, shuffleDwords
    /// BSF/BSR (`subop` 1), also as TZCNT/LZCNT's encodings (F3), which run as BSF/BSR here.
    case bitScan
}

/// One instruction decoded for the fast path (64-bit code, or flat 32-bit code): 32 bytes, no
/// references, stored in a preallocated arena so executing it reads plain memory.
struct DecodedInstruction {
    static let noRegister: UInt8 = 0xFF
    /// `base` value for RIP-relative operands.
    static let ripBase: UInt8 = 16

    var operation = FastOperation.slow
    var length: UInt8 = 0
    /// Operand size in bytes.
    var size: UInt8 = 4
    /// ModRM.reg with REX.R, or the register of the +r opcode forms.
    var reg: UInt8 = 0
    /// The register operand when `isMemory` is false.
    var rm: UInt8 = 0
    var base = noRegister
    var index = noRegister
    var scale: UInt8 = 0
    var isMemory = false
    /// A REX prefix was present: byte registers 4-7 are SPL-DIL instead of AH-BH.
    var hasREX = false
    var subop: UInt8 = 0
    /// The segment of the memory operand: the default one (`dataSegment`; `stackSegment` for
    /// rSP/rBP bases, which picks #SS over #GP for a non-canonical address, as the interpreter
    /// does), or an FS or GS override in 64-bit code (`fsSegment`, `gsSegment`: the segment's
    /// base is added, and a fault is #GP). One byte, so the entry stays 32 bytes.
    var segment = dataSegment
    static let dataSegment: UInt8 = 0
    static let stackSegment: UInt8 = 1
    static let fsSegment = UInt8(SegmentIndex.fs.rawValue)
    static let gsSegment = UInt8(SegmentIndex.gs.rawValue)
    var displacement: Int32 = 0
    var immediate: UInt64 = 0
    /// `size` as a mask, for the register-only forms (computing it in every handler cost more
    /// than the load).
    var mask: UInt64 = 0xFFFF_FFFF

    /// Whether the block must end after this instruction.
    var endsBlock: Bool {
        switch operation {
        case .slow, .jumpIf, .jump, .call, .ret: return true
        case .compareRegistersJump, .compareImmediateJump, .testRegistersJump, .addImmediateJump, .subtractImmediateJump: return true
        case .incrementRegisterJump, .decrementRegisterJump: return true
        default: return false
        }
    }
}
