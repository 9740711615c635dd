import VMCore

/// Executing decoded instructions (64-bit or flat 32-bit code). Same semantics as the byte
/// interpreter (they share the flag, shift and multiply helpers); faults leave RIP at the
/// instruction.
extension Interpreter {
    /// Executes `d`, which starts at `rip`; returns the RIP of the next instruction. `mode` is
    /// fixed for a chain of blocks: its `legacy` is a constant in each of the two copies of the
    /// block loop (64-bit, flat 32-bit code), so its tests fold away; for 32-bit code the caller
    /// masks RIP to 32 bits where it leaves the loop.
    @inline(__always)
    func executeDecoded(_ d: UnsafePointer<DecodedInstruction>, rip: UInt64, mode: ChainMode) throws(Interruption) -> UInt64 {
        let next = rip &+ UInt64(d.pointee.length)
        let size = Int(d.pointee.size)
        let rex = d.pointee.hasREX
        let reg = Int(d.pointee.reg)
        switch d.pointee.operation {
        case .mediaMove, .scalarMove, .mediaBinary, .moveMaskBytes, .compareScalarFlags, .convertToFloat, .convertToInteger, .moveToXMM,
            .moveFromXMM, .moveQuadword, .shuffleDwords, .bitScan:
            return try executeMedia(d, rip: rip, mode: mode)
        case .slow:
            state.pointee.rip = rip
            try step()
            return state.pointee.rip
        case .nop:
            break
        case .addRegisters: registerALU(d, 0, source: gpr[reg])
        case .orRegisters: registerALU(d, 1, source: gpr[reg])
        case .andRegisters: registerALU(d, 4, source: gpr[reg])
        case .subtractRegisters: registerALU(d, 5, source: gpr[reg])
        case .xorRegisters: registerALU(d, 6, source: gpr[reg])
        case .compareRegisters: registerALU(d, 7, source: gpr[reg])
        case .testRegisters: _ = alu(4, gpr[Int(d.pointee.rm)], gpr[reg], size: size, mask: d.pointee.mask)
        case .addImmediate: registerALU(d, 0, source: d.pointee.immediate)
        case .orImmediate: registerALU(d, 1, source: d.pointee.immediate)
        case .andImmediate: registerALU(d, 4, source: d.pointee.immediate)
        case .subtractImmediate: registerALU(d, 5, source: d.pointee.immediate)
        case .xorImmediate: registerALU(d, 6, source: d.pointee.immediate)
        case .compareImmediate: registerALU(d, 7, source: d.pointee.immediate)
        case .compareRegistersJump:
            registerALU(d, 7, source: gpr[reg])
            return fusedJump(d, rip: rip, mode: mode)
        case .compareImmediateJump:
            registerALU(d, 7, source: d.pointee.immediate)
            return fusedJump(d, rip: rip, mode: mode)
        case .testRegistersJump:
            _ = alu(4, gpr[Int(d.pointee.rm)], gpr[reg], size: size, mask: d.pointee.mask)
            return fusedJump(d, rip: rip, mode: mode)
        case .addImmediateJump:
            registerALU(d, 0, source: d.pointee.immediate)
            return fusedJump(d, rip: rip, mode: mode)
        case .subtractImmediateJump:
            registerALU(d, 5, source: d.pointee.immediate)
            return fusedJump(d, rip: rip, mode: mode)
        case .incrementRegisterJump, .decrementRegisterJump:
            let rm = Int(d.pointee.rm)
            gpr[rm] = incrementOrDecrement(gpr[rm], decrement: d.pointee.operation == .decrementRegisterJump, size: size, mask: d.pointee.mask)
            return fusedJump(d, rip: rip, mode: mode)
        case .moveRegisters:
            gpr[Int(d.pointee.rm)] = gpr[reg] & d.pointee.mask
        case .incrementRegister, .decrementRegister:
            let rm = Int(d.pointee.rm)
            gpr[rm] = incrementOrDecrement(gpr[rm], decrement: d.pointee.operation == .decrementRegister, size: size, mask: d.pointee.mask)
        case .moveRegisterFromOperand:
            writeRegister(reg, size: size, rex: rex, try readOperand(d, size: size, next: next, mode: mode))
        case .moveOperandFromRegister:
            try writeOperand(d, size: size, next: next, mode: mode, readRegister(reg, size: size, rex: rex))
        case .moveOperandFromImmediate:
            try writeOperand(d, size: size, next: next, mode: mode, d.pointee.immediate)
        case .moveRegisterFromImmediate:
            writeRegister(reg, size: size, rex: rex, d.pointee.immediate)
        case .aluOperandRegister:
            let operation = d.pointee.subop
            if d.pointee.isMemory {
                let linear = try linearOperand(d, next: next, size: size, mode: mode)
                let value = try readLinear(linear, size: size, user: mode.user)
                let result = alu(operation, value, readRegister(reg, size: size, rex: rex), size: size)
                if operation != 7 { try writeLinear(linear, size: size, user: mode.user, result) }
            } else {
                let rm = Int(d.pointee.rm)
                let result = alu(operation, readRegister(rm, size: size, rex: rex), readRegister(reg, size: size, rex: rex), size: size)
                if operation != 7 { writeRegister(rm, size: size, rex: rex, result) }
            }
        case .aluRegisterOperand:
            let operation = d.pointee.subop
            let source = try readOperand(d, size: size, next: next, mode: mode)
            let result = alu(operation, readRegister(reg, size: size, rex: rex), source, size: size)
            if operation != 7 { writeRegister(reg, size: size, rex: rex, result) }
        case .aluOperandImmediate:
            let operation = d.pointee.subop
            if d.pointee.isMemory {
                let linear = try linearOperand(d, next: next, size: size, mode: mode)
                let result = alu(operation, try readLinear(linear, size: size, user: mode.user), d.pointee.immediate, size: size)
                if operation != 7 { try writeLinear(linear, size: size, user: mode.user, result) }
            } else {
                let rm = Int(d.pointee.rm)
                let result = alu(operation, readRegister(rm, size: size, rex: rex), d.pointee.immediate, size: size)
                if operation != 7 { writeRegister(rm, size: size, rex: rex, result) }
            }
        case .loadEffectiveAddress:
            writeRegister(reg, size: size, rex: rex, effectiveAddress(d, next: next, mode: mode))
        // 64-bit code: a target outside the canonical range is #GP(0) at the jump, before the
        // jump changes anything (a RET's pop is undone); in flat 32-bit code EIP wraps instead.
        case .jumpIf:
            return fastCondition(d.pointee.subop) ? try checkedTarget(next &+ d.pointee.immediate, mode: mode) : next
        case .jump:
            return try checkedTarget(next &+ d.pointee.immediate, mode: mode)
        case .call:
            let target = try checkedTarget(next &+ d.pointee.immediate, mode: mode)
            try push(next, mode: mode)
            return target
        case .ret:
            let target = try pop(mode: mode)
            if !mode.legacy && !isCanonical(target) {
                gpr[4] &-= 8
                throw .fault(.gp())
            }
            return target
        case .pushRegister:
            try push(gpr[reg], mode: mode)
        case .popRegister:
            let value = try pop(mode: mode)
            gpr[reg] = value  // POP RSP: the loaded value wins
        // Rarer instructions, in a function of their own: fewer cases here keep the common
        // ones' registers (measured: the loop ran slower with every case inline).
        case .testOperandRegister, .testOperandImmediate, .increment, .decrement, .not, .negate, .pushImmediate,
            .zeroExtend8, .zeroExtend16, .signExtend8, .signExtend16, .signExtend32, .shiftByImmediate,
            .shiftByCL, .multiplyRegisterOperand, .multiplyRegisterOperandImmediate, .multiplyAccumulator,
            .divideAccumulator, .conditionalMove, .setIf, .signExtendAccumulator, .signExtendIntoDX:
            return try executeUncommon(d, rip: rip, mode: mode)
        }
        return next
    }

