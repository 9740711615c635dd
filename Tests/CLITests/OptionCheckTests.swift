import DemoGuests
import Foundation
import TestSupport
import Testing

/// Every numeric option has its range checked with a message and status 64, values may begin
/// with '-', and an option that cannot apply to the image is an error rather than ignored.
@Suite struct OptionCheckTests {
    @Test(arguments: [
        (["check-cpu", "--seconds=-1"], "--seconds must be more than 0 and at most 10000000 (got -1.0)"),
        (["check-cpu", "--seconds", "1e20"], "--seconds must be more than 0"),
        (["check-cpu", "--seconds", "nan"], "--seconds must be more than 0"),
        (["check-cpu", "--seconds", "inf"], "--seconds must be more than 0"),
        (["check-cpu", "--count=-1"], "--count must be between 1 and 1000000000 (got -1)"),
        (["check-cpu", "--count", "0"], "--count must be between 1 and 1000000000 (got 0)"),
        (["check-cpu", "--length=-1"], "--length must be between 1 and 1000 (got -1)"),
        (["check-cpu", "--length", "100000"], "--length must be between 1 and 1000 (got 100000)"),
        (["check-cpu", "--seed", "-1"], "The value '-1' is invalid for '--seed <seed>'"),
        (["bench", "create", "image.bin", "--iterations=-1"], "--iterations must be between 1 and 1000000 (got -1)"),
        (["bench", "create", "image.bin", "--iterations", "0"], "--iterations must be between 1 and 1000000 (got 0)"),
        (["run", "image.bin", "--timeout", "1e10"], "--timeout must be more than 0 and at most 1000000000 seconds"),
        (["run", "image.bin", "--timeout", "-1"], "--timeout must be more than 0"),
        (["run", "image.bin", "--timeout", "nan"], "--timeout must be more than 0"),
        (["demo", "--timeout", "0"], "--timeout must be more than 0"),
        (["run", "image.bin", "--memory", "-1"], "The value '-1' is invalid for '--memory <size>'"),
        (["run", "image.bin", "--load-address", "-5"], "The value '-5' is invalid for '--load-address <address>'"),
        (["run", "--bogus"], "Unknown option '--bogus'"),
        (["demo", "--bogus"], "Unknown option '--bogus'"),
        (["run", "image.bin", "--deterministic", "--backend", "kvm"], "--deterministic needs the software backend"),
    ])
    func badNumbersAndUnknownOptionsAreNamedUsageErrors(arguments: [String], message: String) throws {
        let result = try VMMProcess.run(arguments)
        #expect(result.status == 64, "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }

    @Test func aCommandLineMayBeginWithADash() throws {
        let kernel = try VMMProcess.temporaryFile(GuestImages.multibootELF, name: "dash-kernel.elf")
        let module = try VMMProcess.temporaryFile(Array("m\n".utf8), name: "dash-module.txt")
        let result = try VMMProcess.run(["run", kernel, "--cmdline", "-v --quiet", "--module", module])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("multiboot command line: \(kernel) -v --quiet\n"))
    }

    @Test(arguments: [
        ("elf", ["--cmdline", "x"], "--cmdline and --module apply only to multiboot kernels"),
        ("elf", ["--module", "/dev/null"], "--cmdline and --module apply only to multiboot kernels"),
        ("elf", ["--mode", "real"], "--mode cannot apply to an ELF executable"),
        ("elf", ["--load-address", "0x200000", "--entry", "0x200000"], "--load-address and --entry cannot apply to an ELF executable"),
        ("multiboot", ["--entry", "0x100000"], "--entry cannot apply to a multiboot kernel"),
        ("multiboot", ["--mode", "long"], "--mode cannot apply to a multiboot kernel"),
        ("flat", ["--cmdline", "x"], "--cmdline cannot apply to a flat binary"),
        ("flat", ["--module", "/dev/null"], "--module cannot apply to a flat binary"),
        ("firmware", ["--mode", "real"], "--mode cannot apply to a firmware ROM"),
        ("firmware", ["--cmdline", "x"], "--cmdline cannot apply to a firmware ROM"),
    ])
    func anOptionThatCannotApplyIsAnError(kind: String, options: [String], message: String) throws {
        let images = ["elf": GuestImages.longELF, "multiboot": GuestImages.multibootELF, "flat": GuestImages.real, "firmware": GuestImages.firmware]
        // One file per case: the cases run in parallel.
        let name = "applies-\(kind)-" + options.joined(separator: "_").replacingOccurrences(of: "/", with: "") + ".bin"
        let path = try VMMProcess.temporaryFile(images[kind]!, name: name)
        let result = try VMMProcess.run(["run"] + (kind == "firmware" ? ["--firmware", path] : [path]) + options)
        #expect(result.status == 64, "\(kind) \(options): \(result.stderr)")
        #expect(result.stderr.contains(message), "\(kind) \(options): \(result.stderr)")
    }

    /// An ELF kernel whose multiboot header lies past the first 8 KiB, where loaders look.
    static let lateHeaderKernel: [UInt8] = {
        var image = GuestImages.longELF
        while image.count < 8192 || image.count % 4 != 0 { image.append(0) }
        return image + multibootHeader(flags: 0x3)
    }()

    @Test func aMultibootHeaderPastEightKiBIsReported() throws {
        let path = try VMMProcess.temporaryFile(Self.lateHeaderKernel, name: "late-header.elf")
        let refused = try VMMProcess.run(["run", path, "--cmdline", "console=ttyS0"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("beyond the first 8 KiB where loaders look"), "\(refused.stderr)")
        let warned = try VMMProcess.run(["run", path])
        #expect(warned.stderr.hasPrefix("vmm: warning: '\(path)' has a multiboot header at offset"), "\(warned.stderr)")
        #expect(warned.stderr.contains("it runs as a plain ELF executable"))
    }
}
