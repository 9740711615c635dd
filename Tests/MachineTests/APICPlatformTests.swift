import Boot
import DemoGuests
import Machine
import Testing
import VMCore

/// The APIC half of the platform (ours on the software backend, KVM's in-kernel one on KVM), and
/// deterministic time.
@Suite struct APICPlatformTests {
    @Test(arguments: testedBackends)
    func aLongModeGuestTakesLAPICTimerAndIOAPICInterrupts(backend: BackendChoice) throws {
        let (report, output) = try runGuest(flatPlan(GuestImages.apicTimer), backend: backend)
        #expect(output == "50 periodic and 20 TSC-deadline LAPIC timer ticks, 20 PIT ticks through the I/O APIC\n")
        #expect(report.stopReason == .halted(interruptsEnabled: false))
        if backend == .software { #expect(report.statistics.interruptsDelivered == 90) }
    }

    /// `--deterministic`: the same guest twice gives the same output, instruction count, stop and
    /// registers (guest time is a function of the instructions retired).
    @Test(arguments: ["apic-timer", "pit-ticks"])
    func deterministicTimeRepeatsARunExactly(guest: String) throws {
        let plan = try guest == "apic-timer" ? flatPlan(GuestImages.apicTimer) : flatPlan(GuestImages.pitTicks, mode: .real)
        let (first, firstOutput) = try runGuest(plan, backend: .software, deterministic: true)
        let (second, secondOutput) = try runGuest(plan, backend: .software, deterministic: true)
        #expect(!firstOutput.isEmpty)
        #expect(firstOutput == secondOutput)
        #expect(first.stopReason == second.stopReason)
        #expect(first.statistics.instructions == second.statistics.instructions)
        #expect(first.statistics.interruptsDelivered == second.statistics.interruptsDelivered)
        #expect(first.registers == second.registers)
    }

    @Test func deterministicTimeStartsAtAFixedDate() throws {
        // Real mode: read the RTC's year (register 9) and month (8), BCD, into BL and BH; hlt.
        let code: [UInt8] = [
            0xB0, 0x09, 0xE6, 0x70, 0xE4, 0x71, 0x88, 0xC3,  // mov al, 9; out 0x70, al; in al, 0x71; mov bl, al
            0xB0, 0x08, 0xE6, 0x70, 0xE4, 0x71, 0x88, 0xC7,  // mov al, 8; ...; mov bh, al
            0xF4,
        ]
        let (report, _) = try runGuest(flatPlan(code, mode: .real), backend: .software, deterministic: true)
        let registers = try #require(report.registers)
        #expect(registers.rbx & 0xFFFF == 0x0126, "January 2026 in BCD")
    }

    @Test(arguments: testedBackends)
    func selfNMIsDoNotNest(backend: BackendChoice) throws {
        let (report, output) = try runGuest(flatPlan(GuestImages.nmi), backend: backend)
        #expect(output == "two self-NMIs taken, the second after the first handler's IRET\n")
        #expect(report.stopReason == .halted(interruptsEnabled: false))
    }

    /// A level-triggered line that the guest never quiets re-delivers forever; the VMM must still
    /// stop on time (and not be stuck inside delivery).
    @Test(arguments: testedBackends)
    func anInterruptStormStillStopsOnTheTimeout(backend: BackendChoice) throws {
        let start = monotonicNanoseconds()
        let (report, _) = try runGuest(flatPlan(GuestImages.irqStorm, mode: .real), backend: backend, timeout: 0.5)
        #expect(report.stopReason == .timedOut)
        #expect(monotonicNanoseconds() - start < 5_000_000_000)
        if backend == .software { #expect(report.statistics.interruptsDelivered > 1000, "it was a storm") }
    }
}
