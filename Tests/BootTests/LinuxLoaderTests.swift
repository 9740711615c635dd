import Boot
import Foundation
import TestSupport
import Testing
import VMCore

/// A synthetic bzImage: a boot sector and one setup sector with a protocol 2.15 header, then the
/// protected-mode part.
func syntheticBzImage(version: UInt16 = 0x020F, xloadflags: UInt16 = 0x7F, kernel: [UInt8] = [UInt8](repeating: 0xF4, count: 0x1000)) -> [UInt8] {
    var image = [UInt8](repeating: 0, count: 1024)
    image[0x1F1] = 1  // setup_sects
    put16(&image, 0x1FE, 0xAA55)
    image[0x200] = 0xEB  // jmp over the header
    image[0x201] = 0x6A  // header ends at 0x26C
    put32(&image, 0x202, 0x5372_6448)
    put16(&image, 0x206, version)
    image[0x211] = 1  // LOADED_HIGH
    put32(&image, 0x214, 0x10_0000)
    put32(&image, 0x22C, 0x7FFF_FFFF)
    put32(&image, 0x230, 0x20_0000)
    image[0x234] = 1
    put16(&image, 0x236, xloadflags)
    put32(&image, 0x238, 2047)
    put64(&image, 0x258, 0x100_0000)
    put32(&image, 0x260, 0x40_0000)
    return image + kernel
}

@Suite struct LinuxLoaderTests {
    let memorySize: UInt64 = 64 << 20

    func options(commandLine: String = "console=ttyS0", initrd: [UInt8]? = nil) -> LinuxBootOptions {
        var options = LinuxBootOptions(memorySize: memorySize, commandLine: commandLine)
        options.initrd = initrd
        return options
    }

    func write(at address: UInt64, in plan: BootPlan) -> MemoryWrite? { plan.writes.first { $0.address == address } }

    @Test func bzImageStartsAtThe64BitEntryWithTheZeroPageInRSI() throws {
        let image = syntheticBzImage()
        let initrd = [UInt8](repeating: 0xAB, count: 5000)
        var options = options(initrd: initrd)
        options.acpi = (rsdp: 0xE_0000, writes: [MemoryWrite(address: 0xE_0000, bytes: Array("RSD PTR ".utf8))])
        let plan = try LinuxLoader.plan(kernel: image, options: options)
        #expect(try LinuxLoader.detectFormat(image) == .bzImage)
        #expect(plan.mode == .long && plan.systemRegisters.cs.long)
        #expect(plan.registers.rip == 0x10_0200)
        #expect(plan.registers.rsi == LinuxBootLayout.bootParameters)
        #expect(plan.systemRegisters.efer & ControlBits.eferLongModeActive != 0)
        #expect(write(at: 0x10_0000, in: plan)?.bytes == Array(image[1024...]))
        #expect(write(at: LinuxBootLayout.commandLine, in: plan)?.bytes == Array("console=ttyS0".utf8) + [0])
        #expect(write(at: 0xE_0000, in: plan) != nil)

        let zeroPage = try #require(write(at: LinuxBootLayout.bootParameters, in: plan)).bytes
        #expect(zeroPage.count == 4096)
        // The header is copied from the image, with the loader's fields filled in.
        #expect(Array(zeroPage[0x202..<0x206]) == Array("HdrS".utf8))
        #expect(read32(zeroPage, 0x260) == 0x40_0000)
        #expect(zeroPage[0x210] == 0xFF)
        #expect(zeroPage[0x211] & 1 == 1)
        #expect(read32(zeroPage, 0x228) == UInt32(LinuxBootLayout.commandLine))
        #expect(zeroPage[0x1EF] == 0)  // the sentinel stays clear
        #expect(read64(zeroPage, 0x070) == 0xE_0000)
        // The initrd sits page-aligned at the top of RAM.
        let initrdAddress = UInt64(read32(zeroPage, 0x218))
        #expect(initrdAddress == (memorySize - 5000) & ~0xFFF)
        #expect(read32(zeroPage, 0x21C) == 5000)
        #expect(write(at: initrdAddress, in: plan)?.bytes == initrd)
        // e820: low RAM, the BIOS area reserved, RAM from 1 MiB.
        #expect(zeroPage[0x1E8] == 3)
        let entries = (0..<3).map { index in
            (read64(zeroPage, 0x2D0 + 20 * index), read64(zeroPage, 0x2D8 + 20 * index), read32(zeroPage, 0x2E0 + 20 * index))
        }
        #expect(entries[0] == (0, 0x9_FC00, 1))
        #expect(entries[1] == (0x9_FC00, 0x10_0000 - 0x9_FC00, 2))
        #expect(entries[2] == (0x10_0000, memorySize - 0x10_0000, 1))
    }

