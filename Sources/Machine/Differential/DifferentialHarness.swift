import KVM
import VMCore
import X86Emulator

/// Runs the same instruction sequence at CPL 3 in 64-bit mode on KVM and on the software backend
/// and compares what they did. On this machine's KVM (PVM) CPL 3 code runs natively, so this
/// compares the emulator with the silicon.
///
/// Guest layout: GDT at 0x500 (kernel code/data, user data/code, a 64-bit TSS; the user selectors
/// are Linux's, 0x2B and 0x33, because PVM runs CPL 3 code on the host's segments and reading CS
/// or SS there gives the host's values), TSS at 0x600 with
/// RSP0 = 0x9000, IDT at 0x800 with a stub per vector at 0xA00 + 16*v (`fxsave64` of the FPU state
/// to `finalFPUAddress`, then `out %al, $(0xC0+v)`),
/// page tables at 0x1000 mapping the first 8 MiB with user-accessible 2 MiB pages, the sequence at
/// 0x100000 (after an `fxrstor64` of the generated FPU state at `initialFPUAddress`) followed by
/// `fxsave64` to `finalFPUAddress` and `movabs %al, 0x800000`, a data page at 0x200000 (RBX points into it), a
/// supervisor-only page at 0xA00000, the
/// user stack below 0x2FF000. Linear 0x800000 maps to guest-physical 0xE0000000, where there is
/// no RAM, so that final store is an MMIO exit that needs no I/O privilege (PVM clears IOPL).
public final class DifferentialHarness {
    static let codeAddress: UInt64 = 0x10_0000
    static let dataAddress: UInt64 = 0x20_0000
    static let dataSize = 4096
    static let stackTop: UInt64 = 0x2F_F000
    static let stackWindow = 512
    static let kernelStackTop: UInt64 = 0x9000
    static let memorySize: UInt64 = 8 << 20
    static let donePort: UInt16 = 0xE0
    static let exceptionPortBase: UInt16 = 0xC0
    /// Where the sequence's final store goes: linear 0x800000, physical `doneAddress` (no RAM).
    static let doneLinear: UInt64 = 0x80_0000
    static let doneAddress: UInt64 = 0xE000_0000
    /// The FXRSTOR image every sequence starts from, and where the FXSAVE at its end (or in the
    /// exception stub) goes: the comparison sees the XMM registers, MXCSR and the x87 state.
    static let initialFPUAddress: UInt64 = 0x20_1000
    static let finalFPUAddress: UInt64 = 0x20_1200
    /// `fxrstor64 [initialFPUAddress]` and `fxsave64 [finalFPUAddress]` (absolute disp32 forms).
    static let restoreInitialFPU: [UInt8] = [0x48, 0x0F, 0xAE, 0x0C, 0x25] + littleEndian32(initialFPUAddress)
    static let saveFinalFPU: [UInt8] = [0x48, 0x0F, 0xAE, 0x04, 0x25] + littleEndian32(finalFPUAddress)

    /// What one backend did with a sequence.
    public struct Outcome: Equatable, CustomStringConvertible {
        public var registers: [UInt64]  // RAX..R15, RIP, RFLAGS (masked)
        public var exception: (vector: Int, errorCode: UInt64?)?
        public var data: [UInt8]
        public var stack: [UInt8]
        /// The FXSAVE image at the end (masked as `FPUImage.comparable` says).
        public var fpu: [UInt8]

        public static func == (a: Outcome, b: Outcome) -> Bool {
            a.registers == b.registers && a.exception?.vector == b.exception?.vector
                && a.exception?.errorCode == b.exception?.errorCode && a.data == b.data && a.stack == b.stack && a.fpu == b.fpu
        }

        public var description: String {
            let names = [
                "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
            ]
            var text = zip(names, registers).map { "\($0.0)=\(hex($0.1))" }.joined(separator: " ")
            if let exception { text += " exception=\(exception.vector) error=\(exception.errorCode.map { hex($0) } ?? "-")" }
            return text
        }
    }

    /// A difference: the sequence, both outcomes and which parts differ.
    public struct Mismatch: CustomStringConvertible {
        public var seed: UInt64
        public var instructions: [String]
        public var kvm: Outcome
        public var emulator: Outcome
        public var description: String {
            var lines = ["seed \(seed): \(instructions.count) instruction(s)"]
            lines += instructions.map { "  " + $0 }
            lines.append("  kvm:      \(kvm)")
            lines.append("  emulator: \(emulator)")
            if kvm.data != emulator.data { lines.append("  data page differs") }
            if kvm.stack != emulator.stack { lines.append("  stack differs") }
            lines += FPUImage.differences(kvm.fpu, emulator.fpu).map { "  " + $0 }
            return lines.joined(separator: "\n")
        }
    }

