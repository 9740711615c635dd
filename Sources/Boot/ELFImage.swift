import VMCore

/// An ELF32 or ELF64 x86 executable: its loadable segments at their physical addresses.
public struct ELFImage: Sendable, Equatable {
    public enum Class: Sendable { case elf32, elf64 }

    public struct Segment: Sendable, Equatable {
        public var physicalAddress: UInt64
        public var virtualAddress: UInt64
        public var fileOffset: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
    }

    public var elfClass: Class
    /// The entry point from the header, as a virtual address.
    public var entry: UInt64
    public var segments: [Segment]

    /// Whether `bytes` start with the ELF magic number.
    public static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x7F && bytes[1] == 0x45 && bytes[2] == 0x4C && bytes[3] == 0x46
    }

    // ELF constants (System V ABI, "ELF header" and "Program header").
    static let classELF32: UInt8 = 1, classELF64: UInt8 = 2
    static let dataLittleEndian: UInt8 = 1
    static let typeExecutable: UInt16 = 2, typeShared: UInt16 = 3
    static let machine386: UInt16 = 3, machineX8664: UInt16 = 62
    static let programTypeLoad: UInt32 = 1
    /// Program headers beyond this are not a real executable; the cap bounds the loader's work.
    static let maximumProgramHeaders = 256

    /// Parses the header and program headers, checking each field before it is used.
    public init(parsing bytes: [UInt8]) throws(BootError) {
        let reader = ByteReader(bytes: bytes)
        guard Self.hasMagic(bytes) else { throw .badELF("no ELF magic number") }
        let fileClass = try reader.u8(4, "the ELF identification")
        switch fileClass {
        case Self.classELF32: elfClass = .elf32
        case Self.classELF64: elfClass = .elf64
        default: throw .badELF("unknown class \(fileClass) (expected 1 for ELF32 or 2 for ELF64)")
        }
        let encoding = try reader.u8(5, "the ELF identification")
        guard encoding == Self.dataLittleEndian else { throw .badELF("data encoding \(encoding) is not little-endian") }
        let is64 = elfClass == .elf64
        let headerSize: UInt64 = is64 ? 64 : 52
        _ = try reader.slice(0, headerSize, "the ELF header")

        let type = try reader.u16(16, "e_type")
        guard type == Self.typeExecutable else {
            throw .badELF(
                type == Self.typeShared
                    ? "it is position-independent (ET_DYN); link a static executable at fixed addresses (-static -no-pie)"
                    : "type \(type) is not an executable (ET_EXEC)")
        }
        let machine = try reader.u16(18, "e_machine")
        let expectedMachine = is64 ? Self.machineX8664 : Self.machine386
        guard machine == expectedMachine else {
            throw .badELF("machine \(machine) is not \(is64 ? "x86-64 (62)" : "i386 (3)")")
        }
        entry = is64 ? try reader.u64(24, "e_entry") : UInt64(try reader.u32(24, "e_entry"))
        let programHeaderOffset = is64 ? try reader.u64(32, "e_phoff") : UInt64(try reader.u32(28, "e_phoff"))
        let entrySize = UInt64(try reader.u16(is64 ? 54 : 42, "e_phentsize"))
        let count = Int(try reader.u16(is64 ? 56 : 44, "e_phnum"))
        let minimumEntrySize: UInt64 = is64 ? 56 : 32
        guard count > 0 else { throw .badELF("it has no program headers") }
        guard count <= Self.maximumProgramHeaders else { throw .badELF("\(count) program headers is more than \(Self.maximumProgramHeaders)") }
        guard entrySize >= minimumEntrySize else { throw .badELF("program header size \(entrySize) is smaller than \(minimumEntrySize)") }

        var segments: [Segment] = []
        for index in 0..<count {
            let (offset, overflow) = entrySize.multipliedReportingOverflow(by: UInt64(index))
            let (base, overflow2) = programHeaderOffset.addingReportingOverflow(offset)
            guard !overflow, !overflow2 else { throw .badELF("program header \(index) lies beyond the end of the address space") }
            let header = "program header \(index)"
            _ = try reader.slice(base, minimumEntrySize, header)
            guard try reader.u32(base, header) == Self.programTypeLoad else { continue }
            let segment: Segment
            if is64 {
                segment = Segment(
                    physicalAddress: try reader.u64(base + 24, header), virtualAddress: try reader.u64(base + 16, header),
                    fileOffset: try reader.u64(base + 8, header), fileSize: try reader.u64(base + 32, header),
                    memorySize: try reader.u64(base + 40, header))
            } else {
                segment = Segment(
                    physicalAddress: UInt64(try reader.u32(base + 12, header)), virtualAddress: UInt64(try reader.u32(base + 8, header)),
                    fileOffset: UInt64(try reader.u32(base + 4, header)), fileSize: UInt64(try reader.u32(base + 16, header)),
                    memorySize: UInt64(try reader.u32(base + 20, header)))
            }
            guard segment.fileSize <= segment.memorySize else {
                throw .badELF("segment \(index) has a file size (\(segment.fileSize)) larger than its memory size (\(segment.memorySize))")
            }
            _ = try reader.slice(segment.fileOffset, segment.fileSize, "segment \(index)'s contents")
            if segment.memorySize > 0 { segments.append(segment) }
        }
        guard !segments.isEmpty else { throw .badELF("it has no loadable (PT_LOAD) segments") }
        self.segments = segments
    }

    /// The entry point as a physical address: translated through the segment whose virtual range
    /// holds it, for kernels linked to run at a higher virtual address than they load at.
    public func physicalEntry() throws(BootError) -> UInt64 {
        for segment in segments where entry >= segment.virtualAddress && entry - segment.virtualAddress < segment.memorySize {
            return segment.physicalAddress + (entry - segment.virtualAddress)
        }
        throw .badEntry("\(hex(entry)) is outside every loadable segment")
    }

    /// The segments as memory writes, checked against RAM, the VMM's structures and each other.
    func memoryWrites(from bytes: [UInt8], memory: MemoryBounds) throws(BootError) -> [MemoryWrite] {
        var writes: [MemoryWrite] = []
        for segment in segments {
            try memory.check(what: "ELF segment at \(hex(segment.physicalAddress))", address: segment.physicalAddress, length: segment.memorySize)
            let start = Int(segment.fileOffset)
            writes.append(
                MemoryWrite(
                    address: segment.physicalAddress, bytes: Array(bytes[start..<start + Int(segment.fileSize)]),
                    zeroFill: segment.memorySize - segment.fileSize))
        }
        try MemoryBounds.checkDisjoint(writes)
        return writes
    }
}
