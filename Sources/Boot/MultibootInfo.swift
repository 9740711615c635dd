import VMCore

/// Builds the multiboot information block (spec 3.3) that EBX points to at entry.
struct MultibootInfo {
    // Information flags.
    static let hasMemory: UInt32 = 1 << 0
    static let hasCommandLine: UInt32 = 1 << 2
    static let hasModules: UInt32 = 1 << 3
    static let hasMemoryMap: UInt32 = 1 << 6
    static let hasBootloaderName: UInt32 = 1 << 9
    /// The information structure is 116 bytes up to and including the VBE fields.
    static let structureSize = 116
    /// Memory map entry types.
    static let memoryAvailable: UInt32 = 1, memoryReserved: UInt32 = 2
    /// Where the extended BIOS data area would start; the 640 KiB below are conventional memory.
    static let conventionalMemoryEnd: UInt64 = 0x9FC00
    static let bootloaderName = "swift-vmm"

    struct Module {
        var start: UInt64
        var end: UInt64
        var string: String
    }

    /// The bytes to write at `base` (below 4 GiB: the structure holds 32-bit addresses).
    static func build(at base: UInt64, memorySize: UInt64, commandLine: String, modules: [Module]) throws(BootError) -> [UInt8] {
        var info = [UInt8](repeating: 0, count: structureSize)
        var tail: [UInt8] = []  // everything after the structure, addressed from base + structureSize
        func append(_ bytes: [UInt8]) -> UInt32 {
            let address = UInt32(truncatingIfNeeded: base) &+ UInt32(structureSize + tail.count)
            tail += bytes
            while tail.count % 4 != 0 { tail.append(0) }
            return address
        }
        func put(_ value: UInt32, at offset: Int) { info.store(value, at: offset) }
        var flags = hasMemory | hasCommandLine | hasMemoryMap | hasBootloaderName
        put(640, at: 4)  // mem_lower, in KiB
        put(UInt32((memorySize - 0x10_0000) >> 10), at: 8)  // mem_upper: KiB above 1 MiB
        put(append(Array(commandLine.utf8) + [0]), at: 16)

        var map: [UInt8] = []
        func mapEntry(_ start: UInt64, _ end: UInt64, _ type: UInt32) {
            map += UInt32(20).littleEndianBytes + start.littleEndianBytes + (end - start).littleEndianBytes + type.littleEndianBytes
        }
        mapEntry(0, conventionalMemoryEnd, memoryAvailable)
        mapEntry(conventionalMemoryEnd, 0xA0000, memoryReserved)
        mapEntry(0xF0000, 0x10_0000, memoryReserved)
        mapEntry(0x10_0000, memorySize, memoryAvailable)
        put(UInt32(map.count), at: 44)
        put(append(map), at: 48)
        put(append(Array(bootloaderName.utf8) + [0]), at: 64)

        if !modules.isEmpty {
            flags |= hasModules
            var list: [UInt8] = []
            for module in modules {
                let string = append(Array(module.string.utf8) + [0])
                list +=
                    UInt32(module.start).littleEndianBytes + UInt32(module.end).littleEndianBytes + string.littleEndianBytes
                    + UInt32(0).littleEndianBytes
            }
            put(UInt32(modules.count), at: 20)
            put(append(list), at: 24)
        }
        put(flags, at: 0)
        return info + tail
    }
}
