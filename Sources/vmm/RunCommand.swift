import ArgumentParser
import Boot
import VMCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Load an image (ELF, multiboot or flat binary) or firmware ROM and run it on one vCPU.")

    @Argument(help: ArgumentHelp("The guest image; its format is detected from its content.", valueName: "image"))
    var image: String?

    @Option(help: ArgumentHelp("A PC firmware ROM (up to 256 KiB) started at F000:FFF0, instead of an image.", valueName: "file"))
    var firmware: String?

    @Option(help: ArgumentHelp("CPU mode for flat binaries: real, protected or long (default long).", valueName: "mode"))
    var mode: CPUMode?

    @Option(
        name: .customLong("load-address"), parsing: .unconditional,
        help: ArgumentHelp("Where a flat binary is loaded (default 0x7C00 in real mode, else 0x100000).", valueName: "address"))
    var loadAddress: Number?

    @Option(parsing: .unconditional, help: ArgumentHelp("Entry point of a flat binary (default: the load address).", valueName: "address"))
    var entry: Number?

    // Taken as given even when it begins with '-': kernel command lines often do.
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Command line passed to a multiboot kernel, after the kernel's name (as GRUB and QEMU do).", valueName: "text"))
    var cmdline: String?

    @Option(name: .customLong("module"), help: ArgumentHelp("A multiboot module; repeat for more.", valueName: "file"))
    var modules: [String] = []

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        // A missing IMAGE is checked in run(): a validation error here would hide an unknown
        // option (`vmm run --bogus` must name --bogus).
        if image != nil && firmware != nil { throw ValidationError("give either an IMAGE or --firmware, not both") }
    }

    func run() throws {
        guard image != nil || firmware != nil else { throw ValidationError("give an IMAGE to run, or --firmware FILE") }
        let plan: BootPlan
        do {
            plan = try makePlan()
        } catch {
            throw ExitCode(Launcher.fail(error.message, status: error.status, options: machine))
        }
        // `vmm run` is the interactive command: its serial console reads stdin unless told not to.
        var options = machine
        if options.serialInput == nil { options.serialInput = .stdin }
        throw ExitCode(Launcher.launch(plan, options: options))
    }

    private func makePlan() throws(CLIFailure) -> BootPlan {
        let memorySize = machine.memory.bytes
        do {
            if let firmware {
                try refuseOptions(
                    ["--mode", "--load-address", "--entry", "--cmdline", "--module"], for: "a firmware ROM (it starts at the reset vector)")
                return try ImageLoader.planFirmware(ImageFile.read(firmware, what: "firmware", limit: GuestMemory.maximumROMSize))
            }
            let bytes = try ImageFile.read(image!, what: "image", limit: memorySize)
            if let kind = Self.linuxKernelKind(bytes) {
                throw CLIFailure(
                    "'\(image!)' is a Linux kernel (\(kind)), not a multiboot image: boot it with `vmm boot --kernel \(image!) [--initrd FILE]`",
                    status: 64)
            }
            let format = try ImageLoader.detectFormat(bytes)
            switch format {
            case .multiboot:
                try refuseOptions(["--mode", "--load-address", "--entry"], for: "a multiboot kernel (its header sets where it loads and starts)")
            case .elf32, .elf64:
                try refuseOptions(["--mode", "--load-address", "--entry"], for: "an ELF executable (its headers set where it loads and starts)")
                if cmdline != nil || !modules.isEmpty {
                    var message = "--cmdline and --module apply only to multiboot kernels, and '\(image!)' is a plain ELF executable"
                    if let offset = MultibootHeader.offsetBeyondSearchLimit(in: bytes) {
                        message +=
                            "; its multiboot header is at offset \(hex(offset)), beyond the first 8 KiB where loaders look (link it nearer the start)"
                    }
                    throw CLIFailure(message, status: 64)
                }
            case .flat:
                try refuseOptions(["--cmdline", "--module"], for: "a flat binary (only multiboot kernels get a command line and modules)")
            }
            if format != .multiboot, let offset = MultibootHeader.offsetBeyondSearchLimit(in: bytes) {
                Launcher.warn(
                    "'\(image!)' has a multiboot header at offset \(hex(offset)), beyond the first 8 KiB where loaders look: it runs as \(format == .flat ? "a flat binary" : "a plain ELF executable")"
                )
            }
            var options = LoadOptions(memorySize: memorySize)
            options.mode = mode ?? .long
            options.loadAddress = loadAddress?.value
            options.entry = entry?.value
            options.kernelName = image!
            options.commandLine = cmdline ?? ""
            for path in modules {
                options.modules.append((name: path, bytes: try ImageFile.read(path, what: "module", limit: memorySize)))
            }
            return try ImageLoader.plan(image: bytes, options: options)
        } catch let error as BootError {
            throw CLIFailure(error.description, status: 65)
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure("\(error)", status: 70)
        }
    }

    /// "bzImage" or "vmlinux" when the image is a Linux kernel, which `vmm boot` loads.
    static func linuxKernelKind(_ bytes: [UInt8]) -> String? {
        switch try? LinuxLoader.detectFormat(bytes) {
        case .bzImage: return "a bzImage"
        case .pvh: return "a vmlinux with the PVH entry"
        case nil: return nil
        }
    }

    /// An option that cannot apply to the image is an error, not a silent run (status 64).
    private func refuseOptions(_ names: [String], for what: String) throws(CLIFailure) {
        let given: [String: Bool] = [
            "--mode": mode != nil, "--load-address": loadAddress != nil, "--entry": entry != nil, "--cmdline": cmdline != nil,
            "--module": !modules.isEmpty,
        ]
        let offending = names.filter { given[$0] == true }
        guard offending.isEmpty else {
            throw CLIFailure("\(offending.joined(separator: " and ")) cannot apply to \(what)", status: 64)
        }
    }
}

extension CPUMode: ExpressibleByArgument {}