    /// Sequences KVM itself could not run (PVM reports an internal error for a few instructions
    /// it has to emulate, e.g. a faulting ENTER); they are skipped, not counted as differences.
    public private(set) var skipped: [(seed: UInt64, reason: String)] = []

    let kvmMemory: GuestMemory
    let kvmCPU: KVMVirtualCPU
    let kvmVM: KVMVirtualMachine
    let emulatorMemory: GuestMemory

    public init(kvmPath: String = KVMSystem.defaultPath) throws {
        kvmMemory = try GuestMemory(ramSize: Self.memorySize)
        emulatorMemory = try GuestMemory(ramSize: Self.memorySize)
        let system = try KVMSystem(path: kvmPath)
        kvmVM = try system.makeVirtualMachine()
        try kvmVM.mapMemory(kvmMemory)
        kvmCPU = try kvmVM.makeVirtualCPU()
    }

    /// Generates the sequence for `seed` and compares the backends; nil when they agree.
    public func check(seed: UInt64, length: Int) throws -> Mismatch? {
        var generator = InstructionGenerator(seed: seed)
        let (instructions, undefinedFlags) = generator.sequence(count: length)
        return try compare(instructions, seed: seed, undefinedFlags: undefinedFlags, initial: &generator)
    }

    /// Shrinks a failing sequence: drops instructions while the mismatch remains.
    public func shortestFailure(seed: UInt64, length: Int) throws -> Mismatch? {
        var generator = InstructionGenerator(seed: seed)
        var (instructions, _) = generator.sequence(count: length)
        let stateSeed = generator.random
        guard var failure = try compareWithUndefined(instructions, seed: seed, stateSeed: stateSeed) else { return nil }
        var index = 0
        while index < instructions.count {
            var shorter = instructions
            shorter.remove(at: index)
            if !shorter.isEmpty, let smaller = try compareWithUndefined(shorter, seed: seed, stateSeed: stateSeed) {
                instructions = shorter
                failure = smaller
            } else {
                index += 1
            }
        }
        return failure
    }

    private func compareWithUndefined(_ instructions: [GeneratedInstruction], seed: UInt64, stateSeed: SplitMix64) throws -> Mismatch? {
        var undefined: UInt64 = 0
        for instruction in instructions {
            if instruction.reads & undefined != 0 { return nil }  // removing made it read an undefined flag
            undefined = (undefined & ~instruction.defines) | instruction.undefines
        }
        var generator = InstructionGenerator(seed: 0)
        generator.random = stateSeed
        return try compare(instructions, seed: seed, undefinedFlags: undefined, initial: &generator)
    }

    private func compare(_ instructions: [GeneratedInstruction], seed: UInt64, undefinedFlags: UInt64, initial generator: inout InstructionGenerator)
        throws -> Mismatch?
    {
        let code =
            Self.restoreInitialFPU + instructions.flatMap(\.bytes) + Self.saveFinalFPU + [0xA2]
            + (0..<8).map { UInt8(truncatingIfNeeded: Self.doneLinear >> (8 * $0)) }
        var registers = Registers()
        let values = (0..<16).map { _ in generator.random.next() }
        registers.rax = values[0]; registers.rcx = values[1]; registers.rdx = values[2]
        registers.rbx = Self.dataAddress + 0x800
        registers.rsp = Self.stackTop
        registers.rbp = values[5]; registers.rsi = values[6]; registers.rdi = values[7]
        registers.r8 = values[8]; registers.r9 = values[9]; registers.r10 = values[10]; registers.r11 = values[11]
        registers.r12 = values[12]; registers.r13 = values[13]; registers.r14 = values[14]; registers.r15 = values[15]
        registers.rip = Self.codeAddress
        // IF set: nothing can interrupt the guest here, and PVM runs CPL 3 code with the real IF on,
        // which PUSHF would otherwise reveal.
        registers.rflags = 0x202 | (generator.random.next() & InstructionGenerator.all)
        let data = (0..<Self.dataSize).map { _ in UInt8(truncatingIfNeeded: generator.random.next()) }
        let fpu = generator.initialFXSAVEImage()

        try prepare(kvmMemory, code: code, data: data, fpu: fpu)
        try prepare(emulatorMemory, code: code, data: data, fpu: fpu)
        // Flags undefined when each instruction starts, for exceptions that stop the sequence there.
        var undefinedBefore: [UInt64: UInt64] = [:]
        var address = Self.codeAddress + UInt64(Self.restoreInitialFPU.count), undefined: UInt64 = 0
        for instruction in instructions {
            undefinedBefore[address] = undefined
            undefined = (undefined & ~instruction.defines) | instruction.undefines
            address += UInt64(instruction.bytes.count)
        }
        let masks = FlagMasks(atEnd: undefinedFlags, beforeInstruction: undefinedBefore)
        let kvm: Outcome
        do {
            kvm = try run(kvmCPU, memory: kvmMemory, registers: registers, masks: masks)
        } catch HarnessError.kvmCannotRun(let reason) {
            skipped.append((seed, reason))
            return nil
        }
        let emulator = try run(SoftwareVirtualCPU(memory: emulatorMemory), memory: emulatorMemory, registers: registers, masks: masks)
        guard kvm != emulator else { return nil }
        return Mismatch(seed: seed, instructions: instructions.map(\.description), kvm: kvm, emulator: emulator)
    }

