import Testing
import VMCore

@testable import Machine

/// Hostile guest values at the software platform's CPU-side doors: random LAPIC page accesses,
/// I/O APIC accesses, platform MSR writes and device lines, in any order, with interrupts taken
/// as they come: nothing traps, reads fit their width, and the APIC can always be reset.
@Suite struct PlatformRobustnessTests {
    @Test(arguments: [1, 2, 3, 4])
    func randomAPICAndMSRAccessesStayHarmless(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let memory = try GuestMemory(ramSize: 1 << 20)
        let platform = SoftwarePlatform(ramSize: 1 << 20, memory: memory, clock: InstructionClock())
        let widths: [AccessWidth] = [.byte, .word, .doubleWord, .quadWord]
        let msrs: [UInt32] = [0x1B, 0x6E0, 0x4B56_4D00, 0x4B56_4D01, 0x10, 0xC000_0080]
        for _ in 0..<20_000 {
            let choice = random.next() % 8
            let width = widths[Int(random.next() % 4)]
            let offset = random.next() % 0x1100  // past the page's end too
            let value = random.next()
            switch choice {
            case 0, 1:
                let read = platform.readLocalAPIC(offset: offset, width: width)
                #expect(read <= width.mask)
            case 2, 3:
                // Mostly the registers that matter: ICR, LVTs, timer, EOI, SVR, TPR.
                let register = [0x300, 0x320, 0x350, 0x360, 0x370, 0x380, 0x3E0, 0xB0, 0xF0, 0x80][Int(random.next() % 10)]
                platform.writeLocalAPIC(offset: random.next() % 2 == 0 ? UInt64(register) : offset, width: width, value: value)
            case 4:
                let ioapic = platform.ioapic
                _ = ioapic.write(offset: random.next() % 2 == 0 ? 0 : 0x10, width: width, value: value)
                #expect(ioapic.read(offset: offset & 0xFF, width: width) <= width.mask)
            case 5:
                // Base moves and disables included; a write the CPU would refuse (#GP) is refused.
                _ = platform.writeMSR(msrs[Int(random.next() % UInt64(msrs.count))], value: value, tscOffset: random.next())
            case 6:
                platform.router.setLevel(gsi: Int(random.next() % 30) - 2, high: random.next() % 2 == 0)
            default:
                if platform.interruptRequested {
                    _ = platform.acknowledgeNMI()
                    _ = platform.acknowledgeInterrupt()
                }
                _ = platform.pollTimers()
            }
        }
        // The machine can always be brought back to a clean APIC: enable at the default base.
        #expect(platform.writeMSR(0x1B, value: 0xFEE0_0900, tscOffset: 0) == true)
        #expect(platform.localAPICPage == 0xFEE0_0000)
    }
}