    /// The decoded instructions that are rarer in compiled code, with the same semantics as in
    /// `executeDecoded` (which sends them here).
    @inline(never)
    func executeUncommon(_ d: UnsafePointer<DecodedInstruction>, rip: UInt64, mode: ChainMode) throws(Interruption) -> UInt64 {
        let next = rip &+ UInt64(d.pointee.length)
        let size = Int(d.pointee.size)
        let rex = d.pointee.hasREX
        let reg = Int(d.pointee.reg)
        switch d.pointee.operation {
        case .testOperandRegister:
            _ = alu(4, try readOperand(d, size: size, next: next, mode: mode), readRegister(reg, size: size, rex: rex), size: size)
        case .testOperandImmediate:
            _ = alu(4, try readOperand(d, size: size, next: next, mode: mode), d.pointee.immediate, size: size)
        case .increment, .decrement:
            let linear = d.pointee.isMemory ? try linearOperand(d, next: next, size: size, mode: mode) : 0
            let value =
                d.pointee.isMemory ? try readLinear(linear, size: size, user: mode.user) : readRegister(Int(d.pointee.rm), size: size, rex: rex)
            let result = incrementOrDecrement(value, decrement: d.pointee.operation == .decrement, size: size)
            if d.pointee.isMemory {
                try writeLinear(linear, size: size, user: mode.user, result)
            } else {
                writeRegister(Int(d.pointee.rm), size: size, rex: rex, result)
            }
        case .not:
            try modifyOperand(d, size: size, next: next, mode: mode) { value in ~value }
        case .negate:
            // NEG is 0 - value: its CF (value != 0) is SUB's borrow.
            try modifyOperand(d, size: size, next: next, mode: mode) { value in alu(5, 0, value, size: size) }
        case .pushImmediate:
            try push(d.pointee.immediate, mode: mode)
        case .zeroExtend8:
            writeRegister(reg, size: size, rex: rex, try readOperand(d, size: 1, next: next, mode: mode))
        case .zeroExtend16:
            writeRegister(reg, size: size, rex: rex, try readOperand(d, size: 2, next: next, mode: mode))
        case .signExtend8:
            writeRegister(reg, size: size, rex: rex, signExtend(try readOperand(d, size: 1, next: next, mode: mode), from: 1))
        case .signExtend16:
            writeRegister(reg, size: size, rex: rex, signExtend(try readOperand(d, size: 2, next: next, mode: mode), from: 2))
        case .signExtend32:
            writeRegister(reg, size: size, rex: rex, signExtend(try readOperand(d, size: 4, next: next, mode: mode), from: 4))
        case .shiftByImmediate:
            let count = d.pointee.immediate
            let operation = Int(d.pointee.subop)
            try modifyOperand(d, size: size, next: next, mode: mode) { value in shift(operation, value, count: count, size: size) }
        case .shiftByCL:
            let count = gpr[1] & 0xFF
            let operation = Int(d.pointee.subop)
            try modifyOperand(d, size: size, next: next, mode: mode) { value in shift(operation, value, count: count, size: size) }
        case .multiplyRegisterOperand:
            let a = readRegister(reg, size: size, rex: rex)
            writeRegister(reg, size: size, rex: rex, signedMultiply(a, try readOperand(d, size: size, next: next, mode: mode), size: size))
        case .multiplyRegisterOperandImmediate:
            let value = try readOperand(d, size: size, next: next, mode: mode)
            writeRegister(reg, size: size, rex: rex, signedMultiply(value, d.pointee.immediate, size: size))
        case .multiplyAccumulator:
            try multiplyAccumulator(try readOperand(d, size: size, next: next, mode: mode), signed: d.pointee.subop == 5, size: size)
        case .divideAccumulator:
            try divideAccumulator(try readOperand(d, size: size, next: next, mode: mode), signed: d.pointee.subop == 7, size: size)
        case .conditionalMove:
            let value = try readOperand(d, size: size, next: next, mode: mode)  // read (and fault) even when false
            if fastCondition(d.pointee.subop) {
                writeRegister(reg, size: size, rex: rex, value)
            } else {
                writeRegister(reg, size: size, rex: rex, readRegister(reg, size: size, rex: rex))  // zero-extends
            }
        case .setIf:
            try writeOperand(d, size: 1, next: next, mode: mode, fastCondition(d.pointee.subop) ? 1 : 0)
        case .signExtendAccumulator:
            writeRegister(0, size: size, rex: true, signExtend(readRegister(0, size: size / 2, rex: true), from: size / 2))
        case .signExtendIntoDX:
            let negative = readRegister(0, size: size, rex: true) & signBit(size) != 0
            writeRegister(2, size: size, rex: true, negative ? mask(size) : 0)
        default:
            break  // not an uncommon operation: executeDecoded handles it
        }
        return next
    }

