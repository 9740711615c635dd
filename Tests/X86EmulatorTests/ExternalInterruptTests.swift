import Boot
import Synchronization
import Testing
import VMCore
import X86Emulator

/// An interrupt source driven by the test: vectors queued by the test or by a write to port
/// 0x99, and a "timer" that queues one vector each time the vCPU halts, `ticks` times, then stops
/// the run.
final class ScriptedInterrupts: InterruptSource, GuestIO {
    struct Script {
        var pending: [UInt8] = []
        var ticksLeft = 0
        var waits = 0
        var nmis = 0
    }
    let script = Mutex(Script())
    let kicker = CPUKicker()
    let vector: UInt8

    init(vector: UInt8, pending: [UInt8] = [], ticks: Int = 0) {
        self.vector = vector
        script.withLock {
            $0.pending = pending
            $0.ticksLeft = ticks
        }
    }

    var interruptRequested: Bool { script.withLock { !$0.pending.isEmpty || $0.nmis > 0 } }
    func acknowledgeNMI() -> Bool {
        script.withLock { script in
            guard script.nmis > 0 else { return false }
            script.nmis -= 1
            return true
        }
    }
    func acknowledgeInterrupt() -> UInt8? { script.withLock { $0.pending.isEmpty ? nil : $0.pending.removeFirst() } }
    func poll() {}
    func waitForInterrupt(stop: StopSignal) -> Bool {
        let stopNow = script.withLock { script -> Bool in
            script.waits += 1
            guard script.ticksLeft > 0 else { return true }
            script.ticksLeft -= 1
            script.pending.append(vector)
            return false
        }
        if stopNow { kicker.requestStop(.timedOut) }
        return true
    }

    func portRead(_ port: IOPort, width: AccessWidth) -> UInt32 { 0xFF }
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction {
        if port.rawValue == 0x99 { script.withLock { $0.pending.append(vector) } }
        return .proceed
    }
    func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64 { 0 }
    func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction { .proceed }
    func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction { .proceed }
}

/// External interrupts on the software backend: delivered through the IVT or IDT between
/// instructions when IF is set, never inside an interrupt shadow, and waking HLT.
@Suite struct ExternalInterruptTests {
    /// A real-mode image at 0x7C00 with `handler` at 0x7E00, which IVT entry `vector` points to.
    func realModeCPU(_ code: [UInt8], handler: [UInt8], vector: UInt8) throws -> (SoftwareVirtualCPU, GuestMemory) {
        let image = code + [UInt8](repeating: 0xF4, count: 0x200 - code.count) + handler
        return try loadedCPU(image, mode: .real) { memory, _, _ in
            try memory.write([0x00, 0x7E, 0x00, 0x00], at: UInt64(vector) * 4)
        }
    }

    func run(_ cpu: SoftwareVirtualCPU, _ source: ScriptedInterrupts) throws -> StopReason {
        cpu.interrupts = source
        return try cpu.run(io: source, kicker: source.kicker)
    }

    /// Two NMIs pending with IF clear: both are taken (IF does not mask NMIs), the second only
    /// after the first handler's IRET (NMIs do not nest).
    @Test func nmisIgnoreIFButDoNotNest() throws {
        // cli; nop x4; hlt  --  handler (vector 2): inc byte [0x604] (depth); record the deepest
        // depth in [0x605]; nop; nop; dec byte [0x604]; inc word [0x600]; iret
        let handler: [UInt8] = [
            0xFE, 0x06, 0x04, 0x06, 0xA0, 0x04, 0x06, 0x3A, 0x06, 0x05, 0x06, 0x76, 0x03, 0xA2, 0x05, 0x06, 0x90, 0x90, 0xFE, 0x0E,
            0x04, 0x06, 0xFF, 0x06, 0x00, 0x06, 0xCF,
        ]
        let (cpu, memory) = try realModeCPU([0xFA, 0x90, 0x90, 0x90, 0x90, 0xF4], handler: handler, vector: 2)
        let source = ScriptedInterrupts(vector: 2)
        source.script.withLock { $0.nmis = 2 }
        #expect(try run(cpu, source) == .halted(interruptsEnabled: false))
        #expect(try memory.load(UInt16.self, at: 0x600) == 2, "both NMIs ran")
        #expect(try memory.load(UInt8.self, at: 0x605) == 1, "never one inside the other")
    }

    @Test func timerTicksWakeHLTAndRunTheHandler() throws {
        // sti; 1: hlt; jmp 1b  --  handler: inc word [0x600]; iret
        let (cpu, memory) = try realModeCPU([0xFB, 0xF4, 0xEB, 0xFD], handler: [0xFF, 0x06, 0x00, 0x06, 0xCF], vector: 8)
        let source = ScriptedInterrupts(vector: 8, ticks: 5)
        #expect(try run(cpu, source) == .timedOut)
        #expect(try memory.load(UInt16.self, at: 0x600) == 5)
        #expect(cpu.statistics.interruptsDelivered == 5)
        #expect(source.script.withLock { $0.waits } == 6)
    }

