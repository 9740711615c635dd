import Boot
import Devices
import Logging
import Machine
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a machine for a plan, runs it, and reports the stop the way README documents.
enum Launcher {
    /// `watchesForKernelPanic` (vmm boot) reports a Linux panic as such.
    /// Returns the process status: the guest's, or the VMM's failure status. `moreMachinesFollow`
    /// says that this process builds further machines after this one (`vmm demo` running them
    /// all), so the seccomp filter must also allow building them.
    static func launch(_ plan: BootPlan, options: MachineOptions, moreMachinesFollow: Bool = false, watchesForKernelPanic: Bool = false) -> Int32 {
        LoggingSetup.bootstrapOnce()
        // A closed stdout (`vmm run ... | head -1`) must not kill the VMM: console writes then
        // fail with EPIPE and the console drops the bytes, and the run ends with its own status.
        signal(SIGPIPE, SIG_IGN)
        var logger = Logger(label: "vmm")
        logger.logLevel = options.verbose ? .debug : .warning
        logger.debug("loading \(plan.summary)")
        var configuration = options.configuration
        configuration.watchesForKernelPanic = watchesForKernelPanic
        if moreMachinesFollow && configuration.seccomp != .off { configuration.seccomp = .thisAndLaterMachines }
        // --debugcon FILE: opened here, before the seccomp filter that allows no opening.
        var debugconFile: FileDescriptor? = nil
        defer { try? debugconFile?.close() }
        if let path = options.debugcon {
            do {
                let file = try openResultFile(path)
                debugconFile = file
                configuration.debugConsole = FileDescriptorConsole(fd: file.rawValue)
            } catch {
                return fail("cannot write debug console file '\(path)': \(error)", status: 73, options: options)
            }
        }
        let report: RunReport
        var resultFile: FileDescriptor? = nil
        do {
            let machine = try Machine(plan: plan, configuration: configuration, logger: logger)
            printToStderr("vmm: " + machine.backendReason)
            // Opened before the run, because the seccomp filter that goes on then does not allow
            // opening files.
            do {
                resultFile = try options.result.map(openResultFile)
            } catch {
                printError("cannot write result file '\(options.result ?? "")': \(error)")
                return 73  // EX_CANTCREAT
            }
            // Opened before the run as well.
            var profileFile: FileDescriptor? = nil
            if let path = options.guestProfile {
                do { profileFile = try openResultFile(path) } catch {
                    printError("cannot write guest profile '\(path)': \(error)")
                    return 73
                }
            }
            defer { try? profileFile?.close() }
            report = try machine.run()
            if let profileFile, let text = machine.guestProfile { _ = try? profileFile.writeAll(text.utf8) }
        } catch {
            try? resultFile?.close()
            return fail(error.description, status: error.exitStatus, options: options)
        }
        printToStderr(report.stopLine)
        if !report.stopReason.isNormal { printToStderr(report.registerDump) }
        if options.stats { printToStderr(report.statisticsText) }
        if let resultFile {
            defer { try? resultFile.close() }
            do {
                _ = try resultFile.writeAll((report.json.serialized() + "\n").utf8)
            } catch {
                printError("cannot write result file '\(options.result ?? "")': \(error)")
                return 73  // EX_CANTCREAT
            }
        }
        return report.exitStatus
    }

    /// Reports a failure of the VMM (not of the guest): the `vmm: error:` line and, with
    /// `--result`, a result file whose `stop_reason` says so, so that a harness reading the file
    /// can tell a VMM failure from a guest that exits with the same status.
    static func fail(_ message: String, status: Int32, options: MachineOptions) -> Int32 {
        printError(message)
        guard let path = options.result else { return status }
        let kind: String
        switch status {
        case 64: kind = "usage-error"
        case 65, 66: kind = "load-error"
        default: kind = "vmm-error"
        }
        let json = JSON.object([
            ("stop_reason", .string(kind)), ("stop_detail", .string(message)), ("exit_status", .integer(Int64(status))),
        ])
        do {
            let file = try openResultFile(path)
            defer { try? file.close() }
            _ = try file.writeAll((json.serialized() + "\n").utf8)
        } catch {
            printError("cannot write result file '\(path)': \(error)")
            return 73  // EX_CANTCREAT
        }
        return status
    }

    /// Creates (or truncates) an output file: the result file, the debug console's file.
    static func openResultFile(_ path: String) throws -> FileDescriptor {
        try FileDescriptor.open(
            FilePath(path), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
    }
}

func printToStderr(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { buffer in _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count) }
}

/// `print` for after a run: stdio's first write to stdout calls fstat (and isatty), which the
/// seccomp filter does not allow; write(2) is all this needs.
func printToStdout(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { buffer in _ = write(STDOUT_FILENO, buffer.baseAddress, buffer.count) }
}

extension Launcher {
    /// A one-line warning on stderr about something the user most likely did not mean.
    static func warn(_ message: String) { printToStderr("vmm: warning: \(message)") }
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
