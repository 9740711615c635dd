import VMCore

/// What `vmm boot` loads besides the kernel.
public struct LinuxBootOptions: Sendable {
    public var memorySize: UInt64
    /// The whole command line (the default and the user's additions, already joined).
    public var commandLine: String
    public var initrd: [UInt8]? = nil
    /// The ACPI tables to place at `LinuxBootLayout.acpiTables` and the RSDP's address in them.
    public var acpi: (rsdp: UInt64, writes: [MemoryWrite])? = nil
    public init(memorySize: UInt64, commandLine: String) {
        self.memorySize = memorySize
        self.commandLine = commandLine
    }
}

/// Plans a Linux boot: a bzImage through the 64-bit boot protocol, or a vmlinux ELF through its
/// PVH entry. Pure: the plan is memory writes and a vCPU state.
public enum LinuxLoader {
    public enum Format: String, Sendable {
        case bzImage
        case pvh = "vmlinux (PVH)"
    }

    /// Telling the two apart from the content: a bzImage has the setup header, a vmlinux is an
    /// ELF64 executable with the PVH note.
    public static func detectFormat(_ bytes: [UInt8]) throws(BootError) -> Format {
        if BzImageHeader.hasMagic(bytes) { return .bzImage }
        if ELFImage.hasMagic(bytes) {
            let elf = try ELFImage(parsing: bytes)
            guard elf.elfClass == .elf64 else { throw .badKernel("an ELF32 file is not an x86-64 vmlinux") }
            guard try PVHEntryNote.find(in: bytes) != nil else {
                throw .badKernel("the ELF file has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): not a vmlinux built with CONFIG_PVH")
            }
            return .pvh
        }
        throw .badKernel("neither a bzImage (no setup header at 0x1F1) nor a vmlinux ELF")
    }

    public static func plan(kernel bytes: [UInt8], options: LinuxBootOptions) throws(BootError) -> BootPlan {
        guard !bytes.isEmpty else { throw .emptyImage }
        guard options.memorySize >= minimumMemory else {
            throw .outsideMemory(what: "Linux's boot structures", address: 0, length: minimumMemory, memorySize: options.memorySize)
        }
        switch try detectFormat(bytes) {
        case .bzImage: return try planBzImage(bytes, header: BzImageHeader(parsing: bytes), options: options)
        case .pvh: return try planPVH(bytes, options: options)
        }
    }

    /// Below this nothing boots: the low structures plus the smallest kernel.
    static let minimumMemory: UInt64 = 16 << 20

    static func planBzImage(_ bytes: [UInt8], header: BzImageHeader, options: LinuxBootOptions) throws(BootError) -> BootPlan {
        let kernel = Array(bytes[Int(header.setupSize)...])
        let load = LinuxBootLayout.bzImageLoadAddress
        // The kernel decompresses itself to its preferred address (at least 16 MiB, aligned) and
        // needs init_size bytes from there; the compressed image sits at 1 MiB meanwhile.
        let runAddress = max(header.preferredAddress, 16 << 20)
        let (kernelEnd, overflow) = runAddress.addingReportingOverflow(header.initSize)
        let needed = max(kernelEnd, load + UInt64(kernel.count))
        guard !overflow, needed <= options.memorySize else {
            throw .outsideMemory(what: "the kernel and its decompression area", address: load, length: needed - load, memorySize: options.memorySize)
        }
        let commandLine = try commandLineBytes(options.commandLine, limit: header.commandLineLimit)
        let initrd = try placeInitrd(
            options.initrd, above: needed, ceiling: min(header.initrdAddressMax + 1, LinuxBootLayout.initrdCeiling), memorySize: options.memorySize)

        var zeroPage = [UInt8](repeating: 0, count: 4096)
        let headerStart = Int(BzImageHeader.setupSectorsOffset)
        zeroPage.replaceSubrange(headerStart..<Int(header.headerEnd), with: bytes[headerStart..<Int(header.headerEnd)])
        ZeroPage.fill(
            &zeroPage, commandLine: LinuxBootLayout.commandLine, initrd: initrd.map { ($0.address, UInt64($0.bytes.count)) },
            rsdp: options.acpi?.rsdp, memoryMap: E820Map.entries(memorySize: options.memorySize))

        let entry = load + BzImageHeader.entry64Offset
        let (tables, registers, system) = CPUModeSetup.longMode(entry: entry)
        var plan = BootPlan(
            mode: .long,
            summary:
                "Linux bzImage, boot protocol \(header.version >> 8).\(header.version & 0xFF), \(kernel.count >> 10) KiB at \(hex(load)), 64-bit entry \(hex(entry))"
                + (initrd.map { ", initrd \($0.bytes.count >> 10) KiB at \(hex($0.address))" } ?? ""))
        plan.writes =
            tables + [
                MemoryWrite(address: LinuxBootLayout.bootParameters, bytes: zeroPage),
                MemoryWrite(address: LinuxBootLayout.commandLine, bytes: commandLine),
                MemoryWrite(address: load, bytes: kernel),
            ]
        plan.writes += options.acpi?.writes ?? []
        if let initrd { plan.writes.append(initrd) }
        plan.registers = registers
        plan.registers.rsi = LinuxBootLayout.bootParameters
        plan.registers.rsp = LinuxBootLayout.initialStack
        plan.systemRegisters = system
        try MemoryBounds.checkDisjoint(plan.writes)
        return plan
    }

