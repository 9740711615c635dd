import VMCore

/// The one-byte opcode map (SDM vol. 2, appendix A).
extension Interpreter {
    /// Executes one instruction. Faults leave RIP at the instruction so the handler sees it; a stop
    /// requested by a device (an MMIO or port write) completes the instruction first, as a KVM exit
    /// does.
    func step() throws(Interruption) {
        let start = state.pointee.rip
        let stackPointer = gpr[4]
        var i = Instruction(start: start, cursor: start)
        do {
            try execute(&i)
        } catch .stop(let reason) {
            if state.pointee.rip == start { state.pointee.rip = maskIP(i.cursor) }
            throw .stop(reason)
        } catch .fault(let fault) {
            // A fault leaves RSP as it was before the instruction (its pops and pushes undone),
            // so that it can restart: POP, RET, IRET, LEAVE, ENTER... fault after moving it.
            gpr[4] = stackPointer
            throw .fault(fault)
        }
    }

    private func execute(_ i: inout Instruction) throws(Interruption) {
        let opcode = try decodePrefixes(&i)
        let p = i.prefixes
        if p.lock { try checkLockable(opcode, i) }
        let os = p.operandSize
        var next: UInt64? = nil  // a new RIP for control transfers

        switch opcode {
        // ALU r/m,r; r,r/m; AL/eAX,imm for ADD OR ADC SBB AND SUB XOR CMP.
        case 0x00...0x05, 0x08...0x0D, 0x10...0x15, 0x18...0x1D, 0x20...0x25, 0x28...0x2D, 0x30...0x35, 0x38...0x3D:
            let operation = Int(opcode >> 3)
            let form = opcode & 7
            let size = form & 1 == 0 ? 1 : os
            switch form {
            case 0, 1:
                let m = try decodeModRM(&i)
                let result = alu(UInt8(operation), try read(m.operand, size: size, p), readReg(m, size: size, p), size: size)
                if operation != 7 { try write(m.operand, size: size, p, result) }
            case 2, 3:
                let m = try decodeModRM(&i)
                let result = alu(UInt8(operation), readReg(m, size: size, p), try read(m.operand, size: size, p), size: size)
                if operation != 7 { writeReg(m, size: size, p, result) }
            default:
                let immediate = try fetchSigned(&i, size: min(size, 4))
                let result = alu(UInt8(operation), readRegister(0, size: size, rex: false), immediate, size: size)
                if operation != 7 { writeRegister(0, size: size, rex: false, result) }
            }
        case 0x06, 0x0E, 0x16, 0x1E:  // PUSH ES/CS/SS/DS (#UD in 64-bit mode)
            if state.pointee.is64BitMode { throw .fault(.ud) }
            let index = SegmentIndex(rawValue: Int(opcode >> 3))!
            try push(UInt64(state.pointee.segment(index).selector), size: stackOperandSize(p))
        case 0x07, 0x17, 0x1F:  // POP ES/SS/DS (#UD in 64-bit mode)
            if state.pointee.is64BitMode { throw .fault(.ud) }
            let value = try pop(size: stackOperandSize(p))
            try loadSegment(SegmentIndex(rawValue: Int(opcode >> 3))!, UInt16(truncatingIfNeeded: value))
            if opcode == 0x17 { blockInterruptsForOneInstruction() }
        case 0x27, 0x2F, 0x37, 0x3F: try decimalAdjust(opcode)  // DAA, DAS, AAA, AAS
        case 0x40...0x4F:  // INC/DEC r (in 64-bit mode these bytes are REX prefixes and never get here)
            let index = Int(opcode & 7)
            writeRegister(
                index, size: os, rex: false, incrementOrDecrement(readRegister(index, size: os, rex: false), decrement: opcode >= 0x48, size: os))
        case 0x50...0x57:
            let size = stackOperandSize(p)
            try push(readRegister(Int(opcode & 7) + p.rexB, size: size, rex: true), size: size)
        case 0x58...0x5F:
            let size = stackOperandSize(p)
            let value = try pop(size: size)
            writeRegister(Int(opcode & 7) + p.rexB, size: size, rex: true, value)
        case 0x60: try pushAll(p)
        case 0x61: try popAll(p)
        case 0x62: try checkBound(&i)
        case 0x63 where !state.pointee.is64BitMode: try adjustRPL(&i)
        case 0x63:  // MOVSXD
            let m = try decodeModRM(&i)
            writeReg(m, size: os, p, signExtend(try read(m.operand, size: 4, p), from: 4))
        case 0x68, 0x6A:
            let size = stackOperandSize(p)
            try push(try fetchSigned(&i, size: opcode == 0x6A ? 1 : min(size, 4)) & mask(size), size: size)
        case 0x69, 0x6B:  // IMUL r, r/m, imm
            let immediateSize = opcode == 0x6B ? 1 : min(os, 4)
            let m = try decodeModRM(&i, immediateSize: immediateSize)
            let immediate = try fetchSigned(&i, size: immediateSize)
            writeReg(m, size: os, p, signedMultiply(try read(m.operand, size: os, p), immediate, size: os))
        case 0x70...0x7F:
            let displacement = try fetchSigned(&i, size: 1)
            if condition(opcode & 0xF) { next = i.cursor &+ displacement }
        case 0x80, 0x81, 0x82, 0x83:
            // 82 is an alias of 80 outside 64-bit mode (SDM vol. 2, table A-2; AMD's map too).
            if opcode == 0x82 && state.pointee.is64BitMode { throw .fault(.ud) }
            let size = opcode & 1 == 0 ? 1 : os
            let immediateSize = opcode == 0x81 ? min(size, 4) : 1
            let m = try decodeModRM(&i, immediateSize: immediateSize)
            let immediate = try fetchSigned(&i, size: immediateSize)
            let result = alu(UInt8(m.reg & 7), try read(m.operand, size: size, p), immediate, size: size)
            if m.reg & 7 != 7 { try write(m.operand, size: size, p, result) }
        case 0x84, 0x85:
            let size = opcode == 0x84 ? 1 : os
            let m = try decodeModRM(&i)
            _ = logic(try read(m.operand, size: size, p) & readReg(m, size: size, p), size: size)
        case 0x86, 0x87:  // XCHG r/m, r
            let size = opcode == 0x86 ? 1 : os
            let m = try decodeModRM(&i)
            let memoryValue = try read(m.operand, size: size, p)
            try write(m.operand, size: size, p, readReg(m, size: size, p))
            writeReg(m, size: size, p, memoryValue)
        case 0x88...0x8B:
            let size = opcode & 1 == 0 ? 1 : os
            let m = try decodeModRM(&i)
            if opcode < 0x8A {
                try write(m.operand, size: size, p, readReg(m, size: size, p))
            } else {
                writeReg(m, size: size, p, try read(m.operand, size: size, p))
            }
        case 0x8C:  // MOV r/m, Sreg
            let m = try decodeModRM(&i)
            guard let index = SegmentIndex(rawValue: m.reg & 7) else { throw .fault(.ud) }
            let selector = UInt64(state.pointee.segment(index).selector)
            try write(m.operand, size: m.isRegister ? os : 2, p, selector)
        case 0x8D:
            let m = try decodeModRM(&i)
            guard case .memory(_, let offset) = m.operand else { throw .fault(.ud) }
            writeReg(m, size: os, p, offset)
        case 0x8E:  // MOV Sreg, r/m
            let m = try decodeModRM(&i)
            guard let index = SegmentIndex(rawValue: m.reg & 7), index != .cs else { throw .fault(.ud) }
            try loadSegment(index, UInt16(truncatingIfNeeded: try read(m.operand, size: 2, p)))
            if index == .ss { blockInterruptsForOneInstruction() }
        case 0x8F:
            let size = stackOperandSize(p)
            let m = try decodeModRM(&i)
            try write(m.operand, size: size, p, try pop(size: size))
        case 0x90...0x97:  // XCHG eAX, r (0x90: NOP, and PAUSE with F3)
            let index = Int(opcode & 7) + p.rexB
            if index != 0 {
                let a = readRegister(0, size: os, rex: true)
                writeRegister(0, size: os, rex: true, readRegister(index, size: os, rex: true))
                writeRegister(index, size: os, rex: true, a)
            } else if os == 4 && state.pointee.is64BitMode && p.rexB != 0 {
                writeRegister(0, size: 4, rex: true, readRegister(0, size: 4, rex: true))
            }
        case 0x98:  // CBW/CWDE/CDQE
            writeRegister(0, size: os, rex: true, signExtend(readRegister(0, size: os / 2, rex: true), from: os / 2))
        case 0x99:  // CWD/CDQ/CQO
            let negative = readRegister(0, size: os, rex: true) & signBit(os) != 0
            writeRegister(2, size: os, rex: true, negative ? mask(os) : 0)
        case 0x9A:  // CALL far ptr16:16/32
            if state.pointee.is64BitMode { throw .fault(.ud) }
            let offset = try fetch(&i, size: os)
            let selector = UInt16(try fetch(&i, size: 2))
            next = try farTransfer(to: selector, offset: offset, call: true, size: os, returnAddress: i.cursor)
        case 0x9C:  // PUSHF
            try checkIOPLForFlags()
            let size = stackOperandSize(p)
            try push(state.pointee.rflags & 0x00FC_FFFF & mask(size), size: size)  // VM and RF read as 0
        case 0x9D:  // POPF
            try checkIOPLForFlags()
            let size = stackOperandSize(p)
            writeFlags(try pop(size: size), size: size)
        case 0x9E:  // SAHF
            let ah = (gpr[0] >> 8) & 0xD5
            state.pointee.rflags = state.pointee.rflags & ~0xD5 | ah | 2
        case 0x9F:  // LAHF
            writeRegister(4, size: 1, rex: false, state.pointee.rflags & 0xD7 | 2)
        case 0xA0...0xA3:  // MOV AL/eAX <-> moffs
            let size = opcode & 1 == 0 ? 1 : os
            let offset = try fetch(&i, size: p.addressSize)
            let segment = p.segmentOverride ?? .ds
            if opcode < 0xA2 {
                writeRegister(0, size: size, rex: true, try readSegmented(segment, offset, size: size))
            } else {
                try writeSegmented(segment, offset, size: size, readRegister(0, size: size, rex: true))
            }
        case 0xA4...0xA7, 0xAA...0xAF, 0x6C...0x6F:
            if let resume = try stringInstruction(opcode, p, start: i.start) { next = resume }
        case 0xA8, 0xA9:
            let size = opcode == 0xA8 ? 1 : os
            _ = logic(readRegister(0, size: size, rex: false) & (try fetchSigned(&i, size: min(size, 4))), size: size)
        case 0xB0...0xB7:
            writeRegister(Int(opcode & 7) + p.rexB, size: 1, rex: p.rex != 0, try fetch(&i, size: 1))
        case 0xB8...0xBF:
            writeRegister(Int(opcode & 7) + p.rexB, size: os, rex: true, try fetch(&i, size: os))
        case 0xC0, 0xC1, 0xD0...0xD3:
            let size = opcode & 1 == 0 ? 1 : os
            let m = try decodeModRM(&i, immediateSize: opcode <= 0xC1 ? 1 : 0)
            let count: UInt64 = opcode <= 0xC1 ? try fetch(&i, size: 1) : (opcode <= 0xD1 ? 1 : gpr[1] & 0xFF)
            let value = try read(m.operand, size: size, p)
            let result = shift(m.reg & 7, value, count: count, size: size)
            try write(m.operand, size: size, p, result)
        case 0xC2, 0xC3:  // RET near
            let release: UInt64 = opcode == 0xC2 ? try fetch(&i, size: 2) : 0
            let size = stackOperandSize(p)
            next = try pop(size: size)
            adjustStack(by: release)
        case 0xC6, 0xC7:
            let size = opcode == 0xC6 ? 1 : os
            let m = try decodeModRM(&i, immediateSize: min(size, 4))
            try write(m.operand, size: size, p, try fetchSigned(&i, size: min(size, 4)))
        case 0xC8:  // ENTER
            let frameSize = try fetch(&i, size: 2)
            let level = try fetch(&i, size: 1) & 0x1F
            try enter(frameSize: frameSize, level: level, p)
        case 0xC9:  // LEAVE
            let size = stackOperandSize(p)
            writeRegister(4, size: stackAddressSize, rex: true, gpr[5])
            writeRegister(5, size: size, rex: true, try pop(size: size))
        case 0xCA, 0xCB:  // RET far
            let release: UInt64 = opcode == 0xCA ? try fetch(&i, size: 2) : 0
            let size = p.operandSize
            let offset = try pop(size: size)
            let selector = UInt16(truncatingIfNeeded: try pop(size: size))
            let s = state.pointee
            adjustStack(by: release)
            if s.isProtected && s.storedFlags & CPUState.vm == 0 && UInt8(selector & 3) > s.cpl {
                // To an outer level: the caller's SS:rSP follow, and the release applies to both stacks.
                let stackPointer = try pop(size: size)
                let stackSelector = UInt16(truncatingIfNeeded: try pop(size: size))
                try loadOuterLevel(cs: selector, ss: stackSelector)
                writeRegister(4, size: stackAddressSize, rex: true, stackPointer &+ release)
            } else {
                try loadCodeSegment(selector, .returning)
            }
            next = offset
        case 0xCC:
            // A fault while delivering is reported at the INT instruction itself: RIP stays.
            try deliver(vector: Fault.breakpoint, errorCode: nil, returnAddress: i.cursor, software: true)
            return
        case 0xCD:
            let vector = UInt8(try fetch(&i, size: 1))
            try deliver(vector: vector, errorCode: nil, returnAddress: i.cursor, software: true)
            return
        case 0xCE:  // INTO
            if state.pointee.is64BitMode { throw .fault(.ud) }
            if state.pointee.flag(CPUState.of) {
                try deliver(vector: Fault.overflow, errorCode: nil, returnAddress: i.cursor, software: true)
                return
            }
        case 0xCF:
            try interruptReturn(p)
            return
        case 0xE0...0xE3:  // LOOPNE, LOOPE, LOOP, JCXZ
            let displacement = try fetchSigned(&i, size: 1)
            let counterMask = addressMask(p)
            var counter = gpr[1] & counterMask
            var take: Bool
            if opcode == 0xE3 {
                take = counter == 0
            } else {
                counter = (counter &- 1) & counterMask
                writeRegister(1, size: p.addressSize, rex: true, counter)
                take = counter != 0
                if opcode == 0xE0 { take = take && !state.pointee.flag(CPUState.zf) }
                if opcode == 0xE1 { take = take && state.pointee.flag(CPUState.zf) }
            }
            if take { next = i.cursor &+ displacement }
        case 0xE4, 0xE5, 0xEC, 0xED:  // IN
            let size = opcode & 1 == 0 ? 1 : min(os, 4)
            let port = opcode <= 0xE5 ? UInt16(try fetch(&i, size: 1)) : UInt16(truncatingIfNeeded: gpr[2])
            try checkIOPermission(port, size: size)
            writeRegister(0, size: size, rex: true, try portIn(port, size: size))
        case 0xE6, 0xE7, 0xEE, 0xEF:  // OUT
            let size = opcode & 1 == 0 ? 1 : min(os, 4)
            let port = opcode <= 0xE7 ? UInt16(try fetch(&i, size: 1)) : UInt16(truncatingIfNeeded: gpr[2])
            try checkIOPermission(port, size: size)
            state.pointee.rip = i.cursor  // a hypercall sees the state after the instruction
            try portOut(port, size: size, readRegister(0, size: size, rex: true))
            return
        case 0xE8:
            let displacement = try fetchSigned(&i, size: min(os, 4))
            let size = stackOperandSize(p)
            let target = (i.cursor &+ displacement) & mask(size)
            // The target is checked before the push: a faulting CALL writes no stack.
            if state.pointee.is64BitMode && !isCanonical(target) { throw .fault(.gp()) }
            try push(i.cursor, size: size)
            next = target
        case 0xE9, 0xEB:
            let displacement = try fetchSigned(&i, size: opcode == 0xEB ? 1 : min(os, 4))
            next = i.cursor &+ displacement
            if !state.pointee.is64BitMode { next! &= mask(os) }
        case 0xEA:  // JMP far ptr16:16/32
            if state.pointee.is64BitMode { throw .fault(.ud) }
            let offset = try fetch(&i, size: os)
            let selector = UInt16(try fetch(&i, size: 2))
            next = try farTransfer(to: selector, offset: offset, call: false, size: os, returnAddress: i.cursor)
        case 0xC4, 0xC5:  // LES, LDS (VEX prefixes in 64-bit mode, which this CPU model lacks)
            if state.pointee.is64BitMode { throw .fault(.ud) }
            let m = try decodeModRM(&i)
            guard case .memory(let segment, let offset) = m.operand else { throw .fault(.ud) }
            let value = try readSegmented(segment, offset, size: os)
            let selector = UInt16(try readSegmented(segment, offset &+ UInt64(os), size: 2))
            try loadSegment(opcode == 0xC4 ? .es : .ds, selector)
            writeReg(m, size: os, p, value)
        case 0xD4, 0xD5: try asciiAdjustMultiplyOrDivide(opcode, base: try fetch(&i, size: 1))  // AAM, AAD
        case 0xD6: try setALFromCarry()
        case 0x9B: try fwait()
        case 0xD8...0xDF: try x87(opcode, &i)
        case 0xD7:  // XLAT: AL = [seg:rBX + AL]
            let offset = (gpr[3] &+ (gpr[0] & 0xFF)) & addressMask(p)
            writeRegister(0, size: 1, rex: true, try readSegmented(p.segmentOverride ?? .ds, offset, size: 1))
        case 0xF1:
            // INT1/ICEBP: #DB as a trap, delivered like a hardware exception (no gate DPL check,
            // EXT set in the error code of a fault during delivery), as AMD and Intel both do.
            try deliver(vector: Fault.debug, errorCode: nil, returnAddress: i.cursor, software: false)
            return
        case 0xF4:
            guard state.pointee.cpl == 0 else { throw .fault(.gp()) }
            state.pointee.rip = i.cursor
            throw .stop(.halted(interruptsEnabled: state.pointee.flag(CPUState.ifl)))
        case 0xF5: state.pointee.rflags ^= CPUState.cf
        case 0xF6, 0xF7:
            let size = opcode == 0xF6 ? 1 : os
            let m = try decodeModRM(&i, immediateSize: m0Immediate(opcode, size: size, peek: i))
            try group3(m, size: size, p, &i)
        case 0xF8: state.pointee.setFlag(CPUState.cf, false)
        case 0xF9: state.pointee.setFlag(CPUState.cf, true)
        case 0xFA, 0xFB:  // CLI, STI
            let s = state.pointee
            if s.isProtected && s.cpl > UInt8((s.rflags >> 12) & 3) { throw .fault(.gp()) }
            state.pointee.setFlag(CPUState.ifl, opcode == 0xFB)
            if opcode == 0xFB && !s.flag(CPUState.ifl) {
                state.pointee.interruptShadow = true
                openedInterruptWindow()
            }
        case 0xFC: state.pointee.setFlag(CPUState.df, false)
        case 0xFD: state.pointee.setFlag(CPUState.df, true)
        case 0xFE, 0xFF:
            if let target = try group5(opcode, p, &i) { next = target }
        case 0x0F:
            if let target = try twoByte(&i) { next = target }
        default:
            throw .fault(.ud)
        }
        if let next { try transfer(to: next) } else { state.pointee.rip = i.cursor }
    }

