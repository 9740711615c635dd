import ArgumentParser
import Boot
import DemoGuests
import Machine
import VMCore

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run built-in guests: all of them in turn, or the one named.",
        discussion: "Demos: " + DemoGuest.all.map(\.name).joined(separator: ", "))

    @Argument(help: ArgumentHelp("The demo to run (default: all, each checked against its expected status).", valueName: "name"))
    var name: String?

    @Flag(help: "List the demos and exit.")
    var list = false

    @OptionGroup var machine: MachineOptions

    func validate() throws {
        if let name, DemoGuest.named(name) == nil {
            throw ValidationError("no demo named '\(name)'; the demos are " + DemoGuest.all.map(\.name).joined(separator: ", "))
        }
    }

    func run() throws {
        if list {
            for demo in DemoGuest.all { print("\(demo.name.padded(12)) \(demo.summary)") }
            return
        }
        if let name, let demo = DemoGuest.named(name) {
            throw ExitCode(try runDemo(demo, moreMachinesFollow: false))
        }
        // All demos: each prints its output; the command fails if any stops unexpectedly.
        var failures: [String] = []
        for demo in DemoGuest.all {
            printToStderr("== demo \(demo.name): \(demo.summary)")
            let status = try runDemo(demo, moreMachinesFollow: demo.name != DemoGuest.all.last?.name)
            // Ctrl-C (or SIGTERM) stops the whole demo run, not only the guest it landed in.
            if status == ExitStatus.interrupted && demo.expectedStatus != ExitStatus.interrupted {
                printToStderr("vmm: demos after \(demo.name) not run")
                throw ExitCode(status)
            }
            if status != demo.expectedStatus { failures.append("\(demo.name) (status \(status), expected \(demo.expectedStatus))") }
        }
        if failures.isEmpty {
            printToStderr("vmm: all \(DemoGuest.all.count) demos stopped as expected")
        } else {
            printError("demos that did not stop as expected: " + failures.joined(separator: ", "))
            throw ExitCode(1)
        }
    }

    private func runDemo(_ demo: DemoGuest, moreMachinesFollow: Bool) throws -> Int32 {
        let plan: BootPlan
        do {
            plan = try demo.plan(memorySize: machine.memory.bytes)
        } catch {
            throw ExitCode(Launcher.fail(error.description, status: 65, options: machine))
        }
        return Launcher.launch(plan, options: machine, moreMachinesFollow: moreMachinesFollow)
    }
}
