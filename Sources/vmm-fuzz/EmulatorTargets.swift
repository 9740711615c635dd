import Boot
import Devices
import Glibc
import Logging
import Machine
import VMCore
import X86Emulator

/// Guest RAM for the emulator targets: up to the 0x80000 initial stack, small enough to compare.
private let ramSize: UInt64 = 0x8_0000
/// Where flat protected- and long-mode code is loaded (below 1 MiB, clear of the page tables).
private let codeAddress: UInt64 = 0x1_0000
/// Random descriptor tables from the input go here, with IDTR pointing at them.
private let tablesAddress: UInt64 = 0x7_0000
/// A data page that most register values point into.
private let dataAddress: UInt64 = 0x2_0000

/// Console output from guests is counted and dropped.
private final class NullConsole: ConsoleSink {
    func write(_ bytes: UnsafeRawBufferPointer, unlessStopped stop: StopSignal) -> Int { 0 }
}

/// Guest memories reused from one input to the next (a fresh mapping per input spent most of the
/// time in page faults); `clear` returns one to all zeros, as new.
private let memories = [try! GuestMemory(ramSize: ramSize), try! GuestMemory(ramSize: ramSize)]
private let zeroPage = [UInt8](repeating: 0, count: 4096)

private func clear(_ memory: GuestMemory) {
    let ram = UnsafeMutableRawPointer(bitPattern: memory.region(containing: 0, length: ramSize)!.hostAddress)!
    zeroPage.withUnsafeBytes { zero in
        for page in stride(from: 0, to: Int(ramSize), by: 4096) where memcmp(ram + page, zero.baseAddress!, 4096) != 0 {
            memset(ram + page, 0, 4096)
        }
    }
}

/// A flat image's plan for each mode, made once (building the page tables for every input cost
/// more than running it); the code is written over the image.
private let plans: [CPUMode: BootPlan] = {
    var plans: [CPUMode: BootPlan] = [:]
    for mode in CPUMode.allCases {
        var options = LoadOptions(memorySize: ramSize)
        options.mode = mode
        if mode != .real { options.loadAddress = codeAddress }
        plans[mode] = try! ImageLoader.plan(image: [0xF4], options: options)
    }
    return plans
}()

/// A software CPU over fresh memory with `code` loaded flat in `mode`, and the machine's own
/// GuestIO (the port bus with every device, and the hypercall handler over this memory).
private struct Guest {
    let memory: GuestMemory
    let cpu: SoftwareVirtualCPU
    let io: MachineIO
    let plan: BootPlan

    /// `slot` picks one of the reused memories (the decoder target runs two guests at once).
    init(code: [UInt8], mode: CPUMode, slot: Int = 0) {
        plan = plans[mode]!
        memory = memories[slot]
        do {
            clear(memory)
            for write in plan.writes { try memory.write(write.bytes, at: write.address) }
            // The image is the plan's last write (after the GDT and page tables).
            try memory.write(code, at: plan.writes.last!.address)
        } catch {
            fatalError("setting up the guest failed: \(error)")
        }
        cpu = SoftwareVirtualCPU(memory: memory)
        let postCodes = PostCodePort(), hypercallPort = HypercallPort(), console = Console(NullConsole())
        let ports = try! Machine.portBus(postCodes: postCodes, hypercallPort: hypercallPort, console: console)
        io = MachineIO(
            ports: ports, mmio: try! Bus([]), hypercallPort: hypercallPort, hypercalls: HypercallHandler(memory: memory, console: console),
            logger: Logger(label: "fuzz"))
    }

    func start(_ registers: Registers, _ system: SystemRegisters) {
        do {
            try cpu.setSystemRegisters(system)
            try cpu.setRegisters(registers)
        } catch {
            fatalError("setting registers failed: \(error)")
        }
    }

    var ram: UnsafeRawPointer { UnsafeRawPointer(bitPattern: memory.region(containing: 0, length: ramSize)!.hostAddress)! }
}

/// The stops the software backend may end a run with by itself; anything else (or a trap) is a bug.
private func isGuestStop(_ stop: StopReason) -> Bool {
    switch stop {
    case .halted, .debugExit, .exitHypercall, .shutdown: return true
    default: return false
    }
}

