import Glibc

/// One fuzz target: a name for `scripts/fuzz`, the function that runs one input (and traps when
/// a property fails), and seed inputs for an empty corpus.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable (UnsafeRawBufferPointer) -> Void
    let seeds: @Sendable () -> [[UInt8]]
}

let targets = [
    FuzzTarget(name: "image", run: fuzzImage, seeds: imageSeeds),
    FuzzTarget(name: "firmware", run: fuzzFirmware, seeds: firmwareSeeds),
    FuzzTarget(name: "decoder", run: fuzzDecoder, seeds: codeSeeds),
    FuzzTarget(name: "interpreter", run: fuzzInterpreter, seeds: codeSeeds),
    FuzzTarget(name: "emulator", run: fuzzEmulator, seeds: codeSeeds),
    FuzzTarget(name: "devices", run: fuzzDevices, seeds: deviceSeeds),
]

/// The target libFuzzer's callback runs (chosen before the driver starts; read-only after).
nonisolated(unsafe) var selected: FuzzTarget? = nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected!.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

#if VMM_LIBFUZZER
    /// libFuzzer's entry point for programs with their own main (compiler-rt's FuzzerDriver.cpp);
    /// linked in by `-sanitize=fuzzer`.
    @_silgen_name("LLVMFuzzerRunDriver")
    func libFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif

/// `vmm-fuzz TARGET [options] [corpus dirs or files]`, or with VMM_FUZZ_TARGET set in the
/// environment (libFuzzer's -fork and -jobs children are started without the target argument).
/// Built with `-sanitize=fuzzer -DVMM_LIBFUZZER` (`scripts/fuzz` does that) the options are
/// libFuzzer's; a plain build runs the same targets with the built-in runner (`Runner.swift`).
@main enum FuzzMain {
    static func main() {
        var arguments = CommandLine.arguments
        if arguments.count > 1, let target = targets.first(where: { $0.name == arguments[1] }) {
            selected = target
            setenv("VMM_FUZZ_TARGET", target.name, 1)
            arguments.remove(at: 1)
        } else if let name = getenv("VMM_FUZZ_TARGET").map({ String(cString: $0) }) {
            selected = targets.first { $0.name == name }
        }
        guard let target = selected else {
            print("usage: vmm-fuzz TARGET [options] [corpus...]   targets: \(targets.map(\.name).joined(separator: ", "))")
            print("       vmm-fuzz TARGET -write_seeds=DIR         writes the target's seed inputs to DIR")
            exit(2)
        }
        if let directory = arguments.first(where: { $0.hasPrefix("-write_seeds=") })?.dropFirst("-write_seeds=".count) {
            writeSeeds(target, to: String(directory))
            exit(0)
        }
        #if VMM_LIBFUZZER
            var argc = CInt(arguments.count)
            var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
            argv.withUnsafeMutableBufferPointer { buffer in
                var pointer = buffer.baseAddress
                exit(libFuzzerRunDriver(&argc, &pointer, fuzzOneInput))
            }
        #else
            exit(Runner(target: target, arguments: Array(arguments.dropFirst())).run())
        #endif
    }
}

/// Writes the seeds as files named by index, for a new corpus.
func writeSeeds(_ target: FuzzTarget, to directory: String) {
    mkdir(directory, 0o755)
    for (index, seed) in target.seeds().enumerated() {
        let path = "\(directory)/seed-\(index)"
        guard let file = fopen(path, "wb") else { continue }
        _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
}
