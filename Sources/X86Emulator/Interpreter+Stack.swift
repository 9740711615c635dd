/// The stack: SS:RSP with the stack size of the mode (64-bit, or SS.B for 32/16-bit).
extension Interpreter {
    var stackAddressSize: Int {
        let s = state.pointee
        if s.is64BitMode { return 8 }
        return s.segment(.ss).defaultSize32 ? 4 : 2
    }

    func push(_ value: UInt64, size: Int) throws(Interruption) {
        let stackSize = stackAddressSize
        let rsp = (gpr[4] &- UInt64(size)) & mask(stackSize)
        try writeSegmented(.ss, rsp, size: size, value)
        writeRegister(4, size: stackSize, rex: true, rsp)
    }

    func pop(size: Int) throws(Interruption) -> UInt64 {
        let stackSize = stackAddressSize
        let rsp = gpr[4] & mask(stackSize)
        let value = try readSegmented(.ss, rsp, size: size)
        writeRegister(4, size: stackSize, rex: true, rsp &+ UInt64(size))
        return value
    }

    /// The operand size of PUSH/POP/CALL/RET: 64-bit by default in 64-bit mode (16 with 0x66).
    func stackOperandSize(_ p: Prefixes) -> Int {
        if state.pointee.is64BitMode { return p.hasOperandSizePrefix ? 2 : 8 }
        return p.operandSize
    }
}