    private func prepare(_ memory: GuestMemory, code: [UInt8], data: [UInt8], fpu: [UInt8]) throws {
        try memory.zero(0, count: 0x10000)
        // GDT: null, kernel code64 0x08, kernel data 0x10, (unused 0x18), user code32 0x20,
        // user data 0x28, user code64 0x30, TSS 0x38. The user entries are marked accessed, as
        // Linux's are, so that LAR reads the same access rights as on the host's GDT.
        let gdt: [UInt64] = [
            0, 0x00AF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF, 0, 0x00CF_FB00_0000_FFFF, 0x00CF_F300_0000_FFFF,
            0x00AF_FB00_0000_FFFF, 0x0000_8900_0600_0067, 0,
        ]
        for (index, entry) in gdt.enumerated() { try memory.store(entry, at: 0x500 + UInt64(index) * 8) }
        try memory.store(Self.kernelStackTop, at: 0x600 + 4)  // TSS.RSP0
        try memory.store(UInt16(0x68), at: 0x600 + 0x66)  // no I/O bitmap (IOPL 3 allows the port)
        for vector in 0..<32 {
            let stub = 0xA00 + UInt64(vector) * 16
            try memory.write(Self.saveFinalFPU + [0xE6, UInt8(Self.exceptionPortBase) + UInt8(vector), 0xF4, 0x90], at: stub)
            // 64-bit interrupt gate, DPL 3, to the stub through kernel code 0x08.
            let low: UInt64 = (stub & 0xFFFF) | 0x08 << 16 | 0xEE00 << 32 | ((stub >> 16) & 0xFFFF) << 48
            try memory.store(low, at: 0x800 + UInt64(vector) * 16)
            try memory.store(stub >> 32, at: 0x800 + UInt64(vector) * 16 + 8)
        }
        // Page tables: PML4 -> PDPT -> PD with four user-accessible 2 MiB pages (0-8 MiB).
        try memory.store(UInt64(0x2007), at: 0x1000)
        try memory.store(UInt64(0x3007), at: 0x2000)
        for page in 0..<UInt64(4) { try memory.store(page << 21 | 0x87, at: 0x3000 + page * 8) }
        try memory.store(Self.doneAddress | 0x87, at: 0x3000 + 4 * 8)
        // Linear 0xA00000: a supervisor-only 2 MiB page (RAM at 4 MiB), which CPL 3 may not touch.
        try memory.store(UInt64(0x40_0000 | 0x83), at: 0x3000 + 5 * 8)
        try memory.zero(Self.codeAddress, count: 0x1000)
        try memory.write(code, at: Self.codeAddress)
        try memory.write(data, at: Self.dataAddress)
        try memory.write(fpu, at: Self.initialFPUAddress)
        // Zeros under the final image: the CPU leaves bytes 416-511 alone, but the exception stub's
        // FXSAVE runs at CPL 0, which PVM emulates, writing zeros there.
        try memory.zero(Self.finalFPUAddress, count: 512)
        try memory.zero(Self.stackTop - UInt64(Self.stackWindow), count: UInt64(Self.stackWindow) * 2)
    }

    /// Which flags to ignore: those undefined at the end, or before the instruction that faulted.
    struct FlagMasks {
        var atEnd: UInt64
        var beforeInstruction: [UInt64: UInt64]
    }