    // MARK: - Operands

    /// The offset of a memory operand: base + index << scale + displacement, in 64-bit
    /// addressing, or wrapped to 32 bits in 32-bit code.
    @_transparent
    func effectiveAddress(_ d: UnsafePointer<DecodedInstruction>, next: UInt64, mode: ChainMode) -> UInt64 {
        var address = UInt64(bitPattern: Int64(d.pointee.displacement))
        let base = d.pointee.base
        if base != DecodedInstruction.noRegister { address &+= base == DecodedInstruction.ripBase ? next : gpr[Int(base)] }
        let index = d.pointee.index
        if index != DecodedInstruction.noRegister { address &+= gpr[Int(index)] &<< UInt64(d.pointee.scale) }
        return mode.legacy ? address & 0xFFFF_FFFF : address
    }

    /// The linear address of a memory operand of `size` bytes. 64-bit code: the offset itself
    /// (DS, ES and SS have no base), plus FS's or GS's base with their override, which must be
    /// canonical. Flat 32-bit code: the offset too (base 0), which must not run past the 4 GiB
    /// limit.
    @_transparent
    func linearOperand(_ d: UnsafePointer<DecodedInstruction>, next: UInt64, size: Int, mode: ChainMode) throws(Interruption) -> UInt64 {
        var address = effectiveAddress(d, next: next, mode: mode)
        let segment = d.pointee.segment
        if mode.legacy {
            guard address &+ UInt64(size &- 1) <= 0xFFFF_FFFF else {
                throw .fault(segment == DecodedInstruction.stackSegment ? Fault(vector: Fault.stackFault, errorCode: 0) : .gp())
            }
            return address
        }
        if segment > DecodedInstruction.stackSegment {
            address &+= segment == DecodedInstruction.gsSegment ? state.pointee.segments.5.base : state.pointee.segments.4.base
        }
        guard isCanonical(address, size: size) else {
            throw .fault(segment == DecodedInstruction.stackSegment ? Fault(vector: Fault.stackFault, errorCode: 0) : .gp())
        }
        return address
    }

