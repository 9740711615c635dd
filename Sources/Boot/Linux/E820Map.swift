/// The guest's physical memory map as Linux reads it (the zero page's e820 table, the PVH
/// memory map): RAM below the EBDA, the BIOS area reserved, RAM from 1 MiB to the end.
public struct E820Entry: Sendable, Equatable {
    public enum Kind: UInt32, Sendable {
        case ram = 1
        case reserved = 2
    }
    public var address: UInt64
    public var size: UInt64
    public var kind: Kind
}

public enum E820Map {
    /// Where usable low memory ends, as on a PC with a 1 KiB EBDA (Firecracker's layout): the
    /// kernel needs RAM below 1 MiB for its real-mode trampoline.
    public static let lowMemoryEnd: UInt64 = 0x9_FC00
    public static let highMemoryStart: UInt64 = 0x10_0000

    /// The map for `memorySize` bytes of RAM (at least 1 MiB + 4 KiB, which every Linux plan
    /// checks first).
    public static func entries(memorySize: UInt64) -> [E820Entry] {
        [
            E820Entry(address: 0, size: lowMemoryEnd, kind: .ram),
            E820Entry(address: lowMemoryEnd, size: highMemoryStart - lowMemoryEnd, kind: .reserved),
            E820Entry(address: highMemoryStart, size: memorySize - highMemoryStart, kind: .ram),
        ]
    }
}
