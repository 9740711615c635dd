import Boot
import Devices
import KVM
import Logging
import Sandbox
import VMCore
import X86Emulator

#if canImport(Glibc)
    import Glibc
#endif

/// A one-vCPU PC-style machine: guest memory, the port bus with its devices, and a vCPU on KVM or
/// on the software backend.
/// The composition root: the only place that knows every target.
public final class Machine {
    public let memory: GuestMemory
    let configuration: MachineConfiguration
    let plan: BootPlan
    let backend: Backend
    /// One line saying which backend runs and why (printed on stderr by the CLI).
    public let backendReason: String
    let io: MachineIO
    let postCodes = PostCodePort()
    /// Stops this machine's one run; created with the machine so that the console can give up
    /// waiting for its output when a stop is requested.
    let kicker = CPUKicker()
    let console: Console
    /// With `watchesForKernelPanic`: the console's panic-line scanner.
    let panicWatch: KernelPanicWatch?
    /// The software backend's interrupt controller and timers (nil on KVM).
    let platform: SoftwarePlatform?
    /// The UART, and the host input that feeds its receiver (with `--serial-input stdin`).
    let serialPort: SerialPort
    let serialInput: SerialInput?
    /// On KVM, the RTC's timer, which the watchdog thread services.
    let deviceTimers: DeviceTimers?
    let buildStart: UInt64
    let logger: Logger

    /// Builds the machine for `plan`: maps memory, writes the plan into it, creates the vCPU and
    /// sets its registers.
    public init(plan: BootPlan, configuration: MachineConfiguration, logger: Logger = Logger(label: "vmm")) throws(MachineError) {
        buildStart = monotonicNanoseconds()
        // From here on SIGINT/SIGTERM stop the guest cleanly instead of killing the process.
        SignalForwarding.install()
        self.plan = plan
        self.configuration = configuration
        self.logger = logger
        do {
            memory = try GuestMemory(ramSize: configuration.memorySize, rom: plan.firmware)
            // Only the bytes: fresh anonymous memory is already zero, so a segment's .bss (its
            // zeroFill) costs nothing until the guest touches it.
            for write in plan.writes { try memory.write(write.bytes, at: write.address) }
        } catch { throw .memory(error) }

        panicWatch = configuration.watchesForKernelPanic ? KernelPanicWatch(configuration.console) : nil
        console = Console(panicWatch ?? configuration.console, stop: kicker.stopSignal)
        (backend, backendReason) = try Self.makeBackend(configuration, memory: memory, logger: logger)
        // Read now: after the build, the seccomp filter allows no file lookups.
        if case .kvm = backend { _ = StopHints.kvmIsPVM }
        // The interrupt controller and timers: the software backend's own models. (On KVM they
        // belong in the kernel's irqchip, which is not wired yet: there the ports stay unclaimed.)
        let serialInput = configuration.serialInput == .stdin ? SerialInput() : nil
        self.serialInput = serialInput
        if case .software(let cpu) = backend {
            let platform: SoftwarePlatform
            if configuration.deterministic {
                // Deterministic time starts at a fixed wall-clock time too, so the RTC and
                // kvmclock read the same dates in every run.
                let clock = InstructionClock()
                cpu.instructionClock = clock
                platform = SoftwarePlatform(
                    ramSize: configuration.memorySize, memory: memory, clock: clock, wallClock: (Self.deterministicEpoch, 0),
                    inputAttached: serialInput?.attachedProbe)
            } else {
                platform = SoftwarePlatform(ramSize: configuration.memorySize, memory: memory, inputAttached: serialInput?.attachedProbe)
            }
            cpu.interrupts = platform
            if configuration.profileGuest { cpu.profile = GuestProfile() }
            cpu.clock = platform.clock
            self.platform = platform
        } else {
            platform = nil
        }
        // Where device lines go: the software platform's PIC and I/O APIC, or KVM's irqchip.
        let router: (any InterruptRouter)?
        var kvmDevices: [(BusRange, any BusDevice)] = []
        var deviceTimers: DeviceTimers? = nil
        switch backend {
        case .software: router = platform?.router
        case .kvm(let vm, _):
            let kvmRouter = vm.interruptRouter
            router = kvmRouter
            // The device KVM does not have in the kernel: the RTC, whose timer the watchdog
            // thread services (`DeviceTimers`).
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let timers = DeviceTimers(), clock = HostGuestClock()
            let rtc = RTCDevice(
                clock: clock, ramSize: configuration.memorySize, wallClock: Int64(now.tv_sec), nanoseconds: UInt64(now.tv_nsec),
                irq8: InterruptLine(gsi: RTCDevice.irq, router: kvmRouter), timerChanged: { [weak timers] in timers?.changed() })
            // Weak both ways: the timers and the RTC hold each other's closures, and a cycle would
            // keep the RTC, its line and so the KVM VM (its fd) alive after the machine.
            timers.add { [weak rtc] in
                guard let rtc, let next = rtc.serviceTimer() else { return nil }
                return next - min(next, clock.nanoseconds)
            }
            deviceTimers = timers
            kvmDevices = [(BusRange(base: UInt64(RTCDevice.port), size: RTCDevice.portCount), rtc)]
        }
        self.deviceTimers = deviceTimers

        let hypercallPort = HypercallPort()
        let stopSignal = kicker.stopSignal
        let debugConsole = configuration.debugConsole.map { Console($0, stop: stopSignal) } ?? console
        let serialIRQ = router.map { InterruptLine(gsi: 4, router: $0) } ?? .unconnected
        var receiverHasRoom: @Sendable () -> Void = {}
        if let serialInput { receiverHasRoom = serialInput.receiverHasRoom }
        serialPort = SerialPort(console: console, irq: serialIRQ, receiverHasRoom: receiverHasRoom)
        let ports: Bus
        do {
            ports = try Self.portBus(
                postCodes: postCodes, hypercallPort: hypercallPort, serialPort: serialPort, debugConsole: debugConsole, platform: platform,
                more: kvmDevices)
        } catch { throw .bus(error) }
        io = MachineIO(
            ports: ports, mmio: try! Bus(platform?.mmioDevices ?? []), hypercallPort: hypercallPort,
            hypercalls: HypercallHandler(memory: memory, console: console), logger: logger)

        do {
            try backend.cpu.setSystemRegisters(plan.systemRegisters)
            try backend.cpu.setRegisters(plan.registers)
        } catch { throw .cpu(error) }
    }

