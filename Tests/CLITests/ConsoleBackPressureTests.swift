import Foundation
import Testing

/// Console output never blocks a stop: with stdout a pipe that nobody reads, the guest's writes
/// wait for it to drain, but `--timeout`, SIGTERM and SIGINT still end the run, and the stop line
/// says how many bytes could not be written.
@Suite struct ConsoleBackPressureTests {
    /// Long mode: `mov dx, 0x3F8; 1: mov al, 'x'; out dx, al; jmp 1b`, printing forever.
    static let uartPrinter: [UInt8] = [0x66, 0xBA, 0xF8, 0x03, 0xB0, 0x78, 0xEE, 0xEB, 0xFB]
    /// Long mode: the console-write hypercall of 1 MiB from address 0, forever.
    static let hypercallPrinter: [UInt8] =
        [0x66, 0xBA, 0x00, 0x05, 0xBB, 0x00, 0x00, 0x00, 0x00, 0xB9, 0x00, 0x00, 0x10, 0x00, 0xB8, 0x01, 0x00, 0x00, 0x00, 0xEF, 0xEB, 0xEE]

    static let backends = kvmUsable ? ["software", "kvm"] : ["software"]

    /// Runs `image` with stdout a pipe that is never read; `signal` is sent once the run started.
    func runUnread(_ image: [UInt8], name: String, backend: String, arguments: [String], signal: Int32? = nil) throws -> (
        status: Int32, stderr: String
    ) {
        let path = try VMMProcess.temporaryFile(image, name: name)
        let process = Process()
        process.standardInput = FileHandle.nullDevice  // never the developer's terminal
        process.executableURL = VMMProcess.executable
        process.arguments = ["run", path, "--backend", backend] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output  // kept open, never read: the pipe fills up
        // One page of pipe buffer (F_SETPIPE_SZ, 1031), so that a byte-at-a-time UART fills it at once.
        _ = fcntl(output.fileHandleForWriting.fileDescriptor, 1031, 4096)
        process.standardError = errors
        try process.run()
        var stderr = Data()
        if let signal {
            stderr = VMMProcess.readUntilBackendLine(errors)
            Thread.sleep(forTimeInterval: 0.3)  // let the pipe fill and the guest block on it
            kill(process.processIdentifier, signal)
        }
        // A VMM stuck in write(2) would never end: give up (and fail) after 30 s.
        let collected = CollectedData()
        let reader = Thread { collected.data.withLock { $0 = errors.fileHandleForReading.readDataToEndOfFile() } }
        reader.start()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("vmm did not stop while its stdout was not read")
        }
        process.waitUntilExit()
        while !reader.isFinished { Thread.sleep(forTimeInterval: 0.005) }
        withExtendedLifetime(output) {}
        return (process.terminationStatus, String(decoding: stderr + collected.data.withLock { $0 }, as: UTF8.self))
    }

    @Test(arguments: backends)
    func timeoutEndsAGuestBlockedOnAnUnreadUART(backend: String) throws {
        let run = try runUnread(Self.uartPrinter, name: "uart-printer-\(backend).bin", backend: backend, arguments: ["--timeout", "1"])
        #expect(run.status == 124, "\(run.stderr)")
        #expect(run.stderr.contains("timeout reached; "))
        #expect(run.stderr.contains("bytes of console output could not be written"))
    }

    @Test(arguments: backends)
    func timeoutEndsAGuestBlockedInTheConsoleHypercall(backend: String) throws {
        let run = try runUnread(
            Self.hypercallPrinter, name: "hypercall-printer-\(backend).bin", backend: backend, arguments: ["--timeout", "1"])
        #expect(run.status == 124, "\(run.stderr)")
        #expect(run.stderr.contains("bytes of console output could not be written"))
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func aSignalEndsAGuestBlockedOnAnUnreadUART(signal: Int32) throws {
        let run = try runUnread(Self.uartPrinter, name: "uart-printer-signal-\(signal).bin", backend: "software", arguments: [], signal: signal)
        #expect(run.status == 130, "\(run.stderr)")
        #expect(run.stderr.contains("interrupted by a signal; "))
    }
}
