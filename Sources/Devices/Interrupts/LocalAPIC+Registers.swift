import VMCore

extension LocalAPIC {
    /// Reads a register, as a 32-bit load at a 16-byte-aligned offset in the page. Unimplemented
    /// registers read 0 and log "illegal register address" (ESR bit 7); bytes 4-15 of a register's
    /// 16-byte slot, and offsets outside the page, read 0.
    public mutating func read(offset: UInt64, now: UInt64) -> UInt32 {
        guard offset < Self.pageSize, offset & 0xF == 0 else { return 0 }
        fireTimer(now: now)  // An overdue timer fires first, so IRR and the count agree with `now`.
        switch offset {
        case Self.idRegister: return idRegister
        case Self.versionRegister: return Self.versionValue
        case Self.taskPriorityRegister: return taskPriority
        case Self.arbitrationPriorityRegister: return arbitrationPriority
        case Self.processorPriorityRegister: return processorPriority
        case Self.eoiRegister, Self.remoteReadRegister: return 0  // EOI is write-only; no remote reads.
        case Self.logicalDestinationRegister: return logicalDestination
        case Self.destinationFormatRegister: return destinationFormat
        case Self.spuriousVectorRegister: return spuriousVector
        case 0x100...0x170: return isr.register(Int((offset - Self.inServiceRegisters) >> 4))
        case 0x180...0x1F0: return tmr.register(Int((offset - Self.triggerModeRegisters) >> 4))
        case 0x200...0x270: return irr.register(Int((offset - Self.interruptRequestRegisters) >> 4))
        case Self.errorStatusRegister: return errorStatus
        case Self.lvtCMCIRegister: return lvtCMCI
        case Self.interruptCommandLow: return interruptCommandLow
        case Self.interruptCommandHigh: return interruptCommandHigh
        case Self.lvtTimerRegister: return lvtTimer
        case Self.lvtThermalRegister: return lvtThermal
        case Self.lvtPerformanceRegister: return lvtPerformance
        case Self.lvtLINT0Register: return lvtLINT0
        case Self.lvtLINT1Register: return lvtLINT1
        case Self.lvtErrorRegister: return lvtError
        case Self.timerInitialCountRegister: return timerInitialCount
        case Self.timerCurrentCountRegister: return currentCount(now: now)
        case Self.timerDivideRegister: return timerDivideConfiguration
        default:
            recordError(Self.esrIllegalRegisterAddress)
            return 0
        }
    }

    /// Writes a register, as a 32-bit store at a 16-byte-aligned offset in the page. Read-only
    /// registers ignore writes; unimplemented ones log ESR bit 7; other offsets are ignored.
    public mutating func write(offset: UInt64, value: UInt32, now: UInt64) -> APICWriteEffect {
        guard offset < Self.pageSize, offset & 0xF == 0 else { return .none }
        // An overdue timer fires before the write can reprogram it, as it would have on hardware.
        fireTimer(now: now)
        switch offset {
        case Self.idRegister: idRegister = value & Self.highByte
        case Self.taskPriorityRegister: taskPriority = value & 0xFF
        case Self.eoiRegister: return endOfInterrupt()
        case Self.logicalDestinationRegister: logicalDestination = value & Self.highByte
        // Bits 0-27 are reserved and read as ones.
        case Self.destinationFormatRegister: destinationFormat = value | 0x0FFF_FFFF
        case Self.spuriousVectorRegister: writeSpuriousVector(value)
        case Self.errorStatusRegister:
            // SDM 11.5.3: a write latches the errors seen since the previous one and clears them.
            errorStatus = pendingErrors
            pendingErrors = 0
        case Self.lvtCMCIRegister: lvtCMCI = lvtValue(value, writable: Self.lvtDeliveryModeWritable)
        case Self.interruptCommandLow: return sendIPI(low: value)
        case Self.interruptCommandHigh: interruptCommandHigh = value & Self.highByte
        case Self.lvtTimerRegister: return writeLVTTimer(value)
        case Self.lvtThermalRegister: lvtThermal = lvtValue(value, writable: Self.lvtDeliveryModeWritable)
        case Self.lvtPerformanceRegister: lvtPerformance = lvtValue(value, writable: Self.lvtDeliveryModeWritable)
        case Self.lvtLINT0Register: lvtLINT0 = lvtValue(value, writable: Self.lvtLINTWritable)
        case Self.lvtLINT1Register: lvtLINT1 = lvtValue(value, writable: Self.lvtLINTWritable)
        case Self.lvtErrorRegister: lvtError = lvtValue(value, writable: Self.lvtErrorWritable)
        case Self.timerInitialCountRegister: return writeInitialCount(value, now: now)
        case Self.timerDivideRegister: return writeDivideConfiguration(value, now: now)
        case Self.versionRegister, Self.arbitrationPriorityRegister, Self.processorPriorityRegister, Self.remoteReadRegister,
            0x100...0x270, Self.timerCurrentCountRegister:
            break  // Read-only.
        default:
            recordError(Self.esrIllegalRegisterAddress)
        }
        return .none
    }

