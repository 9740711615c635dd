import VMCore

/// The real-mode setup header of a bzImage (Documentation/x86/boot.rst, "The Real-Mode Kernel
/// Header"), checked field by field before a loader relies on it.
public struct BzImageHeader: Sendable, Equatable {
    // Offsets in the image file (and in the zero page, which holds a copy of the header).
    static let setupSectorsOffset: UInt64 = 0x1F1
    static let bootFlagOffset: UInt64 = 0x1FE
    static let headerEndByteOffset: UInt64 = 0x201
    static let magicOffset: UInt64 = 0x202
    static let versionOffset: UInt64 = 0x206
    static let loadFlagsOffset: UInt64 = 0x211
    static let initrdAddressMaxOffset: UInt64 = 0x22C
    static let kernelAlignmentOffset: UInt64 = 0x230
    static let relocatableOffset: UInt64 = 0x234
    static let extendedLoadFlagsOffset: UInt64 = 0x236
    static let commandLineSizeOffset: UInt64 = 0x238
    static let preferredAddressOffset: UInt64 = 0x258
    static let initSizeOffset: UInt64 = 0x260

    static let bootFlag: UInt16 = 0xAA55
    static let magic: UInt32 = 0x5372_6448  // "HdrS"
    /// 2.12: the 64-bit entry point, `xloadflags` and everything a 64-bit loader fills in.
    public static let minimumVersion: UInt16 = 0x020C
    /// xloadflags bit 0: the kernel has the 64-bit entry at the load address + 0x200.
    static let kernel64Flag: UInt16 = 1 << 0
    /// The 64-bit entry's offset from the start of the protected-mode part.
    public static let entry64Offset: UInt64 = 0x200

    /// Boot protocol version, e.g. 0x020F.
    public var version: UInt16
    /// Size of the real-mode part (boot sector + setup) in the file.
    public var setupSize: UInt64
    /// Offset one past the last header byte; the loader copies [0x1F1, headerEnd) to the zero page.
    public var headerEnd: UInt64
    public var initrdAddressMax: UInt64
    public var kernelAlignment: UInt64
    public var relocatable: Bool
    /// The longest command line the kernel takes, without its terminating NUL.
    public var commandLineLimit: UInt64
    /// Where the kernel wants to run (decompress to) and how much memory it needs from there.
    public var preferredAddress: UInt64
    public var initSize: UInt64

    /// Whether `bytes` look like a bzImage at all (boot flag and "HdrS"), before the full check.
    public static func hasMagic(_ bytes: [UInt8]) -> Bool {
        let reader = ByteReader(bytes: bytes)
        return (try? reader.u16(bootFlagOffset, "")) == bootFlag && (try? reader.u32(magicOffset, "")) == magic
    }

    public init(parsing bytes: [UInt8]) throws(BootError) {
        let reader = ByteReader(bytes: bytes)
        guard try reader.u16(Self.bootFlagOffset, "the boot sector's 0xAA55 flag") == Self.bootFlag,
            try reader.u32(Self.magicOffset, "the setup header's magic") == Self.magic
        else { throw .badKernel("no Linux setup header (boot flag 0xAA55 and \"HdrS\" at 0x202)") }
        version = try reader.u16(Self.versionOffset, "the boot protocol version")
        guard version >= Self.minimumVersion else {
            throw .badKernel(
                "boot protocol version \(version >> 8).\(version & 0xFF) is older than 2.12, the first with the 64-bit entry (a kernel before 3.8?)")
        }
        let sectors = UInt64(try reader.u8(Self.setupSectorsOffset, "setup_sects"))
        setupSize = ((sectors == 0 ? 4 : sectors) + 1) * 512
        headerEnd = Self.magicOffset + UInt64(try reader.u8(Self.headerEndByteOffset, "the header's length byte"))
        guard headerEnd >= Self.initSizeOffset + 4 else {
            throw .badKernel("the setup header ends at \(hex(headerEnd)), before init_size (protocol 2.12 needs at least 0x264)")
        }
        _ = try reader.slice(0, headerEnd, "the setup header")
        let extendedLoadFlags = try reader.u16(Self.extendedLoadFlagsOffset, "xloadflags")
        guard extendedLoadFlags & Self.kernel64Flag != 0 else {
            throw .badKernel("the kernel has no 64-bit entry point (xloadflags bit 0 clear): a 32-bit kernel")
        }
        initrdAddressMax = UInt64(try reader.u32(Self.initrdAddressMaxOffset, "initrd_addr_max"))
        kernelAlignment = UInt64(try reader.u32(Self.kernelAlignmentOffset, "kernel_alignment"))
        relocatable = try reader.u8(Self.relocatableOffset, "relocatable_kernel") != 0
        commandLineLimit = UInt64(try reader.u32(Self.commandLineSizeOffset, "cmdline_size"))
        preferredAddress = try reader.u64(Self.preferredAddressOffset, "pref_address")
        initSize = UInt64(try reader.u32(Self.initSizeOffset, "init_size"))
        guard kernelAlignment.nonzeroBitCount == 1 else { throw .badKernel("kernel_alignment \(hex(kernelAlignment)) is not a power of two") }
        guard UInt64(bytes.count) > setupSize else {
            throw .truncated(
                what: "the protected-mode kernel after \(setupSize) bytes of setup", needed: setupSize + 1, available: UInt64(bytes.count))
        }
        guard initSize > 0 else { throw .badKernel("init_size is 0") }
    }
}
