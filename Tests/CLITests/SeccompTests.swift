import DemoGuests
import Foundation
import Testing

/// The seccomp filter the VMM installs once its machine is built (README, "Seccomp"), checked on
/// both backends: a forbidden call is refused with status 72 and its name, every guest and every
/// reporting path still works with the filter on, and `--no-seccomp` leaves it off.
#if VMM_SANITIZED
    /// scripts/sanitize's builds run without the filter (see MachineOptions.seccompAvailable).
    let seccompBuilt = false
#else
    let seccompBuilt = true
#endif

@Suite(.enabled(if: seccompBuilt, "a sanitizer build (VMM_SANITIZED) runs without the seccomp filter"))
struct SeccompTests {
    static let kvmSkipReason: Comment = "/dev/kvm is not usable here (missing, or no read/write access)"
    static let deniedStatus: Int32 = 72

    // MARK: a forbidden call is refused

    @Test(.enabled(if: kvmUsable, kvmSkipReason)) func aForbiddenCallIsRefusedOnKVM() throws {
        try expectForbiddenCallRefused(backend: "kvm")
    }

    @Test func aForbiddenCallIsRefusedOnTheSoftwareBackend() throws {
        try expectForbiddenCallRefused(backend: "software")
    }

    private func expectForbiddenCallRefused(backend: String) throws {
        let result = try VMMProcess.run(["demo", "hypercall", "--backend", backend, "--test-hook-make-forbidden-call"])
        #expect(result.status == Self.deniedStatus, "\(result.stderr)")
        #expect(result.stderr.contains("vmm: error: seccomp: system call 41 (socket) is not on the VMM's allow-list"))
        #expect(result.stderr.hasSuffix("(exit status 72)\n"))
        #expect(result.stdout.isEmpty, "the guest must not have run")
    }

    // MARK: --no-seccomp

    @Test func noSeccompLeavesTheFilterOff() throws {
        let result = try VMMProcess.run(["demo", "hypercall", "--backend", "software", "--no-seccomp", "--test-hook-make-forbidden-call"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "Hello through the swift-vmm hypercall ABI!\n")
        #expect(!result.stderr.contains("seccomp"))
    }

    // MARK: every thread is covered

    @Test(.enabled(if: kvmUsable, kvmSkipReason)) func everyThreadRunsUnderTheFilterOnKVM() throws {
        let modes = try seccompModesOfAllThreads(backend: "kvm", extra: [], until: 2)
        #expect(modes.count >= 2 && modes.allSatisfy { $0 == 2 }, "\(modes)")
    }

    @Test func everyThreadRunsUnderTheFilterOnTheSoftwareBackend() throws {
        let filtered = try seccompModesOfAllThreads(backend: "software", extra: [], until: 2)
        #expect(filtered == [2, 2])
        let unfiltered = try seccompModesOfAllThreads(backend: "software", extra: ["--no-seccomp"], until: 0)
        #expect(unfiltered == [0, 0])
    }

    /// The `Seccomp:` mode (0 off, 2 filter) of each thread of a vmm running a spinning guest,
    /// read from /proc until the vCPU thread, the watchdog and any other task of the process (KVM
    /// adds a kernel worker, kvm-nx-lpage-recovery) all show `mode`, or 20 s pass.
    private func seccompModesOfAllThreads(backend: String, extra: [String], until mode: Int) throws -> [Int] {
        let path = try VMMProcess.temporaryFile(GuestImages.spin, name: "spin-seccomp-\(backend).bin")
        let process = Process()
        process.standardInput = FileHandle.nullDevice  // never the developer's terminal
        process.executableURL = VMMProcess.executable
        // No serial input thread: it ends at stdin's EOF at its own pace, which would make the
        // count of threads a race.
        process.arguments = ["run", path, "--backend", backend, "--timeout", "30", "--serial-input", "none"] + extra
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let tasks = "/proc/\(process.processIdentifier)/task"
        let deadline = Date().addingTimeInterval(20)
        var modes: [Int] = []
        repeat {
            Thread.sleep(forTimeInterval: 0.01)
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
            modes = threads.compactMap { thread in
                let status = (try? String(contentsOfFile: "\(tasks)/\(thread)/status", encoding: .utf8)) ?? ""
                let line = status.split(separator: "\n").first { $0.hasPrefix("Seccomp:") }
                return line.flatMap { Int($0.dropFirst("Seccomp:".count).trimmingCharacters(in: .whitespaces)) }
            }
        } while !(modes.count >= 2 && modes.allSatisfy { $0 == mode }) && Date() < deadline
        return modes
    }

    // MARK: normal runs still work with the filter on

    @Test(.enabled(if: kvmUsable, kvmSkipReason)) func everyDemoRunsUnderTheFilterOnKVM() throws {
        try expectEveryDemoRuns(backend: "kvm")
    }

    @Test func everyDemoRunsUnderTheFilterOnTheSoftwareBackend() throws {
        try expectEveryDemoRuns(backend: "software")
    }

    /// All demos in one process (the filter that also allows building the next machine), then
    /// each alone (the strict filter) with --stats and --result.
    private func expectEveryDemoRuns(backend: String) throws {
        let all = try VMMProcess.run(["demo", "--backend", backend])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stderr.contains("all \(DemoGuest.all.count) demos stopped as expected"))
        for demo in DemoGuest.all {
            let resultPath = try VMMProcess.temporaryFile([], name: "seccomp-\(backend)-\(demo.name).json")
            let one = try VMMProcess.run(["demo", demo.name, "--backend", backend, "--stats", "--result", resultPath])
            #expect(one.status == demo.expectedStatus, "\(demo.name): \(one.stderr)")
            #expect(one.stdout == demo.expectedOutput, "\(demo.name)")
            #expect(one.stderr.contains("exits: "), "\(demo.name): --stats")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: resultPath))) as? [String: Any]
            #expect(json?["exit_status"] as? Int == Int(demo.expectedStatus), "\(demo.name): --result")
        }
    }

