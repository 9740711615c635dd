import Boot
import TestSupport
import Testing
import VMCore

@Suite struct MultibootTests {
    let memorySize: UInt64 = 32 << 20

    /// An a.out-kludge kernel: header at file offset 0x20, loaded at 0x100000.
    func kludgeKernel(bssEnd: UInt32 = 0x10_2000, entry: UInt32 = 0x10_0040) -> [UInt8] {
        var image = [UInt8](repeating: 0x90, count: 0x20)
        image += multibootHeader(flags: 0x1_0003, addressFields: [0x10_0020, 0x10_0000, 0, bssEnd, entry])
        image += [UInt8](repeating: 0xF4, count: 0x40)
        return image
    }

    func plan(_ image: [UInt8], kernelName: String = "", commandLine: String = "", modules: [(String, [UInt8])] = []) throws -> BootPlan {
        var options = LoadOptions(memorySize: memorySize)
        options.kernelName = kernelName
        options.commandLine = commandLine
        options.modules = modules.map { (name: $0.0, bytes: $0.1) }
        return try ImageLoader.plan(image: image, options: options)
    }

    /// The information block that EBX points to, with its address.
    func info(_ plan: BootPlan) throws -> [UInt8] {
        try #require(plan.writes.first { $0.address == plan.registers.rbx }).bytes
    }

    /// A NUL-terminated string at `address`, found in the information block at `base`.
    func string(at address: UInt32, in info: [UInt8], base: UInt64 = 0x10_2000) -> String {
        let start = Int(UInt64(address) - base)
        return String(decoding: info[start...].prefix { $0 != 0 }, as: UTF8.self)
    }

    @Test func addressFieldsSayWhereTheKernelGoes() throws {
        let image = kludgeKernel()
        #expect(try ImageLoader.detectFormat(image) == .multiboot)
        let plan = try plan(image)
        #expect(plan.mode == .protected)
        #expect(plan.registers.rip == 0x10_0040)
        #expect(plan.registers.rax == 0x2BAD_B002)
        #expect(plan.registers.rbx == 0x10_2000, "the information follows the kernel's bss, page-aligned")
        let kernel = try #require(plan.writes.first { $0.address == 0x10_0000 })
        #expect(kernel.bytes == image)
        #expect(kernel.end == 0x10_2000)
    }

    @Test func informationBlockDescribesMemoryAndCommandLine() throws {
        let info = try info(plan(kludgeKernel(), kernelName: "/boot/kernel", commandLine: "console=ttyS0 quiet"))
        let flags = read32(info, 0)
        #expect(flags & 0x1 != 0 && flags & 0x4 != 0 && flags & 0x40 != 0 && flags & 0x8 == 0)
        #expect(read32(info, 4) == 640)
        #expect(read32(info, 8) == UInt32((memorySize - 0x10_0000) >> 10))
        // argv[0] is the kernel's name, as GRUB and QEMU pass it.
        #expect(string(at: read32(info, 16), in: info) == "/boot/kernel console=ttyS0 quiet")
        #expect(string(at: read32(info, 64), in: info) == "swift-vmm")
        // Memory map: four 24-byte entries; the last one is all RAM above 1 MiB.
        #expect(read32(info, 44) == 4 * 24)
        let map = Int(UInt64(read32(info, 48)) - 0x10_2000)
        #expect(read32(info, map) == 20)
        #expect(read64(info, map + 4) == 0 && read32(info, map + 20) == 1)
        let last = map + 3 * 24
        #expect(read64(info, last + 4) == 0x10_0000)
        #expect(read64(info, last + 12) == memorySize - 0x10_0000)
        #expect(read32(info, last + 20) == 1)
    }

    @Test func modulesArePageAlignedAfterTheKernel() throws {
        let plan = try plan(kludgeKernel(), modules: [("initrd.img", [1, 2, 3]), ("second", [4])])
        let info = try info(plan)
        #expect(read32(info, 0) & 0x8 != 0)
        #expect(read32(info, 20) == 2)
        #expect(plan.registers.rbx == 0x10_4000, "the information follows the last module")
        let list = Int(UInt64(read32(info, 24)) - 0x10_4000)
        #expect(read32(info, list) == 0x10_2000 && read32(info, list + 4) == 0x10_2003)
        #expect(string(at: read32(info, list + 8), in: info, base: 0x10_4000) == "initrd.img")
        #expect(read32(info, list + 16) == 0x10_3000 && read32(info, list + 20) == 0x10_3001)
        #expect(plan.writes.contains(MemoryWrite(address: 0x10_3000, bytes: [4])))
    }

