import Foundation
import Synchronization
import Testing

/// Runs the built `vmm` executable and collects what a user would see.
struct VMMResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum VMMProcess {
    /// The vmm binary next to the test bundle (both live in the build's products folder).
    static let executable: URL = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("vmm")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: ".build/debug/vmm")
    }()

    /// Runs vmm (or `program`, e.g. one of scripts/) with `arguments`; `input`, if given, is
    /// written to its stdin through a pipe (otherwise stdin is /dev/null: never the developer's
    /// terminal).
    static func run(_ arguments: [String], program: URL? = nil, input: [UInt8]? = nil, timeout: Double = 60) throws -> VMMResult {
        let process = Process()
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        process.executableURL = program ?? executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        if let input {
            Thread {
                try? stdin.fileHandleForWriting.write(contentsOf: Data(input))
                try? stdin.fileHandleForWriting.close()
            }.start()
        }
        // Read both pipes on their own threads, so neither a chatty guest nor a hung vmm can stall
        // the test; a vmm still running at the deadline is killed and reported.
        let outputData = CollectedData(), errorData = CollectedData()
        let readers = [(out, outputData), (err, errorData)].map { pipe, sink in
            Thread { sink.data.withLock { $0 = pipe.fileHandleForReading.readDataToEndOfFile() } }
        }
        for reader in readers { reader.start() }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            Issue.record("\(process.executableURL?.lastPathComponent ?? "vmm") \(arguments) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        while readers.contains(where: { !$0.isFinished }) { Thread.sleep(forTimeInterval: 0.005) }
        return VMMResult(
            status: process.terminationStatus, stdout: String(decoding: outputData.data.withLock { $0 }, as: UTF8.self),
            stderr: String(decoding: errorData.data.withLock { $0 }, as: UTF8.self))
    }

    /// Reads a child's stderr until the machine is built (its backend line is out), however slow
    /// the start, so that a test signals a running guest; returns what it read.
    static func readUntilBackendLine(_ errors: Pipe) -> Data {
        var stderr = Data()
        while !String(decoding: stderr, as: UTF8.self).contains("vmm: backend:") {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            stderr += chunk
        }
        return stderr
    }

    /// A temporary file holding `bytes`, removed when the test process ends.
    static func temporaryFile(_ bytes: [UInt8], name: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-cli-tests-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }
}

/// Bytes read from a child's pipe on another thread.
final class CollectedData: Sendable {
    let data = Mutex(Data())
}
