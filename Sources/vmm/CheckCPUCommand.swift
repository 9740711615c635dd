import ArgumentParser
import Machine
import VMCore

/// `vmm check-cpu`: the differential tester. Runs seeded random instruction sequences at CPL 3 on
/// KVM (native on this kind of host) and on the software backend, and reports the shortest
/// sequence that makes them differ.
struct CheckCPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-cpu",
        abstract: "Compare the software backend with the CPU (through KVM) on random instruction sequences.")

    @Option(parsing: .unconditional, help: "The first seed; sequence n uses seed + n.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "How many sequences to run, 1 to 1000000000 (ignored with --seconds).")
    var count = 200

    @Option(parsing: .unconditional, help: "Instructions per sequence, 1 to \(Self.maximumLength).")
    var length = 12

    @Option(parsing: .unconditional, help: "Run for this many seconds (more than 0, at most 1e7) instead of --count sequences.")
    var seconds: Double?

    @Option(name: .customLong("kvm-device"), help: ArgumentHelp("The KVM device to open.", valueName: "path"))
    var kvmDevice = "/dev/kvm"

    /// Longer sequences only take longer to shrink; the code page holds far more.
    static let maximumLength = 1000

    func validate() throws {
        try checkRange("--count", count, in: 1...1_000_000_000)
        try checkRange("--length", length, in: 1...Self.maximumLength)
        if let seconds, !(seconds > 0 && seconds <= 1e7) {
            throw ValidationError("--seconds must be more than 0 and at most 10000000 (got \(seconds))")
        }
    }

    func run() throws {
        let harness: DifferentialHarness
        do {
            harness = try DifferentialHarness(kvmPath: kvmDevice)
        } catch {
            printError("the differential tester needs KVM: \(error)")
            throw ExitCode(69)
        }
        let deadline = seconds.map { monotonicNanoseconds() + UInt64($0 * 1e9) }
        var checked: UInt64 = 0
        var current = seed
        while deadline.map({ monotonicNanoseconds() < $0 }) ?? (checked < UInt64(count)) {
            do {
                if try harness.check(seed: current, length: length) != nil {
                    let shortest = try harness.shortestFailure(seed: current, length: length)
                    print("difference found after \(checked) sequence(s); the shortest failing sequence:")
                    print(shortest?.description ?? "(it did not reproduce while shrinking)")
                    throw ExitCode(1)
                }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                printError("seed \(current): \(error)")
                throw ExitCode(70)
            }
            checked += 1
            current &+= 1
        }
        var summary = "check-cpu: \(checked) sequences of \(length) instructions from seed \(seed): no differences"
        if let first = harness.skipped.first {
            summary += " (\(harness.skipped.count) skipped: KVM could not run them, e.g. seed \(first.seed): \(first.reason))"
        }
        print(summary)
    }
}