    @Test func theInstructionAfterSTIRunsBeforeAPendingInterrupt() throws {
        // mov al, 0x11; sti; mov al, 0x22; mov al, 0x33; cli; hlt  --  handler: mov [0x600], al; iret
        let code: [UInt8] = [0xB0, 0x11, 0xFB, 0xB0, 0x22, 0xB0, 0x33, 0xFA, 0xF4]
        let (cpu, memory) = try realModeCPU(code, handler: [0xA2, 0x00, 0x06, 0xCF], vector: 0x20)
        let source = ScriptedInterrupts(vector: 0x20, pending: [0x20])
        #expect(try run(cpu, source) == .halted(interruptsEnabled: false))
        #expect(try memory.read(0x600, count: 1) == [0x22])
        #expect(try cpu.registers().rax & 0xFF == 0x33, "the interrupted code resumed")
    }

    @Test func movSSAfterSTIExtendsTheShadow() throws {
        // sti; mov ss, ax; mov al, 0x55; mov al, 0x66; cli; hlt
        let code: [UInt8] = [0xFB, 0x8E, 0xD0, 0xB0, 0x55, 0xB0, 0x66, 0xFA, 0xF4]
        let (cpu, memory) = try realModeCPU(code, handler: [0xA2, 0x00, 0x06, 0xCF], vector: 0x20)
        #expect(try run(cpu, ScriptedInterrupts(vector: 0x20, pending: [0x20])) == .halted(interruptsEnabled: false))
        #expect(try memory.read(0x600, count: 1) == [0x55])
    }

    @Test func popfSettingIFTakesAPendingInterruptAtOnce() throws {
        // mov al, 0x11; cli; out 0x99, al; mov al, 0x22; push 0x202; popf; mov al, 0x33; cli; hlt
        let code: [UInt8] = [0xB0, 0x11, 0xFA, 0xE6, 0x99, 0xB0, 0x22, 0x68, 0x02, 0x02, 0x9D, 0xB0, 0x33, 0xFA, 0xF4]
        let (cpu, memory) = try realModeCPU(code, handler: [0xA2, 0x00, 0x06, 0xCF], vector: 0x20)
        #expect(try run(cpu, ScriptedInterrupts(vector: 0x20)) == .halted(interruptsEnabled: false))
        #expect(try memory.read(0x600, count: 1) == [0x22], "POPF has no shadow")
    }

    @Test func withIFClearAPendingInterruptWaitsAndHLTEndsTheRun() throws {
        let (cpu, memory) = try realModeCPU([0xB0, 0x11, 0xF4], handler: [0xA2, 0x00, 0x06, 0xCF], vector: 0x20)
        #expect(try run(cpu, ScriptedInterrupts(vector: 0x20, pending: [0x20])) == .halted(interruptsEnabled: false))
        #expect(try memory.read(0x600, count: 1) == [0x00])
        #expect(cpu.statistics.interruptsDelivered == 0)
    }

    @Test func longModeDeliversThroughAnInterruptGate() throws {
        // IDT at 0x3000 with vector 0x30 -> 0x100100 (64-bit interrupt gate, CS 0x18).
        // code: sti; 1: hlt; jmp 1b   handler at 0x100100: inc qword [0x600]; iretq
        let code: [UInt8] = [0xFB, 0xF4, 0xEB, 0xFD]
        let handler: [UInt8] = [0x48, 0xFF, 0x04, 0x25, 0x00, 0x06, 0x00, 0x00, 0x48, 0xCF]
        let image = code + [UInt8](repeating: 0xF4, count: 0x100 - code.count) + handler
        let (cpu, memory) = try loadedCPU(image, mode: .long, memorySize: 8 << 20) { memory, _, system in
            let target: UInt64 = 0x10_0100
            var gate: [UInt8] = [UInt8(target & 0xFF), UInt8(target >> 8 & 0xFF), 0x18, 0x00, 0x00, 0x8E]
            gate += [UInt8(target >> 16 & 0xFF), UInt8(target >> 24 & 0xFF)] + [UInt8](repeating: 0, count: 8)
            try memory.write(gate, at: 0x8000 + 0x30 * 16)
            system.idt = DescriptorTable(base: 0x8000, limit: 0xFFF)
        }
        let source = ScriptedInterrupts(vector: 0x30, ticks: 3)
        #expect(try run(cpu, source) == .timedOut)
        #expect(try memory.load(UInt64.self, at: 0x600) == 3)
    }

    @Test func withoutAnInterruptSourceHLTWithIFSetStillEndsTheRun() throws {
        let run = try emulate([0xFB, 0xF4], mode: .long)
        #expect(run.stop == .halted(interruptsEnabled: true))
    }
}
