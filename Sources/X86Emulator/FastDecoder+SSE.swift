import CSSE

/// The SSE and SSE2 instructions of glibc's string loops and of scalar double arithmetic, for the
/// decoded-block path; the rest (MMX forms, shuffles other than PSHUFD, FXSAVE...) stay `.slow`.
extension FastDecoder {
    /// Decodes 0F `opcode` after its prefixes, or returns nil (with nothing consumed) when the
    /// instruction is not one of these.
    mutating func decodeMedia(_ decoded: DecodedInstruction, _ rex: UInt8, operandSizePrefix: Bool, repeatPrefix: UInt8) -> DecodedInstruction? {
        let start = cursor
        if let media = decodeMediaOpcode(decoded, rex, operandSizePrefix: operandSizePrefix, repeatPrefix: repeatPrefix) { return media }
        cursor = start
        overrun = false
        return nil
    }

    private mutating func decodeMediaOpcode(
        _ decoded: DecodedInstruction, _ rex: UInt8, operandSizePrefix: Bool, repeatPrefix: UInt8
    ) -> DecodedInstruction? {
        var d = decoded
        let opcode = next8()
        let column: Interpreter.MediaColumn =
            repeatPrefix == 0xF3 ? .repeatPrefix : (repeatPrefix == 0xF2 ? .repeatNotEqual : (operandSizePrefix ? .operandSize : .none))
        let packed = column == .none || column == .operandSize
        let wide = rex & 8 != 0
        switch opcode {
        case 0x10 where packed, 0x11 where packed, 0x28 where packed, 0x29 where packed:
            d.operation = .mediaMove
            d.subop = opcode & 1
            d.immediate = opcode >= 0x28 ? 1 : 0
        case 0x6F where column == .operandSize || column == .repeatPrefix, 0x7F where column == .operandSize || column == .repeatPrefix:
            d.operation = .mediaMove
            d.subop = opcode == 0x7F ? 1 : 0
            d.immediate = column == .operandSize ? 1 : 0
        case 0xE7 where column == .operandSize, 0x2B where packed:  // MOVNTDQ, MOVNTPS/PD: aligned stores
            d.operation = .mediaMove
            d.subop = 1
            d.immediate = 1
        case 0x10, 0x11:
            d.operation = .scalarMove
            d.subop = opcode & 1
            d.size = column == .repeatPrefix ? 4 : 8
        case 0xD7 where column == .operandSize:
            d.operation = .moveMaskBytes
        case 0x2E where packed, 0x2F where packed:
            d.operation = .compareScalarFlags
            d.immediate = UInt64((column == .operandSize ? 2 : 0) + (opcode == 0x2E ? 1 : 0))
            d.subop = column == .operandSize ? 8 : 4
        case 0x2A where !packed:
            d.operation = .convertToFloat
            d.immediate = column == .repeatPrefix ? 0 : 1
            d.size = wide ? 8 : 4
        case 0x2C where !packed, 0x2D where !packed:
            d.operation = .convertToInteger
            d.immediate = UInt64((column == .repeatPrefix ? 0 : 2) + (opcode == 0x2C ? 1 : 0))
            d.subop = column == .repeatPrefix ? 4 : 8
            d.size = wide ? 8 : 4
        case 0x6E where column == .operandSize, 0x7E where column == .operandSize:
            d.operation = opcode == 0x6E ? .moveToXMM : .moveFromXMM
            d.size = wide ? 8 : 4
        case 0x7E where column == .repeatPrefix:
            d.operation = .moveQuadword
        case 0xD6 where column == .operandSize:
            d.operation = .moveQuadword
            d.subop = 1
        case 0x70 where column == .operandSize:
            d.operation = .shuffleDwords
        case 0xBC where column == .none || column == .repeatPrefix, 0xBD where column == .none || column == .repeatPrefix:
            d.operation = .bitScan
            d.subop = opcode & 1
            d.size = wide ? 8 : (operandSizePrefix ? 2 : 4)
            guard d.size != 2 else { return nil }
        default:
            if let operation = Interpreter.floatingPointOperation(opcode, column) {
                d.operation = .mediaBinary
                d.immediate = UInt64(operation.op.rawValue)
                d.subop = UInt8(operation.memorySize)
            } else if column == .operandSize, let op = Interpreter.integerOperations[opcode] {
                d.operation = .mediaBinary
                d.immediate = UInt64(op.rawValue)
                d.subop = 16
            } else {
                return nil
            }
        }
        decodeModRM(&d, rex)
        if d.operation == .shuffleDwords { d.immediate = next(1) }
        if d.operation == .moveMaskBytes && d.isMemory { return nil }  // #UD, from the interpreter
        if (opcode == 0xE7 || opcode == 0x2B) && !d.isMemory { return nil }
        return overrun ? nil : d
    }
}
