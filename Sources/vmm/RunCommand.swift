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

    @Option(help: ArgumentHelp("CPU mode for flat binaries: real, protected or long.", valueName: "mode"))
    var mode: CPUMode = .long

    @Option(
        name: .customLong("load-address"),
        help: ArgumentHelp("Where a flat binary is loaded (default 0x7C00 in real mode, else 0x100000).", valueName: "address"))
    var loadAddress: Number?

    @Option(help: ArgumentHelp("Entry point of a flat binary (default: the load address).", valueName: "address"))
    var entry: Number?

    @Option(help: ArgumentHelp("Command line passed to a multiboot kernel.", valueName: "text"))
    var cmdline = ""

    @Option(name: .customLong("module"), help: ArgumentHelp("A multiboot module; repeat for more.", valueName: "file"))
    var modules: [String] = []

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        switch (image, firmware) {
        case (nil, nil): throw ValidationError("give an IMAGE to run, or --firmware FILE")
        case (.some, .some): throw ValidationError("give either an IMAGE or --firmware, not both")
        default: break
        }
    }

    func run() throws {
        let plan: BootPlan
        do {
            plan = try makePlan()
        } catch {
            printError(error.message)
            throw ExitCode(error.status)
        }
        throw ExitCode(Launcher.launch(plan, options: machine))
    }

    private func makePlan() throws(CLIFailure) -> BootPlan {
        let memorySize = machine.memory.bytes
        do {
            if let firmware {
                return try ImageLoader.planFirmware(ImageFile.read(firmware, what: "firmware", limit: GuestMemory.maximumROMSize))
            }
            var options = LoadOptions(memorySize: memorySize)
            options.mode = mode
            options.loadAddress = loadAddress?.value
            options.entry = entry?.value
            options.commandLine = cmdline
            for path in modules {
                options.modules.append((name: path, bytes: try ImageFile.read(path, what: "module", limit: memorySize)))
            }
            return try ImageLoader.plan(image: ImageFile.read(image!, what: "image", limit: memorySize), options: options)
        } catch let error as BootError {
            throw CLIFailure(error.description, status: 65)
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure("\(error)", status: 70)
        }
    }
}

extension CPUMode: ExpressibleByArgument {}
