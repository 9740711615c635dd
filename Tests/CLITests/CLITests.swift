import DemoGuests
import Foundation
import Testing

/// Whether guests can run here; CLI tests that start a guest skip with the reason otherwise.
let kvmUsable = FileManager.default.isReadableFile(atPath: "/dev/kvm") && FileManager.default.isWritableFile(atPath: "/dev/kvm")

@Suite struct CLIErrorTests {
    @Test func runWithoutAnImageIsAUsageError() throws {
        let result = try VMMProcess.run(["run"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("give an IMAGE to run, or --firmware FILE"))
    }

    @Test func imageAndFirmwareTogetherIsAUsageError() throws {
        let result = try VMMProcess.run(["run", "a.bin", "--firmware", "b.rom"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("not both"))
    }

    @Test(arguments: [
        ["--memory", "0"], ["--memory", "4G"], ["--memory", "12x"], ["--memory", "4097"], ["--timeout", "-1"], ["--mode", "virtual86"],
        ["--load-address", "zz"],
    ])
    func badOptionValuesAreUsageErrors(option: [String]) throws {
        let result = try VMMProcess.run(["run", "image.bin"] + option)
        #expect(result.status == 64, "\(option): \(result.stderr)")
        #expect(!result.stderr.isEmpty)
    }

    @Test func aMissingImageIsNamed() throws {
        let result = try VMMProcess.run(["run", "/nonexistent/guest.bin"])
        #expect(result.status == 66)
        #expect(result.stderr.contains("cannot read image '/nonexistent/guest.bin': No such file or directory"))
    }

    @Test func aDirectoryIsNotAnImage() throws {
        let result = try VMMProcess.run(["run", "/"])
        #expect(result.status == 66)
    }

    @Test func aBadELFImageGetsTheLoadersMessage() throws {
        var elf = GuestImages.longELF
        elf[18] = 183  // e_machine: AArch64
        let path = try VMMProcess.temporaryFile(elf, name: "arm.elf")
        let result = try VMMProcess.run(["run", path])
        #expect(result.status == 65)
        #expect(result.stderr.contains("bad ELF image: machine 183 is not x86-64 (62)"))
    }

    @Test func anImageLargerThanMemoryIsRefusedBeforeReading() throws {
        let path = try VMMProcess.temporaryFile([UInt8](repeating: 0x90, count: (1 << 20) + 1), name: "big.bin")
        let result = try VMMProcess.run(["run", "--memory", "1M", path])
        #expect(result.status == 65)
        #expect(result.stderr.contains("raise --memory"))
    }

    @Test func anOversizedFirmwareIsRefused() throws {
        let path = try VMMProcess.temporaryFile([UInt8](repeating: 0, count: (256 << 10) + 16), name: "big.rom")
        let result = try VMMProcess.run(["run", "--firmware", path])
        #expect(result.status == 65)
        #expect(result.stderr.contains("256 KiB"))
    }

    @Test func aMissingKVMDeviceSaysWhatIsWrong() throws {
        let result = try VMMProcess.run(["demo", "long", "--backend", "kvm", "--kvm-device", "/nonexistent/kvm"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("/nonexistent/kvm does not exist"))
    }

    @Test func withoutKVMTheGuestRunsOnTheSoftwareBackend() throws {
        let result = try VMMProcess.run(["demo", "long", "--kvm-device", "/nonexistent/kvm"])
        #expect(result.status == 0)
        #expect(result.stdout == "Hello from 64-bit long mode!\n")
        #expect(result.stderr.hasPrefix("vmm: backend: software, because KVM is not usable: /nonexistent/kvm does not exist"))
    }

    @Test func anUnknownDemoListsTheDemos() throws {
        let result = try VMMProcess.run(["demo", "nope"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("no demo named 'nope'"))
    }
}

/// Guest runs through the CLI with the default backend (KVM here when it works, else software).
@Suite struct CLIGuestTests {
    let backendLine = kvmUsable ? "vmm: backend: kvm (/dev/kvm)\n" : ""

    @Test func demoRunsEveryBuiltInGuest() throws {
        let result = try VMMProcess.run(["demo"])
        #expect(result.status == 0, "\(result.stderr)")
        for demo in DemoGuest.all where !demo.expectedOutput.isEmpty { #expect(result.stdout.contains(demo.expectedOutput)) }
        #expect(result.stderr.contains("all \(DemoGuest.all.count) demos stopped as expected"))
    }

    @Test func runPrintsGuestOutputAndTheStopReason() throws {
        let path = try VMMProcess.temporaryFile(GuestImages.real, name: "real.bin")
        let result = try VMMProcess.run(["run", "--mode", "real", path])
        #expect(result.status == 0)
        #expect(result.stdout == "Hello from real mode!\n")
        #expect(result.stderr.hasSuffix("vmm: guest halted (HLT with interrupts disabled) (exit status 0)\n"))
        #expect(result.stderr.hasPrefix("vmm: backend: "))
        if kvmUsable { #expect(result.stderr == backendLine + "vmm: guest halted (HLT with interrupts disabled) (exit status 0)\n") }
    }

    @Test func aClosedStdoutDoesNotKillTheVMM() throws {
        let process = Process()
        process.standardInput = FileHandle.nullDevice  // never the developer's terminal
        process.executableURL = VMMProcess.executable
        process.arguments = ["demo", "hypercall"]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try output.fileHandleForReading.close()  // the reader is gone before the guest prints
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        #expect(stderr.contains("guest called the exit hypercall with status 0"))
    }

    @Test func multibootKernelGetsCommandLineAndModules() throws {
        let kernel = try VMMProcess.temporaryFile(GuestImages.multibootELF, name: "kernel.elf")
        let module = try VMMProcess.temporaryFile(Array("module text\n".utf8), name: "module.txt")
        let result = try VMMProcess.run(["run", kernel, "--cmdline", "root=/dev/vda", "--module", module])
        #expect(result.status == 0)
        // The command line begins with the kernel's name, as GRUB and QEMU pass it.
        #expect(result.stdout == "multiboot command line: \(kernel) root=/dev/vda\nfirst module: module text\n")
    }

    @Test func firmwareOptionStartsAtTheResetVector() throws {
        let rom = try VMMProcess.temporaryFile(GuestImages.firmware, name: "bios.rom")
        let result = try VMMProcess.run(["run", "--firmware", rom, "--stats"])
        #expect(result.status == 0)
        #expect(result.stdout == "Hello from the firmware ROM!\n")
        #expect(result.stderr.contains("post code: 0x02 (history: 0x01 0x02)"))
    }

    @Test func debugExitSetsTheProcessStatus() throws {
        let path = try VMMProcess.temporaryFile(GuestImages.debugExit, name: "debug-exit.bin")
        let result = try VMMProcess.run(["run", path])
        #expect(result.status == 67)
        #expect(result.stderr.contains("guest wrote 0x21 to the debug-exit port"))
    }

    @Test func tripleFaultPrintsTheRegisters() throws {
        let path = try VMMProcess.temporaryFile(GuestImages.tripleFault, name: "triple-fault.bin")
        let result = try VMMProcess.run(["run", "--mode", "protected", path])
        #expect(result.status == 121)
        #expect(result.stderr.contains("guest shut down (triple fault)"))
        #expect(result.stderr.contains("rip   =0x"))
        #expect(result.stderr.contains("cr0=0x00000011"))
    }

    @Test func timeoutEndsASpinningGuestWith124() throws {
        let path = try VMMProcess.temporaryFile(GuestImages.spin, name: "spin.bin")
        let result = try VMMProcess.run(["run", "--timeout", "0.2", path], timeout: 20)
        #expect(result.status == 124)
        #expect(result.stderr.contains("timeout reached"))
    }

    @Test func sigintStopsTheGuestAndReportsIt() throws {
        let path = try VMMProcess.temporaryFile(GuestImages.spin, name: "spin-int.bin")
        let process = Process()
        process.standardInput = FileHandle.nullDevice  // never the developer's terminal
        process.executableURL = VMMProcess.executable
        process.arguments = ["run", path, "--timeout", "30"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        // Signal only once the machine is built (its backend line is out), however slow the start.
        var stderr = VMMProcess.readUntilBackendLine(errors)
        kill(process.processIdentifier, SIGINT)
        stderr += errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 130)
        #expect(String(decoding: stderr, as: UTF8.self).contains("interrupted by a signal"))
    }

    @Test func resultFileIsJSONWithTheStopAndCounts() throws {
        let image = try VMMProcess.temporaryFile(GuestImages.hypercall, name: "hypercall.bin")
        let resultPath = image + ".json"
        let result = try VMMProcess.run(["run", image, "--result", resultPath])
        #expect(result.status == 0)
        let data = try Data(contentsOf: URL(fileURLWithPath: resultPath))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(json["stop_reason"] as? String == "exit-hypercall")
        #expect(json["exit_status"] as? Int == 0)
        #expect(json["backend"] as? String == (kvmUsable ? "kvm" : "software"))
        let exits = try #require(json["exits"] as? [String: Any])
        #expect(exits["hypercall"] as? Int == 5)
        let timings = try #require(json["timings_ns"] as? [String: Any])
        #expect((timings["run"] as? Int ?? 0) > 0)
        let hypercalls = try #require(json["hypercalls"] as? [[String: Any]])
        #expect(hypercalls.map { $0["number"] as? Int } == [0, 1, 2, 3])
    }

    @Test func statsShowExitsByDevice() throws {
        let path = try VMMProcess.temporaryFile(GuestImages.busProbe, name: "bus-probe.bin")
        let result = try VMMProcess.run(["run", "--stats", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("unclaimed io: 4 (0x1234 x4)"))
        #expect(result.stderr.contains("unclaimed mmio: 2 (0xd0000000 x2)"))
        #expect(result.stderr.contains("exits: 7 total"))
    }
}

@Suite struct GuestSourcesTests {
    static let toolchainPresent = ["/usr/bin/as", "/usr/bin/ld", "/usr/bin/objcopy", "/usr/bin/python3"].allSatisfy {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(.enabled(if: toolchainPresent, "binutils or python3 missing: cannot reassemble Guests/ to compare"))
    func embeddedGuestImagesMatchTheirSources() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.standardInput = FileHandle.nullDevice  // never the developer's terminal
        process.executableURL = root.appendingPathComponent("scripts/build-guests")
        process.arguments = ["--check"]
        process.currentDirectoryURL = root
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "run scripts/build-guests: the embedded images differ from Guests/*.S")
    }
}

/// Running as an unprivileged user: the KVM permission error and how to fix it.
@Suite struct PermissionTests {
    static let setpriv = "/usr/bin/setpriv"
    static let asNobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]

    /// Why the test cannot run here, or nil.
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "not running as root, so cannot switch to an unprivileged user" }
        guard FileManager.default.isExecutableFile(atPath: setpriv) else { return "setpriv is not installed" }
        guard FileManager.default.fileExists(atPath: "/dev/kvm") else { return "/dev/kvm does not exist" }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: setpriv)
        probe.arguments = Array(asNobody.dropFirst()) + ["/usr/bin/test", "-x", VMMProcess.executable.path]
        guard (try? probe.run()) != nil else { return "setpriv did not start" }
        probe.waitUntilExit()
        return probe.terminationStatus == 0 ? nil : "the built vmm is not executable by user nobody in this checkout"
    }()

    @Test(.enabled(if: unavailableReason == nil, Comment(rawValue: unavailableReason ?? "")))
    func kvmPermissionDeniedSaysHowToFixIt() throws {
        let process = Process()
        process.standardInput = FileHandle.nullDevice  // never the developer's terminal
        process.executableURL = URL(fileURLWithPath: Self.setpriv)
        process.arguments = Array(Self.asNobody.dropFirst()) + [VMMProcess.executable.path, "demo", "long", "--backend", "kvm"]
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 69)
        #expect(stderr.contains("permission denied opening /dev/kvm: run as root or add your user to the 'kvm' group"))
    }
}
