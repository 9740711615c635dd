import Boot
import TestSupport
import Testing
import VMCore

@Suite struct FlatImageTests {
    let memorySize: UInt64 = 16 << 20

    func plan(_ bytes: [UInt8] = [0xF4], mode: CPUMode, load: UInt64? = nil, entry: UInt64? = nil) throws -> BootPlan {
        var options = LoadOptions(memorySize: memorySize)
        options.mode = mode
        options.loadAddress = load
        options.entry = entry
        return try ImageLoader.plan(image: bytes, options: options)
    }

    /// Found by the `image` fuzz target: with RAM smaller than the VMM's own structures the plan
    /// wrote the GDT and page tables past the end of memory instead of failing.
    @Test(arguments: [CPUMode.protected, .long])
    func memoryTooSmallForTheBootStructuresIsAnError(mode: CPUMode) {
        var options = LoadOptions(memorySize: 0x400)
        options.mode = mode
        options.loadAddress = 0
        #expect(throws: BootError.self) { try ImageLoader.plan(image: [0xF4], options: options) }
        let elf = ELFBuilder(is64: mode == .long, entry: 0x100, segments: [.init(physicalAddress: 0x100, contents: [0xF4])]).build()
        options.memorySize = UInt64(elf.count) + 0x100
        #expect(throws: BootError.self) { try ImageLoader.plan(image: elf, options: options) }
    }

    @Test func realModeStartsAt0000_7C00WithInterruptsOff() throws {
        let plan = try plan([0xF4, 0x90], mode: .real)
        #expect(plan.writes == [MemoryWrite(address: 0x7C00, bytes: [0xF4, 0x90])])
        #expect(plan.registers.rip == 0x7C00)
        #expect(plan.registers.rflags & Registers.interruptFlag == 0)
        let s = plan.systemRegisters
        #expect(s.cs.selector == 0 && s.cs.base == 0 && s.cs.limit == 0xFFFF)
        #expect(s.ds.selector == 0 && s.es.selector == 0 && s.ss.selector == 0)
        #expect(s.cr0 & ControlBits.cr0ProtectionEnable == 0)
    }

    @Test func realModeEntryAbove64KiBUsesACodeSegment() throws {
        let plan = try plan(mode: .real, load: 0x12345)
        #expect(plan.systemRegisters.cs.selector == 0x1000)
        #expect(plan.systemRegisters.cs.base + plan.registers.rip == 0x12345)
    }

    @Test func realModeEntryMustBeBelowOneMebibyte() {
        #expect(throws: BootError.self) { try plan(mode: .real, load: 0x10_0000) }
    }

    @Test func protectedModeHasFlatSegmentsAndNoPaging() throws {
        let plan = try plan(mode: .protected)
        #expect(plan.registers.rip == 0x10_0000)
        let s = plan.systemRegisters
        #expect(s.cr0 & ControlBits.cr0ProtectionEnable != 0 && s.cr0 & ControlBits.cr0Paging == 0)
        #expect(s.cs.selector == BootLayout.code32Selector && s.cs.defaultSize32 && s.cs.limit == 0xFFFF_FFFF && s.cs.granularity)
        #expect(s.ds.selector == BootLayout.dataSelector && s.ss.base == 0)
        #expect(s.gdt.base == BootLayout.gdtAddress && s.gdt.limit == 31)
        let gdt = try #require(plan.writes.first { $0.address == BootLayout.gdtAddress })
        #expect(read64(gdt.bytes, 8) == 0x00CF_9A00_0000_FFFF)
        #expect(read64(gdt.bytes, 16) == 0x00CF_9200_0000_FFFF)
    }

