import VMCore

/// The bits of a paging-structure entry that must be zero for the CPU model (SDM vol. 3, 4.3-4.5
/// and tables 4-6 to 4-20; APM vol. 2, 5.3-5.4): a present entry with any of them set is a #PF
/// with RSVD in the error code, at that level of the walk.
///
/// Choices the model makes: physical addresses are `CPUModel.physicalAddressBits` (40) wide, so
/// address bits 51:40 are reserved; there are no 1-GiB pages (CPUID 80000001h:EDX.Page1GB is
/// clear), so PS in a PDPTE is reserved; no PAT and no PSE-36 (CPUID.1:EDX), so the PAT bits
/// (bit 7 of a PTE, bit 12 of a large-page PDE) and the 4-MiB page's bits 20:13 are reserved; and
/// the XD bit is reserved unless EFER.NXE is set. Legacy PAE PDPTEs are checked during the walk
/// (as AMD CPUs do; Intel CPUs check them when CR3 is loaded, with #GP).
enum PagingReservedBits {
    static let physicalAddressBits = UInt64(CPUModel.softwareBackend.physicalAddressBits)
    /// Bits 51:physicalAddressBits.
    static let aboveAddressWidth: UInt64 = ((1 << 52) - 1) & ~((1 << physicalAddressBits) - 1)
    static let executeDisable: UInt64 = 1 << 63
    static let pageSize: UInt64 = 1 << 7
    static let largePagePAT: UInt64 = 1 << 12
    /// Bits 20:13 of a 2-MiB or 4-MiB page entry, between the PAT bit and the frame.
    static let largePageLow: UInt64 = 0x1F_E000

    /// The reserved bits of an entry at `depth` of a walk in the given paging mode; `largePage`
    /// is whether the entry maps a page with PS.
    static func mask(depth: Int, longMode: Bool, pae: Bool, nxEnabled: Bool, largePage: Bool) -> UInt64 {
        guard pae else {
            // 32-bit paging: only a 4-MiB PDE has reserved bits (21:13, with no PSE-36 and no PAT).
            return depth == 0 && largePage ? largePageLow | largePagePAT | 1 << 21 : 0
        }
        let executeDisableReserved = nxEnabled ? 0 : executeDisable
        if longMode {
            let address = aboveAddressWidth | executeDisableReserved
            switch depth {
            case 0, 1: return address | pageSize  // PML4E: PS must be 0; PDPTE: no 1-GiB pages
            case 2: return address | (largePage ? largePageLow | largePagePAT : 0)
            default: return address | pageSize  // the PTE's PAT bit
            }
        }
        // Legacy PAE: bits 62:52 are reserved too (they are ignored only in long mode).
        let address = aboveAddressWidth | 0x7FF0_0000_0000_0000 | executeDisableReserved
        switch depth {
        case 0: return 0xFFF0_0000_0000_0000 | aboveAddressWidth | 0x1E6  // PDPTE: 63:52, 51:40, 8:5, 2:1
        case 1: return address | (largePage ? largePageLow | largePagePAT : 0)
        default: return address | pageSize
        }
    }
}
