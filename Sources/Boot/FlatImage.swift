import VMCore

/// A raw binary copied to a load address and started in the mode the user chose.
enum FlatImage {
    static func plan(_ bytes: [UInt8], mode: CPUMode, loadAddress: UInt64?, entry: UInt64?, memorySize: UInt64) throws(BootError) -> BootPlan {
        let load = loadAddress ?? (mode == .real ? BootLayout.realModeLoadAddress : BootLayout.protectedModeLoadAddress)
        let start = entry ?? load
        let bounds = MemoryBounds(memorySize: memorySize, reserved: BootLayout.reservedRanges(for: mode))
        try BootLayout.checkStructuresFit(mode: mode, memorySize: memorySize)
        try bounds.check(what: "the image", address: load, length: UInt64(bytes.count))
        guard start < memorySize else { throw .badEntry("\(hex(start)) is outside guest memory") }
        var plan = BootPlan(mode: mode, summary: "flat binary, \(bytes.count) bytes at \(hex(load)), \(mode) mode, entry \(hex(start))")
        plan.writes = [MemoryWrite(address: load, bytes: bytes)]
        if mode != .real && looksLikeBootSector(bytes) {
            plan.hint = "the image looks like a boot sector (512 bytes ending in 55 AA): run it with --mode real"
        }
        switch mode {
        case .real:
            (plan.registers, plan.systemRegisters) = try CPUModeSetup.realMode(entry: start, stackTop: BootLayout.realModeLoadAddress)
        case .protected:
            let (gdt, registers, system) = CPUModeSetup.protectedMode(entry: start)
            plan.writes.insert(gdt, at: 0)
            (plan.registers, plan.systemRegisters) = (registers, system)
        case .long:
            let (tables, registers, system) = CPUModeSetup.longMode(entry: start)
            plan.writes.insert(contentsOf: tables, at: 0)
            (plan.registers, plan.systemRegisters) = (registers, system)
        }
        return plan
    }

    /// A BIOS boot sector: one 512-byte sector with the 0x55 0xAA signature at its end.
    static func looksLikeBootSector(_ bytes: [UInt8]) -> Bool {
        bytes.count == 512 && bytes[510] == 0x55 && bytes[511] == 0xAA
    }
}