    /// Sets RIP to a jump's target, which must be canonical in 64-bit mode and within CS's limit
    /// elsewhere: else #GP(0) at the jump (SDM vol. 2, JMP/CALL/RET/Jcc "Operation").
    func transfer(to target: UInt64) throws(Interruption) {
        let s = state.pointee
        if s.is64BitMode {
            guard isCanonical(target) else { throw .fault(.gp()) }
            state.pointee.rip = target
            return
        }
        let ip = maskIP(target)
        guard ip <= UInt64(s.segments.1.limit) else { throw .fault(.gp()) }
        state.pointee.rip = ip
    }

    /// The size of the immediate that follows ModRM for F6/F7 (only TEST, reg 0 or 1, has one).
    func m0Immediate(_ opcode: UInt8, size: Int, peek: Instruction) -> Int {
        // ModRM.reg is read again by decodeModRM; peeking it here keeps RIP-relative math exact.
        guard let byte = try? readSegmented(.cs, peek.cursor, size: 1) else { return 0 }
        return (byte >> 3) & 6 == 0 ? min(size, 4) : 0
    }

    func adjustStack(by bytes: UInt64) {
        guard bytes != 0 else { return }
        let size = stackAddressSize
        writeRegister(4, size: size, rex: true, (gpr[4] &+ bytes) & mask(size))
    }

