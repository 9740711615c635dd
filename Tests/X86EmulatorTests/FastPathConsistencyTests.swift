import Boot
import CSSE
import Glibc
import Testing
import VMCore

@testable import Machine
@testable import X86Emulator

/// The decoded-block path against the byte interpreter, instruction by instruction, over random
/// encodings of every opcode the fast decoder accepts, with random prefixes, ModRM, SIB,
/// displacements and immediates (so also the addressing forms the KVM differential tester does
/// not generate: SIB with index and scale, no base, RIP-relative, negative displacements) and at
/// CPL 0. Both engines start from the same state and memory; they must end with the same
/// registers, flags, memory and exception.
@Suite struct FastPathConsistencyTests {
    /// Opcodes the fast decoder takes (two-byte ones after 0x0F).
    static let oneByte: [UInt8] =
        (0x00...0x3D).filter { $0 & 7 < 6 } + Array(0x50...0x5F) + [0x63, 0x68, 0x6A, 0x69, 0x6B] + Array(0x70...0x7F)
        + [0x80, 0x81, 0x83, 0x84, 0x85, 0x88, 0x89, 0x8A, 0x8B, 0x8D, 0x90, 0x98, 0x99, 0xA8, 0xA9] + Array(0xB0...0xBF)
        + [0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3, 0xC3, 0xC6, 0xC7, 0xE8, 0xE9, 0xEB, 0xF6, 0xF7, 0xFE, 0xFF]
    static let twoByte: [UInt8] = [0x1F, 0xAF, 0xB6, 0xB7, 0xBE, 0xBF] + Array(0x40...0x4F) + Array(0x80...0x9F)
    /// SSE opcodes (after a mandatory prefix or none, and 0x0F) the fast decoder takes in some column.
    static let media: [UInt8] = [
        0x10, 0x11, 0x28, 0x29, 0x6F, 0x7F, 0xD7, 0x2E, 0x2F, 0x2A, 0x2C, 0x2D, 0x6E, 0x7E, 0xD6, 0x70, 0xBC, 0xBD, 0x51, 0x58, 0x59,
        0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, 0x54, 0x55, 0x56, 0x57, 0x14, 0x15, 0xE6, 0x60, 0x63, 0x6C, 0x74, 0x75, 0x76, 0xD4, 0xDA, 0xDB,
        0xDE, 0xDF, 0xEB, 0xEF, 0xF8, 0xFC, 0xF4, 0xE0, 0xD1, 0xE1, 0xF2, 0xE7, 0x2B,
    ]

    static let memorySize: UInt64 = 4 << 20
    static let dataAddress: UInt64 = 0x20_0000

    /// One engine: a CPU with its own memory, and an interpreter over them.
    struct Engine {
        let memory: GuestMemory
        let cpu: SoftwareVirtualCPU
        let io = TestIO()
        var interpreter: Interpreter {
            Interpreter(
                state: cpu.state, memory: memory, io: io, statistics: cpu.statisticsStorage, unimplemented: cpu.unimplemented, tlb: cpu.tlb,
                codeCache: cpu.codeCache)
        }
        init() throws {
            memory = try GuestMemory(ramSize: FastPathConsistencyTests.memorySize)
            cpu = SoftwareVirtualCPU(memory: memory)
        }
    }

    func ramPointer(_ memory: GuestMemory) -> UnsafeRawPointer {
        UnsafeRawPointer(bitPattern: memory.region(containing: 0, length: Self.memorySize)!.hostAddress)!
    }

