import ArgumentParser
import Boot
import Devices
import Machine
import VMCore

/// `vmm bench`: the VMM's side of scripts/bench, measured through the same code paths as `vmm run`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure exit round trips or VM creation on this host (used by scripts/bench).",
        discussion:
            "exits: run IMAGE to HLT and print nanoseconds per exit. create: build a VM and run IMAGE to its first HLT, ITERATIONS times, and print nanoseconds per VM. IMAGE is a flat protected-mode binary."
    )

    enum Measurement: String, ExpressibleByArgument { case exits, create }

    @Argument(help: "exits or create")
    var measurement: Measurement

    @Argument(help: ArgumentHelp("A flat 32-bit protected-mode guest, loaded at 0x100000.", valueName: "image"))
    var image: String

    @Option(parsing: .unconditional, help: "How many VMs to create, 1 to 1000000 (create only).")
    var iterations = 100

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        try checkRange("--iterations", iterations, in: 1...1_000_000)
    }

    func run() throws {
        let plan: BootPlan
        do {
            var options = LoadOptions(memorySize: machine.memory.bytes)
            options.mode = .protected
            plan = try ImageLoader.plan(image: ImageFile.read(image, what: "image", limit: machine.memory.bytes), options: options)
        } catch let failure as CLIFailure {
            printError(failure.message)
            throw ExitCode(failure.status)
        } catch {
            printError("\(error)")
            throw ExitCode(65)
        }
        var configuration = machine.configuration
        configuration.console = FileDescriptorConsole(fd: 2)
        // create builds a machine per iteration, so its filter must also allow building them.
        if measurement == .create && configuration.seccomp != .off { configuration.seccomp = .thisAndLaterMachines }
        do {
            switch measurement {
            case .exits:
                let report = try Machine(plan: plan, configuration: configuration).run()
                let exits = report.statistics.totalExits
                printToStdout("exits=\(exits) ns_per_exit=\(Double(report.runNanoseconds) / Double(max(exits, 1)))")
            case .create:
                let start = monotonicNanoseconds()
                for _ in 0..<iterations {
                    _ = try Machine(plan: plan, configuration: configuration).run()
                }
                printToStdout("iterations=\(iterations) ns_per_vm=\(Double(monotonicNanoseconds() - start) / Double(iterations))")
            }
        } catch {
            printError(error.description)
            throw ExitCode(error.exitStatus)
        }
    }
}
