import VMCore

extension RunReport {
    /// The one line printed on stderr for every stop.
    public var stopLine: String {
        var line = "vmm: \(stopReason)"
        if unwrittenConsoleBytes > 0 {
            line += "; \(unwrittenConsoleBytes) bytes of console output could not be written (the output was closed or not read)"
        }
        line += " (exit status \(exitStatus))"
        for hint in hints { line += "\nvmm: hint: \(hint)" }
        return line
    }

    /// The register dump printed after abnormal stops.
    public var registerDump: String {
        guard let r = registers, let s = systemRegisters else { return "registers: unavailable" }
        let general = registerList(r)
        var lines: [String] = []
        for row in stride(from: 0, to: general.count, by: 3) {
            lines.append(general[row..<min(row + 3, general.count)].map { "\($0.0.padded(6))=\(hex($0.1, width: 16))" }.joined(separator: "  "))
        }
        func segment(_ name: String, _ s: Segment) -> String {
            "\(name.padded(4))=\(hex(s.selector, width: 4)) base=\(hex(s.base, width: 16)) limit=\(hex(s.limit, width: 8)) type=\(hex(s.type, width: 1)) dpl=\(s.dpl) \(s.long ? "L" : s.defaultSize32 ? "D" : "-")\(s.present ? "P" : "-")"
        }
        lines += [
            segment("cs", s.cs), segment("ds", s.ds), segment("es", s.es), segment("ss", s.ss), segment("fs", s.fs), segment("gs", s.gs),
            segment("tr", s.tr),
        ]
        lines.append(
            "gdt=\(hex(s.gdt.base, width: 16))/\(hex(s.gdt.limit, width: 4))  idt=\(hex(s.idt.base, width: 16))/\(hex(s.idt.limit, width: 4))")
        lines.append(
            "cr0=\(hex(s.cr0, width: 8))  cr2=\(hex(s.cr2, width: 16))  cr3=\(hex(s.cr3, width: 16))  cr4=\(hex(s.cr4, width: 8))  efer=\(hex(s.efer, width: 4))"
        )
        return lines.joined(separator: "\n")
    }

    /// `--stats`: exits by kind and by device, misses, time in guest and VMM, POST codes.
    public var statisticsText: String {
        var lines = ["backend: \(backend)", "image: \(imageSummary)"]
        lines.append("exits: \(statistics.totalExits) total; " + ExitKind.allCases.map { "\($0.name) \(statistics[$0])" }.joined(separator: ", "))
        for device in devices where device.accesses > 0 {
            lines.append("  \(device.bus) \(device.range.padded(13)) \(device.device.padded(12)) \(device.accesses)")
        }
        if unclaimedPortTotal > 0 {
            lines.append(
                "  unclaimed io: \(unclaimedPortTotal) (" + unclaimedPorts.map { "\(hex($0.port)) x\($0.count)" }.joined(separator: ", ") + ")")
        }
        if unclaimedMMIOTotal > 0 {
            lines.append(
                "  unclaimed mmio: \(unclaimedMMIOTotal) (" + unclaimedMMIO.map { "\(hex($0.address)) x\($0.count)" }.joined(separator: ", ") + ")")
        }
        if backend == "software" {
            lines.append(
                "instructions: \(statistics.instructions) (completed before the stop); TLB refills: \(statistics.tlbRefills); "
                    + "interrupts delivered: \(statistics.interruptsDelivered)")
        }
        if statistics.invalidOpcodes > 0 {
            lines.append(
                "invalid or unimplemented instructions (#UD raised in the guest): \(statistics.invalidOpcodes) ("
                    + statistics.invalidOpcodeSamples.map { $0.map { hex($0, width: 2) }.joined(separator: " ") }.joined(separator: "; ") + ")")
        }
        if !hypercalls.isEmpty {
            lines.append("hypercalls: " + hypercalls.map { "\($0.number) x\($0.count)" }.joined(separator: ", "))
        }
        lines.append(
            "time: setup \(microseconds(setupNanoseconds)), run \(microseconds(runNanoseconds)) (in guest \(microseconds(statistics.guestNanoseconds)), in vmm \(microseconds(vmmNanoseconds)))"
        )
        lines.append(
            "post code: " + (postCodes.last.map { hex($0, width: 2) } ?? "none")
                + (postCodes.isEmpty ? "" : " (history: " + postCodes.map { hex($0, width: 2) }.joined(separator: " ") + ")"))
        return lines.joined(separator: "\n")
    }

    private func microseconds(_ nanoseconds: UInt64) -> String {
        let tenths = nanoseconds / 100
        return "\(tenths / 10).\(tenths % 10) µs"
    }
}