    /// The sampled guest RIPs as "rip count" lines (with `profileGuest`, software backend).
    public var guestProfile: String? {
        guard case .software(let cpu) = backend else { return nil }
        return cpu.profile?.text
    }

    /// After a panic Linux reboots (`panic=-1`), waits or halts: that stop is the panic. A stop
    /// the user asked for stays what it was.
    static func stopAfterPanic(_ reason: StopReason, message: String) -> StopReason {
        switch reason {
        case .guestReset, .shutdown, .halted, .timedOut: return .kernelPanic(message: message)
        default: return reason
        }
    }

    /// The wall-clock time at which deterministic guest time starts: 2026-01-01 00:00:00 UTC.
    static let deterministicEpoch: Int64 = 1_767_225_600

    /// The machine's port bus: POST codes, debug-exit, COM1, the hypercall port, the i8042, the
    /// debug console and, on the software backend, the PIC, PIT and RTC.
    static func portBus(
        postCodes: PostCodePort, hypercallPort: HypercallPort, serialPort: SerialPort, debugConsole: Console, platform: SoftwarePlatform?,
        more: [(BusRange, any BusDevice)] = []
    ) throws(BusError) -> Bus {
        let keyboardController = I8042.Controller()
        return try Bus(
            [
                (BusRange(base: UInt64(PostCodePort.port), size: 1), postCodes),
                (BusRange(base: UInt64(DebugExit.port), size: DebugExit.portCount), DebugExit()),
                (BusRange(base: UInt64(SerialPort.com1), size: SerialPort.portCount), serialPort),
                (BusRange(base: UInt64(Hypercall.port), size: HypercallPort.portCount), hypercallPort),
                (BusRange(base: UInt64(I8042.dataPort), size: 1), I8042.DataPort(keyboardController)),
                (BusRange(base: UInt64(I8042.commandPort), size: 1), I8042.CommandPort(keyboardController)),
                (BusRange(base: UInt64(DebugConsole.port), size: DebugConsole.portCount), DebugConsole(console: debugConsole)),
                (BusRange(base: UInt64(ACPIPowerControl.port), size: ACPIPowerControl.portCount), ACPIPowerControl()),
            ] + (platform?.busDevices ?? []) + more)
    }

    /// The same bus for the fuzz targets, with the software backend's platform and `console`
    /// behind both the UART (on IRQ 4) and the debug console, so that they drive every device.
    package static func portBus(postCodes: PostCodePort, hypercallPort: HypercallPort, console: Console) throws(BusError) -> Bus {
        let platform = SoftwarePlatform(ramSize: 64 << 20)
        let serialPort = SerialPort(console: console, irq: InterruptLine(gsi: 4, router: platform.router))
        return try portBus(postCodes: postCodes, hypercallPort: hypercallPort, serialPort: serialPort, debugConsole: console, platform: platform)
    }

