import Boot
import Machine
import TestSupport
import Testing
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// Fresh guest memory is already zero: an ELF segment's .bss costs the host nothing until the
/// guest touches it (a 4 KiB file with a 3 GiB segment once took 3 GB of RSS and 5 s).
@Suite struct LargeBSSTests {
    /// Host pages of `memory`'s RAM that are resident, by mincore(2).
    func residentPages(_ memory: GuestMemory) -> Int {
        var resident = 0
        for region in memory.regions where !region.readOnly {
            let pages = Int((region.size + 4095) / 4096)
            var vector = [UInt8](repeating: 0, count: pages)
            guard mincore(UnsafeMutableRawPointer(bitPattern: region.hostAddress), Int(region.size), &vector) == 0 else { return -1 }
            resident += vector.reduce(0) { $0 + Int($1 & 1) }
        }
        return resident
    }

    @Test(arguments: testedBackends)
    func aHugeBSSTouchesNoHostMemory(backend: BackendChoice) throws {
        let memorySize: UInt64 = 3 << 30
        let segment = ELFBuilder.Segment(physicalAddress: 0x10_0000, contents: [0xF4], memorySize: memorySize - (2 << 20))
        let image = ELFBuilder(is64: true, entry: 0x10_0000, segments: [segment]).build()
        let plan = try ImageLoader.plan(image: image, options: LoadOptions(memorySize: memorySize))
        var configuration = MachineConfiguration(memorySize: memorySize)
        configuration.console = RecordingConsole()
        configuration.backend = backend
        configuration.timeout = 10
        let machine = try Machine(plan: plan, configuration: configuration)
        let report = try machine.run()
        #expect(report.stopReason == .halted(interruptsEnabled: false))
        // The boot structures, the one code page and the stack page: a handful, not 786,432.
        let resident = residentPages(machine.memory)
        #expect(resident >= 0 && resident < 256, "\(resident) guest pages resident after loading a 3 GiB .bss")
    }
}