    @_transparent
    func readOperand(_ d: UnsafePointer<DecodedInstruction>, size: Int, next: UInt64, mode: ChainMode) throws(Interruption) -> UInt64 {
        if d.pointee.isMemory { return try readLinear(try linearOperand(d, next: next, size: size, mode: mode), size: size, user: mode.user) }
        return readRegister(Int(d.pointee.rm), size: size, rex: d.pointee.hasREX)
    }

    @_transparent
    func writeOperand(
        _ d: UnsafePointer<DecodedInstruction>, size: Int, next: UInt64, mode: ChainMode, _ value: UInt64
    ) throws(Interruption) {
        if d.pointee.isMemory {
            try writeLinear(try linearOperand(d, next: next, size: size, mode: mode), size: size, user: mode.user, value)
        } else {
            writeRegister(Int(d.pointee.rm), size: size, rex: d.pointee.hasREX, value)
        }
    }

    /// Read-modify-write of the ModRM operand, translating a memory operand's address once.
    @_transparent
    func modifyOperand(
        _ d: UnsafePointer<DecodedInstruction>, size: Int, next: UInt64, mode: ChainMode, _ change: (UInt64) -> UInt64
    ) throws(Interruption) {
        if d.pointee.isMemory {
            let linear = try linearOperand(d, next: next, size: size, mode: mode)
            try writeLinear(linear, size: size, user: mode.user, change(try readLinear(linear, size: size, user: mode.user)))
        } else {
            let rm = Int(d.pointee.rm)
            writeRegister(rm, size: size, rex: d.pointee.hasREX, change(readRegister(rm, size: size, rex: d.pointee.hasREX)))
        }
    }