    @Test func multibootWinsOverELF() throws {
        var builder = ELFBuilder(is64: false, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])])
        builder.prefix = multibootHeader(flags: 0x3)
        let image = builder.build()
        #expect(try ImageLoader.detectFormat(image) == .multiboot)
        let plan = try plan(image)
        #expect(plan.registers.rax == 0x2BAD_B002)
        #expect(plan.registers.rip == 0x10_0000)
    }

    @Test func headerBeyondEightKiBIsNotSeen() throws {
        let image = [UInt8](repeating: 0x90, count: 8192) + multibootHeader(flags: 0x3)
        #expect(try ImageLoader.detectFormat(image) == .flat)
        // ...but it is found, so that the CLI can say why the kernel runs as a plain image.
        #expect(MultibootHeader.offsetBeyondSearchLimit(in: image) == 8192)
        #expect(MultibootHeader.offsetBeyondSearchLimit(in: multibootHeader(flags: 0x3)) == nil)
        #expect(MultibootHeader.offsetBeyondSearchLimit(in: [UInt8](repeating: 0, count: 8192) + multibootHeader(flags: 3, checksum: 1)) == nil)
    }

    @Test func badChecksumIsAnError() {
        let image = multibootHeader(flags: 0x3, checksum: 0x1234) + [0xF4]
        #expect(throws: BootError.badMultiboot("header at offset 0x0 has a bad checksum 0x1234")) { try plan(image) }
    }

    @Test func unknownRequiredFlagsAreAnError() {
        #expect(throws: BootError.badMultiboot("header requires features this loader does not know (flags 0x10)")) {
            try plan(multibootHeader(flags: 0x13) + [0xF4])
        }
    }

    @Test func headerWithoutAddressFieldsNeedsAnELFImage() {
        #expect(throws: BootError.badMultiboot("the header has no address fields (flag 16) and the image is not ELF")) {
            try plan(multibootHeader(flags: 0x3) + [0xF4])
        }
    }

    @Test func inconsistentAddressFieldsAreAnError() {
        var image = [UInt8](repeating: 0x90, count: 0x20)
        image += multibootHeader(flags: 0x1_0003, addressFields: [0x10_0000, 0x10_1000, 0, 0, 0x10_1000])
        #expect(throws: BootError.self) { try plan(image) }
        #expect(throws: BootError.self) { try plan(kludgeKernel(bssEnd: 0x10_0001)) }  // bss ends before the load end
        #expect(throws: BootError.self) { try plan(kludgeKernel(bssEnd: UInt32(memorySize) + 0x1000)) }
    }

    @Test func aCommandLineWithoutAKernelNameIsTheCommandLineAlone() throws {
        let info = try info(plan(kludgeKernel(), commandLine: "-v quiet"))
        #expect(string(at: read32(info, 16), in: info) == "-v quiet")
    }

    @Test func aKernelLinkedAt32KiBLoadsAndItsInformationFollowsIt() throws {
        // A common real-mode test layout: the kernel at 0x8000, where the VMM once kept its own.
        var image = [UInt8](repeating: 0x90, count: 0x20)
        image += multibootHeader(flags: 0x1_0003, addressFields: [0x8020, 0x8000, 0, 0x9000, 0x8040])
        image += [UInt8](repeating: 0xF4, count: 0x40)
        let plan = try plan(image, kernelName: "k")
        #expect(plan.writes.contains { $0.address == 0x8000 && $0.bytes == image })
        #expect(plan.registers.rbx == 0x9000)
        let info = try info(plan)
        #expect(string(at: read32(info, 16), in: info, base: 0x9000) == "k")
    }

    @Test func aCommandLineLargerThanMemoryIsAnError() {
        #expect(throws: BootError.self) { try plan(kludgeKernel(), commandLine: String(repeating: "x", count: Int(memorySize))) }
    }

    @Test func aLongCommandLineFits() throws {
        let long = String(repeating: "x", count: 40000)
        let info = try info(plan(kludgeKernel(), commandLine: long))
        #expect(string(at: read32(info, 16), in: info) == long)
    }
}
