import Boot
import DemoGuests
import Machine
import TestSupport
import Testing
import VMCore

/// The PC platform's legacy devices as a guest sees them: the PIT ticking through the PIC into
/// the software backend, the i8042 reset, the debug console, and a halt nothing can end.
@Suite struct PlatformTests {
    @Test(arguments: testedBackends)
    func aRealModeGuestCountsPITTicksThroughThePIC(backend: BackendChoice) throws {
        // Our PIC and PIT on the software backend, KVM's in-kernel ones on KVM.
        let (report, output) = try runGuest(flatPlan(GuestImages.pitTicks, mode: .real), backend: backend)
        #expect(output == "50 timer ticks at 1000 Hz through the PIC\n")
        #expect(report.stopReason == .halted(interruptsEnabled: false))
        if backend == .software {
            // KVM delivers and halts in the kernel, where neither is counted.
            #expect(report.statistics.interruptsDelivered == 50)
            #expect(report.statistics[.halt] >= 50, "each tick woke a HLT")
        }
    }

    @Test(arguments: testedBackends)
    func theI8042ResetCommandEndsTheRun(backend: BackendChoice) throws {
        // in al, 0x64 (status: nothing pending); mov al, 0xFE; out 0x64, al; hlt
        let (report, _) = try runGuest(flatPlan([0xE4, 0x64, 0xB0, 0xFE, 0xE6, 0x64, 0xF4]), backend: backend)
        #expect(report.stopReason == .guestReset)
        #expect(report.exitStatus == 120)
        #expect((report.registers?.rax ?? 0) & 0xFF == 0xFE)
    }

    @Test(arguments: testedBackends)
    func theDebugConsolePrintsAndReadsBack0xE9(backend: BackendChoice) throws {
        // mov al, 'o'; out 0xE9, al; mov al, 'k'; out 0xE9, al; in al, 0xE9; hlt
        let code: [UInt8] = [0xB0, 0x6F, 0xE6, 0xE9, 0xB0, 0x6B, 0xE6, 0xE9, 0xE4, 0xE9, 0xF4]
        let (report, output) = try runGuest(flatPlan(code), backend: backend)
        #expect(output == "ok")
        #expect((report.registers?.rax ?? 0) & 0xFF == 0xE9)
    }

    @Test func aHaltWithIFSetThatNothingCanEndStillEndsTheRun() throws {
        // sti; hlt with no timer programmed: there is nothing to wait for.
        let (report, _) = try runGuest(flatPlan([0xFB, 0xF4]), backend: .software)
        #expect(report.stopReason == .halted(interruptsEnabled: true))
        #expect(report.exitStatus == 0)
    }

    @Test func theDebugConsoleCanGoToItsOwnSink() throws {
        let sink = RecordingConsole(), console = RecordingConsole()
        var configuration = MachineConfiguration(memorySize: 16 << 20)
        configuration.console = console
        configuration.debugConsole = sink
        configuration.backend = .software
        let code: [UInt8] = [0xB0, 0x6F, 0xE6, 0xE9, 0xF4]  // mov al, 'o'; out 0xE9, al; hlt
        _ = try Machine(plan: flatPlan(code), configuration: configuration).run()
        #expect(sink.output == "o")
        #expect(console.output.isEmpty)
    }
}
