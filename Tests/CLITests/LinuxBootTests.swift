import Foundation
import Synchronization
import Testing

/// Debian's own cloud kernel booted with `vmm boot` on the software backend, as a bzImage and as
/// the PVH vmlinux extracted from it, to a busybox shell scripted through a pipe: the commands are
/// written to stdin before the kernel starts (the UART holds them until Linux opens the port) and
/// stdin ends at once (which must not end the run). Skipped, with the reason, where the Debian
/// packages are not installed.
///
/// The boot runs about 550 million guest instructions: with a release build newer than every
/// source file (CI's benchmark step makes one) each boot takes about 10 s; otherwise the debug
/// build runs it, about 15 times slower.
@Suite(.serialized) struct LinuxBootTests {
    static let kernelUnavailable: String? = {
        #if VMM_SANITIZED
            // The sanitized debug vmm would take about half an hour per boot.
            return "a boot runs about 550 million guest instructions, too many under the sanitizer (scripts/sanitize); plain `swift test` runs it"
        #else
            return LinuxBootScriptTests.initramfsUnavailable ?? LinuxBootScriptTests.vmlinuxUnavailable
        #endif
    }()

    /// The release vmm when it is newer than every file it is built from, else the debug one next
    /// to the tests.
    static let vmm: (binary: URL, isRelease: Bool) = {
        let release = LinuxBootScriptTests.root.appendingPathComponent(".build/release/vmm")
        guard let built = modificationDate(release.path) else { return (VMMProcess.executable, false) }
        // Everything the binary is built from: the Swift and C sources and the manifest.
        let root = LinuxBootScriptTests.root
        let inputs = ["Sources", "CKVM", "CSandbox", "CSSE", "CX87", "CHostTime"].map { root.appendingPathComponent($0) }
        let newestSource =
            (inputs.flatMap { directory in
                (FileManager.default.enumerator(atPath: directory.path)?.compactMap { name in
                    modificationDate(directory.appendingPathComponent(name as! String).path)
                } ?? [])
            } + [modificationDate(root.appendingPathComponent("Package.swift").path)].compactMap { $0 }).max()
        return newestSource.map { $0 < built } == true ? (release, true) : (VMMProcess.executable, false)
    }()

    static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// The initramfs, built once: /init prints its marker and starts a shell on the console.
    static let initramfs: Result<String, any Error> = Result {
        let path = try VMMProcess.temporaryFile([], name: "linux-boot-initramfs.cpio.gz")
        let result = try VMMProcess.run(["-o", path], program: LinuxBootScriptTests.makeInitramfs)
        guard result.status == 0 else { throw ScriptFailure(message: "make-initramfs: \(result.stderr)") }
        return path
    }

    struct ScriptFailure: Error { var message: String }

    /// What the session types. Each answer is printed with a label that the echoed command line
    /// lacks (written in two quoted halves), so an assertion sees only the guest's output.
    static let session = """
        echo "ker""nel=$(uname -r)"
        echo "s""um=$((6*7))"
        grep -m1 '^flags' /proc/cpuinfo | sed 's/^/cpu''-/'
        dmesg | grep -E 'unchecked MSR access|WARNING|invalid opcode|Call Trace|BUG' | sed 's/^/bad''-dmesg: /'
        echo "clo""ck=$(date +%s) rtc=$(cat /sys/class/rtc/rtc0/since_epoch)"
        echo "sleep-""begin"; sleep 2; echo "sleep-""end"
        exit

        """

    struct Line {
        var text: String
        var arrival: Date
    }

