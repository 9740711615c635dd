import Boot
import Foundation
import Testing

/// iasl, if it is on PATH (Debian's acpica-tools; CI installs it).
private let iaslPath: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
    .map { "\($0)/iasl" }.first { FileManager.default.isExecutableFile(atPath: $0) }

/// The tables as an independent implementation sees them: ACPICA's disassembler (`iasl -d`)
/// decodes every FADT and MADT field by the spec's offsets and parses the DSDT's AML, and its
/// compiler turns the equivalent ASL into the same bytes. Skipped without iasl.
@Suite(.enabled(if: iaslPath != nil, "iasl (Debian package acpica-tools) is not on PATH")) struct ACPIDisassemblyTests {
    static let virtio = VirtioMMIODescription(base: 0xFEB0_0E00, gsi: 12)
    static let config = ACPIConfiguration(cpuCount: 2, powerControlPort: 0x600, resetValue: 1, virtioDevices: [virtio])

    /// Runs iasl in `directory`; returns its combined output after checking it succeeded.
    @discardableResult
    func iasl(_ arguments: [String], in directory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: iaslPath!)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let messages = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "iasl \(arguments.joined(separator: " ")): \(messages)")
        return messages
    }

    /// A directory of its own for `body` (tests run in parallel).
    func inScratchDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("acpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    /// Each table of `set` (iasl cannot decode a bare RSDP) disassembled, by signature. iasl
    /// reports checksum mismatches and unparsable AML in its listing or its messages.
    func disassemble(_ set: ACPITableSet) throws -> [String: String] {
        try inScratchDirectory { directory in
            var listings: [String: String] = [:]
            for table in set.tables where table.signature != "RSDP" {
                let start = Int(table.address - set.rsdpAddress)
                let input = directory.appendingPathComponent("\(table.signature.lowercased()).dat")
                try Data(set.bytes[start..<start + table.length]).write(to: input)
                let messages = try iasl(["-d", input.lastPathComponent], in: directory)
                let listing = try String(contentsOf: input.deletingPathExtension().appendingPathExtension("dsl"), encoding: .utf8)
                for complaint in ["Error", "Warning", "Incorrect", "Unknown", "Invalid"] {
                    #expect(!messages.contains(complaint) && !listing.contains(complaint), "iasl on \(table.signature): \(messages)\n\(listing)")
                }
                listings[table.signature] = listing
            }
            return listings
        }
    }

    /// The value iasl prints for `field` ("[074h 0116   1]   Space ID : 01 [SystemIO]" ->
    /// "01 [SystemIO]"), the first such line after the line that mentions `anchor`.
    func field(_ field: String, after anchor: String? = nil, in listing: String) -> String? {
        var lines = listing.split(separator: "\n").map(String.init)[...]
        if let anchor {
            guard let start = lines.firstIndex(where: { $0.contains(anchor) }) else { return nil }
            lines = lines[(start + 1)...]
        }
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            let name = parts[0].hasPrefix("[") ? String(parts[0].drop { $0 != "]" }.dropFirst()).trimmingCharacters(in: .whitespaces) : parts[0]
            if name == field { return parts[1] }
        }
        return nil
    }

    /// `text` with every run of whitespace made one space, for matching ASL.
    func squeezed(_ text: String) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
    }

    @Test func theFADTDecodesAsAHardwareReducedTableWithOurRegisters() throws {
        let set = try ACPITables.build(Self.config, at: ACPITables.conventionalBase)
        let fadt = try #require(try disassemble(set)["FACP"])
        let dsdt = String(set.tables[4].address, radix: 16, uppercase: true)
        #expect(field("Revision", in: fadt) == "06")
        #expect(field("Table Length", in: fadt) == "00000114")
        #expect(field("Hardware Reduced (V5)", in: fadt) == "1")
        #expect(field("Reset Register Supported (V2)", in: fadt) == "1")
        #expect(field("VGA Not Present (V4)", in: fadt) == "1")
        #expect(field("8042 Present on ports 60/64 (V2)", in: fadt) == "0")
        #expect(field("CMOS RTC Not Present (V5)", in: fadt) == "0")
        #expect(field("DSDT Address", in: fadt) == "000" + dsdt)
        #expect(field("DSDT Address", after: "FACS Address : 0000000000000000", in: fadt) == "00000000000" + dsdt)
        #expect(field("Value to cause reset", in: fadt) == "01")
        #expect(field("FADT Minor Revision", in: fadt) == "03")
        for name in ["Reset Register", "Sleep Control Register", "Sleep Status Register"] {
            let register = name + " : [Generic Address Structure]"
            #expect(field("Space ID", after: register, in: fadt) == "01 [SystemIO]", "\(name)")
            #expect(field("Bit Width", after: register, in: fadt) == "08")
            #expect(field("Bit Offset", after: register, in: fadt) == "00")
            #expect(field("Encoded Access Width", after: register, in: fadt) == "01 [Byte Access:8]")
            #expect(field("Address", after: register, in: fadt) == "0000000000000600")
        }
        #expect(field("Hypervisor ID", in: fadt) == "4D4D565446495753", "\"SWIFTVMM\" read as a little-endian integer")
    }

    @Test func theMADTDecodesToOneEnabledLocalAPICPerCPUAndTheIOAPIC() throws {
        let set = try ACPITables.build(ACPIConfiguration(cpuCount: 3, powerControlPort: 0x600, resetValue: 1), at: ACPITables.conventionalBase)
        let madt = try #require(try disassemble(set)["APIC"])
        #expect(field("Local Apic Address", in: madt) == "FEE00000")
        #expect(field("PC-AT Compatibility", in: madt) == "0")
        let localAPICs = madt.components(separatedBy: "Subtable Type : 00 [Processor Local APIC]").dropFirst()
        #expect(localAPICs.count == 3)
        for (cpu, entry) in localAPICs.enumerated() {
            #expect(field("Processor ID", in: entry) == "0\(cpu)" && field("Local Apic ID", in: entry) == "0\(cpu)")
            #expect(field("Processor Enabled", in: entry) == "1")
        }
        #expect(field("I/O Apic ID", after: "[I/O APIC]", in: madt) == "00")
        #expect(field("Address", after: "[I/O APIC]", in: madt) == "FEC00000")
        #expect(field("Interrupt", after: "[I/O APIC]", in: madt) == "00000000", "GSI base")
        #expect(!madt.contains("Interrupt Source Override"))
    }

    @Test func theXSDTPointsAtTheFADTAndMADT() throws {
        let set = try ACPITables.build(Self.config, at: ACPITables.conventionalBase)
        let xsdt = try #require(try disassemble(set)["XSDT"])
        #expect(field("ACPI Table Address   0", in: xsdt) == "00000000000E0060")
        #expect(field("ACPI Table Address   1", in: xsdt) == "00000000000E0178")
        #expect(set.tables[2].address == 0xE0060 && set.tables[3].address == 0xE0178)
    }

    @Test func theDSDTDisassemblesToCOM1TheRTCAVirtioDeviceAndS5() throws {
        let set = try ACPITables.build(Self.config, at: ACPITables.conventionalBase)
        let dsdt = squeezed(try #require(try disassemble(set)["DSDT"]))
        let expected = [
            "Scope (\\_SB) { Device (COM1) {",
            "Name (_HID, EisaId (\"PNP0501\") /* 16550A-compatible COM Serial Port */)",
            "Name (_UID, Zero)",
            "IO (Decode16, 0x03F8, // Range Minimum 0x03F8, // Range Maximum 0x00, // Alignment 0x08, // Length )",
            "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000004, }",
            "Device (RTC0) { Name (_HID, EisaId (\"PNP0B00\") /* AT Real-Time Clock */)",
            "IO (Decode16, 0x0070, // Range Minimum 0x0070, // Range Maximum 0x00, // Alignment 0x02, // Length )",
            "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000008, }",
            "Device (V000) { Name (_HID, \"LNRO0005\") // _HID: Hardware ID Name (_UID, Zero) // _UID: Unique ID Name (_CCA, One)",
            "Memory32Fixed (ReadWrite, 0xFEB00E00, // Address Base 0x00000200, // Address Length )",
            "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, ) { 0x0000000C, }",
            "Name (\\_S5, Package (0x04) // _S5_: S5 System State { 0x05, Zero, Zero, Zero })",
        ]
        for snippet in expected { #expect(dsdt.contains(snippet), "\(snippet)\nnot in\n\(dsdt)") }
    }

    /// Our DSDT against iasl's compilation of the same ASL (without its name-path optimizations,
    /// which would drop the root prefixes we write): identical, except that iasl leaves each
    /// End Tag's checksum 0 (which the spec treats as valid) where we compute it.
    @Test func iaslCompilesTheEquivalentASLToTheSameAML() throws {
        let source = """
            DefinitionBlock ("", "DSDT", 2, "SWVMM ", "SWVMMDSD", 1) {
              Scope (\\_SB) {
                Device (COM1) { Name (_HID, EisaId ("PNP0501")) Name (_UID, Zero)
                  Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08)
                    Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 4 } }) }
                Device (RTC0) { Name (_HID, EisaId ("PNP0B00"))
                  Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0070, 0x0070, 0x00, 0x02)
                    Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 8 } }) }
                Device (V000) { Name (_HID, "LNRO0005") Name (_UID, Zero) Name (_CCA, One)
                  Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xFEB00E00, 0x00000200)
                    Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 12 } }) }
              }
              Name (\\_S5, Package (0x04) { 0x05, Zero, Zero, Zero })
            }
            """
        let reference = try inScratchDirectory { directory in
            try source.write(to: directory.appendingPathComponent("reference.asl"), atomically: true, encoding: .utf8)
            let messages = try iasl(["-oa", "-p", "reference", "reference.asl"], in: directory)
            #expect(messages.contains("0 Errors, 0 Warnings"), "\(messages)")
            return [UInt8](try Data(contentsOf: directory.appendingPathComponent("reference.aml")))
        }
        let set = try ACPITables.build(Self.config, at: ACPITables.conventionalBase)
        let placement = set.tables[4]
        let start = Int(placement.address - set.rsdpAddress)
        let ours = Array(set.bytes[start..<start + placement.length])
        #expect(ours.count == reference.count)
        #expect(Array(ours[0..<9]) == Array(reference[0..<9]) && Array(ours[10..<28]) == Array(reference[10..<28]), "header up to the creator")
        let differences = (36..<min(ours.count, reference.count)).filter { ours[$0] != reference[$0] }
        #expect(differences.count == 3, "\(differences)")
        for offset in differences {
            #expect(reference[offset - 1] == 0x79 && reference[offset] == 0, "byte \(offset) is not an End Tag checksum")
        }
    }
}
