import Boot
import Testing
import VMCore

/// The table set byte for byte against the offsets in the ACPI 6.5 specification (sections
/// 5.2.5.3 RSDP, 5.2.6 header, 5.2.8 XSDT, 5.2.9 FADT, 5.2.12 MADT).
@Suite struct ACPITableLayoutTests {
    static let port: UInt16 = 0x600
    static let base = ACPITables.conventionalBase

    func build(cpus: Int = 2, virtio: [VirtioMMIODescription] = []) throws -> ACPITableSet {
        try ACPITables.build(ACPIConfiguration(cpuCount: cpus, powerControlPort: Self.port, resetValue: 1, virtioDevices: virtio), at: Self.base)
    }

    /// The bytes of the table with `signature`.
    func table(_ signature: String, in set: ACPITableSet) throws -> [UInt8] {
        let placement = try #require(set.tables.first { $0.signature == signature })
        let start = Int(placement.address - set.rsdpAddress)
        return Array(set.bytes[start..<start + placement.length])
    }

    func u16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) } }
    func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) } }
    func text(_ bytes: [UInt8], _ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
    func sum(_ bytes: some Sequence<UInt8>) -> UInt8 { bytes.reduce(0, &+) }

    @Test func theSetIsContiguousStartsWithTheRSDPAndFitsWellUnder64KiB() throws {
        let set = try build()
        #expect(set.rsdpAddress == 0xE0000 && set.memoryWrite.address == 0xE0000 && set.memoryWrite.bytes == set.bytes)
        #expect(set.tables.map(\.signature) == ["RSDP", "XSDT", "FACP", "APIC", "DSDT"])
        #expect(set.tables.map(\.length) == [36, 52, 276, 72, 154])
        #expect(set.tables.allSatisfy { $0.address % 8 == 0 })
        for (table, next) in zip(set.tables, set.tables.dropFirst()) {
            #expect(table.address + UInt64(table.length) <= next.address, "\(table.signature) overlaps \(next.signature)")
        }
        let last = try #require(set.tables.last)
        #expect(set.range == 0xE0000..<last.address + UInt64(last.length))
        #expect(set.bytes.count == 602)
    }

    @Test func theRSDPIsRevision2WithBothChecksums() throws {
        let set = try build()
        let rsdp = try table("RSDP", in: set)
        #expect(text(rsdp, 0..<8) == "RSD PTR ")
        #expect(sum(rsdp[0..<20]) == 0, "the ACPI 1.0 checksum covers the first 20 bytes")
        #expect(sum(rsdp) == 0, "the extended checksum covers all 36")
        #expect(text(rsdp, 9..<15) == "SWVMM " && rsdp[15] == 2)
        #expect(u32(rsdp, 16) == 0, "no RSDT")
        #expect(u32(rsdp, 20) == 36)
        #expect(u64(rsdp, 24) == set.tables[1].address)
        #expect(rsdp[33..<36].allSatisfy { $0 == 0 })
    }

    @Test(arguments: [1, 2, 8, 255])
    func everyTableHasAConsistentHeaderAndChecksum(cpus: Int) throws {
        let set = try build(cpus: cpus, virtio: [VirtioMMIODescription(base: 0xFEB0_0000, gsi: 5)])
        let revisions: [String: UInt8] = ["XSDT": 1, "FACP": 6, "APIC": 5, "DSDT": 2]
        for placement in set.tables.dropFirst() {
            let bytes = try table(placement.signature, in: set)
            #expect(text(bytes, 0..<4) == placement.signature)
            #expect(Int(u32(bytes, 4)) == placement.length)
            #expect(bytes[8] == revisions[placement.signature])
            #expect(sum(bytes) == 0, "\(placement.signature) checksum")
            #expect(text(bytes, 10..<16) == "SWVMM ")
            #expect(text(bytes, 16..<24) == "SWVMM" + placement.signature.prefix(3))
            #expect(u32(bytes, 24) == 1 && text(bytes, 28..<32) == "SWVM" && u32(bytes, 32) == 1)
        }
    }

    @Test func theXSDTListsTheFADTAndTheMADT() throws {
        let set = try build()
        let xsdt = try table("XSDT", in: set)
        #expect(xsdt.count == 36 + 16)
        #expect(u64(xsdt, 36) == set.tables[2].address && u64(xsdt, 44) == set.tables[3].address)
    }

    @Test func theFADTIsHardwareReducedWithResetAndSleepRegistersOnThePowerPort() throws {
        let set = try build()
        let fadt = try table("FACP", in: set)
        let dsdtAddress = set.tables[4].address
        #expect(fadt.count == 276 && fadt[8] == 6)
        #expect(u32(fadt, 36) == 0, "no FACS")
        #expect(UInt64(u32(fadt, 40)) == dsdtAddress && u64(fadt, 140) == dsdtAddress, "DSDT and X_DSDT agree")
        #expect(u16(fadt, 109) == 1 << 2, "IAPC_BOOT_ARCH: VGA not present, nothing else")
        let flags = u32(fadt, 112)
        #expect(flags & 1 << 20 != 0, "HW_REDUCED_ACPI")
        #expect(flags & 1 << 10 != 0, "RESET_REG_SUP")
        #expect(flags == 1 << 20 | 1 << 10 | 1 << 4 | 1 << 5, "and no fixed power or sleep button")
        // Each register: a GAS in system I/O space (1), 8 bits at bit 0, byte access (1), port 0x600.
        let ioByteAtPort: [UInt8] = [1, 8, 0, 1, 0x00, 0x06, 0, 0, 0, 0, 0, 0]
        #expect(Array(fadt[116..<128]) == ioByteAtPort, "RESET_REG")
        #expect(fadt[128] == 1, "RESET_VALUE")
        #expect(fadt[131] == 3, "FADT minor version (ACPI 6.3)")
        #expect(Array(fadt[244..<256]) == ioByteAtPort, "SLEEP_CONTROL_REG")
        #expect(Array(fadt[256..<268]) == ioByteAtPort, "SLEEP_STATUS_REG")
        #expect(text(fadt, 268..<276) == "SWIFTVMM", "hypervisor vendor identity")
        // Everything else, from the PM1 blocks to the X_ GAS blocks, stays zero.
        let filled = [40..<44, 109..<111, 112..<129, 131..<132, 140..<148, 244..<276]
        for offset in 36..<276 where !filled.contains(where: { $0.contains(offset) }) {
            #expect(fadt[offset] == 0, "FADT byte \(offset)")
        }
    }

    @Test(arguments: [1, 2, 3, 16, 255])
    func theMADTHasOneEnabledLocalAPICPerCPUAndOneIOAPIC(cpus: Int) throws {
        let set = try build(cpus: cpus)
        let madt = try table("APIC", in: set)
        #expect(madt.count == 44 + 8 * cpus + 12)
        #expect(u32(madt, 36) == 0xFEE0_0000 && u32(madt, 40) == 0, "local APIC address, flags without PCAT_COMPAT")
        for cpu in 0..<cpus {
            let entry = Array(madt[44 + 8 * cpu..<52 + 8 * cpu])
            #expect(entry == [0, 8, UInt8(cpu), UInt8(cpu), 1, 0, 0, 0], "type 0, length 8, UID, APIC ID, enabled")
        }
        let ioAPIC = Array(madt[(44 + 8 * cpus)...])
        #expect(ioAPIC == [1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0], "type 1, length 12, ID 0, 0xFEC00000, GSI base 0")
    }

    @Test func theMADTCarriesTheConfiguredIOAPICID() throws {
        let set = try ACPITables.build(ACPIConfiguration(cpuCount: 1, powerControlPort: Self.port, resetValue: 1, ioAPICID: 2), at: Self.base)
        let madt = try table("APIC", in: set)
        #expect(madt[52] == 1 && madt[54] == 2)
    }

    @Test func theDSDTHoldsCOM1TheRTCAndTheSoftOffSleepType() throws {
        let dsdt = try table("DSDT", in: try build())
        let body = Array(dsdt[36...])
        // Scope (\_SB) { COM1, RTC0 } then Name (\_S5, ...): the same encoders are tested alone.
        let scope = AML.scope("\\_SB", [ACPIDevices.com1(), ACPIDevices.rtc()])
        #expect(body == scope + [0x08, 0x5C] + Array("_S5_".utf8) + [0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00])
        #expect(ACPIDevices.com1().count == 51, "as iasl compiles it (linux-boot-notes Appendix B)")
    }

    @Test func virtioDevicesAreNamedAndNumberedInOrder() throws {
        let devices = (0..<12).map { VirtioMMIODescription(base: 0xFEB0_0000 + 0x200 * UInt32($0), gsi: 9 + UInt32($0)) }
        let dsdt = try table("DSDT", in: try build(virtio: devices))
        let body = Array(dsdt[36...])
        var expectedDevices = [ACPIDevices.com1(), ACPIDevices.rtc()]
        for (index, device) in devices.enumerated() { expectedDevices.append(ACPIDevices.virtioMMIO(device, index: index)) }
        #expect(body.starts(with: AML.scope("\\_SB", expectedDevices)))
        // V000: the 67 bytes of Appendix B (one more per device from _UID 2 on: BytePrefix).
        #expect(ACPIDevices.virtioMMIO(devices[0], index: 0).count == 67)
        #expect(ACPIDevices.virtioMMIO(devices[2], index: 2).count == 68)
        let v011 = ACPIDevices.virtioMMIO(devices[11], index: 11)
        #expect(Array(v011[4..<8]) == Array("V011".utf8))
        #expect(v011.contains(subsequence: AML.name("_UID", AML.integer(11))))
        #expect(v011.contains(subsequence: AML.name("_HID", AML.string("LNRO0005"))))
        #expect(v011.contains(subsequence: AML.name("_CCA", AML.integer(1))))
        #expect(v011.contains(subsequence: AMLResource.memory32Fixed(base: 0xFEB0_1600, length: 0x200)))
        #expect(v011.contains(subsequence: AMLResource.interrupt([20], trigger: .level, polarity: .activeHigh)))
    }

    @Test func aLargeMachineStillFitsEasily() throws {
        // Every free pin: 5-23 without the RTC's 8.
        let pins = (5..<24).filter { $0 != 8 }.map(UInt32.init)
        let devices = pins.enumerated().map { VirtioMMIODescription(base: 0xD000_0000 + 0x1000 * UInt32($0), length: 0x1000, gsi: $1) }
        let set = try build(cpus: 255, virtio: devices)
        #expect(set.bytes.count < 0x1000, "\(set.bytes.count) bytes")
    }

    @Test func configurationsTheTablesCannotDescribeAreRefused() {
        func error(_ config: ACPIConfiguration, base: UInt64 = Self.base, limit: Int = ACPITables.defaultSizeLimit) -> ACPITableError? {
            do {
                _ = try ACPITables.build(config, at: base, sizeLimit: limit)
                return nil
            } catch {
                return error
            }
        }
        let config = ACPIConfiguration(cpuCount: 2, powerControlPort: Self.port, resetValue: 1)
        var noCPUs = config
        noCPUs.cpuCount = 0
        #expect(error(noCPUs) == .unsupportedCPUCount(0, supported: 1...255))
        var tooMany = config
        tooMany.cpuCount = 256
        #expect(error(tooMany) == .unsupportedCPUCount(256, supported: 1...255))
        #expect(error(config, base: 0xE0008) == .misalignedBase(0xE0008))
        #expect(error(config, base: 0xFFFF_FF00) == .above4GiB(base: 0xFFFF_FF00, size: 602))
        #expect(error(config, base: 1 << 32) == .above4GiB(base: 1 << 32, size: 0))
        #expect(error(config, limit: 601) == .tooLarge(size: 602, limit: 601))
        #expect(error(config, limit: 602) == nil)
        for (device, complaint) in [
            (VirtioMMIODescription(base: 0xFEB0_0000, gsi: 4), "GSI 4"),
            (VirtioMMIODescription(base: 0xFEB0_0000, gsi: 8), "GSI 8"),
            (VirtioMMIODescription(base: 0xFEB0_0000, gsi: 24), "GSI 24"),
            (VirtioMMIODescription(base: 0xFFFF_FF00, length: 0x200, gsi: 5), "passes 4 GiB"),
            (VirtioMMIODescription(base: 0xFEB0_0000, length: 0, gsi: 5), "is empty"),
        ] {
            var bad = config
            bad.virtioDevices = [VirtioMMIODescription(base: 0xD000_0000, gsi: 6), device]
            guard case .badVirtioDevice(index: 1, let reason) = error(bad) else {
                Issue.record("\(device) was accepted")
                continue
            }
            #expect(reason.contains(complaint))
        }
        var crowded = config
        crowded.virtioDevices = Array(repeating: VirtioMMIODescription(base: 0xD000_0000, gsi: 6), count: 1001)
        #expect(error(crowded) == .tooManyVirtioDevices(count: 1001, limit: 1000))
        #expect(ACPITableError.tooLarge(size: 560, limit: 559).description == "ACPI tables: 560 bytes, more than the 559 bytes reserved for them")
    }
}

extension Array where Element: Equatable {
    func contains(subsequence: [Element]) -> Bool {
        guard subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { Array(self[$0..<$0 + subsequence.count]) == subsequence }
    }
}