    /// Group 3: TEST NOT NEG MUL IMUL DIV IDIV.
    func group3(_ m: ModRM, size: Int, _ p: Prefixes, _ i: inout Instruction) throws(Interruption) {
        let value = try read(m.operand, size: size, p)
        switch m.reg & 7 {
        case 0, 1:
            _ = logic(value & (try fetchSigned(&i, size: min(size, 4))), size: size)
        case 2:
            try write(m.operand, size: size, p, ~value & mask(size))
        case 3:
            let result = subtract(0, value, borrow: 0, size: size)
            state.pointee.setFlag(CPUState.cf, value & mask(size) != 0)
            try write(m.operand, size: size, p, result)
        case 4, 5:
            try multiplyAccumulator(value, signed: m.reg & 7 == 5, size: size)
        default:
            try divideAccumulator(value, signed: m.reg & 7 == 7, size: size)
        }
    }

    /// Group 5: INC DEC CALL CALLF JMP JMPF PUSH (FE: INC DEC only). Returns a new RIP.
    func group5(_ opcode: UInt8, _ p: Prefixes, _ i: inout Instruction) throws(Interruption) -> UInt64? {
        let m = try decodeModRM(&i)
        let size = opcode == 0xFE ? 1 : p.operandSize
        let operation = m.reg & 7
        if opcode == 0xFE && operation > 1 { throw .fault(.ud) }
        switch operation {
        case 0, 1:
            let value = try read(m.operand, size: size, p)
            try write(m.operand, size: size, p, incrementOrDecrement(value, decrement: operation == 1, size: size))
            return nil
        case 2, 4:  // CALL/JMP near indirect
            let targetSize = state.pointee.is64BitMode ? 8 : size
            let target = try read(m.operand, size: targetSize, p)
            if operation == 2 && state.pointee.is64BitMode && !isCanonical(target) { throw .fault(.gp()) }
            if operation == 2 { try push(i.cursor, size: stackOperandSize(p)) }
            return target
        case 3, 5:  // CALL/JMP far indirect: m16:16/32/64
            guard case .memory(let segment, let offset) = m.operand else { throw .fault(.ud) }
            let offsetSize = p.rexW ? 8 : size
            let target = try readSegmented(segment, offset, size: offsetSize)
            let selector = UInt16(try readSegmented(segment, offset &+ UInt64(offsetSize), size: 2))
            return try farTransfer(to: selector, offset: target, call: operation == 3, size: offsetSize, returnAddress: i.cursor)
        case 6:
            let pushSize = stackOperandSize(p)
            try push(try read(m.operand, size: pushSize, p), size: pushSize)
            return nil
        default:
            throw .fault(.ud)
        }
    }

