import DemoGuests
import Foundation
import Testing

/// Host input reaches the UART's receiver: from a pipe at the rate the guest reads it (no byte
/// lost), through the receive interrupt on the software backend, and from a terminal in raw
/// mode with Ctrl-A x to quit and the terminal restored afterwards.
#if VMM_TSAN
    /// Under ThreadSanitizer (scripts/sanitize thread) the input thread and the vCPU share the UART
    /// and the PIC through Synchronization's Mutex, which TSan cannot see on this toolchain.
    let mutexVisibleToSanitizer = false
#else
    let mutexVisibleToSanitizer = true
#endif

@Suite(.enabled(if: mutexVisibleToSanitizer, "ThreadSanitizer cannot see Synchronization.Mutex here (false races)"))
struct SerialInputTests {
    /// Long mode, polling: opens the receiver (MCR.OUT2, IER's received-data bit; IF stays clear,
    /// so no interrupt is taken), then echoes each received byte until a 'q', then halts.
    static let pollingEcho: [UInt8] = [
        0x66, 0xBA, 0xFC, 0x03, 0xB0, 0x08, 0xEE, 0x66, 0xBA, 0xF9, 0x03, 0xB0, 0x01, 0xEE,
        0x66, 0xBA, 0xFD, 0x03, 0xEC, 0xA8, 0x01, 0x74, 0xFB, 0x66, 0xBA, 0xF8, 0x03, 0xEC, 0x3C, 0x71, 0x74, 0x03, 0xEE, 0xEB, 0xEB, 0xF4,
    ]
    static let backends = kvmUsable ? ["software", "kvm"] : ["software"]

    /// Random text of `count` bytes without a 'q'.
    static func text(_ count: Int) -> [UInt8] {
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnop \n".utf8)
        return (0..<count).map { _ in alphabet.randomElement(using: &random)! }
    }

    @Test(arguments: backends)
    func aPollingGuestReadsEveryBytePipedIn(backend: String) throws {
        let path = try VMMProcess.temporaryFile(Self.pollingEcho, name: "polling-echo-\(backend).bin")
        let text = Self.text(backend == "kvm" ? 5000 : 20000)  // far more than the 16-byte FIFO
        let result = try VMMProcess.run(["run", path, "--backend", backend], input: text + Array("q".utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == String(decoding: text, as: UTF8.self))
    }

    @Test(arguments: backends)
    func theReceiveInterruptWakesAHaltedGuestForEachByte(backend: String) throws {
        // On KVM the line reaches the in-kernel PIC through KVM_IRQ_LINE, from the input thread.
        let path = try VMMProcess.temporaryFile(GuestImages.serialEcho, name: "serial-echo-\(backend).bin")
        let text = Self.text(3000)
        let result = try VMMProcess.run(
            ["run", path, "--mode", "real", "--backend", backend, "--stats", "--timeout", "30"], input: text + Array("q".utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == String(decoding: text, as: UTF8.self))
        #expect(result.stderr.contains("guest halted (HLT with interrupts disabled)"))
    }

    @Test(arguments: backends)
    func inputWaitsUntilTheGuestOpensTheReceiver(backend: String) throws {
        // The line is in the pipe before the guest starts; the guest resets its FIFOs and reads the
        // receiver twice, 50 ms apart, before it enables the receive interrupt (as Linux's 8250
        // driver does): bytes handed over before that would be dropped.
        let path = try VMMProcess.temporaryFile(GuestImages.serialLateOpen, name: "serial-late-open-\(backend).bin")
        let line = "echo the whole line, piped in before the guest opened its receiver\n"
        let result = try VMMProcess.run(
            ["run", path, "--mode", "real", "--backend", backend, "--timeout", "30"], input: Array((line + "q").utf8))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == line)
    }

    @Test func theEndOfInputLeavesTheLineIdle() throws {
        // No 'q': once the input ends nothing can wake the halted guest, and the run says so.
        let path = try VMMProcess.temporaryFile(GuestImages.serialEcho, name: "serial-echo-eof.bin")
        let result = try VMMProcess.run(["run", path, "--mode", "real", "--backend", "software", "--timeout", "20"], input: Array("abc".utf8))
        #expect(result.stdout == "abc")
        #expect(result.status == 0)
        #expect(result.stderr.contains("guest halted with interrupts enabled, but nothing can interrupt it"))
    }

    @Test func theEndOfInputDoesNotEndARunningGuest() throws {
        // The polling guest is still running when the pipe closes: it runs on to --timeout.
        let path = try VMMProcess.temporaryFile(Self.pollingEcho, name: "polling-echo-eof.bin")
        let result = try VMMProcess.run(["run", path, "--backend", "software", "--timeout", "0.5"], input: Array("abc".utf8))
        #expect(result.status == 124, "\(result.stderr)")
        #expect(result.stdout == "abc")
    }

    @Test func serialInputNoneDetachesStdin() throws {
        let path = try VMMProcess.temporaryFile(Self.pollingEcho, name: "polling-echo-none.bin")
        let result = try VMMProcess.run(
            ["run", path, "--backend", "software", "--serial-input", "none", "--timeout", "0.5"], input: Array("abcq".utf8))
        #expect(result.status == 124)
        #expect(result.stdout.isEmpty)
    }

    /// A terminal: raw mode (Ctrl-C would reach the guest), Ctrl-A Ctrl-A sends one Ctrl-A,
    /// Ctrl-A x stops the run with 130, and the terminal's mode is the same afterwards.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "python3 is needed to drive a pseudo-terminal"))
    func aTerminalGetsRawModeAndCtrlAXQuits() throws {
        let path = try VMMProcess.temporaryFile(Self.pollingEcho, name: "polling-echo-pty.bin")
        let script = """
            import os, pty, subprocess, sys, termios, time
            master, slave = pty.openpty()
            before = termios.tcgetattr(slave)
            p = subprocess.Popen([sys.argv[1], "run", sys.argv[2], "--backend", "software"], stdin=slave, stdout=slave, stderr=subprocess.PIPE)
            time.sleep(1.0)
            raw = termios.tcgetattr(slave)
            os.write(master, b"ab\\x01\\x01c\\x03")
            time.sleep(0.5)
            os.write(master, b"\\x01x")
            err = p.communicate(timeout=20)[1].decode()
            after = termios.tcgetattr(slave)
            out = b""
            while True:
                try:
                    os.set_blocking(master, False); chunk = os.read(master, 4096)
                except (BlockingIOError, OSError): break
                if not chunk: break
                out += chunk
            print("status", p.returncode)
            print("raw", (raw[3] & termios.ICANON) == 0 and (raw[3] & termios.ISIG) == 0)
            print("restored", after == before)
            print("output", repr(out))
            print("stderr", repr(err))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, VMMProcess.executable.path, path]
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(text.contains("status 130"), "\(text)")
        #expect(text.contains("raw True"), "\(text)")
        #expect(text.contains("restored True"), "\(text)")
        #expect(text.contains("output b'ab\\x01c\\x03'"), "Ctrl-A Ctrl-A is one Ctrl-A, Ctrl-C reaches the guest: \(text)")
        #expect(text.contains("stopped by the user (Ctrl-A x)"), "\(text)")
    }
}
