import Boot
import TestSupport
import Testing
import VMCore

/// The AML encoder against the grammar (ACPI 6.5 chapter 20) and against bytes iasl emits for
/// the same ASL.
@Suite struct AMLEncoderTests {
    /// A PkgLength decoded the way ACPICA does (psargs.c): the byte count in bits 7-6 of the
    /// lead byte, then its low 6 bits (one byte) or 4 bits (more) and 8 bits per following byte.
    func decodePackageLength(_ bytes: [UInt8]) -> (value: Int, size: Int) {
        let following = Int(bytes[0] >> 6)
        if following == 0 { return (Int(bytes[0] & 0x3F), 1) }
        var value = Int(bytes[0] & 0x0F)
        for index in 1...following { value |= Int(bytes[index]) << (4 + 8 * (index - 1)) }
        return (value, following + 1)
    }

    @Test(arguments: [
        // (content bytes, expected PkgLength bytes). The value counts the PkgLength bytes too.
        (0, [0x01]),
        (62, [0x3F]),  // total 63: the largest one-byte value
        (63, [0x41, 0x04]),  // total 64 does not fit 6 bits; with two bytes it is 65 = 0x041
        (64, [0x42, 0x04]),
        (4093, [0x4F, 0xFF]),  // total 4095: the largest two-byte value
        (4094, [0x81, 0x00, 0x01]),  // 4096 does not fit 12 bits; three bytes make it 4097 = 0x01001
        (0xF_FFFC, [0x8F, 0xFF, 0xFF]),  // total 2^20 - 1
        (0xF_FFFD, [0xC1, 0x00, 0x00, 0x01]),  // 2^20 + 1 with four bytes
        ((1 << 28) - 5, [0xCF, 0xFF, 0xFF, 0xFF]),  // total 2^28 - 1, the largest there is
    ])
    func packageLengthsUseTheShortestEncodingThatHoldsTheirOwnSize(contentCount: Int, expected: [UInt8]) {
        let encoded = AML.packageLength(containing: contentCount)
        #expect(encoded == expected)
        let (value, size) = decodePackageLength(encoded)
        #expect(size == encoded.count && value == contentCount + size)
    }