    @Test func longModeIdentityMapsFourGiBWithTwoMiBPages() throws {
        let plan = try plan(mode: .long, entry: 0x10_0010)
        let s = plan.systemRegisters
        #expect(s.cs.long && !s.cs.defaultSize32 && s.cs.selector == BootLayout.code64Selector)
        #expect(s.efer == ControlBits.eferLongModeEnable | ControlBits.eferLongModeActive)
        #expect(s.cr4 & ControlBits.cr4PhysicalAddressExtension != 0 && s.cr0 & ControlBits.cr0Paging != 0)
        #expect(s.cr3 == 0x1000)
        #expect(plan.registers.rip == 0x10_0010)
        let pml4 = try #require(plan.writes.first { $0.address == 0x1000 })
        #expect(read64(pml4.bytes, 0) == 0x2003)
        let pdpt = try #require(plan.writes.first { $0.address == 0x2000 })
        #expect((0..<4).map { read64(pdpt.bytes, $0 * 8) } == [0x3003, 0x4003, 0x5003, 0x6003])
        #expect(read64(pdpt.bytes, 32) == 0)
        let directories = try #require(plan.writes.first { $0.address == 0x3000 })
        #expect(directories.bytes.count == 4 * 4096)
        #expect(read64(directories.bytes, 0) == 0x83)
        #expect(read64(directories.bytes, 8) == 0x20_0083)
        #expect(read64(directories.bytes, 4 * 4096 - 8) == 0xFFE0_0083)
    }

    @Test func imagesMayNotOverwriteTheVMMsStructures() {
        #expect(throws: BootError.overlapsBootStructures(what: "the image", address: 0x1800, length: 1, reserved: 0x1000...0x6FFF)) {
            try plan(mode: .long, load: 0x1800)
        }
        #expect(throws: BootError.self) { try plan([UInt8](repeating: 0, count: 0x200), mode: .protected, load: 0x400) }
        // Real mode has no VMM structures, so low memory is the guest's.
        #expect(throws: Never.self) { try plan(mode: .real, load: 0x1800) }
    }

    @Test func imagesMustFitInMemory() {
        #expect(throws: BootError.outsideMemory(what: "the image", address: memorySize - 1, length: 2, memorySize: memorySize)) {
            try plan([1, 2], mode: .long, load: memorySize - 1)
        }
        #expect(throws: BootError.self) { try plan(mode: .long, load: .max) }
        #expect(throws: BootError.self) { try plan(mode: .long, entry: memorySize) }
    }

    @Test func emptyImagesAreRefused() {
        #expect(throws: BootError.emptyImage) { try plan([], mode: .long) }
    }

    @Test func firmwareStartsAtTheResetVector() throws {
        let plan = try ImageLoader.planFirmware([UInt8](repeating: 0x90, count: 4096))
        #expect(plan.firmware?.count == 4096)
        #expect(plan.registers.rip == 0xFFF0)
        #expect(plan.systemRegisters.cs.selector == 0xF000 && plan.systemRegisters.cs.base == 0xFFFF_0000)
        #expect(plan.writes.isEmpty)
        #expect(throws: BootError.badFirmware("the file is empty")) { try ImageLoader.planFirmware([]) }
        #expect(throws: BootError.self) { try ImageLoader.planFirmware([UInt8](repeating: 0, count: (256 << 10) + 1)) }
    }

    @Test func aBootSectorOutsideRealModeCarriesAHint() throws {
        let sector = [UInt8](repeating: 0x90, count: 510) + [0x55, 0xAA]
        for mode in [CPUMode.long, .protected] {
            var options = LoadOptions(memorySize: 16 << 20)
            options.mode = mode
            let plan = try ImageLoader.plan(image: sector, options: options)
            #expect(plan.hint?.contains("--mode real") == true)
        }
        var real = LoadOptions(memorySize: 16 << 20)
        real.mode = .real
        #expect(try ImageLoader.plan(image: sector, options: real).hint == nil)
        #expect(try ImageLoader.plan(image: [UInt8](repeating: 0x90, count: 512), options: LoadOptions(memorySize: 16 << 20)).hint == nil)
    }
}
