import VMCore

/// What the user asked for on the command line, as far as loading is concerned.
public struct LoadOptions: Sendable {
    public var mode: CPUMode = .long
    public var loadAddress: UInt64? = nil
    public var entry: UInt64? = nil
    /// What the kernel's command line begins with, as GRUB and QEMU pass it (its path).
    public var kernelName = ""
    /// The rest of a multiboot command line (`--cmdline`).
    public var commandLine = ""
    /// Multiboot modules: the name the kernel sees and the file's bytes.
    public var modules: [(name: String, bytes: [UInt8])] = []
    public var memorySize: UInt64
    public init(memorySize: UInt64) { self.memorySize = memorySize }
}

/// Detects an image's format from its content and plans how to boot it.
public enum ImageLoader {
    public enum Format: String, Sendable { case multiboot, elf64, elf32, flat }

    /// Multiboot wins over ELF (a multiboot kernel is usually also an ELF file); anything that is
    /// neither is a flat binary.
    public static func detectFormat(_ bytes: [UInt8]) throws(BootError) -> Format {
        if try MultibootHeader.find(in: bytes) != nil { return .multiboot }
        if ELFImage.hasMagic(bytes) { return try ELFImage(parsing: bytes).elfClass == .elf64 ? .elf64 : .elf32 }
        return .flat
    }

    public static func plan(image bytes: [UInt8], options: LoadOptions) throws(BootError) -> BootPlan {
        guard !bytes.isEmpty else { throw .emptyImage }
        guard UInt64(bytes.count) <= options.memorySize else {
            throw .outsideMemory(what: "the image", address: 0, length: UInt64(bytes.count), memorySize: options.memorySize)
        }
        if let header = try MultibootHeader.find(in: bytes) {
            return try planMultiboot(bytes, header: header, options: options)
        }
        if ELFImage.hasMagic(bytes) {
            return try planELF(ELFImage(parsing: bytes), bytes: bytes, memorySize: options.memorySize)
        }
        return try FlatImage.plan(bytes, mode: options.mode, loadAddress: options.loadAddress, entry: options.entry, memorySize: options.memorySize)
    }

    /// A firmware start: the ROM is mapped by guest memory, the vCPU starts at the reset vector.
    public static func planFirmware(_ rom: [UInt8]) throws(BootError) -> BootPlan {
        guard !rom.isEmpty else { throw .badFirmware("the file is empty") }
        guard UInt64(rom.count) <= GuestMemory.maximumROMSize else {
            throw .tooLarge(what: "the firmware image", size: UInt64(rom.count), limit: GuestMemory.maximumROMSize)
        }
        var plan = BootPlan(mode: .real, summary: "firmware ROM, \(rom.count) bytes ending at 4 GiB, reset vector F000:FFF0")
        (plan.registers, plan.systemRegisters) = CPUModeSetup.resetState()
        plan.firmware = rom
        return plan
    }

    /// ELF64 starts in long mode, ELF32 in protected mode, at the physical entry point.
    static func planELF(_ elf: ELFImage, bytes: [UInt8], memorySize: UInt64) throws(BootError) -> BootPlan {
        let mode: CPUMode = elf.elfClass == .elf64 ? .long : .protected
        try BootLayout.checkStructuresFit(mode: mode, memorySize: memorySize)
        let bounds = MemoryBounds(memorySize: memorySize, reserved: BootLayout.reservedRanges(for: mode))
        let segments = try elf.memoryWrites(from: bytes, memory: bounds)
        let entry = try elf.physicalEntry()
        let name = elf.elfClass == .elf64 ? "ELF64" : "ELF32"
        var plan = BootPlan(mode: mode, summary: "\(name) executable, \(segments.count) segment(s), \(mode) mode, entry \(hex(entry))")
        if mode == .long {
            let (tables, registers, system) = CPUModeSetup.longMode(entry: entry)
            plan.writes = tables + segments
            (plan.registers, plan.systemRegisters) = (registers, system)
        } else {
            let (gdt, registers, system) = CPUModeSetup.protectedMode(entry: entry)
            plan.writes = [gdt] + segments
            (plan.registers, plan.systemRegisters) = (registers, system)
        }
        return plan
    }

