import CKVM
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

extension KVMVirtualCPU {
    /// Runs KVM_RUN until the guest stops, completing port-I/O and MMIO exits through `io`.
    public func run(io: some GuestIO, kicker: CPUKicker) throws(CPUError) -> StopReason {
        KickSignal.installHandler()
        // Threads from pools (Dispatch, a test runner) block every signal; the kick must get through.
        let savedMask = KickSignal.unblockOnCurrentThread()
        defer { KickSignal.restore(savedMask) }
        let thread = pthread_self()
        let runAddress = UInt(bitPattern: run)
        // Another thread stops us by setting immediate_exit (seen if we are between two KVM_RUNs)
        // and then signalling this thread (which makes a KVM_RUN in progress return EINTR).
        kicker.setInterrupt {
            ckvm_run_set_immediate_exit(UnsafeMutablePointer(bitPattern: runAddress), 1)
            pthread_kill(thread, KickSignal.number)
        }
        // The halt probe only interrupts KVM_RUN: the loop below then looks at the vCPU's state.
        if haltsInKernel { kicker.setHaltProbe { pthread_kill(thread, KickSignal.number) } }
        defer {
            kicker.setHaltProbe(nil)
            kicker.setInterrupt(nil)
            ckvm_run_set_immediate_exit(run, 0)
        }
        while true {
            if let requested = kicker.requestedStop { return requested }
            let start = monotonicNanoseconds()
            let result = ckvm_run(fd.rawValue)
            statistics.guestNanoseconds &+= monotonicNanoseconds() &- start
            if result == -EINTR || result == -EAGAIN {
                // Without a stop request the signal was the halt probe's: not one of the guest's
                // exits, so not counted.
                if haltsInKernel && kicker.requestedStop == nil {
                    if let stop = try haltedForGood() { return stop }
                    continue
                }
                statistics[.interrupted] += 1
                continue
            }
            try check(result, "KVM_RUN")
            if let stop = try handleExit(io: io, kicker: kicker) { return stop }
        }
    }

    /// With the in-kernel irqchip: a vCPU halted in the kernel with IF clear can never wake (no
    /// NMI source exists), so the halt ends the run as a KVM_EXIT_HLT does without the irqchip.
    private func haltedForGood() throws(CPUError) -> StopReason? {
        var state: UInt32 = 0
        guard ckvm_get_mp_state(fd.rawValue, &state) >= 0, state == ckvm_mp_state_halted else { return nil }
        guard try registers().rflags & Registers.interruptFlag == 0 else { return nil }
        statistics[.halt] += 1
        return .halted(interruptsEnabled: false)
    }

    /// Handles the exit in `kvm_run`; returns a stop reason when the guest cannot go on.
    private func handleExit(io: some GuestIO, kicker: CPUKicker) throws(CPUError) -> StopReason? {
        let reason = ckvm_run_exit_reason(run)
        switch Int32(reason) {
        case KVM_EXIT_IO:
            statistics[.portIO] += 1
            return try handlePortIO(io: io)
        case KVM_EXIT_MMIO:
            statistics[.mmio] += 1
            return try handleMMIO(io: io)
        case KVM_EXIT_HLT:
            statistics[.halt] += 1
            let flags = try registers().rflags
            return .halted(interruptsEnabled: flags & Registers.interruptFlag != 0)
        case KVM_EXIT_INTR:
            statistics[.interrupted] += 1
            return nil
        case KVM_EXIT_SHUTDOWN:
            return .shutdown
        case KVM_EXIT_SYSTEM_EVENT:
            // Reset, shutdown or crash requested through the platform; all end the run.
            return .shutdown
        case KVM_EXIT_FAIL_ENTRY:
            return .entryFailed(hardwareReason: ckvm_run_fail_entry_reason(run))
        case KVM_EXIT_INTERNAL_ERROR:
            let count = min(ckvm_run_internal_ndata(run), 16)
            let data = (0..<count).map { ckvm_run_internal_data(run, $0) }
            let failure = StopReason.internalError(suberror: ckvm_run_internal_suberror(run), data: data)
            if deliversUnemulatedBreakpoints, failure.emulationFailureBytes?.first == 0xCC {
                statistics[.other] += 1
                try deliverBreakpoint()
                return nil
            }
            return failure
        default:
            statistics[.other] += 1
            let detail =
                reason == UInt32(KVM_EXIT_UNKNOWN) ? "hardware exit reason \(hex(ckvm_run_hw_exit_reason(run)))" : Self.exitNames[reason] ?? ""
            return .unhandledExit(reason: reason, detail: detail)
        }
    }

