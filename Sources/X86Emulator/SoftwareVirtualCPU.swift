import VMCore

/// The software backend: an x86 interpreter behind the same `VirtualCPU` protocol as KVM, for
/// hosts where /dev/kvm is missing or unusable. Device accesses go through the same `GuestIO`.
public final class SoftwareVirtualCPU: VirtualCPU {
    let state: UnsafeMutablePointer<CPUState>
    let statisticsStorage: UnsafeMutablePointer<CPUStatistics>
    let unimplemented: UnsafeMutablePointer<UnimplementedLog>
    let tlb = TLB()
    let codeCache: CodeCache
    let memory: GuestMemory
    /// How many instructions run between two checks for a stop request.
    public static let instructionsPerCheck = 4096
    /// The interrupt controllers, when the machine has them: external interrupts are delivered
    /// and HLT with IF set waits for one. Without them HLT ends the run, as before.
    public var interrupts: (any InterruptSource)?
    /// Guest time: the TSC counts it at 1 GHz. The machine gives the platform's clock, so that the
    /// TSC, the timers and kvmclock agree.
    public var clock: any GuestClock = HostGuestClock()
    /// With deterministic time, the clock this vCPU drives: it stores its count of retired
    /// instructions (and delivered exceptions and REP iterations) there between chains.
    public var instructionClock: InstructionClock?
    /// With `--guest-profile`: the RIP sampled at each stop check.
    public var profile: GuestProfile?

    public init(memory: GuestMemory) {
        self.memory = memory
        codeCache = CodeCache(ramSize: memory.ramSize)
        state = .allocate(capacity: 1)
        state.initialize(to: CPUState())
        statisticsStorage = .allocate(capacity: 1)
        statisticsStorage.initialize(to: CPUStatistics())
        unimplemented = .allocate(capacity: 1)
        unimplemented.initialize(to: UnimplementedLog())
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        statisticsStorage.deinitialize(count: 1)
        statisticsStorage.deallocate()
        unimplemented.deinitialize(count: 1)
        unimplemented.deallocate()
        tlb.deallocate()
        codeCache.deallocate()
    }

    public var statistics: CPUStatistics {
        var statistics = statisticsStorage.pointee
        statistics.invalidOpcodes = unimplemented.pointee.count
        statistics.invalidOpcodeSamples = unimplemented.pointee.examples
        statistics.tlbRefills = tlb.counters.pointee.refills
        return statistics
    }

    public func run(io: some GuestIO, kicker: CPUKicker) throws(CPUError) -> StopReason {
        let interpreter = Interpreter(
            state: state, memory: memory, io: io, statistics: statisticsStorage, unimplemented: unimplemented, tlb: tlb, codeCache: codeCache,
            platform: interrupts, clock: clock)
        // Registers and guest memory may have been changed from outside since the last run.
        tlb.flushAll()
        codeCache.flushAll()
        let start = monotonicNanoseconds()
        var retired: UInt64 = 0
        var exceptions: UInt64 = 0
        let pausedAtStart = state.pointee.pausedRepeats
        defer {
            statisticsStorage.pointee.guestNanoseconds &+= monotonicNanoseconds() &- start
            // A REP instruction that paused for the stop check was counted each time it paused.
            statisticsStorage.pointee.instructions &+= retired &- (state.pointee.pausedRepeats &- pausedAtStart)
        }
        // Every loop a guest controls is bounded by this check: exceptions and the iterations of
        // REP string instructions count toward it as instructions do, so neither a fault loop nor
        // `rep movsb` with a huge RCX can keep a stop request waiting.
        let state = self.state
        func work() -> UInt64 { retired &+ exceptions &+ state.pointee.repeatedIterations }
        let interrupts = self.interrupts
        let instructionClock = self.instructionClock
        let workBefore = statisticsStorage.pointee.instructions
        let profile = self.profile
        var timersCurrent = false  // just woken from HLT: the wait brought the timers up to date
        while true {
            if let requested = kicker.requestedStop { return requested }
            profile?.record(state.pointee.rip)
            instructionClock?.setInstructions(workBefore &+ work())
            if !timersCurrent { interrupts?.poll() }
            timersCurrent = false
            let checkpoint = work() &+ UInt64(Self.instructionsPerCheck)
            while work() < checkpoint {
                do {
                    instructionClock?.setInstructions(workBefore &+ work())
                    // Between chains: also right after a wake-up from HLT and after STI/POPF/IRET
                    // set IF (they end the chain).
                    if let interrupts, interrupts.interruptRequested {
                        try takeInterrupt(interrupts, interpreter, &retired)
                    }
                    // The chain runs the instruction a shadow protects first; only one that the
                    // chain's last instruction sets survives it.
                    state.pointee.interruptShadow = false
                    try interpreter.runBlocks(&retired, limit: retired &+ (checkpoint &- work()))
                } catch {
                    if case .stop(.halted(interruptsEnabled: true)) = error, let interrupts,
                        interrupts.waitForInterrupt(stop: kicker.stopSignal)
                    {
                        // HLT with IF set slept until an interrupt (or a stop) woke the vCPU.
                        statisticsStorage.pointee[.halt] += 1
                        state.pointee.interruptShadow = false
                        timersCurrent = true
                        break  // back to the stop check
                    }
                    if let stop = handle(error, interpreter) { return stop }
                    exceptions &+= 1
                }
            }
        }
    }

