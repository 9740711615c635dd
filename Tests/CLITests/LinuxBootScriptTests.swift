import Foundation
import Testing

/// scripts/make-initramfs and scripts/vmlinux, which make the files for booting Debian's cloud
/// kernel, run as a user runs them, on the Debian packages they build from (skipped, with the
/// reason, where those are not installed).
@Suite struct LinuxBootScriptTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let makeInitramfs = root.appendingPathComponent("scripts/make-initramfs")
    static let vmlinux = root.appendingPathComponent("scripts/vmlinux")

    /// Why make-initramfs cannot run here, or nil.
    static let initramfsUnavailable: String? = {
        let files = FileManager.default
        guard files.isExecutableFile(atPath: "/usr/bin/python3") else { return "python3 is not installed" }
        // dpkg's file list: /bin/busybox alone may be the dynamically linked busybox package.
        guard files.fileExists(atPath: "/var/lib/dpkg/info/busybox-static.list") else { return "busybox-static is not installed" }
        guard files.isExecutableFile(atPath: "/usr/bin/cpio") else { return "cpio is not installed" }
        return nil
    }()

    /// The newest installed cloud kernel's bzImage, or nil.
    static let cloudKernel: String? = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/boot")) ?? []
        return names.filter { $0.hasPrefix("vmlinuz-") && $0.hasSuffix("-cloud-amd64") }.sorted().last.map { "/boot/" + $0 }
    }()

    static let python3Present = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    static let vmlinuxUnavailable: String? = {
        guard python3Present else { return "python3 is not installed" }
        return cloudKernel == nil ? "no /boot/vmlinuz-*-cloud-amd64 (the Debian package linux-image-cloud-amd64)" : nil
    }()

    /// The newest cloud kernel's module version, or nil.
    static let cloudModules: String? = ((try? FileManager.default.contentsOfDirectory(atPath: "/lib/modules")) ?? []).filter {
        $0.hasSuffix("-cloud-amd64") && FileManager.default.fileExists(atPath: "/lib/modules/\($0)/modules.dep")
    }.sorted().last

    static let modulesUnavailable: String? =
        initramfsUnavailable ?? (cloudModules == nil ? "no /lib/modules/*-cloud-amd64/modules.dep (linux-image-cloud-amd64)" : nil)

    /// Runs `command` through sh with `arguments` as $1...: for the pipes between the tools.
    static func shell(_ command: String, _ arguments: String...) throws -> VMMResult {
        try VMMProcess.run(["-c", command, "sh"] + arguments, program: URL(fileURLWithPath: "/bin/sh"))
    }

    @Test(.enabled(if: initramfsUnavailable == nil, Comment(rawValue: initramfsUnavailable ?? "")))
    func makeInitramfsWritesAGzippedNewcArchiveWithInitBusyboxAndTheAddedFiles() throws {
        let added = try VMMProcess.temporaryFile(Array("added by the test\n".utf8), name: "added.txt")
        let script = try VMMProcess.temporaryFile(Array("echo from the run script\n".utf8), name: "run.sh")
        let output = try VMMProcess.temporaryFile([], name: "initramfs.cpio.gz")
        let result = try VMMProcess.run(
            ["-o", output, "--add", "\(added):/etc/added.txt", "--add", "\(added):/opt/", "--run", script], program: Self.makeInitramfs)
        #expect(result.status == 0, "\(result.stderr)")

        let listing = try Self.shell("gzip -dc \"$1\" | cpio -t --quiet", output)
        #expect(listing.status == 0, "\(listing.stderr)")
        let names = Set(listing.stdout.split(separator: "\n").map(String.init))
        for name in [
            "init", "bin/busybox", "bin/sh", "sbin/poweroff", "bin/cttyhack", "dev/console", "etc/added.txt", "opt/added.txt", "etc/swift-vmm/run",
        ] {
            #expect(names.contains(name), "\(name) is missing from the archive")
        }
        let verbose = try Self.shell("gzip -dc \"$1\" | cpio -tv --quiet", output)
        #expect(verbose.stdout.split(separator: "\n").allSatisfy { $0.contains(" root     root ") }, "every file is owned by 0:0")

        let initScript = try Self.shell("gzip -dc \"$1\" | cpio -i --quiet --to-stdout init", output)
        let commands = initScript.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(commands.first == "echo \"swift-vmm: /init started\"", "the marker is the first thing /init does: \(initScript.stdout)")
        #expect(initScript.stdout.contains("setsid cttyhack sh /etc/swift-vmm/run"))
        #expect(commands.last == "exec poweroff -f")
    }

    @Test(.enabled(if: modulesUnavailable == nil, Comment(rawValue: modulesUnavailable ?? "")))
    func makeInitramfsCopiesAModuleWithItsDependencies() throws {
        let version = Self.cloudModules!
        let output = try VMMProcess.temporaryFile([], name: "modules.cpio")
        let result = try VMMProcess.run(
            ["-o", output, "--compress", "none", "--module", "virtio_blk", "--kernel-version", version], program: Self.makeInitramfs)
        #expect(result.status == 0, "\(result.stderr)")
        let listing = try Self.shell("cpio -t --quiet <\"$1\"", output)
        for module in ["virtio_ring", "virtio", "virtio_blk"] {
            #expect(listing.stdout.contains("/\(module).ko\n"), "\(module).ko is missing: \(listing.stdout.suffix(400))")
        }
        let order = try Self.shell("cpio -i --quiet --to-stdout etc/swift-vmm/modules <\"$1\"", output)
        #expect(order.stdout.split(separator: "\n").last?.hasSuffix("/virtio_blk.ko") == true, "dependencies load first: \(order.stdout)")
    }

    @Test(.enabled(if: python3Present, "python3 is not installed"))
    func makeInitramfsNamesTheMissingPackage() throws {
        let result = try VMMProcess.run(["-o", "/nonexistent/out", "--busybox", "/nonexistent/busybox"], program: Self.makeInitramfs)
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent/busybox not found: install the Debian package busybox-static"))
    }

    @Test(.enabled(if: vmlinuxUnavailable == nil, Comment(rawValue: vmlinuxUnavailable ?? "")))
    func vmlinuxExtractsAnELFWithThePVHEntry() throws {
        let output = try VMMProcess.temporaryFile([], name: "vmlinux")
        defer { try? FileManager.default.removeItem(atPath: output) }  // about 50 MiB
        let result = try VMMProcess.run([Self.cloudKernel!, "-o", output], program: Self.vmlinux)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ELF64 x86-64"), "\(result.stdout)")
        #expect(result.stdout.contains("PVH entry 0x"), "\(result.stdout)")
        let header = try FileHandle(forReadingFrom: URL(fileURLWithPath: output)).read(upToCount: 4)
        #expect(header == Data([0x7F, 0x45, 0x4C, 0x46]))
    }

    @Test(.enabled(if: python3Present, "python3 is not installed"))
    func vmlinuxRefusesAFileThatIsNotABzImage() throws {
        let path = try VMMProcess.temporaryFile([UInt8](repeating: 0x90, count: 4096), name: "not-a-bzimage")
        let result = try VMMProcess.run([path, "-o", path + ".out"], program: Self.vmlinux)
        #expect(result.status == 1)
        #expect(result.stderr.contains("is not a bzImage"))
        #expect(!FileManager.default.fileExists(atPath: path + ".out"))
    }
}