    /// An access of any width, as the CPU side sees it: reads within the first four bytes of a
    /// register return those bytes (as KVM's `kvm_lapic_reg_read` does); anything else reads 0.
    public mutating func read(offset: UInt64, width: AccessWidth, now: UInt64) -> UInt64 {
        let byteOffset = offset & 0xF, count = UInt64(width.byteCount)
        guard byteOffset + count <= 4 else { return 0 }
        let register = UInt64(read(offset: offset & ~0xF, now: now))
        let mask: UInt64 = count >= 4 ? 0xFFFF_FFFF : (1 << (8 * count)) - 1
        return register >> (8 * byteOffset) & mask
    }

    /// An access of any width: only aligned 32-bit stores reach the registers (SDM 11.4.1);
    /// others are dropped, as KVM's `apic_mmio_write` drops them.
    public mutating func write(offset: UInt64, width: AccessWidth, value: UInt64, now: UInt64) -> APICWriteEffect {
        guard width == .doubleWord, offset & 0xF == 0 else { return .none }
        return write(offset: offset, value: UInt32(truncatingIfNeeded: value), now: now)
    }

    private func lvtValue(_ value: UInt32, writable: UInt32) -> UInt32 {
        // SDM 11.4.7.2: while software-disabled the mask bits stay set.
        value & writable | (isSoftwareEnabled ? 0 : Self.lvtMasked)
    }

    private mutating func writeSpuriousVector(_ value: UInt32) {
        spuriousVector = value & Self.svrWritable
        guard !isSoftwareEnabled else { return }
        // Software disable masks every LVT entry (SDM 11.4.7.2); IRR and ISR are kept.
        lvtTimer |= Self.lvtMasked
        lvtThermal |= Self.lvtMasked
        lvtPerformance |= Self.lvtMasked
        lvtLINT0 |= Self.lvtMasked
        lvtLINT1 |= Self.lvtMasked
        lvtError |= Self.lvtMasked
        lvtCMCI |= Self.lvtMasked
    }

    /// EOI: retires the highest in-service vector (SDM 11.8.5).
    private mutating func endOfInterrupt() -> APICWriteEffect {
        guard let vector = isr.highest else { return .none }
        isr.remove(vector)
        return .eoi(vector: vector, level: tmr.contains(vector))
    }

    /// A write to ICR low sends the IPI it describes (SDM 11.6.1).
    private mutating func sendIPI(low: UInt32) -> APICWriteEffect {
        interruptCommandLow = low & Self.icrLowWritable
        let command = ICRCommand(low: interruptCommandLow, high: interruptCommandHigh)
        let toSelf: Bool, toOthers: Bool
        switch command.shorthand {
        case .this: (toSelf, toOthers) = (true, false)
        case .allIncludingSelf: (toSelf, toOthers) = (true, true)
        case .allExcludingSelf: (toSelf, toOthers) = (false, true)
        case .none:
            toSelf = matchesDestination(command.destination, logical: command.logicalDestination)
            // Another APIC may hold any logical bit; physically only another ID (or broadcast).
            toOthers = command.logicalDestination ? command.destination != 0 : command.destination != id || command.destination == 0xFF
        }
        switch command.deliveryMode {
        case .fixed, .lowestPriority:
            guard command.vector >= 16 else {
                recordError(Self.esrSendIllegalVector)
                return .none
            }
            if toSelf {
                accept(vector: command.vector, levelTriggered: command.levelTriggered)
                // Lowest priority goes to one of its targets, and this APIC is one of them.
                if command.deliveryMode == .lowestPriority { return .none }
            }
        case .nmi:
            if toSelf { nmiPending = true }
        case .initialize where !command.assert && command.levelTriggered:
            return .none  // INIT level de-assert: arbitration IDs only, a no-op since the Pentium 4.
        case .reserved3:
            return .none
        case .smi, .initialize, .startup, .extINT:
            return .sendIPI(command)  // For the machine, wherever aimed (INIT and SIPI: SMP).
        }
        return toOthers ? .sendIPI(command) : .none
    }
}