/// The input's parameters for a random-code run: the mode, registers (mostly pointers into the
/// data page), optionally random descriptor tables under IDTR, then the code.
private func randomCodeRun(_ data: UnsafeRawBufferPointer, blocks: Bool) {
    var input = FuzzInput(data)
    let flags = input.byte()
    let mode = [CPUMode.real, .protected, .long][Int(flags & 3) % 3]
    var values: [UInt64] = []
    for _ in 0..<7 {
        let raw = input.integer(UInt32.self)
        values.append(raw & 1 == 0 ? dataAddress &+ UInt64(raw >> 1 & 0xFFF) : UInt64(raw) << (raw & 2 == 0 ? 0 : 32) | UInt64(raw))
    }
    let tables = flags & 4 != 0 ? input.bytes(Int(input.byte()) * 8) : []
    let idtLimit = input.integer(UInt16.self)
    let code = input.bytes(4096)
    let guest = Guest(code: code, mode: mode)
    var registers = guest.plan.registers, system = guest.plan.systemRegisters
    (registers.rax, registers.rbx, registers.rcx, registers.rdx) = (values[0], values[1], values[2] & 0xFFF, values[3])
    (registers.rsi, registers.rdi, registers.rbp) = (values[4], values[5], values[6])
    if !tables.isEmpty {
        try! guest.memory.write(tables, at: tablesAddress)
        system.idt = DescriptorTable(base: tablesAddress, limit: idtLimit)
    }
    guest.start(registers, system)
    let limit: UInt64 = 300
    let stop = guest.cpu.run(io: guest.io, instructionLimit: limit, blocks: blocks)
    if let stop { require(isGuestStop(stop), "the emulator stopped with \(stop)") }
    let statistics = guest.cpu.statistics
    require(statistics.instructions <= limit + 64, "\(statistics.instructions) instructions retired for a limit of \(limit)")
    _ = try? guest.cpu.registers()
}

/// `interpreter`: random bytes as code on the byte interpreter alone, in real, protected or long
/// mode: the run ends in a guest stop or at the instruction limit, never in a trap.
func fuzzInterpreter(_ data: UnsafeRawBufferPointer) { randomCodeRun(data, blocks: false) }

/// `emulator`: the same on the software backend's normal path (decoded blocks from the code
/// cache, falling back to the byte interpreter), with self-modifying code and mode switches.
func fuzzEmulator(_ data: UnsafeRawBufferPointer) { randomCodeRun(data, blocks: true) }