    func signedMultiply(_ a: UInt64, _ b: UInt64, size: Int) -> UInt64 {
        let x = Int64(bitPattern: signExtend(a, from: size)), y = Int64(bitPattern: signExtend(b, from: size))
        let (high, low) = x.multipliedFullWidth(by: y)
        let result = low & mask(size)
        // CF=OF=1 when the full product does not fit the destination's signed range.
        let fits: Bool
        if size == 8 {
            fits = (high == 0 && Int64(bitPattern: low) >= 0) || (high == -1 && Int64(bitPattern: low) < 0)
        } else {
            fits = signExtend(result, from: size) == low  // operands of 32 bits or less cannot overflow 64
        }
        state.pointee.rflags = state.pointee.rflags & ~CPUState.arithmeticFlags | resultFlags(result, size: size) & ~CPUState.zf
        state.pointee.setFlag(CPUState.cf, !fits)
        state.pointee.setFlag(CPUState.of, !fits)
        return result
    }

    /// MUL/IMUL with one operand: rDX:rAX (AX for bytes) = rAX * value.
    func multiplyAccumulator(_ value: UInt64, signed: Bool, size: Int) throws(Interruption) {
        let a = readRegister(0, size: size, rex: true)
        var low: UInt64, high: UInt64, overflow: Bool
        if signed {
            let x = Int64(bitPattern: signExtend(a, from: size)), y = Int64(bitPattern: signExtend(value, from: size))
            let product = x.multipliedFullWidth(by: y)
            if size == 8 {
                low = product.low; high = UInt64(bitPattern: product.high)
                overflow = !((product.high == 0 && Int64(bitPattern: product.low) >= 0) || (product.high == -1 && Int64(bitPattern: product.low) < 0))
            } else {
                let full = x &* y
                low = UInt64(bitPattern: full) & mask(size)
                high = UInt64(bitPattern: full >> Int64(size * 8)) & mask(size)
                overflow = signExtend(low, from: size) != UInt64(bitPattern: full)
            }
        } else {
            let product = a.multipliedFullWidth(by: value & mask(size))
            if size == 8 {
                low = product.low; high = product.high
            } else {
                low = product.low & mask(size); high = (product.low >> UInt64(size * 8)) & mask(size)
            }
            overflow = high != 0
        }
        if size == 1 {
            writeRegister(0, size: 2, rex: true, low | high << 8)
        } else {
            writeRegister(0, size: size, rex: true, low)
            writeRegister(2, size: size, rex: true, high)
        }
        state.pointee.rflags = state.pointee.rflags & ~CPUState.arithmeticFlags | resultFlags(low, size: size) & ~CPUState.zf
        state.pointee.setFlag(CPUState.cf, overflow)
        state.pointee.setFlag(CPUState.of, overflow)
    }