    static func planPVH(_ bytes: [UInt8], options: LinuxBootOptions) throws(BootError) -> BootPlan {
        let elf = try ELFImage(parsing: bytes)
        guard let entry = try PVHEntryNote.find(in: bytes) else { throw .badKernel("no PVH entry note") }
        // The kernel is loaded at its physical addresses (p_paddr: one segment's p_vaddr is 0),
        // clear of the low structures.
        let bounds = MemoryBounds(memorySize: options.memorySize, reserved: [0...(LinuxBootLayout.acpiTablesEnd - 1)])
        let segments = try elf.memoryWrites(from: bytes, memory: bounds)
        guard segments.contains(where: { entry >= $0.address && entry < $0.end }) else {
            throw .badEntry("the PVH entry \(hex(entry)) is outside every loadable segment")
        }
        let kernelEnd = segments.map(\.end).max() ?? 0
        // COMMAND_LINE_SIZE on x86: 2048 bytes with the NUL.
        let commandLine = try commandLineBytes(options.commandLine, limit: 2047)
        let initrd = try placeInitrd(options.initrd, above: kernelEnd, ceiling: LinuxBootLayout.initrdCeiling, memorySize: options.memorySize)
        let map = E820Map.entries(memorySize: options.memorySize)
        let startInfo = PVHStartInfo.build(
            commandLine: LinuxBootLayout.commandLine, initrd: initrd.map { ($0.address, UInt64($0.bytes.count)) }, rsdp: options.acpi?.rsdp,
            memoryMap: map)

        let (gdt, registers, system) = CPUModeSetup.protectedMode(entry: entry)
        var plan = BootPlan(
            mode: .protected,
            summary: "Linux vmlinux, PVH entry \(hex(entry)), \(segments.count) segment(s)"
                + (initrd.map { ", initrd \($0.bytes.count >> 10) KiB at \(hex($0.address))" } ?? ""))
        plan.writes = [gdt, MemoryWrite(address: LinuxBootLayout.commandLine, bytes: commandLine)] + startInfo + segments
        plan.writes += options.acpi?.writes ?? []
        if let initrd { plan.writes.append(initrd) }
        plan.registers = registers
        plan.registers.rbx = LinuxBootLayout.bootParameters
        plan.systemRegisters = system
        try MemoryBounds.checkDisjoint(plan.writes)
        return plan
    }

    /// The command line with its NUL, or an error naming both lengths.
    static func commandLineBytes(_ text: String, limit: UInt64) throws(BootError) -> [UInt8] {
        let bytes = Array(text.utf8)
        guard UInt64(bytes.count) <= limit else { throw .commandLineTooLong(length: UInt64(bytes.count), limit: limit) }
        guard !bytes.contains(0) else { throw .badKernel("the command line contains a NUL byte") }
        return bytes + [0]
    }

    /// The initrd at the top of the memory it may occupy, page-aligned, above the kernel's area.
    static func placeInitrd(_ initrd: [UInt8]?, above floor: UInt64, ceiling: UInt64, memorySize: UInt64) throws(BootError) -> MemoryWrite? {
        guard let initrd, !initrd.isEmpty else { return nil }
        let top = min(memorySize, ceiling)
        let size = UInt64(initrd.count)
        guard size <= top, (top - size) & ~0xFFF >= floor else {
            let room = top > floor ? top - floor : 0
            throw .outsideMemory(
                what: "the initrd (\(size >> 10) KiB; \(room >> 10) KiB free between the kernel's end at \(hex(floor)) and \(hex(top)))",
                address: floor, length: size, memorySize: memorySize)
        }
        return MemoryWrite(address: (top - size) & ~0xFFF, bytes: initrd)
    }
}
