import ArgumentParser
import Boot
import Devices
import VMCore

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot a Linux kernel (a bzImage, or a vmlinux with the PVH entry) with an initramfs, console on the serial port.",
        discussion:
            "The kernel's command line is the default below, then --append. README, \"Booting Linux\", has the details.\n\nDefault command line: "
            + LinuxCommandLine.defaultCommandLine)

    @Option(help: ArgumentHelp("The kernel: a bzImage (vmlinuz) or an uncompressed vmlinux ELF with the PVH note.", valueName: "file"))
    var kernel: String

    @Option(help: ArgumentHelp("The initramfs (any format the kernel unpacks, e.g. gzip-compressed cpio).", valueName: "file"))
    var initrd: String?

    // Taken as given even when it begins with '-'.
    @Option(parsing: .unconditional, help: ArgumentHelp("More kernel command-line options, after the default ones.", valueName: "text"))
    var append: String?

    @Option(
        name: .customLong("cmdline"), parsing: .unconditional,
        help: ArgumentHelp("The whole kernel command line, instead of the default one (--append still adds to it).", valueName: "text"))
    var commandLine: String?

    @OptionGroup var machine: MachineOptions

    static let defaultMemory: UInt64 = 512 << 20

    func run() throws {
        var options = machine
        if options.memoryOption == nil { options.memoryOption = ByteSize(bytes: Self.defaultMemory) }
        // The console is interactive, as for `vmm run`.
        if options.serialInput == nil { options.serialInput = .stdin }
        let plan: BootPlan
        do {
            plan = try makePlan(memorySize: options.memory.bytes)
        } catch {
            throw ExitCode(Launcher.fail(error.message, status: error.status, options: options))
        }
        throw ExitCode(Launcher.launch(plan, options: options, watchesForKernelPanic: true))
    }

    private func makePlan(memorySize: UInt64) throws(CLIFailure) -> BootPlan {
        do {
            let kernelBytes = try ImageFile.read(kernel, what: "kernel", limit: memorySize)
            var boot = LinuxBootOptions(
                memorySize: memorySize, commandLine: LinuxCommandLine.join(commandLine ?? LinuxCommandLine.defaultCommandLine, append))
            if let initrd { boot.initrd = try ImageFile.read(initrd, what: "initrd", limit: memorySize) }
            // One vCPU; the FADT's sleep and reset registers are the power-control port.
            let tables = try ACPITables.build(
                ACPIConfiguration(cpuCount: 1, powerControlPort: ACPIPowerControl.port, resetValue: ACPIPowerControl.resetValue),
                at: LinuxBootLayout.acpiTables)
            boot.acpi = (rsdp: tables.rsdpAddress, writes: [tables.memoryWrite])
            return try LinuxLoader.plan(kernel: kernelBytes, options: boot)
        } catch let error as BootError {
            if case .commandLineTooLong = error { throw CLIFailure(error.description, status: 64) }
            throw CLIFailure(error.description, status: 65)
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure("\(error)", status: 70)
        }
    }
}
