import Boot
import Testing
import VMCore

@testable import Machine
@testable import X86Emulator

/// Hostile guests: random bytes as code, in every mode, with random registers and an IDT and
/// GDT full of random descriptors. Whatever the bytes do, the emulator must end the run with a
/// stop reason (a trap in the VMM would kill this test process) and keep its own invariants.
@Suite struct RandomCodeRobustnessTests {
    @Test(arguments: [CPUMode.real, .protected, .long])
    func randomCodeEndsInAStopNotACrash(mode: CPUMode) throws {
        // A fixed seed per mode (hashValue is randomized per process, so not that).
        let modeNumber: UInt64 = mode == .real ? 1 : (mode == .protected ? 2 : 3)
        var random = SplitMix64(seed: 0x5EED_0000 &+ modeNumber)
        var stops: [String: Int] = [:]
        for _ in 0..<60 {
            var code = [UInt8](repeating: 0, count: 0x2000)
            for index in code.indices { code[index] = UInt8(truncatingIfNeeded: random.next()) }
            // Random descriptor tables in low memory, pointed at by IDTR, so exceptions go
            // somewhere unpredictable; random registers.
            var tables = [UInt8](repeating: 0, count: 0x800)
            for index in tables.indices { tables[index] = UInt8(truncatingIfNeeded: random.next()) }
            let idtLimit = UInt16(truncatingIfNeeded: random.next() % 0x800)
            let values = (0..<7).map { _ in random.next() }
            let (cpu, _) = try loadedCPU(code, mode: mode, memorySize: 4 << 20) { memory, registers, system in
                try memory.write(tables, at: 0x7_0000)
                system.idt = DescriptorTable(base: 0x7_0000, limit: idtLimit)
                registers.rax = values[0]; registers.rbx = values[1] % (8 << 20); registers.rcx = values[2] % 64
                registers.rdx = values[3]; registers.rsi = values[4] % (8 << 20); registers.rdi = values[5] % (8 << 20)
                registers.rbp = values[6]
            }
            let stop = try cpu.run(io: TestIO(), kicker: kicker(stoppingAfter: 0.01))
            stops["\(stop)".components(separatedBy: " ").prefix(2).joined(separator: " "), default: 0] += 1
            // The cache never holds more than its arena, and counts are sane.
            #expect(cpu.codeCache.arenaUsed.pointee <= CodeCache.arenaCapacity)
            #expect(cpu.statistics.instructions < 1 << 40)
        }
        print("random code in \(mode) mode: stops \(stops.sorted { $0.key < $1.key })")
    }
}
