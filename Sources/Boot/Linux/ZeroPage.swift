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
        put32(&page, commandLinePointer, commandLine)
        put32(&page, extendedCommandLinePointer, commandLine >> 32)
        if let initrd {
            put32(&page, ramdiskImage, initrd.address)
            put32(&page, extendedRamdiskImage, initrd.address >> 32)
            put32(&page, ramdiskSize, initrd.size)
            put32(&page, extendedRamdiskSize, initrd.size >> 32)
        }
        if let rsdp { put64(&page, acpiRSDPAddress, rsdp) }
        precondition(memoryMap.count <= e820MaximumEntries)
        page[e820Count] = UInt8(memoryMap.count)
        for (index, entry) in memoryMap.enumerated() {
            let base = e820Table + index * 20
            put64(&page, base, entry.address)
            put64(&page, base + 8, entry.size)
            put32(&page, base + 16, UInt64(entry.kind.rawValue))
        }
    }

    static func put32(_ page: inout [UInt8], _ offset: Int, _ value: UInt64) {
        for index in 0..<4 { page[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
    static func put64(_ page: inout [UInt8], _ offset: Int, _ value: UInt64) {
        for index in 0..<8 { page[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}