    @_transparent
    func checkedTarget(_ target: UInt64, mode: ChainMode) throws(Interruption) -> UInt64 {
        guard mode.legacy || isCanonical(target) else { throw .fault(.gp()) }
        return target
    }

    /// PUSH of 8 bytes on the 64-bit stack (a canonical RSP), or of 4 on the flat 32-bit stack
    /// (ESP wraps at 32 bits; the access must not run past the limit).
    @_transparent
    func push(_ value: UInt64, mode: ChainMode) throws(Interruption) {
        if mode.legacy {
            let esp = (gpr[4] &- 4) & 0xFFFF_FFFF
            guard esp <= 0xFFFF_FFFC else { throw .fault(Fault(vector: Fault.stackFault, errorCode: 0)) }
            try writeLinear(esp, size: 4, user: mode.user, value)
            gpr[4] = esp
            return
        }
        let rsp = gpr[4] &- 8
        guard isCanonical(rsp, size: 8) else { throw .fault(Fault(vector: Fault.stackFault, errorCode: 0)) }
        try writeLinear(rsp, size: 8, user: mode.user, value)
        gpr[4] = rsp
    }

    /// POP (or RET's target) from the 64-bit or the flat 32-bit stack.
    @_transparent
    func pop(mode: ChainMode) throws(Interruption) -> UInt64 {
        if mode.legacy {
            let esp = gpr[4] & 0xFFFF_FFFF
            guard esp <= 0xFFFF_FFFC else { throw .fault(Fault(vector: Fault.stackFault, errorCode: 0)) }
            let value = try readLinear(esp, size: 4, user: mode.user)
            gpr[4] = (esp &+ 4) & 0xFFFF_FFFF
            return value
        }
        let rsp = gpr[4]
        guard isCanonical(rsp, size: 8) else { throw .fault(Fault(vector: Fault.stackFault, errorCode: 0)) }
        let value = try readLinear(rsp, size: 8, user: mode.user)
        gpr[4] = rsp &+ 8
        return value
    }

    /// `operation` (a constant at each call) on a 32- or 64-bit destination register `rm`.
    @_transparent
    func registerALU(_ d: UnsafePointer<DecodedInstruction>, _ operation: UInt8, source: UInt64) {
        let rm = Int(d.pointee.rm)
        let result = alu(operation, gpr[rm], source, size: Int(d.pointee.size), mask: d.pointee.mask)
        if operation != 7 { gpr[rm] = result }  // a 32-bit result is already zero-extended
    }

    /// The Jcc half of a fused pair that starts at `rip`. A taken jump to a non-canonical target
    /// (64-bit code) goes on at the Jcc itself instead, which then runs unfused and raises the
    /// #GP there, after the first half has completed, as the CPU would.
    @_transparent
    func fusedJump(_ d: UnsafePointer<DecodedInstruction>, rip: UInt64, mode: ChainMode) -> UInt64 {
        let jump = rip &+ UInt64(d.pointee.length)
        let next = jump &+ UInt64(d.pointee.scale)
        guard fastCondition(d.pointee.subop) else { return next }
        let target = next &+ UInt64(bitPattern: Int64(d.pointee.displacement))
        return mode.legacy || isCanonical(target) ? target : jump
    }
}

/// What stays fixed while a chain of blocks runs (only the byte interpreter changes it).
struct ChainMode {
    /// Flat 32-bit code (else 64-bit).
    let legacy: Bool
    /// CPL 3: user-mode page rights apply.
    let user: Bool
}
