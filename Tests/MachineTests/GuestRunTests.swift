import Boot
import DemoGuests
import Devices
import Machine
import TestSupport
import Testing
import VMCore

/// Runs `plan` on a fresh machine and returns the report and what the guest printed.
func runGuest(
    _ plan: BootPlan, backend: BackendChoice, memory: UInt64 = 16 << 20, timeout: Double? = 10, deterministic: Bool = false
) throws -> (RunReport, String) {
    let console = RecordingConsole()
    var configuration = MachineConfiguration(memorySize: memory)
    configuration.deterministic = deterministic
    configuration.console = console
    configuration.timeout = timeout
    configuration.backend = backend
    let report = try Machine(plan: plan, configuration: configuration).run()
    return (report, console.output)
}

func flatPlan(_ image: [UInt8], mode: CPUMode = .long) throws -> BootPlan {
    var options = LoadOptions(memorySize: 16 << 20)
    options.mode = mode
    return try ImageLoader.plan(image: image, options: options)
}

/// The backends every guest test runs on: software always, KVM where /dev/kvm works (the run
/// prints the reason when it is left out).
let testedBackends: [BackendChoice] = {
    if KVMHost.isUsable { return [.kvm, .software] }
    print("GuestRunTests: \(KVMHost.unusableReason ?? ""); running the guests on the software backend only")
    return [.software]
}()

/// The same guests on both backends must give the same output, stop reason and status.
@Suite struct GuestRunTests {
    @Test(arguments: DemoGuest.all.map(\.name), testedBackends)
    func demoGuestPrintsItsOutputAndStopsWithItsStatus(name: String, backend: BackendChoice) throws {
        let demo = try #require(DemoGuest.named(name))
        let (report, output) = try runGuest(demo.plan(memorySize: 16 << 20), backend: backend)
        #expect(output == demo.expectedOutput)
        #expect(report.exitStatus == demo.expectedStatus)
        #expect(report.stopReason.isNormal, "stopped with \(report.stopReason)")
        #expect(report.backend == backend.rawValue)
    }

    @Test(arguments: testedBackends)
    func realModeGuestRecordsItsPOSTCodes(backend: BackendChoice) throws {
        let (report, _) = try runGuest(DemoGuest.named("real")!.plan(memorySize: 16 << 20), backend: backend)
        #expect(report.postCodes == [0x10, 0x11])
        #expect(report.stopReason == .halted(interruptsEnabled: false))
        // Unwrapped first: `#expect(report.registers?.rip == ...)` makes the compiler-generated
        // AnyHashable thunk read 9 bytes (an Optional<UInt64>) from an 8-byte stack slot, which
        // AddressSanitizer reports as a stack-buffer-overflow (Swift 6.3.1; not in this code).
        let rip = try #require(report.registers).rip
        #expect(rip == 0x7C00 + 0x27)  // just past the HLT at offset 0x26
    }

    @Test(arguments: testedBackends)
    func firmwareRunsFromTheResetVector(backend: BackendChoice) throws {
        let (report, output) = try runGuest(DemoGuest.named("firmware")!.plan(memorySize: 16 << 20), backend: backend)
        #expect(output == "Hello from the firmware ROM!\n")
        #expect(report.postCodes == [0x01, 0x02])
        #expect(report.systemRegisters?.cs.selector == 0xF000)
    }

    @Test(arguments: testedBackends)
    func tripleFaultStopsWithShutdown(backend: BackendChoice) throws {
        let (report, _) = try runGuest(flatPlan(GuestImages.tripleFault, mode: .protected), backend: backend)
        #expect(report.stopReason == .shutdown)
        #expect(report.exitStatus == ExitStatus.shutdown)
        #expect(report.registers != nil)
    }

    @Test(arguments: testedBackends)
    func debugExitEndsWithTheShiftedStatus(backend: BackendChoice) throws {
        let (report, _) = try runGuest(flatPlan(GuestImages.debugExit), backend: backend)
        #expect(report.stopReason == .debugExit(value: 0x21))
        #expect(report.exitStatus == 67)
    }

    @Test(arguments: testedBackends)
    func timeoutKicksASpinningGuestOutOfKVM(backend: BackendChoice) throws {
        let start = monotonicNanoseconds()
        let (report, _) = try runGuest(flatPlan(GuestImages.spin), backend: backend, timeout: 0.3)
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        #expect(report.stopReason == .timedOut)
        #expect(report.exitStatus == 124)
        #expect(elapsed < 5, "the timeout took \(elapsed) s to stop the guest")
    }

    @Test(arguments: testedBackends)
    func unclaimedPortsReadAllOnesAndUnclaimedMMIOReadsZero(backend: BackendChoice) throws {
        let (report, _) = try runGuest(flatPlan(GuestImages.busProbe), backend: backend)
        #expect(report.stopReason == .debugExit(value: 0), "the guest's check \(report.stopReason) failed")
        #expect(report.unclaimedPortTotal == 4)
        #expect(report.unclaimedPorts.map(\.port) == [0x1234])
        #expect(report.unclaimedMMIOTotal == 2)
        #expect(report.unclaimedMMIO.map(\.address) == [0xD000_0000])
        #expect(report.statistics[.mmio] == 2)
    }