    /// DIV/IDIV: rDX:rAX / value; #DE on a zero divisor or a quotient that does not fit.
    func divideAccumulator(_ divisor: UInt64, signed: Bool, size: Int) throws(Interruption) {
        let divisor = divisor & mask(size)
        guard divisor != 0 else { throw .fault(.de) }
        let low = size == 1 ? readRegister(0, size: 2, rex: true) & 0xFF : readRegister(0, size: size, rex: true)
        let high = size == 1 ? (readRegister(0, size: 2, rex: true) >> 8) & 0xFF : readRegister(2, size: size, rex: true)
        var quotient: UInt64, remainder: UInt64
        if signed {
            let d = Int64(bitPattern: signExtend(divisor, from: size))
            if size == 8 {
                let negative = Int64(bitPattern: high) < 0
                var magnitudeHigh = high, magnitudeLow = low
                if negative { (magnitudeLow, magnitudeHigh) = negate128(low, high) }
                let dMagnitude = d < 0 ? UInt64(bitPattern: 0 &- d) : UInt64(d)
                guard magnitudeHigh < dMagnitude else { throw .fault(.de) }
                let (q, r) = dMagnitude.dividingFullWidth((magnitudeHigh, magnitudeLow))
                let quotientNegative = negative != (d < 0)
                guard q <= (quotientNegative ? UInt64(1) << 63 : UInt64(Int64.max)) else { throw .fault(.de) }
                quotient = quotientNegative ? 0 &- q : q
                remainder = negative ? 0 &- r : r
            } else {
                let bits = Int64(size * 8)
                let dividend = Int64(bitPattern: signExtend(high, from: size) << UInt64(bits) | low)
                let q = dividend / d, r = dividend % d
                let minimum = -(Int64(1) << (bits - 1)), maximum = (Int64(1) << (bits - 1)) - 1
                guard q >= minimum && q <= maximum else { throw .fault(.de) }
                quotient = UInt64(bitPattern: q) & mask(size)
                remainder = UInt64(bitPattern: r) & mask(size)
            }
        } else {
            guard high < divisor else { throw .fault(.de) }
            if size == 8 {
                (quotient, remainder) = divisor.dividingFullWidth((high, low))
            } else {
                let dividend = high << UInt64(size * 8) | low
                quotient = dividend / divisor
                remainder = dividend % divisor
            }
        }
        if size == 1 {
            writeRegister(0, size: 2, rex: true, (quotient & 0xFF) | (remainder & 0xFF) << 8)
        } else {
            writeRegister(0, size: size, rex: true, quotient)
            writeRegister(2, size: size, rex: true, remainder)
        }
    }