    /// Delivers a pending NMI (unless one is being handled) or, with IF set, external interrupt
    /// between instructions, after the one instruction an interrupt shadow (STI, MOV SS) protects;
    /// a fault during delivery is raised as usual.
    private func takeInterrupt(_ interrupts: any InterruptSource, _ interpreter: Interpreter, _ retired: inout UInt64) throws(Interruption) {
        let mayTakeNMI = !state.pointee.nmiBlocked
        guard mayTakeNMI || state.pointee.flag(CPUState.ifl) else { return }
        if state.pointee.interruptShadow {
            state.pointee.interruptShadow = false
            try interpreter.step()
            retired &+= 1
            // STI; MOV SS: the second shadow is honoured too, and the interrupt waits a little.
            guard !state.pointee.interruptShadow, interrupts.interruptRequested else { return }
        }
        // NMI first (SDM vol. 3, table 6-2: NMI is above maskable interrupts).
        if !state.pointee.nmiBlocked && interrupts.acknowledgeNMI() {
            state.pointee.nmiBlocked = true
            statisticsStorage.pointee.interruptsDelivered &+= 1
            try interpreter.raise(Fault(vector: 2, errorCode: nil), returnAddress: state.pointee.rip, external: true)
            return
        }
        guard state.pointee.flag(CPUState.ifl), let vector = interrupts.acknowledgeInterrupt() else { return }
        statisticsStorage.pointee.interruptsDelivered &+= 1
        try interpreter.raise(Fault(vector: vector, errorCode: nil), returnAddress: state.pointee.rip, external: true)
    }

    /// Runs like `run(io:kicker:)` but for at most about `instructionLimit` instructions and
    /// delivered exceptions, returning nil when it ran them all without a stop; with `blocks`
    /// false, on the byte interpreter alone (no decoded blocks). For the fuzz targets, where a
    /// timer thread per run would cost more than the run. `run(io:kicker:)` keeps its own loop so
    /// that the guest path has no extra checks.
    package func run(io: some GuestIO, instructionLimit: UInt64, blocks: Bool = true) -> StopReason? {
        let interpreter = Interpreter(
            state: state, memory: memory, io: io, statistics: statisticsStorage, unimplemented: unimplemented, tlb: tlb, codeCache: codeCache,
            platform: interrupts, clock: clock)
        tlb.flushAll()
        codeCache.flushAll()
        var retired: UInt64 = 0
        var exceptions: UInt64 = 0
        defer { statisticsStorage.pointee.instructions &+= retired }
        while retired &+ exceptions < instructionLimit {
            do {
                if blocks {
                    try interpreter.runBlocks(&retired, limit: instructionLimit &- exceptions)
                } else {
                    try interpreter.step()
                    retired &+= 1
                }
            } catch {
                if let stop = handle(error, interpreter) { return stop }
                exceptions &+= 1
            }
        }
        return nil
    }

    /// Delivers a fault to the guest (recording #UD with its bytes) or turns a stop into a reason.
    private func handle(_ interruption: Interruption, _ interpreter: Interpreter) -> StopReason? {
        switch interruption {
        case .stop(let reason):
            if case .halted = reason { statisticsStorage.pointee[.halt] += 1 }
            return reason
        case .fault(let fault):
            if fault.vector == Fault.invalidOpcode { recordInvalidOpcode(interpreter) }
            do {
                try interpreter.raise(fault, returnAddress: state.pointee.rip)
                return nil
            } catch .stop(let reason) {
                return reason
            } catch {
                return .shutdown
            }
        }
    }

    private func recordInvalidOpcode(_ interpreter: Interpreter) {
        var bytes: [UInt8] = []
        for offset in 0..<UInt64(8) {
            guard let byte = try? interpreter.readSegmented(.cs, state.pointee.rip &+ offset, size: 1) else { break }
            bytes.append(UInt8(byte))
        }
        unimplemented.pointee.record(bytes)
    }
}

extension SoftwareVirtualCPU {
    public func registers() throws(CPUError) -> Registers { state.pointee.generalRegisters }

    public func setRegisters(_ r: Registers) throws(CPUError) { state.pointee.setGeneralRegisters(r) }

    public func systemRegisters() throws(CPUError) -> SystemRegisters {
        let s = state.pointee
        var r = SystemRegisters()
        r.cs = s.segment(.cs); r.ds = s.segment(.ds); r.es = s.segment(.es)
        r.fs = s.segment(.fs); r.gs = s.segment(.gs); r.ss = s.segment(.ss)
        r.tr = s.tr; r.ldt = s.ldt; r.gdt = s.gdt; r.idt = s.idt
        r.cr0 = s.cr0; r.cr2 = s.cr2; r.cr3 = s.cr3; r.cr4 = s.cr4; r.cr8 = s.cr8
        r.efer = s.efer; r.apicBase = s.apicBase
        return r
    }

    public func setSystemRegisters(_ r: SystemRegisters) throws(CPUError) {
        state.pointee.setSegment(.cs, r.cs); state.pointee.setSegment(.ds, r.ds); state.pointee.setSegment(.es, r.es)
        state.pointee.setSegment(.fs, r.fs); state.pointee.setSegment(.gs, r.gs); state.pointee.setSegment(.ss, r.ss)
        state.pointee.tr = r.tr; state.pointee.ldt = r.ldt; state.pointee.gdt = r.gdt; state.pointee.idt = r.idt
        state.pointee.cr0 = r.cr0; state.pointee.cr2 = r.cr2; state.pointee.cr3 = r.cr3; state.pointee.cr4 = r.cr4
        state.pointee.cr8 = r.cr8; state.pointee.efer = r.efer; state.pointee.apicBase = r.apicBase
    }
}