    private func run(_ cpu: some VirtualCPU, memory: GuestMemory, registers: Registers, masks: FlagMasks) throws -> Outcome {
        var system = SystemRegisters()
        func segment(_ selector: UInt16, code: Bool, dpl: UInt8) -> Segment {
            Segment(
                base: 0, limit: 0xFFFF_FFFF, selector: selector, type: code ? 0xB : 0x3, dpl: dpl, defaultSize32: !code, long: code, granularity: true
            )
        }
        system.cs = segment(0x33, code: true, dpl: 3)
        system.ss = segment(0x2B, code: false, dpl: 3)
        system.ds = system.ss; system.es = system.ss; system.fs = system.ss; system.gs = system.ss
        system.tr = Segment(base: 0x600, limit: 0x67, selector: 0x38, type: 0xB, defaultSize32: false, isCodeOrData: false, granularity: false)
        system.gdt = DescriptorTable(base: 0x500, limit: 9 * 8 - 1)
        system.idt = DescriptorTable(base: 0x800, limit: 32 * 16 - 1)
        system.cr0 = 0x8000_0011 | (1 << 16)  // PE, ET, PG, WP
        system.cr3 = 0x1000
        system.cr4 = ControlBits.cr4PhysicalAddressExtension | 1 << 9 | 1 << 10  // OSFXSR, OSXMMEXCPT
        system.efer = ControlBits.eferLongModeEnable | ControlBits.eferLongModeActive
        try cpu.setSystemRegisters(system)
        try cpu.setRegisters(registers)
        let io = HarnessIO()
        let kicker = CPUKicker()
        var cpu = cpu
        let stop = try cpu.run(io: io, kicker: kicker)
        if case .internalError = stop, cpu is KVMVirtualCPU { throw HarnessError.kvmCannotRun(stop.description) }
        guard case .debugExit(let port) = stop else { throw HarnessError.unexpectedStop(stop.description) }
        var final = try cpu.registers()
        var exception: (Int, UInt64?)? = nil
        if port != UInt32(Self.donePort) {
            let vector = Int(port) - Int(Self.exceptionPortBase)
            // The frame the CPU pushed on the kernel stack: [error code], RIP, CS, RFLAGS, RSP, SS.
            let hasErrorCode = exceptionPushesErrorCode(vector)
            let frame = Self.kernelStackTop - 40 - (hasErrorCode ? 8 : 0)
            let errorCode: UInt64? = hasErrorCode ? try memory.load(UInt64.self, at: frame) : nil
            let base = frame + (hasErrorCode ? 8 : 0)
            final.rip = try memory.load(UInt64.self, at: base)
            final.rflags = try memory.load(UInt64.self, at: base + 16)
            final.rsp = try memory.load(UInt64.self, at: base + 24)
            exception = (vector, errorCode)
        }
        // A fault part-way through a generated group (`mov ax, sel; mov ss, ax`) is masked as
        // before the group, whose first steps leave the flags alone.
        let faultingGroup = masks.beforeInstruction.keys.filter { $0 <= final.rip }.max()
        let undefinedFlags = exception == nil ? masks.atEnd : faultingGroup.flatMap { masks.beforeInstruction[$0] } ?? masks.atEnd
        let registerList = [
            final.rax, final.rcx, final.rdx, final.rbx, final.rsp, final.rbp, final.rsi, final.rdi,
            final.r8, final.r9, final.r10, final.r11, final.r12, final.r13, final.r14, final.r15,
            final.rip, final.rflags & ~undefinedFlags & ~UInt64(0x10000),
        ]  // RF as pushed is not compared
        return Outcome(
            registers: registerList, exception: exception,
            data: try memory.read(Self.dataAddress, count: Self.dataSize),
            stack: try memory.read(Self.stackTop - UInt64(Self.stackWindow), count: Self.stackWindow * 2),
            fpu: FPUImage.comparable(try memory.read(Self.finalFPUAddress, count: 512)))
    }
}

enum HarnessError: Error, CustomStringConvertible {
    case unexpectedStop(String)
    case kvmCannotRun(String)
    var description: String {
        switch self {
        case .unexpectedStop(let reason): return "a backend stopped unexpectedly: \(reason)"
        case .kvmCannotRun(let reason): return "KVM could not run the sequence: \(reason)"
        }
    }
}

/// Ends the run: the final MMIO store reports `donePort`, an exception stub's port write 0xC0 + vector.
private final class HarnessIO: GuestIO {
    func portRead(_ port: IOPort, width: AccessWidth) -> UInt32 { UInt32(truncatingIfNeeded: width.mask) }
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction { .stop(.debugExit(value: UInt32(port.rawValue))) }
    func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64 { 0 }
    func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction {
        address.rawValue == DifferentialHarness.doneAddress ? .stop(.debugExit(value: UInt32(DifferentialHarness.donePort))) : .proceed
    }
    func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction { .proceed }
}

private func littleEndian32(_ value: UInt64) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
