import Boot
import Foundation
import Testing
import VMCore

private let buildToolsAvailable = ["/usr/bin/cc", "/usr/bin/ld", "/usr/bin/objcopy"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

/// Real compiled SSE2 code on the software backend: bench/compute-sse.c (glibc-style SSE2 strlen
/// and memchr, a streaming copy with movdqu/movntdq and a vector checksum, a double-precision
/// n-body step) built with gcc -O2 as a flat freestanding binary, run in 64-bit mode, and its
/// result compared with the same C code run natively on the host CPU. Needs cc, ld and objcopy
/// (CI installs them); without them it is skipped.
@Suite(.enabled(if: buildToolsAvailable)) struct SSEWorkloadTests {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../bench/compute-sse.c").standardized
        .path

    func sh(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw WorkloadError.failed(arguments.joined(separator: " ")) }
        return String(decoding: data, as: UTF8.self)
    }

    enum WorkloadError: Error { case failed(String) }

    @Test func theEmulatorComputesWhatTheHostComputes() throws {
        // A directory of its own: tests run in parallel.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sse-workload-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let flags = [
            "-O2", "-msse2", "-ffreestanding", "-fno-builtin", "-fpie", "-fno-jump-tables", "-mno-red-zone", "-fno-asynchronous-unwind-tables",
            "-fno-stack-protector", "-fcf-protection=none",
        ]
        _ = try sh(["cc"] + flags + ["-c", "-o", "\(directory)/sse.o", Self.source])
        let script = "SECTIONS { . = 0; .text : { *(.text.entry) *(.text*) *(.rodata*) } /DISCARD/ : { *(.note*) *(.comment) *(.eh_frame) } }\n"
        try script.write(toFile: "\(directory)/flat.ld", atomically: true, encoding: .utf8)
        _ = try sh(["ld", "-T", "\(directory)/flat.ld", "-o", "\(directory)/sse.elf", "\(directory)/sse.o"])
        _ = try sh(["objcopy", "-O", "binary", "-j", ".text", "\(directory)/sse.elf", "\(directory)/sse.bin"])
        let main = """
            #include <stdio.h>
            #include <stdlib.h>
            unsigned long compute_sse(unsigned char *, unsigned long);
            int main(int argc, char **argv) { static unsigned char scratch[32768] __attribute__((aligned(16)));
              printf("%lu\\n", compute_sse(scratch, strtoul(argv[1], 0, 10))); return 0; }
            """
        try main.write(toFile: "\(directory)/main.c", atomically: true, encoding: .utf8)
        _ = try sh(["cc", "-O2", "-msse2", "-o", "\(directory)/native", "\(directory)/main.c", Self.source])

        let rounds: UInt32 = 12
        let native = UInt64(try sh(["\(directory)/native", "\(rounds)"]).trimmingCharacters(in: .whitespacesAndNewlines))
        let binary = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/sse.bin")))
        // mov edi, 0x300000 (scratch); mov esi, rounds; call compute_sse; mov r15, rax; out 0xF4, al
        var stub: [UInt8] = [0xBF, 0x00, 0x00, 0x30, 0x00, 0xBE] + withUnsafeBytes(of: rounds.littleEndian, Array.init) + [0xE8, 17, 0, 0, 0]
        stub += [0x49, 0x89, 0xC7, 0xE6, 0xF4]
        stub += [UInt8](repeating: 0x90, count: 32 - stub.count)
        let run = try emulate(stub + binary, mode: .long) { _, _, system in system.cr4 |= 0x600 }
        #expect(run.stop == .debugExit(value: UInt32(run.registers.rax & 0xFF)))
        #expect(run.registers.r15 == native)
        #expect(run.registers.r15 != 0)
    }
}