    func negate128(_ low: UInt64, _ high: UInt64) -> (UInt64, UInt64) {
        let newLow = ~low &+ 1
        return (newLow, ~high &+ (newLow == 0 ? 1 : 0))
    }

    /// ENTER in the SDM's order (push RBP, then copy each enclosing frame pointer), but with RSP and
    /// RBP written last, so a fault leaves the registers as they were, as the CPU does (the stack
    /// bytes written before the fault stay written, as they do on the CPU).
    func enter(frameSize: UInt64, level: UInt64, _ p: Prefixes) throws(Interruption) {
        let size = stackOperandSize(p)
        let stackSize = stackAddressSize
        let stackMask = mask(stackSize)
        let frame = (gpr[4] &- UInt64(size)) & stackMask
        try writeSegmented(.ss, frame, size: size, gpr[5])
        var rsp = frame
        var bp = gpr[5]
        if level > 1 {
            for _ in 1..<level {
                bp = (bp &- UInt64(size)) & stackMask
                let value = try readSegmented(.ss, bp, size: size)
                rsp = (rsp &- UInt64(size)) & stackMask
                try writeSegmented(.ss, rsp, size: size, value)
            }
        }
        if level > 0 {
            rsp = (rsp &- UInt64(size)) & stackMask
            try writeSegmented(.ss, rsp, size: size, frame)
        }
        writeRegister(5, size: size, rex: true, frame)
        writeRegister(4, size: stackSize, rex: true, (rsp &- frameSize) & stackMask)
    }

