import Boot
import DemoGuests
import TestSupport
import VMCore

/// `image`: the bytes as a guest image through `ImageLoader.plan`, with load options (mode, load
/// address, entry, memory size, command line, modules) taken from the input's first bytes. The
/// loader must throw a `BootError` or return a plan whose writes lie inside RAM, do not overlap
/// each other, and keep out of the VMM's own structures (which only the VMM's writes touch).
func fuzzImage(_ data: UnsafeRawBufferPointer) {
    var input = FuzzInput(data)
    let memorySizes: [UInt64] = [32 << 20, 4 << 20, 2 << 20, 3 << 30, 0x20_0001, 0x10_0000, 0x7C00 + 0x200, 4096, 0]
    var options = LoadOptions(memorySize: input.pick(memorySizes))
    let flags = input.byte()
    options.mode = [CPUMode.real, .protected, .long][Int(flags & 3) % 3]
    if flags & 4 != 0 { options.loadAddress = widened(input.integer(UInt32.self), flags & 0x40 != 0) }
    if flags & 8 != 0 { options.entry = widened(input.integer(UInt32.self), flags & 0x40 != 0) }
    if flags & 0x10 != 0 { options.commandLine = String(decoding: input.bytes(Int(input.byte() % 64)), as: UTF8.self) }
    if flags & 0x20 != 0 {
        for index in 0..<Int(input.byte() % 3) { options.modules.append((name: "m\(index)", bytes: input.bytes(Int(input.byte())))) }
    }
    let image = input.rest()
    let plan: BootPlan
    do {
        plan = try ImageLoader.plan(image: image, options: options)
    } catch {
        _ = error.description  // every error has a message
        return
    }
    checkPlan(plan, memorySize: options.memorySize)
    // Detection agrees with what was planned.
    let format = try? ImageLoader.detectFormat(image)
    require(format != nil, "detectFormat threw for an image that planned")
}

/// A 32-bit value, or with `high` the same value in the high half too (addresses past 4 GiB).
private func widened(_ value: UInt32, _ high: Bool) -> UInt64 { high ? UInt64(value) << 32 | UInt64(value) : UInt64(value) }

/// The VMM's own writes (the GDT, the long-mode page tables), made once: they do not depend on
/// the image.
private let longModeWrites = CPUModeSetup.longMode(entry: 0).0
private let gdt = CPUModeSetup.protectedMode(entry: 0).0

/// The properties every plan must have.
func checkPlan(_ plan: BootPlan, memorySize: UInt64) {
    let multiboot = plan.summary.hasPrefix("multiboot")
    var reserved: [ClosedRange<UInt64>] = []
    if plan.mode != .real { reserved.append(BootLayout.gdtAddress...(BootLayout.gdtAddress + 0x1F)) }
    if plan.mode == .long { reserved.append(BootLayout.pml4Address...(BootLayout.pageTablesEnd - 1)) }
    var spans: [(start: UInt64, end: UInt64)] = []
    for write in plan.writes {
        let (withBytes, overflow1) = write.address.addingReportingOverflow(UInt64(write.bytes.count))
        let (end, overflow2) = withBytes.addingReportingOverflow(write.zeroFill)
        require(
            !overflow1 && !overflow2 && end <= memorySize,
            "write at \(hex(write.address)) of \(write.bytes.count)+\(write.zeroFill) bytes outside RAM of \(memorySize)")
        let isVMMWrite =
            (plan.mode == .long && longModeWrites.contains(write)) || (plan.mode == .protected && write == gdt)
            || (multiboot && write.address == plan.registers.rbx)  // the information block, wherever it went
        if !isVMMWrite && end > write.address {
            for range in reserved {
                require(
                    write.address > range.upperBound || end - 1 < range.lowerBound,
                    "a loaded write at \(hex(write.address)) overlaps reserved \(range)")
            }
        }
        if end > write.address { spans.append((write.address, end)) }
    }
    spans.sort { $0.start < $1.start }
    for (previous, next) in zip(spans, spans.dropFirst()) {
        require(previous.end <= next.start, "writes at \(hex(previous.start)) and \(hex(next.start)) overlap")
    }
    // The vCPU starts inside RAM.
    if plan.firmware == nil {
        let start = plan.mode == .real ? plan.systemRegisters.cs.base &+ plan.registers.rip : plan.registers.rip
        require(start < memorySize, "entry \(hex(start)) outside RAM of \(memorySize)")
    }
}

