/// Where the VMM puts its own structures in guest RAM (README's "Guest memory layout").
public enum BootLayout {
    /// The GDT for protected and long mode starts (4 descriptors).
    public static let gdtAddress: UInt64 = 0x500
    /// Long mode: PML4 at 0x1000, PDPT at 0x2000, four page directories at 0x3000-0x6FFF mapping
    /// the low 4 GiB with 2 MiB pages.
    public static let pml4Address: UInt64 = 0x1000
    public static let pageTablesEnd: UInt64 = 0x7000
    /// The stack pointer protected- and long-mode guests start with (grows down, below the EBDA).
    public static let initialStackPointer: UInt64 = 0x80000
    /// The default load address of flat real-mode images, where a BIOS loads a boot sector.
    public static let realModeLoadAddress: UInt64 = 0x7C00
    /// The default load address of flat protected- and long-mode images.
    public static let protectedModeLoadAddress: UInt64 = 0x10_0000
    /// Real mode reaches the first MiB (plus the HMA, which guests get by themselves).
    public static let realModeLimit: UInt64 = 0x10_0000

    /// GDT selectors.
    public static let code32Selector: UInt16 = 0x08
    public static let dataSelector: UInt16 = 0x10
    public static let code64Selector: UInt16 = 0x18

    /// Fails unless RAM holds the structures the VMM writes for `mode` (the GDT; in long mode also
    /// the page tables), so that no plan writes past the end of memory. The CLI's 1 MiB minimum
    /// always does; the library takes any size. (Found by the `image` fuzz target.)
    static func checkStructuresFit(mode: CPUMode, memorySize: UInt64) throws(BootError) {
        let (what, end): (String, UInt64) =
            switch mode {
            case .real: ("", 0)
            case .protected: ("the GDT", gdtAddress + 0x20)
            case .long: ("the GDT and the long-mode page tables", pageTablesEnd)
            }
        guard end <= memorySize else { throw .outsideMemory(what: what, address: gdtAddress, length: end - gdtAddress, memorySize: memorySize) }
    }

    /// The address ranges a loader must not write into for `mode`.
    /// (The multiboot information has no fixed place: it follows the kernel and its modules.)
    static func reservedRanges(for mode: CPUMode) -> [ClosedRange<UInt64>] {
        var ranges: [ClosedRange<UInt64>] = []
        if mode != .real { ranges.append(gdtAddress...(gdtAddress + 0x1F)) }
        if mode == .long { ranges.append(pml4Address...(pageTablesEnd - 1)) }
        return ranges
    }
}