    /// PUSHF/POPF fault in virtual-8086 mode with IOPL < 3.
    func checkIOPLForFlags() throws(Interruption) {
        let s = state.pointee
        if s.rflags & CPUState.vm != 0 && (s.rflags >> 12) & 3 < 3 { throw .fault(.gp()) }
    }

    /// POPF/IRET flag rules: IOPL changes only at CPL 0, IF only when CPL <= IOPL; VM and the
    /// reserved bits stay as they are, RF too except for IRET (`resume`), which loads it so that a
    /// handler can return past an instruction breakpoint; bit 1 is always set.
    func writeFlags(_ value: UInt64, size: Int, resume: Bool = false) {
        let s = state.pointee
        var changeable: UInt64 = CPUState.arithmeticFlags | CPUState.tf | CPUState.df | CPUState.nt | CPUState.ac | CPUState.id
        if resume { changeable |= CPUState.rf }
        if s.cpl == 0 { changeable |= CPUState.iopl }
        if !s.isProtected || s.cpl <= UInt8((s.rflags >> 12) & 3) { changeable |= CPUState.ifl }
        changeable &= mask(size)
        state.pointee.rflags = (s.rflags & ~changeable) | (value & changeable) | 2
        if !s.flag(CPUState.ifl) && state.pointee.flag(CPUState.ifl) { openedInterruptWindow() }
    }