    /// Completes a port-I/O exit. String instructions (`rep outsb`) arrive as `count` items of
    /// `size` bytes in the data area; each is handed to the device separately.
    private func handlePortIO(io: some GuestIO) throws(CPUError) -> StopReason? {
        let port = IOPort(ckvm_run_io_port(run))
        let size = Int(ckvm_run_io_size(run))
        let count = Int(ckvm_run_io_count(run))
        let isWrite = ckvm_run_io_direction(run) == UInt8(KVM_EXIT_IO_OUT)
        guard let width = AccessWidth(byteCount: size), width != .quadWord else {
            return .unhandledExit(reason: UInt32(KVM_EXIT_IO), detail: "port access of \(size) bytes")
        }
        let data = UnsafeMutableRawPointer(run).advanced(by: Int(ckvm_run_io_data_offset(run)))
        for index in 0..<count {
            let item = data.advanced(by: index * size)
            if isWrite {
                let value = Self.loadLittleEndian(item, size)
                switch io.portWrite(port, width: width, value: UInt32(truncatingIfNeeded: value)) {
                case .proceed: break
                case .stop(let reason): return reason
                case .hypercall:
                    statistics[.hypercall] += 1
                    if let stop = try serveHypercall(io: io) { return stop }
                }
            } else {
                Self.storeLittleEndian(UInt64(io.portRead(port, width: width)), item, size)
            }
        }
        return nil
    }

    private func serveHypercall(io: some GuestIO) throws(CPUError) -> StopReason? {
        var registers = try registers()
        let longMode = try systemRegisters().cs.long
        let action = io.hypercall(&registers, longMode: longMode)
        try setRegisters(registers)
        if case .stop(let reason) = action { return reason }
        return nil
    }

    /// Completes an MMIO exit. Accesses that are not 1, 2, 4 or 8 bytes wide are split into bytes.
    private func handleMMIO(io: some GuestIO) throws(CPUError) -> StopReason? {
        let address = ckvm_run_mmio_phys_addr(run)
        let length = Int(min(ckvm_run_mmio_len(run), 8))
        let data = UnsafeMutableRawPointer(ckvm_run_mmio_data(run)!)
        let isWrite = ckvm_run_mmio_is_write(run) != 0
        let pieces: [(offset: Int, width: AccessWidth)] =
            AccessWidth(byteCount: length).map { [(0, $0)] } ?? (0..<length).map { ($0, .byte) }
        for (offset, width) in pieces {
            let item = data.advanced(by: offset)
            let itemAddress = GuestAddress(address &+ UInt64(offset))
            if isWrite {
                let action = io.mmioWrite(itemAddress, width: width, value: Self.loadLittleEndian(item, width.byteCount))
                if case .stop(let reason) = action { return reason }
            } else {
                Self.storeLittleEndian(io.mmioRead(itemAddress, width: width), item, width.byteCount)
            }
        }
        return nil
    }

    private static func loadLittleEndian(_ pointer: UnsafeMutableRawPointer, _ size: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<size { value |= UInt64(pointer.load(fromByteOffset: index, as: UInt8.self)) << (8 * index) }
        return value
    }

    private static func storeLittleEndian(_ value: UInt64, _ pointer: UnsafeMutableRawPointer, _ size: Int) {
        for index in 0..<size { pointer.storeBytes(of: UInt8(truncatingIfNeeded: value >> (8 * index)), toByteOffset: index, as: UInt8.self) }
    }

    // Names of the exit reasons in linux/kvm.h that this loop does not expect.
    private static let exitNames: [UInt32: String] = [
        0: "KVM_EXIT_UNKNOWN", 1: "KVM_EXIT_EXCEPTION", 3: "KVM_EXIT_HYPERCALL", 4: "KVM_EXIT_DEBUG",
        7: "KVM_EXIT_IRQ_WINDOW_OPEN", 11: "KVM_EXIT_SET_TPR", 12: "KVM_EXIT_TPR_ACCESS", 16: "KVM_EXIT_NMI",
        18: "KVM_EXIT_OSI", 19: "KVM_EXIT_PAPR_HCALL", 25: "KVM_EXIT_EPR", 27: "KVM_EXIT_IOAPIC_EOI",
        28: "KVM_EXIT_HYPERV", 29: "KVM_EXIT_ARM_NISV", 30: "KVM_EXIT_X86_RDMSR", 31: "KVM_EXIT_X86_WRMSR",
        32: "KVM_EXIT_DIRTY_RING_FULL", 35: "KVM_EXIT_NOTIFY", 37: "KVM_EXIT_MEMORY_FAULT",
    ]
}

/// The signal that kicks a vCPU thread out of KVM_RUN. Its handler does nothing: the point is the
/// EINTR. Installed without SA_RESTART so the ioctl is not restarted.
enum KickSignal {
    static let number = SIGUSR1
    private static let installed: Bool = {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        return sigaction(number, &action, nil) == 0
    }()
    static func installHandler() { _ = installed }

    /// Unblocks the kick signal on the calling thread; returns the previous mask.
    static func unblockOnCurrentThread() -> sigset_t {
        var kick = sigset_t()
        sigemptyset(&kick)
        sigaddset(&kick, number)
        var previous = sigset_t()
        pthread_sigmask(SIG_UNBLOCK, &kick, &previous)
        return previous
    }

    static func restore(_ mask: sigset_t) {
        var mask = mask
        pthread_sigmask(SIG_SETMASK, &mask, nil)
    }
}
