import Boot

/// The guest programs assembled from Guests/ (see scripts/build-guests), embedded so that
/// `vmm demo` and the tests need no files.
public enum GuestImages {}

/// A built-in guest that `vmm demo NAME` runs.
public struct DemoGuest: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A flat binary started in this mode (`vmm run --mode`).
        case flat(mode: CPUMode)
        /// An image whose format the loader detects (ELF, multiboot).
        case detected
        /// A firmware ROM started at the reset vector (`vmm run --firmware`).
        case firmware
    }

    public var name: String
    public var summary: String
    public var kind: Kind
    public var image: [UInt8]
    /// The process status the guest ends with when it works.
    public var expectedStatus: Int32
    /// What it prints on the console when it works.
    public var expectedOutput: String
    /// Multiboot command line and modules, for the multiboot demo.
    public var commandLine = ""
    public var modules: [(name: String, bytes: [UInt8])] = []

    /// The demos in the order `vmm demo` runs them: one per CPU mode and start method, then the
    /// hypercall ABI.
    public static let all: [DemoGuest] = [
        DemoGuest(
            name: "real", summary: "real mode at 0000:7C00, UART output, POST codes", kind: .flat(mode: .real), image: GuestImages.real,
            expectedStatus: 0, expectedOutput: "Hello from real mode!\n"),
        DemoGuest(
            name: "protected", summary: "32-bit protected mode, flat segments", kind: .flat(mode: .protected), image: GuestImages.protected,
            expectedStatus: 0, expectedOutput: "Hello from 32-bit protected mode!\n"),
        DemoGuest(
            name: "long", summary: "64-bit long mode on the identity map, string I/O", kind: .flat(mode: .long), image: GuestImages.long,
            expectedStatus: 0, expectedOutput: "Hello from 64-bit long mode!\n"),
        DemoGuest(
            name: "elf64", summary: "the long-mode guest as an ELF64 executable", kind: .detected, image: GuestImages.longELF, expectedStatus: 0,
            expectedOutput: "Hello from 64-bit long mode!\n"),
        DemoGuest(
            name: "elf32", summary: "the protected-mode guest as an ELF32 executable", kind: .detected, image: GuestImages.protectedELF,
            expectedStatus: 0, expectedOutput: "Hello from 32-bit protected mode!\n"),
        DemoGuest(
            name: "multiboot", summary: "a multiboot kernel reading its command line and a module", kind: .detected,
            image: GuestImages.multibootELF, expectedStatus: 0,
            expectedOutput: "multiboot command line: multiboot.elf console=ttyS0 demo\nfirst module: Hello from a multiboot module!\n",
            commandLine: "console=ttyS0 demo",
            modules: [(name: "greeting.txt", bytes: Array("Hello from a multiboot module!\n".utf8))]),
        DemoGuest(
            name: "firmware", summary: "a 4 KiB ROM started at the reset vector F000:FFF0", kind: .firmware, image: GuestImages.firmware,
            expectedStatus: 0, expectedOutput: "Hello from the firmware ROM!\n"),
        DemoGuest(
            name: "hypercall", summary: "the paravirtual hypercall ABI: version, console, clock, exit", kind: .flat(mode: .long),
            image: GuestImages.hypercall, expectedStatus: 0, expectedOutput: "Hello through the swift-vmm hypercall ABI!\n"),
        DemoGuest(
            name: "uart-probe", summary: "probes the UART as Linux's 8250 driver does", kind: .flat(mode: .long), image: GuestImages.uartProbe,
            expectedStatus: 1, expectedOutput: ""),
    ]

    public static func named(_ name: String) -> DemoGuest? { all.first { $0.name == name } }

    /// How the loader boots this demo in `memorySize` bytes of RAM.
    public func plan(memorySize: UInt64) throws(BootError) -> BootPlan {
        var options = LoadOptions(memorySize: memorySize)
        switch kind {
        case .firmware:
            return try ImageLoader.planFirmware(image)
        case .flat(let mode):
            options.mode = mode
        case .detected:
            options.kernelName = "\(name).elf"  // as `scripts/build-guests` names its file
            options.commandLine = commandLine
            options.modules = modules
        }
        return try ImageLoader.plan(image: image, options: options)
    }
}