    @Test func randomPackageLengthsDecodeToTheirTotalAndAreMinimal() {
        var random = SplitMix64(seed: 0xA41)
        for _ in 0..<2000 {
            let contentCount = Int.random(in: 0...(AML.maximumPackageLength - 4), using: &random) >> Int.random(in: 0..<28, using: &random)
            let encoded = AML.packageLength(containing: contentCount)
            let (value, size) = decodePackageLength(encoded)
            #expect(value == contentCount + size)
            let limits = [0x3F, 0xFFF, 0xF_FFFF]
            if size > 1 { #expect(contentCount + size - 1 > limits[size - 2], "a shorter encoding would hold \(contentCount)") }
            #expect(encoded.count == 1 || encoded[0] & 0x30 == 0, "bits 5-4 of a multi-byte lead byte are reserved")
        }
    }

    @Test func packagesAroundTheOneByteLimitGetTheirLengthRight() {
        // A Buffer whose ByteList makes its content (BufferSize + bytes) 62, then 63 bytes.
        let small = AML.buffer([UInt8](repeating: 0xAA, count: 60))  // BytePrefix 60 + 60 bytes = 62
        #expect(Array(small.prefix(4)) == [0x11, 0x3F, 0x0A, 60] && small.count == 64)
        let large = AML.buffer([UInt8](repeating: 0xAA, count: 61))
        #expect(Array(large.prefix(5)) == [0x11, 0x41, 0x04, 0x0A, 61] && large.count == 66)
        let big = AML.buffer([UInt8](repeating: 0, count: 5000))  // WordPrefix size + 5000 = 5003
        #expect(Array(big.prefix(7)) == [0x11, 0x8E, 0x38, 0x01, 0x0B, 0x88, 0x13] && big.count == 1 + 3 + 5003)  // 5006 = 0x0138E
    }

    static let integerEncodings: [(UInt64, [UInt8])] = [
        (0, [0x00]), (1, [0x01]), (2, [0x0A, 0x02]), (0xFF, [0x0A, 0xFF]), (0x100, [0x0B, 0x00, 0x01]),
        (0xFFFF, [0x0B, 0xFF, 0xFF]), (0x1_0000, [0x0C, 0x00, 0x00, 0x01, 0x00]), (0xFFFF_FFFF, [0x0C, 0xFF, 0xFF, 0xFF, 0xFF]),
        (0x1_0000_0000, [0x0E, 0, 0, 0, 0, 1, 0, 0, 0]), (.max, [0x0E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
    ]

    @Test(arguments: integerEncodings)
    func integersTakeTheSmallestPrefix(value: UInt64, expected: [UInt8]) {
        #expect(AML.integer(value) == expected)
    }

    @Test func stringsAndEISAIDs() {
        #expect(AML.string("LNRO0005") == [0x0D] + Array("LNRO0005".utf8) + [0x00])
        #expect(AML.string("") == [0x0D, 0x00])
        // As iasl compiles EisaId ("PNP0501") and EisaId ("PNP0A08").
        #expect(AML.eisaID("PNP0501") == [0x0C, 0x41, 0xD0, 0x05, 0x01])
        #expect(AML.eisaID("PNP0A08") == [0x0C, 0x41, 0xD0, 0x0A, 0x08])
    }

    @Test func nameStringsCarryPrefixesAndPadSegments() {
        let seg = { (s: String) in Array(s.utf8) }
        #expect(AML.nameString("_S5") == seg("_S5_"))
        #expect(AML.nameString("\\_SB") == [0x5C] + seg("_SB_"))
        #expect(AML.nameString("\\_SB.COM1") == [0x5C, 0x2E] + seg("_SB_COM1"))
        #expect(AML.nameString("\\_SB.PCI0.S8") == [0x5C, 0x2F, 3] + seg("_SB_PCI0S8__"))
        #expect(AML.nameString("^^DEV") == [0x5E, 0x5E] + seg("DEV_"))
        #expect(AML.nameString("\\") == [0x5C, 0x00])
    }

    @Test func namedObjectsMatchWhatIaslEmits() {
        // Name (_UID, Zero), and Name (\_S5, Package (0x04) { 0x05, Zero, Zero, Zero }) from iasl -oa.
        #expect(AML.name("_UID", AML.integer(0)) == [0x08, 0x5F, 0x55, 0x49, 0x44, 0x00])
        let s5 = AML.name("\\_S5", AML.package([AML.integer(5), AML.integer(0), AML.integer(0), AML.integer(0)]))
        #expect(s5 == [0x08, 0x5C, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00])
        // Scope (\_SB) { Device (COM1) { ... } }: 0x10 PkgLength "\_SB_" and the device; 5B 82 for Device.
        let device = AML.device("COM1", [AML.name("_UID", AML.integer(0))])
        #expect(device == [0x5B, 0x82, 0x0B] + Array("COM1".utf8) + [0x08] + Array("_UID".utf8) + [0x00])
        #expect(AML.scope("\\_SB", [device]) == [0x10, UInt8(1 + 5 + device.count)] + [0x5C] + Array("_SB_".utf8) + device)
        #expect(AML.package([]) == [0x12, 0x02, 0x00])
    }

    @Test func resourceDescriptorsHaveTheSpecsLayout() {
        // IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08)
        #expect(AMLResource.io(base: 0x3F8, length: 8) == [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08])
        // Memory32Fixed (ReadWrite, 0xFEB00E00, 0x00000200)
        let memory: [UInt8] = [0x86, 0x09, 0x00, 0x01, 0x00, 0x0E, 0xB0, 0xFE, 0x00, 0x02, 0x00, 0x00]
        #expect(AMLResource.memory32Fixed(base: 0xFEB0_0E00, length: 0x200) == memory)
        // Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 4 } and Level ... { 12 }
        #expect(AMLResource.interrupt([4], trigger: .edge, polarity: .activeHigh) == [0x89, 0x06, 0x00, 0x03, 0x01, 0x04, 0x00, 0x00, 0x00])
        #expect(AMLResource.interrupt([12], trigger: .level, polarity: .activeHigh) == [0x89, 0x06, 0x00, 0x01, 0x01, 0x0C, 0x00, 0x00, 0x00])
        let lowShared = AMLResource.interrupt([5, 0x1_0000], trigger: .level, polarity: .activeLow, shared: true)
        #expect(lowShared == [0x89, 0x0A, 0x00, 0x0D, 0x02, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00])
    }

    @Test func aResourceTemplateEndsWithATagWhoseChecksumBalancesIt() {
        let descriptors = [AMLResource.io(base: 0x3F8, length: 8), AMLResource.interrupt([4], trigger: .edge, polarity: .activeHigh)]
        let template = AMLResource.template(descriptors)
        // Buffer (0x13) { 8 + 9 descriptor bytes, 0x79, checksum }
        #expect(Array(template.prefix(4)) == [0x11, 0x16, 0x0A, 0x13] && template.count == 4 + 19)
        let resources = Array(template.dropFirst(4))
        #expect(Array(resources.prefix(17)) == descriptors.flatMap { $0 })
        #expect(resources[17] == 0x79)
        #expect(resources.reduce(0, &+) == 0, "the checksum makes the template's bytes sum to zero")
    }
}