    @Test(.enabled(if: kvmUsable, kvmSkipReason)) func timeoutAndSignalsWorkUnderTheFilterOnKVM() throws {
        try expectTimeoutAndSignalsWork(backend: "kvm")
    }

    @Test func timeoutAndSignalsWorkUnderTheFilterOnTheSoftwareBackend() throws {
        try expectTimeoutAndSignalsWork(backend: "software")
    }

    private func expectTimeoutAndSignalsWork(backend: String) throws {
        let path = try VMMProcess.temporaryFile(GuestImages.spin, name: "spin-filtered-\(backend).bin")
        let resultPath = path + ".json"
        let timedOut = try VMMProcess.run(["run", path, "--backend", backend, "--timeout", "0.2", "--stats", "--result", resultPath], timeout: 20)
        #expect(timedOut.status == 124, "\(timedOut.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: resultPath))) as? [String: Any]
        #expect(json?["stop_reason"] as? String == "timeout")
        for signal in [SIGINT, SIGTERM] {
            let status = try statusAfterSignal(signal, image: path, backend: backend)
            #expect(status == 130, "signal \(signal)")
        }
    }

    /// Runs the spinning guest, sends `signal` once the run has begun, and returns the status.
    private func statusAfterSignal(_ signal: Int32, image: String, backend: String) throws -> Int32 {
        let process = Process()
        process.standardInput = FileHandle.nullDevice  // never the developer's terminal
        process.executableURL = VMMProcess.executable
        process.arguments = ["run", image, "--backend", backend, "--timeout", "30"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        var stderr = VMMProcess.readUntilBackendLine(errors)
        Thread.sleep(forTimeInterval: 0.2)  // past the filter's installation, into the run
        kill(process.processIdentifier, signal)
        stderr += errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(String(decoding: stderr, as: UTF8.self).contains("interrupted by a signal"))
        return process.terminationStatus
    }

    @Test(.enabled(if: kvmUsable, kvmSkipReason)) func verboseLoggingDuringTheRunWorksUnderTheFilterOnKVM() throws {
        try expectVerboseLoggingWorks(backend: "kvm")
    }

    @Test func verboseLoggingDuringTheRunWorksUnderTheFilterOnTheSoftwareBackend() throws {
        try expectVerboseLoggingWorks(backend: "software")
    }

    /// `-v` logs each unclaimed address as the guest touches it, that is under the filter.
    private func expectVerboseLoggingWorks(backend: String) throws {
        let path = try VMMProcess.temporaryFile(GuestImages.busProbe, name: "bus-probe-verbose-\(backend).bin")
        let result = try VMMProcess.run(["run", path, "-v", "--backend", backend])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("unclaimed MMIO write"))
    }

    // MARK: the result file is opened before the filter goes on

    @Test func aResultFileThatCannotBeCreatedFailsBeforeTheGuestRuns() throws {
        let image = try VMMProcess.temporaryFile(GuestImages.hypercall, name: "hypercall-no-result.bin")
        let result = try VMMProcess.run(["run", image, "--backend", "software", "--result", "/nonexistent/dir/result.json"])
        #expect(result.status == 73)
        #expect(result.stderr.contains("cannot write result file '/nonexistent/dir/result.json'"))
        #expect(result.stdout.isEmpty)
    }
}
