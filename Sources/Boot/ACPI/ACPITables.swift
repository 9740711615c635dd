import VMCore

/// What the ACPI tables describe: the parts of the platform Linux cannot discover by itself.
public struct ACPIConfiguration: Sendable, Equatable {
    /// vCPUs, with APIC IDs and processor UIDs 0 to `cpuCount - 1`.
    public var cpuCount: Int
    /// The one-byte I/O port that is the FADT's reset register, sleep control register and
    /// sleep status register (the power-control device, `ACPIPowerControl` in Devices).
    public var powerControlPort: UInt16
    /// What the guest writes to the reset register to reset the machine (FADT RESET_VALUE).
    public var resetValue: UInt8
    /// The virtio-mmio transports, declared as `\_SB.V000`, `V001`, ... in this order.
    public var virtioDevices: [VirtioMMIODescription]
    /// The I/O APIC's ID (what its ID register reads; ours and KVM's reset to 0).
    public var ioAPICID: UInt8

    public init(
        cpuCount: Int, powerControlPort: UInt16, resetValue: UInt8, virtioDevices: [VirtioMMIODescription] = [], ioAPICID: UInt8 = 0
    ) {
        self.cpuCount = cpuCount
        self.powerControlPort = powerControlPort
        self.resetValue = resetValue
        self.virtioDevices = virtioDevices
        self.ioAPICID = ioAPICID
    }
}

/// One virtio-mmio transport: its register window and the I/O APIC GSI it raises (level
/// triggered, active high).
public struct VirtioMMIODescription: Sendable, Equatable {
    public var base: UInt32
    /// 0x200 covers the version 2 register layout and a small config space; 0x1000 a page.
    public var length: UInt32
    public var gsi: UInt32

    public init(base: UInt32, length: UInt32 = 0x200, gsi: UInt32) {
        self.base = base
        self.length = length
        self.gsi = gsi
    }
}

/// The built tables: one contiguous blob that starts with the RSDP.
public struct ACPITableSet: Sendable, Equatable {
    /// Where one table sits, for logs and tests.
    public struct Placement: Sendable, Equatable {
        /// "RSDP" for the root pointer, else the table's signature ("XSDT", "FACP", "APIC", "DSDT").
        public var signature: String
        public var address: UInt64
        public var length: Int
    }

    /// The RSDP's guest-physical address (the blob's first byte): for boot_params.acpi_rsdp_addr
    /// and the PVH start info's rsdp_paddr.
    public let rsdpAddress: UInt64
    public let bytes: [UInt8]
    /// RSDP, XSDT, FACP, APIC, DSDT, in address order.
    public let tables: [Placement]

    /// The write that places the tables in guest RAM.
    public var memoryWrite: MemoryWrite { MemoryWrite(address: rsdpAddress, bytes: bytes) }
    /// The guest-physical range the tables occupy (to keep out of the e820 map's usable RAM).
    public var range: Range<UInt64> { rsdpAddress..<rsdpAddress + UInt64(bytes.count) }
}

/// Why a table set could not be built.
public enum ACPITableError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupportedCPUCount(Int, supported: ClosedRange<Int>)
    case misalignedBase(UInt64)
    case above4GiB(base: UInt64, size: Int)
    case tooLarge(size: Int, limit: Int)
    case tooManyVirtioDevices(count: Int, limit: Int)
    case badVirtioDevice(index: Int, reason: String)

    public var description: String {
        switch self {
        case .unsupportedCPUCount(let count, let supported):
            return "ACPI tables: \(count) vCPUs; the MADT's xAPIC entries describe \(supported.lowerBound) to \(supported.upperBound)"
        case .misalignedBase(let base):
            return "ACPI tables: the RSDP at \(hex(base)) is not 16-byte aligned, so a BIOS-area scan would miss it"
        case .above4GiB(let base, let size):
            return "ACPI tables: \(size) bytes at \(hex(base)) reach above 4 GiB, out of reach of the FADT's 32-bit DSDT field"
        case .tooLarge(let size, let limit):
            return "ACPI tables: \(size) bytes, more than the \(limit) bytes reserved for them"
        case .tooManyVirtioDevices(let count, let limit):
            return "ACPI tables: \(count) virtio devices, more than the \(limit) the DSDT can name"
        case .badVirtioDevice(let index, let reason):
            return "ACPI tables: virtio device \(index): \(reason)"
        }
    }
}