    /// IF went from 0 to 1: end the running block so the run loop looks for a pending interrupt
    /// now rather than at its next stop check.
    func openedInterruptWindow() { state.pointee.stopBlock = true }

    /// MOV SS and POP SS: the next instruction (normally the one that loads RSP) completes before
    /// any interrupt.
    func blockInterruptsForOneInstruction() {
        state.pointee.interruptShadow = true
        state.pointee.stopBlock = true
    }

    /// IRET/IRETD/IRETQ.
    func interruptReturn(_ p: Prefixes) throws(Interruption) {
        let s = state.pointee
        // IRET ends the NMI handler's blocking of further NMIs (SDM vol. 3, 6.7.1), even if it faults later.
        state.pointee.nmiBlocked = false
        let size = p.operandSize
        if !s.isProtected {
            let ip = try pop(size: size)
            let cs = UInt16(truncatingIfNeeded: try pop(size: size))
            let flags = try pop(size: size)
            try loadCodeSegment(cs)
            writeFlags(flags, size: size)
            state.pointee.rip = ip & mask(size)
            return
        }
        let oldCPL = s.cpl
        let rip = try pop(size: size)
        let cs = UInt16(truncatingIfNeeded: try pop(size: size))
        let flags = try pop(size: size)
        let returnsOuter = UInt8(cs & 3) > oldCPL
        var rsp: UInt64 = 0, ss: UInt16 = 0
        if s.is64BitMode || returnsOuter {
            rsp = try pop(size: size)
            ss = UInt16(truncatingIfNeeded: try pop(size: size))
        }
        guard UInt8(cs & 3) >= oldCPL else { throw .fault(.gp(UInt32(cs & ~3))) }
        // A return to 64-bit code needs a canonical RIP, checked before anything changes.
        if s.isLongModeActive && !isCanonical(rip) {
            let descriptor = try readDescriptor(cs)
            if descriptor >> 53 & 1 != 0 { throw .fault(.gp()) }
        }
        // The flags follow the rules of the CPL before the return (IOPL only at CPL 0, IF only
        // at CPL <= IOPL); they are undone if loading CS or SS faults.
        writeFlags(flags, size: size, resume: true)
        do {
            if s.is64BitMode || returnsOuter {
                try loadOuterLevel(cs: cs, ss: ss)
                gpr[4] = rsp
            } else {
                try loadCodeSegment(cs, .returning)
            }
        } catch let error {
            state.pointee.rflags = s.rflags
            throw error
        }
        state.pointee.rip = rip
    }

    /// CS then SS of a far RET or IRET that returns to `cs`'s RPL, with SS checked against the
    /// new CPL; CS is put back if SS faults, so the instruction faults as a whole. Data segments
    /// the new level may not use become null.
    func loadOuterLevel(cs: UInt16, ss: UInt16) throws(Interruption) {
        let oldCPL = state.pointee.cpl
        let oldCS = state.pointee.segments.1
        try loadCodeSegment(cs, .returning)
        do {
            try loadSegment(.ss, ss)
        } catch let error {
            state.pointee.segments.1 = oldCS
            throw error
        }
        if state.pointee.cpl > oldCPL { invalidateSegmentsForOuterLevel() }
    }
}
