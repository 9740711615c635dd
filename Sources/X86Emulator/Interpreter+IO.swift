import VMCore

/// Port I/O, string instructions and the hypercall path.
extension Interpreter {
    /// Protected mode with CPL > IOPL (or virtual-8086 mode) consults the TSS I/O bitmap.
    func checkIOPermission(_ port: UInt16, size: Int) throws(Interruption) {
        let s = state.pointee
        guard s.isProtected, s.cpl > UInt8((s.rflags >> 12) & 3) || s.rflags & CPUState.vm != 0 else { return }
        guard s.tr.limit >= 0x67 else { throw .fault(.gp()) }
        let bitmapBase = try readSystem(s.tr.base &+ 0x66, size: 2)
        let byteOffset = bitmapBase + UInt64(port / 8)
        guard byteOffset + 1 <= UInt64(s.tr.limit) else { throw .fault(.gp()) }
        let bits = try readSystem(s.tr.base &+ byteOffset, size: 2)
        let wanted = (UInt64(1) << UInt64(size)) - 1
        guard (bits >> UInt64(port % 8)) & wanted == 0 else { throw .fault(.gp()) }
    }

    func portIn(_ port: UInt16, size: Int) throws(Interruption) -> UInt64 {
        statistics.pointee[.portIO] += 1
        return UInt64(io.portRead(IOPort(port), width: AccessWidth(byteCount: size)!))
    }

    func portOut(_ port: UInt16, size: Int, _ value: UInt64) throws(Interruption) {
        statistics.pointee[.portIO] += 1
        switch io.portWrite(IOPort(port), width: AccessWidth(byteCount: size)!, value: UInt32(truncatingIfNeeded: value)) {
        case .proceed: return
        case .stop(let reason): throw .stop(reason)
        case .hypercall:
            statistics.pointee[.hypercall] += 1
            var registers = state.pointee.generalRegisters
            let action = io.hypercall(&registers, longMode: state.pointee.is64BitMode)
            state.pointee.setGeneralRegisters(registers)
            if case .stop(let reason) = action { throw .stop(reason) }
        }
    }

    /// MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS with REP/REPE/REPNE. A repeated instruction runs
    /// in chunks, as a CPU takes interrupts between iterations: after a chunk it returns its own
    /// address (RCX holds what is left) so the run loop can check for a stop, and every iteration
    /// counts as work toward that check.
    func stringInstruction(_ opcode: UInt8, _ p: Prefixes, start: UInt64) throws(Interruption) -> UInt64? {
        let size: Int
        switch opcode {
        case 0x6C, 0x6E, 0xA4, 0xA6, 0xAA, 0xAC, 0xAE: size = 1
        case 0x6D, 0x6F: size = min(p.operandSize, 4)
        default: size = p.operandSize
        }
        let addressMask = mask(p.addressSize)
        let step = state.pointee.flag(CPUState.df) ? 0 &- UInt64(size) : UInt64(size)
        let source = p.segmentOverride ?? .ds
        let repeated = p.rep != 0
        let compares = opcode == 0xA6 || opcode == 0xA7 || opcode == 0xAE || opcode == 0xAF
        var iterations = 0
        while true {
            if repeated {
                let count = gpr[1] & addressMask
                if count == 0 { return nil }
            }
            let si = gpr[6] & addressMask
            let di = gpr[7] & addressMask
            switch opcode {
            case 0xA4, 0xA5:
                try writeSegmented(.es, di, size: size, try readSegmented(source, si, size: size))
                writeRegister(6, size: p.addressSize, rex: true, si &+ step)
                writeRegister(7, size: p.addressSize, rex: true, di &+ step)
            case 0xA6, 0xA7:
                let a = try readSegmented(source, si, size: size), b = try readSegmented(.es, di, size: size)
                _ = subtract(a, b, borrow: 0, size: size)
                writeRegister(6, size: p.addressSize, rex: true, si &+ step)
                writeRegister(7, size: p.addressSize, rex: true, di &+ step)
            case 0xAA, 0xAB:
                try writeSegmented(.es, di, size: size, readRegister(0, size: size, rex: true))
                writeRegister(7, size: p.addressSize, rex: true, di &+ step)
            case 0xAC, 0xAD:
                writeRegister(0, size: size, rex: true, try readSegmented(source, si, size: size))
                writeRegister(6, size: p.addressSize, rex: true, si &+ step)
            case 0xAE, 0xAF:
                _ = subtract(readRegister(0, size: size, rex: true), try readSegmented(.es, di, size: size), borrow: 0, size: size)
                writeRegister(7, size: p.addressSize, rex: true, di &+ step)
            case 0x6C, 0x6D:
                let port = UInt16(truncatingIfNeeded: gpr[2])
                try checkIOPermission(port, size: size)
                try writeSegmented(.es, di, size: size, try portIn(port, size: size))
                writeRegister(7, size: p.addressSize, rex: true, di &+ step)
            default:  // OUTS
                let port = UInt16(truncatingIfNeeded: gpr[2])
                try checkIOPermission(port, size: size)
                let value = try readSegmented(source, si, size: size)
                writeRegister(6, size: p.addressSize, rex: true, si &+ step)
                if repeated {
                    writeRegister(1, size: p.addressSize, rex: true, (gpr[1] &- 1) & addressMask)
                }
                try portOut(port, size: size, value)
                if !repeated { return nil }
                iterations += 1
                state.pointee.repeatedIterations &+= 1
                if iterations >= Self.stringChunk && gpr[1] & addressMask != 0 { return pause(start) }
                continue
            }
            guard repeated else { return nil }
            let count = (gpr[1] &- 1) & addressMask
            writeRegister(1, size: p.addressSize, rex: true, count)
            if compares {
                let zf = state.pointee.flag(CPUState.zf)
                if (p.rep == 0xF3 && !zf) || (p.rep == 0xF2 && zf) { return nil }
            }
            iterations += 1
            state.pointee.repeatedIterations &+= 1
            if iterations >= Self.stringChunk && count != 0 { return pause(start) }
        }
    }

    /// Ends a chunk of a REP instruction: it resumes at `start`, and retires only when it finishes.
    private func pause(_ start: UInt64) -> UInt64 {
        state.pointee.pausedRepeats &+= 1
        return start
    }

    /// How many iterations of a REP instruction run before it pauses for the run loop's checks.
    /// Each iteration counts as an instruction toward `SoftwareVirtualCPU.instructionsPerCheck`,
    /// so a stop request waits at most that many iterations (a few ms for port I/O).
    static var stringChunk: Int { 1024 }
}
