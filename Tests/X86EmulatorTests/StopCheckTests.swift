import Boot
import Testing
import VMCore
import X86Emulator

/// A GuestIO whose port 0x99 asks for a stop as the watchdog or a signal would: through the
/// kicker, from outside the instruction stream, so the run loop has to notice it by itself.
final class StopRequestingIO: GuestIO {
    let kicker: CPUKicker
    init(kicker: CPUKicker) { self.kicker = kicker }
    func portRead(_ port: IOPort, width: AccessWidth) -> UInt32 {
        if port.rawValue == 0x99 { kicker.requestStop(.interrupted) }
        return 0
    }
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction {
        if port.rawValue == 0x99 { kicker.requestStop(.interrupted) }
        return .proceed
    }
    func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64 { 0 }
    func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction { .proceed }
    func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction { .proceed }
}

/// Every loop a guest controls is bounded by the stop check: a REP string instruction with a huge
/// count pauses between iterations (RIP on it, RCX holding what is left), as a CPU does for
/// interrupts, and the stop wins within one check interval instead of after millions of
/// iterations.
@Suite struct StopCheckTests {
    static let repeatedForms: [(name: String, opcode: UInt8)] = [
        ("rep movsb", 0xA4), ("rep stosb", 0xAA), ("rep lodsb", 0xAC), ("repe cmpsb", 0xA6), ("repe scasb", 0xAE),
        ("rep insb", 0x6C), ("rep outsb", 0x6E),
    ]

    @Test(arguments: repeatedForms, [CPUMode.long, .protected])
    func aStopRequestEndsALongRepeatedStringInstruction(form: (name: String, opcode: UInt8), mode: CPUMode) throws {
        // The same bytes in 64-bit and 32-bit code; memory is zero, so REPE compares keep going.
        let code: [UInt8] =
            [0x66, 0xBA, 0x99, 0x00, 0xEE]  // mov dx, 0x99; out dx, al (asks for the stop)
            + [0xB9, 0xFF, 0xFF, 0xFF, 0xFF]  // mov ecx, 0xFFFFFFFF
            + [0xBE, 0x00, 0x00, 0x20, 0x00, 0xBF, 0x00, 0x00, 0x30, 0x00]  // mov esi, 2 MiB; mov edi, 3 MiB
            + [0x31, 0xC0, 0xF3, form.opcode, 0xF4]  // xor eax, eax; rep <form>; hlt
        let (cpu, _) = try loadedCPU(code, mode: mode)
        let kicker = CPUKicker()
        let stop = try cpu.run(io: StopRequestingIO(kicker: kicker), kicker: kicker)
        #expect(stop == .interrupted, "\(form.name)")
        let registers = try cpu.registers()
        let iterations = 0xFFFF_FFFF - registers.rcx
        // The stop was asked for before the instruction began; it may run one check interval.
        #expect(iterations <= UInt64(2 * SoftwareVirtualCPU.instructionsPerCheck), "\(form.name) in \(mode): \(iterations) iterations ran")
        #expect(registers.rip == 0x100000 + 22, "\(form.name): RIP stays on the paused instruction")
        // The paused instruction has not retired: the count holds the six before it.
        #expect(cpu.statistics.instructions == 6, "\(form.name)")
    }

    @Test func aPausedRepeatedInstructionFinishesExactlyAndRetiresOnce() throws {
        // rep stosb over 1 MiB: many pauses for the stop check, one instruction in the count.
        let code: [UInt8] = [0xB9, 0x00, 0x00, 0x10, 0x00, 0xBF, 0x00, 0x00, 0x20, 0x00, 0xB0, 0xAB, 0xF3, 0xAA, 0xF4]
        let run = try emulate(code, mode: .long)
        #expect(run.stop == .halted(interruptsEnabled: false))
        #expect(run.registers.rcx == 0)
        #expect(run.registers.rdi == 0x300000)
        #expect(try run.memory.read(0x2F_FFFF, count: 1) == [0xAB])
        #expect(try run.memory.read(0x30_0000, count: 1) == [0x00])
        #expect(run.statistics.instructions == 4)  // HLT stops the run without retiring
    }
}
