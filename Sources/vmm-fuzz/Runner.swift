import Glibc
import VMCore

/// The input being run, for the crash handler (written before each run, read only by it).
nonisolated(unsafe) private var currentInput = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
nonisolated(unsafe) private var currentLength = 0

/// A deterministic mutation runner for builds without libFuzzer: replays files, or mutates the
/// seeds and corpus files with a seeded generator (bit flips, byte and integer changes, inserts,
/// erases, copies, splices) for `-runs` inputs or `-max_total_time` seconds. No coverage
/// feedback, so it finds less than libFuzzer; same options, same final stats lines. A trap
/// writes the input to `crash-vmm-fuzz-TARGET` in the working directory.
struct Runner {
    let target: FuzzTarget
    var runs = UInt64.max
    var seconds = 0.0
    var seed: UInt64 = 1
    var maximumLength = 4096
    var files: [String] = []
    var directories: [String] = []

    init(target: FuzzTarget, arguments: [String]) {
        self.target = target
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1).map(String.init)
            switch parts[0] {
            case "-runs": runs = UInt64(parts[1]) ?? runs
            case "-max_total_time": seconds = Double(parts[1]) ?? 0
            case "-seed": seed = UInt64(parts[1]) ?? seed
            case "-max_len": maximumLength = Int(parts[1]) ?? maximumLength
            default:
                if argument.hasPrefix("-") { continue }  // other libFuzzer options do not apply
                var status = stat()
                if stat(argument, &status) == 0 && status.st_mode & S_IFMT == S_IFDIR { directories.append(argument) } else { files.append(argument) }
            }
        }
        if runs == .max && seconds == 0 { seconds = 10 }
    }

    func run() -> Int32 {
        installCrashHandler(target.name)
        if !files.isEmpty {
            for path in files {
                let bytes = readFile(path)
                execute(bytes)
                print("replayed \(path) (\(bytes.count) bytes): no failure")
            }
            return 0
        }
        var corpus = target.seeds()
        for directory in directories { corpus += listFiles(directory).map(readFile) }
        if corpus.isEmpty { corpus = [[]] }
        var random = SplitMix64(seed: seed)
        let start = now()
        var executed: UInt64 = 0
        var nextReport: UInt64 = 1
        while executed < runs {
            if executed & 255 == 0 && seconds > 0 && now() - start >= seconds { break }
            var input = corpus[Int(random.next() % UInt64(corpus.count))]
            let mutations = 1 + Int(random.next() % 4)
            for _ in 0..<mutations { mutate(&input, &random, corpus: corpus) }
            if input.count > maximumLength { input.removeLast(input.count - maximumLength) }
            execute(input)
            executed += 1
            if executed == nextReport {
                print("#\(executed)\tpulse exec/s: \(Int(Double(executed) / max(now() - start, 1e-9)))")
                nextReport *= 4
            }
        }
        let elapsed = now() - start
        print("Done \(executed) runs in \(Int(elapsed)) second(s)")
        print("stat::number_of_executed_units: \(executed)")
        print("stat::average_exec_per_sec:     \(Int(Double(executed) / max(elapsed, 1e-9)))")
        return 0
    }

    private func execute(_ input: [UInt8]) {
        currentLength = min(input.count, currentInput.count)
        input.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { currentInput.baseAddress!.copyMemory(from: base, byteCount: currentLength) }
            target.run(bytes)
        }
    }

    private func mutate(_ input: inout [UInt8], _ random: inout SplitMix64, corpus: [[UInt8]]) {
        let interesting: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, .max]
        let position = input.isEmpty ? 0 : Int(random.next() % UInt64(input.count))
        switch random.next() % 8 {
        case 0 where !input.isEmpty: input[position] ^= 1 << UInt8(random.next() % 8)
        case 1 where !input.isEmpty: input[position] = UInt8(truncatingIfNeeded: random.next())
        case 2:
            let value = interesting[Int(random.next() % UInt64(interesting.count))]
            let width = [1, 2, 4, 8][Int(random.next() % 4)]
            for index in 0..<width where position + index < input.count { input[position + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
        case 3: input.insert(contentsOf: (0..<1 + random.next() % 8).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: position)
        case 4 where !input.isEmpty: input.removeSubrange(position..<min(input.count, position + 1 + Int(random.next() % 16)))
        case 5 where !input.isEmpty:
            let source = Int(random.next() % UInt64(input.count)), length = 1 + Int(random.next() % 16)
            let piece = Array(input[source..<min(input.count, source + length)])
            input.replaceSubrange(position..<min(input.count, position + piece.count), with: piece)
        case 6:
            let other = corpus[Int(random.next() % UInt64(corpus.count))]
            input = Array(input.prefix(position)) + other.dropFirst(min(position, other.count))
        default:
            if !input.isEmpty { input[position] = input[position] &+ UInt8(truncatingIfNeeded: random.next() % 35) &- 17 }
        }
    }
}

private func now() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

private func readFile(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { return [] }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 { break }
        bytes += buffer.prefix(count)
    }
    return bytes
}

private func listFiles(_ directory: String) -> [String] {
    guard let handle = opendir(directory) else { return [] }
    defer { closedir(handle) }
    var names: [String] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if !name.hasPrefix(".") { names.append("\(directory)/\(name)") }
    }
    return names.sorted()
}

/// The crash file's path, as a C string made before any crash.
nonisolated(unsafe) private var crashPath: UnsafeMutablePointer<CChar>? = nil

/// On a trap (a failed property or a Swift runtime check) or a fault, writes the input being run
/// to the crash file and dies with the same signal.
private func installCrashHandler(_ name: String) {
    crashPath = strdup("crash-vmm-fuzz-\(name)")
    for signalNumber in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
        signal(signalNumber) { number in
            let file = open(crashPath!, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if file >= 0 {
                _ = write(file, currentInput.baseAddress, currentLength)
                close(file)
            }
            let message = "vmm-fuzz: crash; the input is in the crash file\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            signal(number, SIG_DFL)
            raise(number)
        }
    }
}