/// A page of bytes followed by an inaccessible page, so that a decoder read past the bytes it
/// was given faults at once instead of reading whatever lies there.
nonisolated(unsafe) private let guardedPage: UnsafeMutableRawPointer = {
    let pages = mmap(nil, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
    precondition(pages != MAP_FAILED && mprotect(pages + 0x1000, 0x1000, PROT_NONE) == 0)
    return pages
}()

/// `decoder`: random bytes through the fast decoder, placed at the end of a page before a guard
/// page: it never reads past them, consumes at most 15 bytes (and no more than it has), and what
/// it accepts is well formed. Each accepted instruction also runs once on the decoded path and
/// once on the byte interpreter from the same state (like FastPathConsistencyTests, with the
/// fuzzer's bytes): registers, flags, CR2, RAM and the stop must agree.
func fuzzDecoder(_ data: UnsafeRawBufferPointer) {
    var input = FuzzInput(data)
    let flags = input.byte()
    let legacy = flags & 1 != 0
    var values: [UInt64] = []
    for _ in 0..<16 {
        let raw = input.integer(UInt32.self)
        values.append(raw & 1 == 0 ? dataAddress &+ UInt64(raw >> 1 & 0xFFF) : UInt64(raw) << (raw & 2 == 0 ? 0 : 32) | UInt64(raw >> 2))
    }
    let rflags = UInt64(input.integer(UInt16.self) & 0x8D5) | 0x202
    let bytes = input.bytes(4096)
    let available = bytes.count
    let start = guardedPage + (0x1000 - available)
    bytes.withUnsafeBytes { if let base = $0.baseAddress { start.copyMemory(from: base, byteCount: available) } }
    let decoded = fastDecode(start, available: available, legacy32: legacy)
    require(decoded.length <= min(available, 15), "length \(decoded.length) with \(available) bytes")
    require(decoded == fastDecode(start, available: available, legacy32: legacy), "decoding is not deterministic")
    guard decoded.accepted else { return }
    require(decoded.length >= 1, "an accepted instruction of length 0")
    require([1, 2, 4, 8].contains(decoded.size), "operand size \(decoded.size)")
    require(decoded.reg < 16 && decoded.rm < 16, "register numbers \(decoded.reg), \(decoded.rm)")
    if decoded.isMemory {
        require(
            decoded.base < 16 || decoded.base == FastDecodeResult.noRegister || (!legacy && decoded.base == FastDecodeResult.ripBase),
            "base \(decoded.base)")
        require(decoded.index < 16 || decoded.index == FastDecodeResult.noRegister, "index \(decoded.index)")
    }

    // The differential run: NOP (which the byte interpreter runs, filling the TLB so that the
    // next instruction starts a decoded block), the instruction, and HLT everywhere after it.
    var code = [UInt8](repeating: 0xF4, count: 0x1000)
    code[0] = 0x90
    code.replaceSubrange(1..<1 + decoded.length, with: bytes.prefix(decoded.length))
    let mode: CPUMode = legacy ? .protected : .long
    var outcomes: [String] = []
    var guests: [Guest] = []
    for blocks in [true, false] {
        let guest = Guest(code: code, mode: mode, slot: blocks ? 0 : 1)
        var registers = guest.plan.registers
        (registers.rax, registers.rcx, registers.rdx, registers.rbx) = (values[0], values[1], values[2], values[3])
        (registers.rsp, registers.rbp, registers.rsi, registers.rdi) = (0x7_F000 &- (values[4] & 0xFF) * 8, values[5], values[6], values[7])
        (registers.r8, registers.r9, registers.r10, registers.r11) = (values[8], values[9], values[10], values[11])
        (registers.r12, registers.r13, registers.r14, registers.r15) = (values[12], values[13], values[14], values[15])
        registers.rflags = rflags
        try! guest.memory.write(bytes.suffix(from: min(decoded.length, bytes.count)).prefix(0x1000), at: dataAddress)
        guest.start(registers, guest.plan.systemRegisters)
        guard let stop = guest.cpu.run(io: guest.io, instructionLimit: 16, blocks: blocks) else { return }  // ran on: not comparable
        require(isGuestStop(stop), "the emulator stopped with \(stop)")
        let r = try! guest.cpu.registers()
        let values = [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15]
        outcomes.append(
            "\(stop) rip=\(hex(r.rip)) rflags=\(hex(r.rflags)) \(values.map { hex($0) }) cr2=\(hex(try! guest.cpu.systemRegisters().cr2))")
        guests.append(guest)
    }
    require(
        outcomes[0] == outcomes[1],
        "\(hexBytes(bytes.prefix(decoded.length))) (\(mode) mode): decoded path \(outcomes[0]), byte interpreter \(outcomes[1])")
    require(memcmp(guests[0].ram, guests[1].ram, Int(ramSize)) == 0, "\(hexBytes(bytes.prefix(decoded.length))): RAM differs")
}

/// Seeds for the code targets: the built-in guests' code in their modes.
func codeSeeds() -> [[UInt8]] {
    var seeds: [[UInt8]] = [[2] + [UInt8](repeating: 0, count: 30) + [0x48, 0x31, 0xC0, 0xF4]]
    let programs: [[UInt8]] = [[0xB8, 1, 0, 0, 0, 0xE6, 0xF4], [0x0F, 0x01, 0xD9, 0xCD, 0x80, 0xF4], [0x66, 0xB8, 0, 0, 0x0F, 0x22, 0xC0]]
    for (index, code) in programs.enumerated() {
        seeds.append([UInt8(index % 3)] + [UInt8](repeating: 0, count: 30) + code)
    }
    return seeds
}