    static func planMultiboot(_ bytes: [UInt8], header: MultibootHeader, options: LoadOptions) throws(BootError) -> BootPlan {
        let memorySize = options.memorySize
        guard memorySize > 0x20_0000 else {
            throw .badMultiboot("a multiboot kernel needs more than 2 MiB of memory (--memory)")
        }
        let bounds = MemoryBounds(memorySize: memorySize, reserved: BootLayout.reservedRanges(for: .protected))
        var kernel: [MemoryWrite]
        let entry: UInt64
        if let fields = header.addressFields {
            (kernel, entry) = try kernelFromAddressFields(bytes, header: header, fields: fields, bounds: bounds)
        } else if ELFImage.hasMagic(bytes) {
            let elf = try ELFImage(parsing: bytes)
            kernel = try elf.memoryWrites(from: bytes, memory: bounds)
            entry = try elf.physicalEntry()
        } else {
            throw .badMultiboot("the header has no address fields (flag 16) and the image is not ELF")
        }
        guard entry < memorySize else { throw .badEntry("\(hex(entry)) is outside guest memory") }

        // Modules follow the kernel, each on a page boundary.
        var next = kernel.map(\.end).max() ?? BootLayout.protectedModeLoadAddress
        var modules: [MultibootInfo.Module] = []
        for (name, content) in options.modules {
            let (aligned, overflow) = next.addingReportingOverflow(0xFFF)
            let start = aligned & ~0xFFF
            guard !overflow else {
                throw .outsideMemory(what: "module \(name)", address: next, length: UInt64(content.count), memorySize: memorySize)
            }
            try bounds.check(what: "module \(name)", address: start, length: UInt64(content.count))
            kernel.append(MemoryWrite(address: start, bytes: content))
            modules.append(.init(start: start, end: start + UInt64(content.count), string: name))
            next = start + UInt64(content.count)
        }
        let commandLine = [options.kernelName, options.commandLine].filter { !$0.isEmpty }.joined(separator: " ")
        // The information block goes where the image is not, as GRUB places it: on the page after
        // the kernel and its modules (a kernel linked anywhere in low memory keeps that memory).
        let (alignedEnd, overflow) = next.addingReportingOverflow(0xFFF)
        let infoAddress = alignedEnd & ~0xFFF
        let info = try MultibootInfo.build(at: infoAddress, memorySize: memorySize, commandLine: commandLine, modules: modules)
        guard !overflow, infoAddress + UInt64(info.count) <= 0x1_0000_0000 else {
            throw .outsideMemory(what: "the multiboot information", address: infoAddress, length: UInt64(info.count), memorySize: memorySize)
        }
        try bounds.check(what: "the multiboot information", address: infoAddress, length: UInt64(info.count))

        let (gdt, registers, system) = CPUModeSetup.protectedMode(entry: entry)
        var plan = BootPlan(mode: .protected, summary: "multiboot kernel, \(modules.count) module(s), protected mode, entry \(hex(entry))")
        plan.writes = [gdt, MemoryWrite(address: infoAddress, bytes: info)] + kernel
        plan.registers = registers
        plan.registers.rax = UInt64(MultibootHeader.bootloaderMagic)
        plan.registers.rbx = infoAddress
        plan.systemRegisters = system
        return plan
    }

    /// The a.out kludge: the header says which part of the file goes where.
    static func kernelFromAddressFields(
        _ bytes: [UInt8], header: MultibootHeader, fields: MultibootHeader.AddressFields, bounds: MemoryBounds
    ) throws(BootError) -> ([MemoryWrite], UInt64) {
        let headerAddress = UInt64(fields.headerAddress), loadAddress = UInt64(fields.loadAddress)
        guard headerAddress >= loadAddress, headerAddress - loadAddress <= UInt64(header.offset) else {
            throw .badMultiboot(
                "header_addr \(hex(headerAddress)) and load_addr \(hex(loadAddress)) do not match the header's offset \(hex(header.offset)) in the file"
            )
        }
        let fileStart = UInt64(header.offset) - (headerAddress - loadAddress)
        let loadEnd = fields.loadEndAddress == 0 ? loadAddress + UInt64(bytes.count) - fileStart : UInt64(fields.loadEndAddress)
        guard loadEnd >= loadAddress else { throw .badMultiboot("load_end_addr \(hex(loadEnd)) is below load_addr \(hex(loadAddress))") }
        let content = try ByteReader(bytes: bytes).slice(fileStart, loadEnd - loadAddress, "the multiboot load range")
        let bssEnd = fields.bssEndAddress == 0 ? loadEnd : UInt64(fields.bssEndAddress)
        guard bssEnd >= loadEnd else { throw .badMultiboot("bss_end_addr \(hex(bssEnd)) is below load_end_addr \(hex(loadEnd))") }
        try bounds.check(what: "the multiboot kernel", address: loadAddress, length: bssEnd - loadAddress)
        return ([MemoryWrite(address: loadAddress, bytes: Array(content), zeroFill: bssEnd - loadEnd)], UInt64(fields.entryAddress))
    }
}