    @Test(arguments: testedBackends)
    func hostileHypercallArgumentsGetErrors(backend: BackendChoice) throws {
        let (report, output) = try runGuest(flatPlan(GuestImages.hypercallErrors), backend: backend)
        #expect(report.stopReason == .exitHypercall(status: 42), "check \(report.stopReason) failed")
        #expect(output.isEmpty)
        #expect(report.hypercalls.map(\.number) == [1, 2, 0x7777])
    }

    @Test(arguments: testedBackends)
    func uartProbeFindsA16550A(backend: BackendChoice) throws {
        let (report, output) = try runGuest(flatPlan(GuestImages.uartProbe), backend: backend)
        #expect(report.stopReason == .debugExit(value: 0), "check \(report.stopReason) failed")
        #expect(output.isEmpty, "the looped-back byte leaked to the console")
    }

    @Test(arguments: testedBackends)
    func reportCountsExitsAndTime(backend: BackendChoice) throws {
        let (report, _) = try runGuest(DemoGuest.named("long")!.plan(memorySize: 16 << 20), backend: backend)
        // One port exit per character of the string instruction (29 bytes), then the HLT.
        #expect(report.statistics[.portIO] == 29)
        #expect(report.statistics[.halt] == 1)
        let serial = try #require(report.devices.first { $0.device == "serial" })
        #expect(serial.accesses == 29)
        #expect(report.statistics.guestNanoseconds <= report.runNanoseconds)
        let json = report.json.serialized()
        #expect(json.contains("\"stop_reason\": \"halt\""))
        #expect(json.contains("\"io\": 29"))
    }
}

@Suite struct MachineErrorTests {
    @Test func aMissingKVMDeviceIsReportedWithItsPath() throws {
        var configuration = MachineConfiguration(memorySize: 16 << 20)
        configuration.kvmPath = "/nonexistent/kvm"
        configuration.backend = .kvm
        #expect {
            _ = try Machine(plan: flatPlan(GuestImages.long), configuration: configuration)
        } throws: { error in
            guard let error = error as? MachineError, case .kvmUnavailable(.deviceMissing("/nonexistent/kvm")) = error else { return false }
            return error.exitStatus == ExitStatus.kvmUnavailable && error.description.contains("/nonexistent/kvm does not exist")
        }
    }

    @Test func aDeviceThatIsNotKVMIsRefused() throws {
        var configuration = MachineConfiguration(memorySize: 16 << 20)
        configuration.kvmPath = "/dev/null"
        configuration.backend = .kvm
        #expect(throws: MachineError.self) { _ = try Machine(plan: flatPlan(GuestImages.long), configuration: configuration) }
    }

    @Test func autoFallsBackToTheSoftwareBackendAndSaysWhy() throws {
        let console = RecordingConsole()
        var configuration = MachineConfiguration(memorySize: 16 << 20)
        configuration.kvmPath = "/nonexistent/kvm"
        configuration.console = console
        let machine = try Machine(plan: flatPlan(GuestImages.long), configuration: configuration)
        #expect(
            machine.backendReason
                == "backend: software, because KVM is not usable: /nonexistent/kvm does not exist: this host has no KVM (load the kvm module, or enable nested virtualization)"
        )
        let report = try machine.run()
        #expect(report.backend == "software")
        #expect(console.output == "Hello from 64-bit long mode!\n")
    }
}

/// The differential tester on a fixed set of seeds: the emulator must agree with the CPU.
@Suite(.requiresKVM) struct DifferentialTests {
    @Test func emulatorMatchesTheCPUOnFixedSeeds() throws {
        let harness = try DifferentialHarness()
        for seed in UInt64(1)...400 {
            if let mismatch = try harness.check(seed: seed, length: 12) {
                let shortest = try harness.shortestFailure(seed: seed, length: 12) ?? mismatch
                Issue.record("the emulator differs from the CPU:\n\(shortest)")
                return
            }
        }
    }
}

@Suite(.requiresKVM) struct HypervisorFailureTests {
    /// INT3 at CPL 0 with no IDT: hardware KVM delivers it and the guest triple-faults; this
    /// machine's PVM cannot emulate the delivery and reports an internal error. Either way the VMM
    /// must report it with its status and the registers, never hang or crash.
    @Test func aGuestTheHypervisorCannotRunEndsWithItsReason() throws {
        let (report, _) = try runGuest(flatPlan([0xCC]), backend: .kvm)  // int3
        switch report.stopReason {
        case .internalError(let suberror, _):
            #expect(suberror == 1)
            #expect(report.exitStatus == ExitStatus.internalError)
            #expect(report.stopReason.description.hasPrefix("KVM internal error: emulation failure"))
        case .shutdown:
            #expect(report.exitStatus == ExitStatus.shutdown)
        default:
            Issue.record("unexpected stop: \(report.stopReason)")
        }
        #expect(report.registers != nil && report.systemRegisters != nil)
        #expect(report.registerDump.contains("rip   =0x0000000000100000") || report.registerDump.contains("rip   =0x0000000000100001"))
    }
}
