import VMCore

/// The vCPU state and memory structures for each start mode, as pure functions.
public enum CPUModeSetup {
    /// Flat code, data and 64-bit code descriptors (Intel SDM vol. 3, 3.4.5), at the selectors in
    /// `BootLayout`: null, code32 (0x08), data (0x10), code64 (0x18).
    static let gdtEntries: [UInt64] = [
        0,
        0x00CF_9A00_0000_FFFF,  // base 0, limit 4 GiB, present, DPL 0, execute/read, D=1, G=1
        0x00CF_9200_0000_FFFF,  // base 0, limit 4 GiB, present, DPL 0, read/write, D=1, G=1
        0x00AF_9A00_0000_FFFF,  // as code32 but L=1, D=0: 64-bit code
    ]

    /// Page-directory entry flags: present, writable, 2 MiB page (PS).
    static let largePageFlags: UInt64 = 0x83
    /// Upper-level table entry flags: present, writable.
    static let tableFlags: UInt64 = 0x03
    /// How much the long-mode identity map covers: all RAM and the firmware window below 4 GiB.
    static let identityMapSize: UInt64 = 4 << 30

    /// The x86 state after RESET (Intel SDM vol. 3, table 9-1): real mode at F000:FFF0, with CS's
    /// hidden base at FFFF0000 so the first fetch comes from the top of the 4 GiB space.
    public static func resetState() -> (Registers, SystemRegisters) {
        var registers = Registers()
        registers.rip = 0xFFF0
        registers.rdx = 0x600  // processor signature: family 6
        var system = realModeSegments(codeSegment: 0xF000)
        system.cs.base = 0xFFFF_0000
        return (registers, system)
    }

    /// Real mode with CS:IP reaching `entry`, DS=ES=SS=0 and SP just below `stackTop`.
    public static func realMode(entry: UInt64, stackTop: UInt64) throws(BootError) -> (Registers, SystemRegisters) {
        guard entry < BootLayout.realModeLimit else {
            throw .badEntry("\(hex(entry)) is above 1 MiB, out of reach of real mode")
        }
        // CS:IP = 0000:entry where it fits in 16 bits, as a BIOS jumps to 0000:7C00.
        let codeSegment = entry <= 0xFFFF ? 0 : UInt16((entry >> 4) & 0xF000)
        var registers = Registers()
        registers.rip = entry - UInt64(codeSegment) << 4
        registers.rsp = stackTop
        return (registers, realModeSegments(codeSegment: codeSegment))
    }

    static func realModeSegments(codeSegment: UInt16) -> SystemRegisters {
        var system = SystemRegisters()
        func segment(_ selector: UInt16, type: UInt8) -> Segment {
            Segment(base: UInt64(selector) << 4, limit: 0xFFFF, selector: selector, type: type, defaultSize32: false, granularity: false)
        }
        system.cs = segment(codeSegment, type: 0xB)  // execute/read, accessed
        system.ds = segment(0, type: 0x3)  // read/write, accessed
        system.es = system.ds; system.fs = system.ds; system.gs = system.ds; system.ss = system.ds
        system.cr0 = ControlBits.cr0ExtensionType
        return system
    }

    /// 32-bit protected mode, flat 4 GiB segments, CPL 0, paging off: the GDT to write and the
    /// registers. The multiboot handoff uses the same state.
    public static func protectedMode(entry: UInt64) -> (MemoryWrite, Registers, SystemRegisters) {
        var system = SystemRegisters()
        system.cs = flatSegment(selector: BootLayout.code32Selector, type: 0xB, long: false)
        system.ds = flatSegment(selector: BootLayout.dataSelector, type: 0x3, long: false)
        system.es = system.ds; system.fs = system.ds; system.gs = system.ds; system.ss = system.ds
        system.gdt = DescriptorTable(base: BootLayout.gdtAddress, limit: UInt16(gdtEntries.count * 8 - 1))
        system.idt = DescriptorTable(base: 0, limit: 0)
        system.cr0 = ControlBits.cr0ProtectionEnable | ControlBits.cr0ExtensionType
        var registers = Registers()
        registers.rip = entry
        registers.rsp = BootLayout.initialStackPointer
        return (gdtWrite(), registers, system)
    }

    /// 64-bit long mode at CPL 0 with the low 4 GiB identity-mapped by 2 MiB pages (1 GiB pages
    /// triple-fault under some KVM implementations): the GDT and page tables to write, and the
    /// registers.
    public static func longMode(entry: UInt64) -> ([MemoryWrite], Registers, SystemRegisters) {
        var (gdt, registers, system) = protectedMode(entry: entry)
        system.cs = flatSegment(selector: BootLayout.code64Selector, type: 0xB, long: true)
        system.cr0 |= ControlBits.cr0Paging
        system.cr3 = BootLayout.pml4Address
        system.cr4 = ControlBits.cr4PhysicalAddressExtension
        system.efer = ControlBits.eferLongModeEnable | ControlBits.eferLongModeActive
        registers.rip = entry
        return ([gdt] + identityMapTables(), registers, system)
    }

    static func flatSegment(selector: UInt16, type: UInt8, long: Bool) -> Segment {
        Segment(base: 0, limit: 0xFFFF_FFFF, selector: selector, type: type, defaultSize32: !long, long: long, granularity: true)
    }

    static func gdtWrite() -> MemoryWrite {
        MemoryWrite(address: BootLayout.gdtAddress, bytes: gdtEntries.flatMap(\.littleEndianBytes))
    }

    /// PML4 -> one PDPT -> four page directories of 512 2 MiB pages each.
    static func identityMapTables() -> [MemoryWrite] {
        let pdptAddress = BootLayout.pml4Address + 0x1000
        let firstDirectory = pdptAddress + 0x1000
        let directoryCount = identityMapSize >> 30
        var pml4 = [UInt64](repeating: 0, count: 512)
        pml4[0] = pdptAddress | tableFlags
        var pdpt = [UInt64](repeating: 0, count: 512)
        var directories: [UInt64] = []
        for gigabyte in 0..<directoryCount {
            pdpt[Int(gigabyte)] = (firstDirectory + gigabyte * 0x1000) | tableFlags
            for page in 0..<UInt64(512) {
                directories.append((gigabyte << 30 | page << 21) | largePageFlags)
            }
        }
        return [
            MemoryWrite(address: BootLayout.pml4Address, bytes: pml4.flatMap(\.littleEndianBytes)),
            MemoryWrite(address: pdptAddress, bytes: pdpt.flatMap(\.littleEndianBytes)),
            MemoryWrite(address: firstDirectory, bytes: directories.flatMap(\.littleEndianBytes)),
        ]
    }
}

extension FixedWidthInteger {
    /// The value's bytes, least significant first.
    var littleEndianBytes: [UInt8] {
        (0..<(Self.bitWidth / 8)).map { UInt8(truncatingIfNeeded: self >> ($0 * 8)) }
    }
}

extension [UInt8] {
    /// Stores `value` little-endian at `offset` (a structure's field; the bytes must exist).
    mutating func store(_ value: some FixedWidthInteger, at offset: Int) {
        replaceSubrange(offset..<offset + value.bitWidth / 8, with: value.littleEndianBytes)
    }
}