    /// In 64-bit code and in flat 32-bit protected-mode code (where 0x40-0x4F are INC/DEC, the
    /// stack is 32-bit and [disp32] is absolute).
    @Test(arguments: [CPUMode.long, .protected])
    func decodedInstructionsMatchTheByteInterpreter(mode: CPUMode) throws {
        let legacy = mode != .long
        var options = LoadOptions(memorySize: Self.memorySize)
        options.mode = mode
        let plan = try ImageLoader.plan(image: [0xF4], options: options)
        let fast = try Engine(), slow = try Engine()
        var random = SplitMix64(seed: 20_261_125)  // the differential tester's generator
        var compared = 0, skipped = 0
        for round in 0..<3000 {
            // The instruction: optional 0x66, optional REX, an accepted opcode, 14 random bytes.
            var code: [UInt8] = []
            let isMedia = random.next() % 3 == 0
            if isMedia {
                let prefix = [nil, 0x66, 0xF3, 0xF2][Int(random.next() % 4)] as UInt8?
                if let prefix { code.append(prefix) }
            } else if random.next() % 4 == 0 {
                code.append(0x66)
            }
            // A segment override: FS and GS add their base in 64-bit code, the others do nothing.
            if random.next() % 4 == 0 { code.insert([0x64, 0x65, 0x26, 0x2E, 0x36, 0x3E][Int(random.next() % 6)], at: 0) }
            if random.next() % 2 == 0 { code.append(0x40 | UInt8(random.next() % 16)) }  // REX, or INC/DEC in 32-bit code
            if isMedia {
                code += [0x0F, Self.media[Int(random.next() % UInt64(Self.media.count))]]
            } else if random.next() % 5 == 0 {
                code += [0x0F, Self.twoByte[Int(random.next() % UInt64(Self.twoByte.count))]]
            } else {
                code.append(Self.oneByte[Int(random.next() % UInt64(Self.oneByte.count))])
            }
            for _ in 0..<14 { code.append(UInt8(truncatingIfNeeded: random.next())) }
            // Registers: mostly pointers into the data page, some random; RSP on the stack.
            var registers = plan.registers
            var values: [UInt64] = []
            for _ in 0..<16 {
                let kind = random.next() % 4
                values.append(kind == 0 ? random.next() : Self.dataAddress &+ (random.next() % 0x800))
            }
            values[4] = 0x7_F000 &- (random.next() % 0x100) * 8
            (registers.rax, registers.rcx, registers.rdx, registers.rbx) = (values[0], values[1], values[2], values[3])
            (registers.rsp, registers.rbp, registers.rsi, registers.rdi) = (values[4], values[5], values[6], values[7])
            (registers.r8, registers.r9, registers.r10, registers.r11) = (values[8], values[9], values[10], values[11])
            (registers.r12, registers.r13, registers.r14, registers.r15) = (values[12], values[13], values[14], values[15])
            registers.rflags = 0x202 | (random.next() & 0x8D5)
            var data = [UInt8](repeating: 0, count: 0x1000)
            for index in data.indices { data[index] = UInt8(truncatingIfNeeded: random.next()) }
            // XMM registers and MXCSR (any rounding, DAZ/FZ, sometimes unmasked exceptions: #XM).
            let vectors = (0..<32).map { _ in random.next() }
            let mxcsr = UInt32(random.next() & 0xE040) | (random.next() % 4 == 0 ? UInt32(random.next() & 0x1F80) : 0x1F80)
            var system = plan.systemRegisters
            system.cr4 |= 0x600  // OSFXSR, OSXMMEXCPT
            // FS and GS bases: none, a small offset into the data page, or non-canonical (#GP).
            for segment in [\SystemRegisters.fs, \SystemRegisters.gs] {
                system[keyPath: segment].base = [0, random.next() % 0x800, 0x8000_0000_0000_0000][Int(random.next() % 3)]
            }

            var outcomes: [String] = []
            for engine in [fast, slow] {
                for write in plan.writes { try engine.memory.write(write.bytes, at: write.address) }
                try engine.memory.write(code, at: registers.rip)
                try engine.memory.write(data, at: Self.dataAddress)
                try engine.cpu.setSystemRegisters(system)
                try engine.cpu.setRegisters(registers)
                for index in 0..<16 { engine.interpreter.setXMM(index, csse_xmm(low: vectors[2 * index], high: vectors[2 * index + 1])) }
                engine.cpu.state.pointee.sse.mxcsr = mxcsr
                engine.cpu.tlb.flushAll()
                engine.cpu.codeCache.flushAll()
            }
            #expect(fast.cpu.state.isFlat32 == legacy)
            let decoded = try fast.memory.withBytes(at: registers.rip, count: 15) {
                FastDecoder.decode($0.baseAddress!, available: 15, legacy32: legacy)
            }
            guard decoded.operation != .slow else {
                skipped += 1
                continue
            }
            // Fast engine: the decoded instruction; slow engine: one step of the byte interpreter.
            var decodedCopy = decoded
            let fastResult: String
            do {
                // The fetch that brought these bytes: it marks the code's page-table entries
                // accessed, as the byte interpreter's fetch does.
                _ = try fast.interpreter.translate(registers.rip, write: false, fetch: true, user: false)
                let next = try withUnsafePointer(to: &decodedCopy) {
                    try fast.interpreter.executeDecoded($0, rip: registers.rip, mode: ChainMode(legacy: legacy, user: false))
                }
                fast.cpu.state.pointee.rip = legacy ? next & 0xFFFF_FFFF : next  // as the block loop leaves it
                fastResult = "completed"
            } catch {
                fastResult = "\(error)"
            }
            let slowResult: String
            do {
                try slow.interpreter.step()
                slowResult = "completed"
            } catch {
                slowResult = "\(error)"
            }
            for (engine, result) in [(fast, fastResult), (slow, slowResult)] {
                let r = try engine.cpu.registers()
                outcomes.append(
                    "\(result) rip=\(hex(r.rip)) rflags=\(hex(r.rflags)) "
                        + [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15]
                        .map { hex($0) }.joined(separator: " ") + " cr2=\(hex(try engine.cpu.systemRegisters().cr2))"
                        + " mxcsr=\(hex(UInt64(engine.cpu.state.pointee.sse.mxcsr))) "
                        + (0..<16).map { hex(engine.interpreter.xmm($0).low) + ":" + hex(engine.interpreter.xmm($0).high) }.joined(separator: " "))
            }
            let sameMemory = memcmp(ramPointer(fast.memory), ramPointer(slow.memory), Int(Self.memorySize)) == 0
            #expect(outcomes[0] == outcomes[1], "round \(round): \(hexBytes(Array(code.prefix(Int(decoded.length))))) \(decoded.operation)")
            #expect(sameMemory, "round \(round): memory differs after \(hexBytes(Array(code.prefix(Int(decoded.length)))))")
            if outcomes[0] != outcomes[1] || !sameMemory { break }
            compared += 1
        }
        print("fast path vs byte interpreter (\(mode)): \(compared) instructions compared, \(skipped) left to the byte interpreter")
        #expect(compared > 1500)
    }
}
