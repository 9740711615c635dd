import Boot
import Devices
import KVM
import Logging
import VMCore
import X86Emulator

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
            for write in plan.writes {
                try memory.write(write.bytes, at: write.address)
                if write.zeroFill > 0 { try memory.zero(write.address + UInt64(write.bytes.count), count: write.zeroFill) }
            }
        } catch { throw .memory(error) }

        let hypercallPort = HypercallPort()
        let ports: Bus
        do {
            ports = try Self.portBus(postCodes: postCodes, hypercallPort: hypercallPort, console: configuration.console)
        } catch { throw .bus(error) }
        io = MachineIO(
            ports: ports, mmio: try! Bus([]), hypercallPort: hypercallPort,
            hypercalls: HypercallHandler(memory: memory, console: configuration.console), logger: logger)

        (backend, backendReason) = try Self.makeBackend(configuration, memory: memory, logger: logger)
        do {
            try backend.cpu.setSystemRegisters(plan.systemRegisters)
            try backend.cpu.setRegisters(plan.registers)
        } catch { throw .cpu(error) }
    }

    /// The machine's port bus: POST codes, debug-exit, COM1 and the hypercall port (also built by
    /// the device fuzz target, so that it drives the same bus).
    package static func portBus(postCodes: PostCodePort, hypercallPort: HypercallPort, console: any ConsoleSink) throws(BusError) -> Bus {
        try Bus([
            (BusRange(base: UInt64(PostCodePort.port), size: 1), postCodes),
            (BusRange(base: UInt64(DebugExit.port), size: DebugExit.portCount), DebugExit()),
            (BusRange(base: UInt64(SerialPort.com1), size: SerialPort.portCount), SerialPort(console: console)),
            (BusRange(base: UInt64(Hypercall.port), size: HypercallPort.portCount), hypercallPort),
        ])
    }

    /// Picks the backend once, here at the composition root.
    private static func makeBackend(_ configuration: MachineConfiguration, memory: GuestMemory, logger: Logger) throws(MachineError) -> (
        Backend, String
    ) {
        if configuration.backend == .software {
            return (.software(SoftwareVirtualCPU(memory: memory)), "backend: software (asked for with --backend software)")
        }
        do {
            let system = try KVMSystem(path: configuration.kvmPath)
            let vm = try system.makeVirtualMachine()
            try vm.mapMemory(memory)
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
    public func run() throws(MachineError) -> RunReport {
        let kicker = CPUKicker()
        let watchdog = Watchdog(kicker: kicker, timeout: configuration.timeout)
        let runStart = monotonicNanoseconds()
        let reason: StopReason
        do {
            reason = try backend.run(io: io, kicker: kicker)
        } catch {
            watchdog.cancel()
            throw .cpu(error)
        }
        watchdog.cancel()
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
        return RunReport(
            backend: backend.name, imageSummary: plan.summary, stopReason: reason, exitStatus: ExitStatus.forStop(reason),
            statistics: backend.cpu.statistics, devices: devices,
            unclaimedPorts: counters.unclaimedPorts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            unclaimedPortTotal: counters.unclaimedPortTotal,
            unclaimedMMIO: counters.unclaimedMMIO.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            unclaimedMMIOTotal: counters.unclaimedMMIOTotal,
            hypercalls: counters.hypercalls.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            setupNanoseconds: setup, runNanoseconds: run, postCodes: postCodes.history,
            registers: try? backend.cpu.registers(), systemRegisters: try? backend.cpu.systemRegisters())
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
