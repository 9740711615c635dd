import ArgumentParser

@main
struct VMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmm",
        abstract: "A virtual machine monitor for minimal x86 guests on KVM.",
        discussion: "Run `vmm demo` to see built-in guests, `vmm run IMAGE` to run your own. README documents the guest contract and exit statuses.",
        subcommands: [RunCommand.self, BootCommand.self, DemoCommand.self, BenchCommand.self, CheckCPUCommand.self])
}

/// Ends the process with the guest's or the VMM's status (ArgumentParser's ExitCode keeps
/// statuses above 1 intact).
func exit(status: Int32) -> ExitCode { ExitCode(status) }
