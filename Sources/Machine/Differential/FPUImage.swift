/// The 512-byte FXSAVE image (SDM vol. 1, table 10-3, the 64-bit layout) as the differential
/// tester compares it: every field, x87 and SSE alike, so that new x87 or SSE instructions in the
/// generator are compared without changes here.
enum FPUImage {
    /// The fields, for naming a difference.
    static let fields: [(name: String, offset: Int, size: Int)] =
        [
            ("fcw", 0, 2), ("fsw", 2, 2), ("ftw (abridged)", 4, 1), ("reserved 5", 5, 1), ("fop", 6, 2), ("fip", 8, 8), ("fdp", 16, 8),
            ("mxcsr", 24, 4), ("mxcsr_mask", 28, 4),
        ] + (0..<8).map { ("st\($0)/mm\($0)", 32 + 16 * $0, 16) } + (0..<16).map { ("xmm\($0)", 160 + 16 * $0, 16) } + [("reserved 416-511", 416, 96)]

    /// The image with the fields that may differ between correct CPUs cleared. Only one:
    /// MXCSR_MASK names the CPU rather than a result, and this host's (AMD, with misaligned-SSE
    /// mode: 0x2FFFF) is not the model's (0xFFFF, a K8 has no MXCSR.MM). Nothing in the image is
    /// undefined by the manuals: the harness zeroes the reserved bytes the CPU leaves alone
    /// (416-511) beforehand, and AMD stores FIP/FDP/FOP as zeros while no
    /// exception is pending.
    static func comparable(_ image: [UInt8]) -> [UInt8] {
        var result = image
        guard result.count == 512 else { return result }
        for index in 28..<32 { result[index] = 0 }
        return result
    }

    /// Lines naming each field that differs, with both values (little-endian hex).
    static func differences(_ kvm: [UInt8], _ emulator: [UInt8]) -> [String] {
        guard kvm.count == 512 && emulator.count == 512 else { return kvm == emulator ? [] : ["fxsave image sizes differ"] }
        return fields.compactMap { field in
            let range = field.offset..<(field.offset + field.size)
            guard kvm[range] != emulator[range] else { return nil }
            func text(_ bytes: ArraySlice<UInt8>) -> String {
                bytes.reversed().map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
            }
            return "fxsave \(field.name) differs: kvm 0x\(text(kvm[range])) emulator 0x\(text(emulator[range]))"
        }
    }
}
