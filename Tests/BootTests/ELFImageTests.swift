import Boot
import TestSupport
import Testing
import VMCore

@Suite struct ELFImageTests {
    let memorySize: UInt64 = 16 << 20

    func plan(_ bytes: [UInt8]) throws -> BootPlan {
        try ImageLoader.plan(image: bytes, options: LoadOptions(memorySize: memorySize))
    }

    @Test func elf64LoadsSegmentsAtPhysicalAddressesAndStartsInLongMode() throws {
        let image = ELFBuilder(
            is64: true, entry: 0x10_0004,
            segments: [
                .init(physicalAddress: 0x10_0000, contents: [1, 2, 3, 4, 0xF4]),
                .init(physicalAddress: 0x20_0000, contents: [9, 9], memorySize: 0x1000),
            ]
        ).build()
        #expect(try ImageLoader.detectFormat(image) == .elf64)
        let plan = try plan(image)
        #expect(plan.mode == .long)
        #expect(plan.registers.rip == 0x10_0004)
        #expect(plan.systemRegisters.cs.long)
        #expect(plan.writes.contains(MemoryWrite(address: 0x10_0000, bytes: [1, 2, 3, 4, 0xF4])))
        #expect(plan.writes.contains(MemoryWrite(address: 0x20_0000, bytes: [9, 9], zeroFill: 0x1000 - 2)))
    }

    @Test func elf32StartsInProtectedMode() throws {
        let image = ELFBuilder(is64: false, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])]).build()
        #expect(try ImageLoader.detectFormat(image) == .elf32)
        let plan = try plan(image)
        #expect(plan.mode == .protected)
        #expect(!plan.systemRegisters.cs.long && plan.systemRegisters.cs.defaultSize32)
        #expect(plan.systemRegisters.cr0 & ControlBits.cr0Paging == 0)
    }

    @Test func aHigherHalfEntryIsTranslatedThroughItsSegment() throws {
        let image = ELFBuilder(
            is64: true, entry: 0xFFFF_FFFF_8000_0010,
            segments: [
                .init(physicalAddress: 0x10_0000, virtualAddress: 0xFFFF_FFFF_8000_0000, contents: [UInt8](repeating: 0x90, count: 32))
            ]
        ).build()
        #expect(try plan(image).registers.rip == 0x10_0010)
    }

    @Test func rejectsAnEntryOutsideEverySegment() {
        let image = ELFBuilder(is64: true, entry: 0x30_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])]).build()
        #expect(throws: BootError.badEntry("0x300000 is outside every loadable segment")) { try plan(image) }
    }

    @Test func rejectsBadIdentification() {
        var image = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])]).build()
        image[4] = 3
        #expect(throws: BootError.badELF("unknown class 3 (expected 1 for ELF32 or 2 for ELF64)")) { try plan(image) }
        image[4] = 2
        image[5] = 2
        #expect(throws: BootError.badELF("data encoding 2 is not little-endian")) { try plan(image) }
    }

    @Test func rejectsPositionIndependentExecutablesWithAHint() {
        var builder = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])])
        builder.type = 3
        #expect(throws: BootError.self) { try plan(builder.build()) }
        do { _ = try plan(builder.build()) } catch let error as BootError { #expect(error.description.contains("-static -no-pie")) } catch {
            Issue.record(error)
        }
    }

    @Test func rejectsTheWrongMachine() {
        var builder = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])])
        builder.machine = 183  // AArch64
        #expect(throws: BootError.badELF("machine 183 is not x86-64 (62)")) { try plan(builder.build()) }
    }

    @Test func rejectsTruncatedFiles() {
        let image = ELFBuilder(
            is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [UInt8](repeating: 0xF4, count: 100))]
        ).build()
        #expect(throws: BootError.truncated(what: "the ELF header", needed: 64, available: 40)) { try plan(Array(image[..<40])) }
        #expect(throws: BootError.truncated(what: "program header 0", needed: 120, available: 100)) { try plan(Array(image[..<100])) }
        #expect(throws: BootError.truncated(what: "segment 0's contents", needed: 220, available: 150)) { try plan(Array(image[..<150])) }
    }

    @Test func rejectsOffsetsThatOverflow() {
        var image = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])]).build()
        put64(&image, 64 + 8, .max - 1)  // p_offset
        #expect(throws: BootError.self) { try plan(image) }
        var image2 = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])]).build()
        put64(&image2, 32, .max - 10)  // e_phoff
        #expect(throws: BootError.self) { try plan(image2) }
    }

    @Test func rejectsFileSizeLargerThanMemorySize() {
        var image = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4, 0xF4])]).build()
        put64(&image, 64 + 40, 1)  // p_memsz < p_filesz
        #expect(throws: BootError.badELF("segment 0 has a file size (2) larger than its memory size (1)")) { try plan(image) }
    }

    @Test func rejectsSegmentsOutsideMemoryOrOverlapping() {
        let outside = ELFBuilder(
            is64: true, entry: 0x10_0000,
            segments: [
                .init(physicalAddress: 0x10_0000, contents: [0xF4]),
                .init(physicalAddress: memorySize - 1, contents: [0], memorySize: 2),
            ]
        ).build()
        #expect(throws: BootError.outsideMemory(what: "ELF segment at 0xffffff", address: memorySize - 1, length: 2, memorySize: memorySize)) {
            try plan(outside)
        }
        let wrapping = ELFBuilder(
            is64: true, entry: 0x10_0000,
            segments: [
                .init(physicalAddress: 0x10_0000, contents: [0xF4]), .init(physicalAddress: .max, contents: [], memorySize: 2),
            ]
        ).build()
        #expect(throws: BootError.self) { try plan(wrapping) }
        let overlapping = ELFBuilder(
            is64: true, entry: 0x10_0000,
            segments: [
                .init(physicalAddress: 0x10_0000, contents: [0xF4], memorySize: 0x100), .init(physicalAddress: 0x10_0080, contents: [1]),
            ]
        ).build()
        #expect(throws: BootError.overlappingSegments(first: 0x10_0000, second: 0x10_0080)) { try plan(overlapping) }
        let onPageTables = ELFBuilder(is64: true, entry: 0x2000, segments: [.init(physicalAddress: 0x2000, contents: [0xF4])]).build()
        #expect(throws: BootError.self) { try plan(onPageTables) }
    }

    @Test func rejectsImagesWithoutLoadableSegments() {
        var image = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4])]).build()
        put32(&image, 64, 4)  // PT_NOTE
        #expect(throws: BootError.badELF("it has no loadable (PT_LOAD) segments")) { try plan(image) }
    }
}
