import Testing
import VMCore

@Suite struct GuestMemoryTests {
    let memory = try! GuestMemory(ramSize: 1 << 20)

    @Test func storesAndLoadsLittleEndianIntegers() throws {
        try memory.store(UInt32(0x1122_3344), at: 0x1000)
        #expect(try memory.read(0x1000, count: 4) == [0x44, 0x33, 0x22, 0x11])
        #expect(try memory.load(UInt32.self, at: 0x1000) == 0x1122_3344)
        #expect(try memory.load(UInt16.self, at: 0x1001) == 0x2233)
    }

    @Test func accessesUpToTheLastByteSucceed() throws {
        try memory.write([0xAB], at: (1 << 20) - 1)
        #expect(try memory.read((1 << 20) - 1, count: 1) == [0xAB])
        try memory.store(UInt64.max, at: (1 << 20) - 8)
    }

    @Test func accessesPastTheEndAreRefused() {
        #expect(throws: MemoryError.outOfBounds(address: 1 << 20, length: 1)) { try memory.read(1 << 20, count: 1) }
        #expect(throws: MemoryError.outOfBounds(address: (1 << 20) - 4, length: 8)) { try memory.load(UInt64.self, at: (1 << 20) - 4) }
        #expect(throws: MemoryError.self) { try memory.write([1, 2], at: (1 << 20) - 1) }
    }

    @Test func addressArithmeticThatOverflowsIsRefused() {
        #expect(throws: MemoryError.outOfBounds(address: .max, length: 2)) { try memory.withBytes(at: .max, count: 2) { _ in } }
        #expect(throws: MemoryError.self) { try memory.withBytes(at: 0x10, count: .max) { _ in } }
        #expect(throws: MemoryError.self) { try memory.zero(.max - 3, count: 8) }
        #expect(throws: MemoryError.self) { try memory.read(0, count: -1) }
    }

    @Test func firmwareIsReadOnlyAndAliasedBelowOneMebibyte() throws {
        var rom = [UInt8](repeating: 0x90, count: 8192)
        rom[8191] = 0xEE
        rom[0] = 0x11
        let memory = try GuestMemory(ramSize: 2 << 20, rom: rom)
        // The image ends at 4 GiB and, aliased, at 1 MiB.
        #expect(try memory.read(0xFFFF_FFFF, count: 1) == [0xEE])
        #expect(try memory.read(0xFFFF_E000, count: 1) == [0x11])
        #expect(try memory.read(0xF_FFFF, count: 1) == [0xEE])
        #expect(try memory.read(0xF_E000, count: 1) == [0x11])
        #expect(throws: MemoryError.readOnly(address: 0xF_FFF0)) { try memory.write([0], at: 0xF_FFF0) }
        #expect(throws: MemoryError.readOnly(address: 0xFFFF_FFF0)) { try memory.store(UInt8(0), at: 0xFFFF_FFF0) }
        // RAM below the alias and above 1 MiB stays writable; the gap above 3 GiB is unmapped.
        try memory.write([1], at: 0xF_DFFF)
        try memory.write([1], at: 0x10_0000)
        #expect(throws: MemoryError.self) { try memory.read(0xC000_0000, count: 1) }
    }

    @Test func regionsDoNotOverlap() throws {
        let memory = try GuestMemory(ramSize: 16 << 20, rom: [UInt8](repeating: 0, count: 256 << 10))
        let sorted = memory.regions.sorted { $0.guestStart < $1.guestStart }
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(a.guestEnd <= b.guestStart) }
        #expect(sorted.contains { $0.guestStart == 0xE0000 && $0.size == 128 << 10 && $0.readOnly })
        #expect(sorted.contains { $0.guestStart == 0xFFFC_0000 && $0.size == 256 << 10 && $0.readOnly })
    }
}
