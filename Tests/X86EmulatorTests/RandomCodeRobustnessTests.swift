import Boot
import Foundation
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
        var random = SplitMix64(seed: 0x5EED_0000 &+ UInt64(mode.hashValue & 0xFF))
        var stops: [String: Int] = [:]
        for _ in 0..<60 {
            var code = [UInt8](repeating: 0, count: 0x2000)
            for index in code.indices { code[index] = UInt8(truncatingIfNeeded: random.next()) }
            var options = LoadOptions(memorySize: 4 << 20)
            options.mode = mode
            let plan = try ImageLoader.plan(image: code, options: options)
            let memory = try GuestMemory(ramSize: 4 << 20)
            for write in plan.writes { try memory.write(write.bytes, at: write.address) }
            // Random descriptor tables in low memory, pointed at by IDTR (and, outside real
            // mode, a random LDT/TR), so exceptions go somewhere unpredictable.
            var tables = [UInt8](repeating: 0, count: 0x800)
            for index in tables.indices { tables[index] = UInt8(truncatingIfNeeded: random.next()) }
            try memory.write(tables, at: 0x7_0000)
            var system = plan.systemRegisters
            system.idt = DescriptorTable(base: 0x7_0000, limit: UInt16(truncatingIfNeeded: random.next() % 0x800))
            var registers = plan.registers
            registers.rax = random.next(); registers.rbx = random.next() % (8 << 20); registers.rcx = random.next() % 64
            registers.rdx = random.next(); registers.rsi = random.next() % (8 << 20); registers.rdi = random.next() % (8 << 20)
            registers.rbp = random.next()
            let cpu = SoftwareVirtualCPU(memory: memory)
            try cpu.setSystemRegisters(system)
            try cpu.setRegisters(registers)
            let kicker = CPUKicker()
            Thread.detachNewThread {
                Thread.sleep(forTimeInterval: 0.01)
                kicker.requestStop(.timedOut)
            }
            let stop = try cpu.run(io: TestIO(), kicker: kicker)
            stops["\(stop)".components(separatedBy: " ").prefix(2).joined(separator: " "), default: 0] += 1
            // The cache never holds more than its arena, and counts are sane.
            #expect(cpu.codeCache.arenaUsed.pointee <= CodeCache.arenaCapacity)
            #expect(cpu.statistics.instructions < 1 << 40)
        }
        print("random code in \(mode) mode: stops \(stops.sorted { $0.key < $1.key })")
    }
}