/// `firmware`: the bytes as a firmware ROM through `ImageLoader.planFirmware` and, when accepted,
/// mapped by `GuestMemory` as the machine maps it: the ROM ends at 4 GiB, its last 128 KiB also
/// end at 1 MiB, both read-only; the reset vector's bytes are the ROM's last 16.
func fuzzFirmware(_ data: UnsafeRawBufferPointer) {
    let rom = Array(data)
    let plan: BootPlan
    do {
        plan = try ImageLoader.planFirmware(rom)
    } catch {
        _ = error.description
        return
    }
    require(plan.firmware == rom && plan.writes.isEmpty && plan.mode == .real, "firmware plan does not carry the ROM")
    let memory: GuestMemory
    do {
        memory = try GuestMemory(ramSize: 1 << 20, rom: plan.firmware)
    } catch {
        fatalError("GuestMemory refused a ROM that planFirmware accepted: \(error)")
    }
    let tail = Array(rom.suffix(16))
    let high = try? memory.read((1 << 32) - UInt64(tail.count), count: tail.count)
    require(high == tail, "the ROM does not end at 4 GiB")
    let low = try? memory.read((1 << 20) - UInt64(tail.count), count: tail.count)
    require(low == tail, "the ROM's alias does not end at 1 MiB")
    require((try? memory.write([0], at: (1 << 32) - 1)) == nil, "the ROM is writable")
    let resetVector = plan.systemRegisters.cs.base &+ plan.registers.rip
    require(resetVector == 0xFFFF_FFF0, "reset vector at \(hex(resetVector))")
}

/// Seeds: every built-in guest image (flat, ELF32, ELF64, multiboot) and a few built ones, with
/// a parameter prefix that asks for the defaults.
func imageSeeds() -> [[UInt8]] {
    var seeds: [[UInt8]] = []
    for guest in DemoGuest.all {
        switch guest.kind {
        case .firmware: continue
        case .flat(let mode): seeds.append([0, mode == .real ? 0 : (mode == .protected ? 1 : 2)] + guest.image)
        case .detected: seeds.append([0, 2] + guest.image)
        }
    }
    let elf64 = ELFBuilder(is64: true, entry: 0x10_0000, segments: [.init(physicalAddress: 0x10_0000, contents: [0xF4], memorySize: 0x2000)]).build()
    let elf32 = ELFBuilder(is64: false, entry: 0x20_0000, segments: [.init(physicalAddress: 0x20_0000, contents: [0xF4, 0xF4])]).build()
    seeds.append([0, 2] + elf64)
    seeds.append([0, 1] + elf32)
    var kludge = [UInt8](repeating: 0x90, count: 64)
    kludge.append(contentsOf: multibootHeader(flags: 0x1_0000, addressFields: [0x10_0040, 0x10_0000, 0, 0, 0x10_0000]))
    seeds.append([0, 0x21, 2, 4, 1, 2, 3, 4, 1, 9] + kludge)
    seeds.append([0, 0] + [0xF4])
    return seeds
}

func firmwareSeeds() -> [[UInt8]] {
    var seeds = DemoGuest.all.compactMap { guest -> [UInt8]? in
        if case .firmware = guest.kind { return guest.image }
        return nil
    }
    seeds.append([UInt8](repeating: 0xF4, count: 16))
    return seeds
}