    /// Picks the backend once, here at the composition root.
    private static func makeBackend(_ configuration: MachineConfiguration, memory: GuestMemory, logger: Logger) throws(MachineError) -> (
        Backend, String
    ) {
        if configuration.backend == .software {
            let why = configuration.deterministic ? "deterministic time needs it" : "asked for with --backend software"
            return (.software(SoftwareVirtualCPU(memory: memory)), "backend: software (\(why))")
        }
        do {
            let system = try KVMSystem(path: configuration.kvmPath)
            let vm = try system.makeVirtualMachine()
            try vm.mapMemory(memory)
            // The PIC, PIT, I/O APIC and LAPIC in the kernel: HLT waits there, and timer
            // interrupts never leave it. Before the vCPU, which gets its LAPIC from it.
            try vm.createInKernelPlatform()
            let cpu = try vm.makeVirtualCPU()
            logger.debug("KVM VM ready: \(memory.regions.count) memory slot(s), \(configuration.memorySize >> 20) MiB RAM")
            return (.kvm(vm, cpu), "backend: kvm (\(configuration.kvmPath))")
        } catch {
            let failure: MachineError
            switch error {
            case let error as KVMUnavailable: failure = .kvmUnavailable(error)
            case let error as KVMError: failure = .kvm(error)
            default: failure = .kvm(KVMError("KVM setup", .ioError))
            }
            guard configuration.backend == .auto else { throw failure }
            return (.software(SoftwareVirtualCPU(memory: memory)), "backend: software, because KVM is not usable: \(failure)")
        }
    }

    /// Runs the guest until it stops, enforcing the timeout and stopping on SIGINT/SIGTERM.
    /// A machine runs once: its first stop ends it.
    public func run() throws(MachineError) -> RunReport {
        var haltsInKernel = false
        if case .kvm = backend { haltsInKernel = true }
        let watchdog = Watchdog(kicker: kicker, timeout: configuration.timeout, probesHalts: haltsInKernel, deviceTimers: deviceTimers)
        serialInput?.start(feeding: serialPort, kicker: kicker)
        // The terminal's mode comes back on every way out of the run.
        defer { serialInput?.stop() }
        // Everything the run needs exists now (memory, fds, the watchdog thread): from here on the
        // process keeps only the system calls on the allow-list, on every thread.
        if let filter = SyscallAllowList.filter(
            for: configuration.seccomp, logsDuringRun: logger.logLevel <= .debug, restoresTerminal: serialInput?.isTerminal ?? false)
        {
            do {
                try filter.installOnAllThreads()
            } catch {
                watchdog.cancel()
                throw .seccomp(error)
            }
            if configuration.testHookMakeForbiddenCall { SyscallFilter.testHookMakeForbiddenCall() }
        }
        let runStart = monotonicNanoseconds()
        var reason: StopReason
        do {
            reason = try backend.run(io: io, kicker: kicker)
        } catch {
            watchdog.cancel()
            throw .cpu(error)
        }
        watchdog.cancel()
        if let message = panicWatch?.panicMessage { reason = Self.stopAfterPanic(reason, message: message) }
        let runEnd = monotonicNanoseconds()
        return makeReport(reason: reason, setup: runStart - buildStart, run: runEnd - runStart)
    }

    private func makeReport(reason: StopReason, setup: UInt64, run: UInt64) -> RunReport {
        let counters = io.counters
        var devices: [RunReport.DeviceCount] = []
        for (entry, count) in zip(io.ports.entries, counters.portAccesses) {
            devices.append(.init(bus: "io", device: entry.device.name, range: entry.range.description, accesses: count))
        }
        for (entry, count) in zip(io.mmio.entries, counters.mmioAccesses) {
            devices.append(.init(bus: "mmio", device: entry.device.name, range: entry.range.description, accesses: count))
        }
        let systemRegisters = try? backend.cpu.systemRegisters()
        var report = RunReport(
            backend: backend.name, imageSummary: plan.summary, stopReason: reason, exitStatus: ExitStatus.forStop(reason),
            statistics: backend.cpu.statistics, devices: devices,
            unclaimedPorts: counters.unclaimedPorts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            unclaimedPortTotal: counters.unclaimedPortTotal,
            unclaimedMMIO: counters.unclaimedMMIO.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            unclaimedMMIOTotal: counters.unclaimedMMIOTotal,
            hypercalls: counters.hypercalls.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            setupNanoseconds: setup, runNanoseconds: run, postCodes: postCodes.history, unwrittenConsoleBytes: console.unwrittenBytes,
            registers: try? backend.cpu.registers(), systemRegisters: systemRegisters)
        report.hints = StopHints.hints(for: reason, plan: plan, backend: backend.name, system: systemRegisters, memory: memory)
        return report
    }
}

/// The vCPU backend, chosen once. The KVM case keeps its VM alive as long as the vCPU.
enum Backend {
    case kvm(KVMVirtualMachine, KVMVirtualCPU)
    case software(SoftwareVirtualCPU)

    var name: String {
        switch self {
        case .kvm: return "kvm"
        case .software: return "software"
        }
    }

    /// The vCPU for register access (both backends are classes, so this is a reference).
    var cpu: any VirtualCPU {
        switch self {
        case .kvm(_, let cpu): return cpu
        case .software(let cpu): return cpu
        }
    }

    /// Runs with the concrete backend type, so `GuestIO` calls are specialized.
    func run(io: MachineIO, kicker: CPUKicker) throws(CPUError) -> StopReason {
        switch self {
        case .kvm(_, let cpu): return try cpu.run(io: io, kicker: kicker)
        case .software(let cpu): return try cpu.run(io: io, kicker: kicker)
        }
    }
}
