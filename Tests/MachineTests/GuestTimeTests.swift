import Boot
import DemoGuests
import Machine
import Testing
import VMCore

/// Guests that check one clock against another, on both backends: the PIT's tick against the
/// RTC's seconds, kvmclock against the LAPIC timer. On the software backend one guest clock
/// drives them all; on KVM the kernel's timers and our RTC both follow the host's clock.
@Suite struct GuestTimeTests {
    @Test(arguments: ["real", "protected"], testedBackends)
    func aThousandPITTicksFitInOneRTCSecond(mode: String, backend: BackendChoice) throws {
        if mode == "protected" && backend == .kvm && KVMHost.isPVM {
            // PVM's emulator stops on the handler's 32-bit IRET ("INTERNAL_ERROR in batch emul").
            print("GuestTimeTests: protected-mode interrupts skipped on KVM: this host's KVM is PVM, which cannot emulate a 32-bit IRET")
            return
        }
        let plan =
            try mode == "real" ? flatPlan(GuestImages.rtcTicks, mode: .real) : flatPlan(GuestImages.rtcTicksProtected, mode: .protected)
        // The software backend in deterministic time: on host time a test runner that keeps both
        // cores busy can hold the vCPU thread off the CPU across the second's end, and the ticks
        // owed then arrive after it (`vmm run` on an idle host counts 1000 either way).
        let (report, output) = try runGuest(plan, backend: backend, deterministic: backend == .software)
        #expect(output == "PIT ticks in one RTC second: 1000 within 5%\n", "counted \(report.registers.map { $0.rcx & 0xFFFF } ?? 0)")
        #expect(report.stopReason == .halted(interruptsEnabled: false))
    }

    @Test(arguments: testedBackends)
    func kvmclockAgreesWithTheLAPICTimer(backend: BackendChoice) throws {
        let (report, output) = try runGuest(flatPlan(GuestImages.kvmclock), backend: backend)
        #expect(
            output
                == "kvmclock advertised in CPUID 0x40000001\nkvmclock agrees with a 10 ms LAPIC timer\nkvmclock wall clock is after 2023\n")
        #expect(report.stopReason == .halted(interruptsEnabled: false))
    }

    @Test func kvmclockKeepsTimeWithDeterministicTimeToo() throws {
        let (_, output) = try runGuest(flatPlan(GuestImages.kvmclock), backend: .software, deterministic: true)
        #expect(output.hasSuffix("kvmclock agrees with a 10 ms LAPIC timer\nkvmclock wall clock is after 2023\n"))
    }
}