/// The ACPI table set for a hardware-reduced PC platform, the minimal one that boots Debian's
/// cloud kernel with SMP, the I/O APIC, ttyS0 on its IRQ and virtio-mmio (linux-boot-notes 4):
/// RSDP revision 2 -> XSDT -> FADT revision 6 (-> DSDT) and MADT.
public enum ACPITables {
    /// The usual place: the start of the BIOS read-only area, which Linux scans for the RSDP on
    /// 16-byte boundaries (0xE0000-0xFFFFF) when it is not told the address.
    public static let conventionalBase: UInt64 = 0xE_0000
    public static let defaultSizeLimit = 0x1_0000
    /// SLP_TYP for S5 in the DSDT's `\_S5` object: Linux powers off by writing
    /// `softOffSleepType << 2 | 1 << 5` (SLP_EN) = 0x34 to the sleep control register.
    public static let softOffSleepType: UInt8 = 5
    /// xAPIC IDs are 8 bits and 0xFF is the broadcast ID.
    public static let supportedCPUCounts = 1...255
    /// The I/O APIC's pins (ours and KVM's), so the GSIs a device may use.
    public static let ioAPICPins: UInt32 = 24
    /// V000-V999.
    public static let maximumVirtioDevices = 1000
    /// Each table starts 8-byte aligned (the XSDT's 64-bit entries, and tidy offsets).
    static let tableAlignment = 8

    /// Builds the tables for `config`, to be placed at guest-physical `base` (16-byte aligned,
    /// below 4 GiB); the result is at most `sizeLimit` bytes or an error says by how much not.
    public static func build(
        _ config: ACPIConfiguration, at base: UInt64, sizeLimit: Int = defaultSizeLimit
    ) throws(ACPITableError) -> ACPITableSet {
        try validate(config, base: base)
        let madt = MADT.table(cpuCount: config.cpuCount, ioAPICID: config.ioAPICID)
        let dsdt = DSDT.table(virtioDevices: config.virtioDevices)
        // Addresses first: every table's length is known without them except the FADT's and
        // XSDT's, whose lengths are fixed.
        let xsdtOffset = aligned(RootPointers.rsdpLength)
        let xsdtLength = ACPITable.headerLength + 8 * 2
        let fadtOffset = aligned(xsdtOffset + xsdtLength)
        let madtOffset = aligned(fadtOffset + FADT.length)
        let dsdtOffset = aligned(madtOffset + madt.count)
        let size = dsdtOffset + dsdt.count
        guard size <= sizeLimit else { throw .tooLarge(size: size, limit: sizeLimit) }
        guard base + UInt64(size) <= 1 << 32 else { throw .above4GiB(base: base, size: size) }

        let address = { (offset: Int) in base + UInt64(offset) }
        let fadt = FADT.table(
            dsdtAddress: UInt32(address(dsdtOffset)), powerControlPort: config.powerControlPort, resetValue: config.resetValue)
        let xsdt = RootPointers.xsdt(entries: [address(fadtOffset), address(madtOffset)])
        let rsdp = RootPointers.rsdp(xsdtAddress: address(xsdtOffset))
        assert(xsdt.count == xsdtLength && fadt.count == FADT.length)

        var bytes = [UInt8](repeating: 0, count: size)
        var tables: [ACPITableSet.Placement] = []
        for (signature, offset, table) in [
            ("RSDP", 0, rsdp), ("XSDT", xsdtOffset, xsdt), ("FACP", fadtOffset, fadt), ("APIC", madtOffset, madt), ("DSDT", dsdtOffset, dsdt),
        ] {
            bytes.replaceSubrange(offset..<offset + table.count, with: table)
            tables.append(ACPITableSet.Placement(signature: signature, address: address(offset), length: table.count))
        }
        return ACPITableSet(rsdpAddress: base, bytes: bytes, tables: tables)
    }

    private static func validate(_ config: ACPIConfiguration, base: UInt64) throws(ACPITableError) {
        guard supportedCPUCounts.contains(config.cpuCount) else {
            throw .unsupportedCPUCount(config.cpuCount, supported: supportedCPUCounts)
        }
        guard base % 16 == 0 else { throw .misalignedBase(base) }
        guard base < 1 << 32 else { throw .above4GiB(base: base, size: 0) }
        guard config.virtioDevices.count <= maximumVirtioDevices else {
            throw .tooManyVirtioDevices(count: config.virtioDevices.count, limit: maximumVirtioDevices)
        }
        for (index, device) in config.virtioDevices.enumerated() {
            guard device.length > 0, UInt64(device.base) + UInt64(device.length) <= 1 << 32 else {
                throw .badVirtioDevice(index: index, reason: "window \(hex(device.base)) + \(hex(device.length)) is empty or passes 4 GiB")
            }
            guard device.gsi < ioAPICPins, device.gsi != ACPIDevices.com1GSI, device.gsi != ACPIDevices.rtcGSI else {
                throw .badVirtioDevice(
                    index: index,
                    reason:
                        "GSI \(device.gsi) is not a free I/O APIC pin (0-\(ioAPICPins - 1), COM1 has \(ACPIDevices.com1GSI), the RTC \(ACPIDevices.rtcGSI))"
                )
            }
        }
    }

    private static func aligned(_ offset: Int) -> Int {
        (offset + tableAlignment - 1) / tableAlignment * tableAlignment
    }
}
