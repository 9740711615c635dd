import Foundation
import Testing
import VMCore

/// A gcc-built workload (Guests/workloads-x87/longdouble.c: long double formatting, the
/// transcendental instructions, every rounding and precision control, integer and BCD
/// conversions), built as a freestanding static 64-bit guest and as a host program: the guest's
/// output on the software backend must be the host CPU's, byte for byte.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc"))
struct X87WorkloadTests {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "../../Guests/workloads-x87/longdouble.c"
    ).standardizedFileURL.path
    /// Shared by both builds: x87 code only (no SSE), as the file's header says.
    static let flags = ["-O2", "-mno-sse", "-mno-mmx", "-fno-stack-protector", "-fcf-protection=none"]
    static let guestFlags = [
        "-ffreestanding", "-nostdlib", "-static", "-fno-pie", "-no-pie", "-fno-asynchronous-unwind-tables", "-DGUEST",
        "-Wl,-Ttext-segment=0x200000", "-Wl,--build-id=none", "-e", "_start",
    ]

    @discardableResult
    static func run(_ path: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(path) \(arguments.joined(separator: " "))")
        return data
    }

    @Test func longDoubleWorkloadPrintsWhatTheHostCPUPrints() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("x87-workload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let guest = directory.appendingPathComponent("guest.elf").path
        let native = directory.appendingPathComponent("native").path
        try Self.run("/usr/bin/gcc", Self.flags + Self.guestFlags + ["-o", guest, Self.source])
        try Self.run("/usr/bin/gcc", Self.flags + ["-o", native, Self.source])
        let expected = String(decoding: try Self.run(native, []), as: UTF8.self)

        let image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: guest)))
        let emulated = try emulate(image, mode: .long)
        #expect(emulated.stop == .debugExit(value: 0), "stopped at \(hex(emulated.registers.rip))")
        let output = String(decoding: emulated.io.portWrites.filter { $0.port == 0xE9 }.map { UInt8(truncatingIfNeeded: $0.value) }, as: UTF8.self)
        #expect(expected.count > 3000)
        if output != expected {
            let firstDifference = zip(output.split(separator: "\n"), expected.split(separator: "\n")).first { $0 != $1 }
            Issue.record("guest and host differ; first differing line: guest \(firstDifference?.0 ?? "(end)"), host \(firstDifference?.1 ?? "(end)")")
        }
    }
}