    /// Runs vmm with `arguments`, `input` written to stdin at once, and the console's lines
    /// time-stamped as they arrive.
    static func boot(_ arguments: [String], input: String, timeout: Double) throws -> (status: Int32, lines: [Line], stderr: String) {
        let process = Process()
        process.executableURL = vmm.binary
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        (process.standardInput, process.standardOutput, process.standardError) = (stdin, stdout, stderr)
        try process.run()
        try stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let lines = Mutex<[Line]>([])
        let reader = Thread {
            var pending = Data()
            while true {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                pending += chunk
                while let newline = pending.firstIndex(of: 0x0A) {
                    let text = String(decoding: pending[..<newline], as: UTF8.self).trimmingCharacters(in: .controlCharacters)
                    lines.withLock { $0.append(Line(text: text, arrival: Date())) }
                    pending = pending[(newline + 1)...]
                }
            }
        }
        reader.start()
        let errors = CollectedData()
        let errorReader = Thread { errors.data.withLock { $0 = stderr.fileHandleForReading.readDataToEndOfFile() } }
        errorReader.start()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("vmm boot did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        while !reader.isFinished || !errorReader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        return (process.terminationStatus, lines.withLock { $0 }, String(decoding: errors.data.withLock { $0 }, as: UTF8.self))
    }

    static func checkSession(kernel: String) throws {
        let initramfs = try Self.initramfs.get()
        print("LinuxBootTests: booting \(kernel) with \(vmm.isRelease ? "the release" : "the debug (slow)") vmm")
        let started = Date()
        let (status, lines, stderr) = try boot(
            ["boot", "--kernel", kernel, "--initrd", initramfs, "--backend", "software", "--stats", "--timeout", vmm.isRelease ? "120" : "900"],
            input: session, timeout: vmm.isRelease ? 150 : 960)
        print("LinuxBootTests: \(kernel) booted and powered off in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        let output = lines.map(\.text).joined(separator: "\n")
        func value(_ label: String) -> String? {
            lines.lazy.compactMap { line in line.text.range(of: label).map { String(line.text[$0.upperBound...]) } }.first
        }

        #expect(status == 0, "\(stderr)\n\(output.suffix(3000))")
        #expect(stderr.contains("vmm: guest powered off (ACPI S5) (exit status 0)"), "\(stderr)")
        #expect(!stderr.contains("invalid or unimplemented instructions"), "the guest met #UD: \(stderr)")
        #expect(output.contains("swift-vmm: /init started"))
        let release = URL(fileURLWithPath: LinuxBootScriptTests.cloudKernel!).lastPathComponent.replacingOccurrences(of: "vmlinuz-", with: "")
        #expect(value("kernel=") == release)
        #expect(value("sum=") == "42")
        let flags = Set((value("cpu-flags\t\t: ") ?? "").split(separator: " ").map(String.init))
        for flag in ["fpu", "tsc", "msr", "pae", "cx8", "apic", "sep", "cmov", "mmx", "fxsr", "sse", "sse2", "syscall", "nx", "lm", "hypervisor"] {
            #expect(flags.contains(flag), "/proc/cpuinfo lacks \(flag): \(flags.sorted())")
        }
        #expect(!output.contains("bad-dmesg: "), "\(lines.filter { $0.text.contains("bad-dmesg: ") }.map(\.text))")
        // The wall clock (kvmclock) and the CMOS RTC both read the host's time.
        let now = Date().timeIntervalSince1970
        let clocks = (value("clock=") ?? "").split(separator: " ")
        let guestClock = Double(clocks.first ?? "") ?? 0
        let rtc = Double(clocks.last?.replacingOccurrences(of: "rtc=", with: "") ?? "") ?? 0
        #expect(abs(guestClock - now) < 120, "date +%s read \(guestClock), the host \(now)")
        #expect(abs(rtc - now) < 120, "the RTC read \(rtc), the host \(now)")
        // `sleep 2` in the guest, measured by the host between the two lines' arrivals.
        // (A line may start with the shell's prompt.)
        if let begin = lines.first(where: { $0.text.hasSuffix("sleep-begin") }), let end = lines.first(where: { $0.text.hasSuffix("sleep-end") }) {
            let slept = end.arrival.timeIntervalSince(begin.arrival)
            #expect(slept >= 1.9 && slept < 8, "sleep 2 took \(slept) s of host time")
        } else {
            Issue.record("no sleep-begin/sleep-end lines in\n\(output.suffix(2000))")
        }
    }

    @Test(.enabled(if: kernelUnavailable == nil, Comment(rawValue: kernelUnavailable ?? "")))
    func theBzImageBootsToAShellThatRunsThePipedSession() throws {
        try Self.checkSession(kernel: LinuxBootScriptTests.cloudKernel!)
    }

    @Test(.enabled(if: kernelUnavailable == nil, Comment(rawValue: kernelUnavailable ?? "")))
    func theVmlinuxBootsThroughPVHToAShellThatRunsThePipedSession() throws {
        let vmlinux = try VMMProcess.temporaryFile([], name: "linux-boot-vmlinux")
        defer { try? FileManager.default.removeItem(atPath: vmlinux) }
        let extraction = try VMMProcess.run([LinuxBootScriptTests.cloudKernel!, "-o", vmlinux], program: LinuxBootScriptTests.vmlinux)
        try #require(extraction.status == 0, "\(extraction.stderr)")
        try Self.checkSession(kernel: vmlinux)
    }
}
