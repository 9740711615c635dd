import Boot
import Logging
import Machine
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a machine for a plan, runs it, and reports the stop the way README documents.
enum Launcher {
    /// Returns the process status: the guest's, or the VMM's failure status.
    static func launch(_ plan: BootPlan, options: MachineOptions) -> Int32 {
        LoggingSetup.bootstrapOnce()
        // A closed stdout (`vmm run ... | head -1`) must not kill the VMM: console writes then
        // fail with EPIPE and the console drops the bytes, and the run ends with its own status.
        signal(SIGPIPE, SIG_IGN)
        var logger = Logger(label: "vmm")
        logger.logLevel = options.verbose ? .debug : .warning
        logger.debug("loading \(plan.summary)")
        let report: RunReport
        do {
            let machine = try Machine(plan: plan, configuration: options.configuration, logger: logger)
            printToStderr("vmm: " + machine.backendReason)
            report = try machine.run()
        } catch {
            printError(error.description)
            return error.exitStatus
        }
        printToStderr(report.stopLine)
        if !report.stopReason.isNormal { printToStderr(report.registerDump) }
        if options.stats { printToStderr(report.statisticsText) }
        if let path = options.result {
            do {
                try writeFile(path, contents: report.json.serialized() + "\n")
            } catch {
                printError("cannot write result file '\(path)': \(error)")
                return 73  // EX_CANTCREAT
            }
        }
        return report.exitStatus
    }

    static func writeFile(_ path: String, contents: String) throws {
        let fd = try FileDescriptor.open(
            FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        defer { try? fd.close() }
        _ = try fd.writeAll(contents.utf8)
    }
}

func printToStderr(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { buffer in _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count) }
}

func printError(_ message: String) {
    printToStderr("vmm: error: \(message)")
}

/// Diagnostics go to stderr; stdout belongs to the guest's console.
enum LoggingSetup {
    private static let bootstrapped: Bool = {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        return true
    }()
    static func bootstrapOnce() { _ = bootstrapped }
}
