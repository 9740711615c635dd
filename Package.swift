// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "swift-vmm",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vmm", targets: ["vmm"]),
        // The fuzz targets (scripts/fuzz builds it with libFuzzer; a plain build has a built-in runner).
        .executable(name: "vmm-fuzz", targets: ["vmm-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The KVM shim: one static inline wrapper per KVM ioctl, no logic.
        .target(name: "CKVM", path: "CKVM"),
        // C for the seccomp filter: the variadic prctl/syscall calls and the async-signal-safe
        // SIGSYS reporter.
        .target(name: "CSandbox", path: "CSandbox"),
        // The x87 instructions run on the host FPU, with the guest's state loaded around each one
        // (CX87/cx87.c says why and how the host is kept safe).
        .target(name: "CX87", path: "CX87", exclude: ["cx87_forms.inc", "cx87_run.inc"]),
        .target(name: "CHostTime", path: "CHostTime"),
        .target(name: "Sandbox", dependencies: ["CSandbox"]),
        // The host SSE instructions the emulator runs with the guest's MXCSR (bit-exact results
        // and flags, all four rounding modes, DAZ/FTZ): one inline-asm statement per instruction.
        .target(name: "CSSE", path: "CSSE"),
        .target(name: "VMCore"),
        .target(name: "Devices", dependencies: ["VMCore"]),
        .target(
            name: "KVM",
            dependencies: [
                "CKVM", "VMCore",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .target(name: "Boot", dependencies: ["VMCore"]),
        // The software backend: an x86 interpreter; depends on the vocabulary only.
        .target(name: "X86Emulator", dependencies: ["VMCore", "CSSE", "CX87"]),
        .target(name: "DemoGuests", dependencies: ["Boot"]),
        .target(
            name: "Machine",
            dependencies: [
                "VMCore", "Devices", "KVM", "X86Emulator", "Boot", "Sandbox", "CSandbox", "CHostTime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .executableTarget(
            name: "vmm",
            dependencies: [
                "Machine", "DemoGuests", "Boot", "VMCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .executableTarget(
            name: "vmm-fuzz",
            dependencies: [
                "Boot", "DemoGuests", "Devices", "Machine", "TestSupport", "VMCore", "X86Emulator",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The tests' x87 oracle: one instruction on the host FPU with unmasked exceptions allowed.
        .target(name: "CX87Oracle", path: "Tests/CX87Oracle"),
        .target(name: "TestSupport", dependencies: ["VMCore", "Devices"], path: "Tests/TestSupport"),
        .testTarget(name: "VMCoreTests", dependencies: ["VMCore", "TestSupport"]),
        .testTarget(name: "DevicesTests", dependencies: ["Devices", "VMCore", "TestSupport"]),
        // The KVM backend's pure parts (the guest CPUID); the tests that need /dev/kvm are in MachineTests.
        .testTarget(name: "KVMTests", dependencies: ["KVM", "VMCore"]),
        .testTarget(name: "BootTests", dependencies: ["Boot", "VMCore", "TestSupport"]),
        .testTarget(
            name: "MachineTests",
            dependencies: ["Machine", "DemoGuests", "Boot", "VMCore", "KVM", "TestSupport"]),
        .testTarget(
            name: "X86EmulatorTests", dependencies: ["X86Emulator", "Boot", "VMCore", "TestSupport", "Machine", "CX87Oracle"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "DemoGuests"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "CSandbox", "Machine"]),
    ],
    swiftLanguageModes: [.v6]
)
