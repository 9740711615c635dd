import Boot
import Foundation
import VMCore
import X86Emulator

/// A GuestIO for emulator tests: records port writes; a write to 0xF4 stops the run like the
/// debug-exit device; port 0x1234 reads as 0x5A.
final class TestIO: GuestIO {
    var portWrites: [(port: UInt16, value: UInt32)] = []
    func portRead(_ port: IOPort, width: AccessWidth) -> UInt32 { port.rawValue == 0x1234 ? 0x5A : UInt32(truncatingIfNeeded: width.mask) }
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction {
        portWrites.append((port.rawValue, value))
        return port.rawValue == 0xF4 ? .stop(.debugExit(value: value)) : .proceed
    }
    func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64 { 0 }
    func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction { .proceed }
    func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction { .proceed }
}

/// The outcome of running code on the software backend.
struct EmulatorRun {
    var stop: StopReason
    var registers: Registers
    var system: SystemRegisters
    var memory: GuestMemory
    var io: TestIO
    var statistics: CPUStatistics
}

/// A software CPU with `code` loaded as a flat image in `mode` (at the default load address),
/// after `prepare` adjusted memory and registers.
func loadedCPU(
    _ code: [UInt8], mode: CPUMode, memorySize: UInt64 = 8 << 20,
    prepare: (GuestMemory, inout Registers, inout SystemRegisters) throws -> Void = { _, _, _ in }
) throws -> (cpu: SoftwareVirtualCPU, memory: GuestMemory) {
    var options = LoadOptions(memorySize: memorySize)
    options.mode = mode
    let plan = try ImageLoader.plan(image: code, options: options)
    let memory = try GuestMemory(ramSize: memorySize)
    for write in plan.writes { try memory.write(write.bytes, at: write.address) }
    var registers = plan.registers
    var system = plan.systemRegisters
    try prepare(memory, &registers, &system)
    let cpu = SoftwareVirtualCPU(memory: memory)
    try cpu.setSystemRegisters(system)
    try cpu.setRegisters(registers)
    return (cpu, memory)
}

/// A kicker that asks for a `.timedOut` stop after `seconds`.
func kicker(stoppingAfter seconds: Double) -> CPUKicker {
    let kicker = CPUKicker()
    Thread.detachNewThread {
        Thread.sleep(forTimeInterval: seconds)
        kicker.requestStop(.timedOut)
    }
    return kicker
}

/// Loads `code` as `loadedCPU` does and runs it on the software backend until it stops.
func emulate(
    _ code: [UInt8], mode: CPUMode, memorySize: UInt64 = 8 << 20,
    prepare: (GuestMemory, inout Registers, inout SystemRegisters) throws -> Void = { _, _, _ in }
) throws -> EmulatorRun {
    let (cpu, memory) = try loadedCPU(code, mode: mode, memorySize: memorySize, prepare: prepare)
    let io = TestIO()
    // A test guest that runs away must fail its test, not hang the suite.
    let stop = try cpu.run(io: io, kicker: kicker(stoppingAfter: 10))
    return EmulatorRun(
        stop: stop, registers: try cpu.registers(), system: try cpu.systemRegisters(), memory: memory, io: io, statistics: cpu.statistics)
}

/// RFLAGS bits for assertions.
enum Flag {
    static let cf: UInt64 = 1, pf: UInt64 = 4, af: UInt64 = 0x10, zf: UInt64 = 0x40, sf: UInt64 = 0x80, of: UInt64 = 0x800
}
