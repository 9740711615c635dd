/// The zero page (`struct boot_params`, Documentation/x86/zero-page.rst) that the 64-bit boot
/// protocol hands the kernel in RSI: the image's setup header, copied by the caller, plus what
/// the loader fills in.
enum ZeroPage {
    static let acpiRSDPAddress = 0x070
    static let extendedRamdiskImage = 0x0C0
    static let extendedRamdiskSize = 0x0C4
    static let extendedCommandLinePointer = 0x0C8
    static let e820Count = 0x1E8
    static let typeOfLoader = 0x210
    static let loadFlags = 0x211
    static let ramdiskImage = 0x218
    static let ramdiskSize = 0x21C
    static let commandLinePointer = 0x228
    static let e820Table = 0x2D0
    static let e820MaximumEntries = 128

    /// "Undefined" boot loader: any nonzero value, or the kernel ignores the initrd.
    static let undefinedLoader: UInt8 = 0xFF
    /// loadflags: the protected-mode code is loaded at 1 MiB (bzImage).
    static let loadedHigh: UInt8 = 1 << 0

    static func fill(
        _ page: inout [UInt8], commandLine: UInt64, initrd: (address: UInt64, size: UInt64)?, rsdp: UInt64?, memoryMap: [E820Entry]
    ) {
        page[typeOfLoader] = undefinedLoader
        page[loadFlags] |= loadedHigh
        page.store(UInt32(truncatingIfNeeded: commandLine), at: commandLinePointer)
        page.store(UInt32(truncatingIfNeeded: commandLine >> 32), at: extendedCommandLinePointer)
        if let initrd {
            page.store(UInt32(truncatingIfNeeded: initrd.address), at: ramdiskImage)
            page.store(UInt32(truncatingIfNeeded: initrd.address >> 32), at: extendedRamdiskImage)
            page.store(UInt32(truncatingIfNeeded: initrd.size), at: ramdiskSize)
            page.store(UInt32(truncatingIfNeeded: initrd.size >> 32), at: extendedRamdiskSize)
        }
        if let rsdp { page.store(rsdp, at: acpiRSDPAddress) }
        precondition(memoryMap.count <= e820MaximumEntries)
        page[e820Count] = UInt8(memoryMap.count)
        for (index, entry) in memoryMap.enumerated() {
            let base = e820Table + index * 20
            page.store(entry.address, at: base)
            page.store(entry.size, at: base + 8)
            page.store(entry.kind.rawValue, at: base + 16)
        }
    }
}