    @Test func badBzImagesAreRefusedWithTheirReason() {
        #expect(throws: BootError.badKernel("neither a bzImage (no setup header at 0x1F1) nor a vmlinux ELF")) {
            try LinuxLoader.plan(kernel: [UInt8](repeating: 0x90, count: 4096), options: options())
        }
        #expect(throws: BootError.emptyImage) { try LinuxLoader.plan(kernel: [], options: options()) }
        let old = syntheticBzImage(version: 0x020B)
        #expect(throws: BootError.self) { try LinuxLoader.plan(kernel: old, options: options()) }
        do {
            _ = try LinuxLoader.plan(kernel: old, options: options())
        } catch {
            #expect("\(error)".contains("boot protocol version 2.11 is older than 2.12"))
        }
        #expect(throws: BootError.badKernel("the kernel has no 64-bit entry point (xloadflags bit 0 clear): a 32-bit kernel")) {
            try LinuxLoader.plan(kernel: syntheticBzImage(xloadflags: 0), options: options())
        }
        // Cut inside the header, and right after the setup sectors.
        let full = syntheticBzImage()
        #expect(throws: BootError.truncated(what: "the setup header", needed: 0x26C, available: 0x240)) {
            try LinuxLoader.plan(kernel: Array(full[..<0x240]), options: options())
        }
        #expect(throws: BootError.truncated(what: "the protected-mode kernel after 1024 bytes of setup", needed: 1025, available: 1024)) {
            try LinuxLoader.plan(kernel: Array(full[..<1024]), options: options())
        }
    }

    @Test func aCommandLineLongerThanTheKernelTakesIsRefused() throws {
        let line = String(repeating: "x", count: 2048)
        #expect(throws: BootError.commandLineTooLong(length: 2048, limit: 2047)) {
            try LinuxLoader.plan(kernel: syntheticBzImage(), options: options(commandLine: line))
        }
        _ = try LinuxLoader.plan(kernel: syntheticBzImage(), options: options(commandLine: String(line.dropLast())))
    }

    @Test func anInitrdThatDoesNotFitAboveTheKernelIsRefused() throws {
        // 64 MiB of RAM, the kernel's area ends at 16 + 4 MiB: 44 MiB are left.
        let tooBig = [UInt8](repeating: 0, count: 45 << 20)
        #expect(throws: BootError.self) { try LinuxLoader.plan(kernel: syntheticBzImage(), options: options(initrd: tooBig)) }
        do {
            _ = try LinuxLoader.plan(kernel: syntheticBzImage(), options: options(initrd: tooBig))
        } catch {
            #expect("\(error)".contains("the initrd (46080 KiB; 45056 KiB free between the kernel's end at 0x1400000 and 0x4000000)"))
        }
        _ = try LinuxLoader.plan(kernel: syntheticBzImage(), options: options(initrd: [UInt8](repeating: 0, count: 43 << 20)))
    }

    @Test func tooLittleMemoryForTheDecompressionAreaIsRefused() {
        var small = options()
        small.memorySize = 16 << 20
        #expect(
            throws: BootError.outsideMemory(
                what: "the kernel and its decompression area", address: 0x10_0000, length: 0x130_0000, memorySize: 16 << 20)
        ) {
            try LinuxLoader.plan(kernel: syntheticBzImage(), options: small)
        }
    }

    func pvhImage(entry: UInt32 = 0x100_0850, withNote: Bool = true) -> [UInt8] {
        var builder = ELFBuilder(
            is64: true, entry: 0xFFFF_FFFF_8100_0000,
            segments: [
                .init(physicalAddress: 0x100_0000, virtualAddress: 0xFFFF_FFFF_8100_0000, contents: [UInt8](repeating: 0x90, count: 0x1000)),
                .init(physicalAddress: 0x100_1000, virtualAddress: 0, contents: [1, 2, 3], memorySize: 0x2000),
            ])
        var descriptor: [UInt8] = []
        put32(&descriptor, 0, entry)
        if withNote {
            builder.notes = elfNote(name: "GNU", type: 3, descriptor: [1, 2, 3, 4, 5]) + elfNote(name: "Xen", type: 18, descriptor: descriptor)
        }
        return builder.build()
    }

    @Test func vmlinuxStartsAtThePVHEntryWithTheStartInfoInEBX() throws {
        let image = pvhImage()
        let initrd = [UInt8](repeating: 7, count: 100)
        var options = options(initrd: initrd)
        options.acpi = (rsdp: 0xE_0000, writes: [])
        let plan = try LinuxLoader.plan(kernel: image, options: options)
        #expect(try LinuxLoader.detectFormat(image) == .pvh)
        #expect(plan.mode == .protected)
        #expect(plan.registers.rip == 0x100_0850)
        #expect(plan.registers.rbx == LinuxBootLayout.bootParameters)
        #expect(plan.systemRegisters.cr0 & ControlBits.cr0Paging == 0)
        #expect(plan.systemRegisters.cs.defaultSize32 && !plan.systemRegisters.cs.long)
        // Loaded by physical address, the second segment's .bss included.
        #expect(write(at: 0x100_1000, in: plan) == MemoryWrite(address: 0x100_1000, bytes: [1, 2, 3], zeroFill: 0x2000 - 3))

        let info = try #require(write(at: LinuxBootLayout.bootParameters, in: plan)).bytes
        #expect(read32(info, 0) == 0x336E_C578)
        #expect(read32(info, 4) == 1)
        #expect(read32(info, 12) == 1)
        #expect(read64(info, 16) == LinuxBootLayout.pvhModuleList)
        #expect(read64(info, 24) == LinuxBootLayout.commandLine)
        #expect(read64(info, 32) == 0xE_0000)
        #expect(read64(info, 40) == LinuxBootLayout.pvhMemoryMap)
        #expect(read32(info, 48) == 3)
        let module = try #require(write(at: LinuxBootLayout.pvhModuleList, in: plan)).bytes
        #expect(read64(module, 0) == (memorySize - 100) & ~0xFFF)
        #expect(read64(module, 8) == 100)
        let map = try #require(write(at: LinuxBootLayout.pvhMemoryMap, in: plan)).bytes
        #expect(map.count == 72)
        #expect(read64(map, 48) == 0x10_0000 && read64(map, 56) == memorySize - 0x10_0000 && read32(map, 64) == 1)
    }

    @Test func anELFWithoutThePVHNoteIsNotAKernelToBoot() {
        #expect(throws: BootError.badKernel("the ELF file has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): not a vmlinux built with CONFIG_PVH")) {
            try LinuxLoader.plan(kernel: pvhImage(withNote: false), options: options())
        }
        #expect(throws: BootError.badEntry("the PVH entry 0x2000000 is outside every loadable segment")) {
            try LinuxLoader.plan(kernel: pvhImage(entry: 0x200_0000), options: options())
        }
    }

    /// The distribution's kernel, where it is installed: its header passes every check.
    @Test func debiansKernelPlans() throws {
        let kernels = (try? FileManager.default.contentsOfDirectory(atPath: "/boot"))?.filter { $0.hasPrefix("vmlinuz-") }.sorted() ?? []
        guard let name = kernels.last, let data = FileManager.default.contents(atPath: "/boot/" + name) else {
            print("skipped: no /boot/vmlinuz-* on this host (apt-get install linux-image-cloud-amd64)")
            return
        }
        let header = try BzImageHeader(parsing: Array(data))
        #expect(header.version >= 0x020C)
        #expect(header.relocatable)
        var options = LinuxBootOptions(memorySize: 512 << 20, commandLine: LinuxCommandLine.defaultCommandLine)
        options.initrd = [1, 2, 3]
        let plan = try LinuxLoader.plan(kernel: Array(data), options: options)
        #expect(plan.registers.rip == 0x10_0200)
    }
}
