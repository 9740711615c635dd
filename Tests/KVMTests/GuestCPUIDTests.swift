import KVM
import Testing
import VMCore

/// The KVM guest CPUID built from synthetic KVM_GET_SUPPORTED_CPUID tables (no KVM needed).
@Suite struct KVMGuestCPUIDTests {
    static let model = CPUModel.softwareBackend
    static let lapic = KVMCPUIDHost(hasInKernelLocalAPIC: true, hasTSCDeadlineTimer: true)

    /// What PVM on an AMD EPYC (family 0x19) reports, as measured on the development hosts.
    static let amdHost: [CPUIDEntry] = [
        CPUIDEntry(function: 0, eax: 0xD, ebx: 0x6874_7541, ecx: 0x444D_4163, edx: 0x6974_6E65),
        CPUIDEntry(function: 1, eax: 0x00A0_0F11, ebx: 0x0002_0800, ecx: 0x8120_2000, edx: 0x078B_FBFF),
        CPUIDEntry(function: 4, flags: CPUIDEntry.significantIndex),
        CPUIDEntry(function: 6, eax: 4),
        CPUIDEntry(function: 7, flags: CPUIDEntry.significantIndex, ebx: 0x0180_0002, ecx: 4, edx: 0x2000_0000),
        CPUIDEntry(function: 0xD, flags: CPUIDEntry.significantIndex, eax: 7, ebx: 0x340, ecx: 0x340),
        CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4B4D_564B, ecx: 0x564B_4D56, edx: 0x4D),
        CPUIDEntry(function: 0x4000_0001, eax: 0x0100_7EFB),
        CPUIDEntry(function: 0x8000_0000, eax: 0x8000_0021, ebx: 0x6874_7541, ecx: 0x444D_4163, edx: 0x6974_6E65),
        CPUIDEntry(function: 0x8000_0001, eax: 0x00A0_0F11, ebx: 0x4000_0000, ecx: 0x0040_0393, edx: 0x23D3_FBFF),
        CPUIDEntry(function: 0x8000_0005, eax: 0xFF40_FF40, ebx: 0xFF40_FF40, ecx: 0x2008_0140, edx: 0x2008_0140),
        CPUIDEntry(function: 0x8000_0007, edx: 0x100),
        CPUIDEntry(function: 0x8000_0008, eax: 0x3030, ebx: 0x1000_0005, ecx: 0x7001),
        CPUIDEntry(function: 0x8000_001D, flags: CPUIDEntry.significantIndex, eax: 0x121, ebx: 0x01C0_003F, ecx: 0x3F),
        CPUIDEntry(function: 0x8000_0021, eax: 0x204, ecx: 6),
    ]

    /// An Intel host: every feature the model has and more (AVX, x2APIC, PCID, ...), 46/48 bits.
    static let intelHost: [CPUIDEntry] = [
        CPUIDEntry(function: 0, eax: 0x1B, ebx: 0x756E_6547, ecx: 0x6C65_746E, edx: 0x4965_6E69),
        CPUIDEntry(function: 1, eax: 0x0005_0657, ebx: 0x0010_0800, ecx: 0xFFFA_3223, edx: 0x1FEB_FBFF),
        CPUIDEntry(function: 4, flags: CPUIDEntry.significantIndex, eax: 0x1C00_4121),
        CPUIDEntry(function: 4, index: 1, flags: CPUIDEntry.significantIndex, eax: 0x1C00_4122),
        CPUIDEntry(function: 6, eax: 4),
        CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4B4D_564B, ecx: 0x564B_4D56, edx: 0x4D),
        CPUIDEntry(function: 0x4000_0001, eax: 1 << 3),
        CPUIDEntry(function: 0x8000_0000, eax: 0x8000_0008),
        CPUIDEntry(function: 0x8000_0001, ecx: 0x121, edx: 0x2C10_0800),
        CPUIDEntry(function: 0x8000_0002, eax: 0x6574_6E49, ebx: 0x2952_286C),
        CPUIDEntry(function: 0x8000_0008, eax: 0x302E),
    ]

    func leaf(_ table: [CPUIDEntry], _ function: UInt32, _ index: UInt32 = 0) -> CPUIDEntry? {
        table.first { $0.function == function && $0.index == index }
    }

    @Test func theLeavesAreExactlyTheModels() {
        let table = GuestCPUID.normalized(supported: Self.amdHost, model: Self.model, host: Self.lapic)
        let expected: [UInt32] = Array(0...6) + [0x4000_0000, 0x4000_0001] + Array(0x8000_0000...0x8000_0008)
        #expect(table.map(\.function) == expected)
        #expect(leaf(table, 0)?.eax == CPUModel.maximumBasicLeaf)
        #expect(leaf(table, 0x8000_0000)?.eax == CPUModel.maximumExtendedLeaf)
        // Beyond the maximum: no XSAVE leaf, no leaf 7 features, no AMD cache or SEV leaves.
        #expect(leaf(table, 7) == nil && leaf(table, 0xD) == nil && leaf(table, 0x8000_001D) == nil)
    }

    @Test func onAnAMDHostTheIdentityIsTheModels() {
        let table = GuestCPUID.normalized(supported: Self.amdHost, model: Self.model, host: Self.lapic)
        #expect(GuestCPUID.vendor(of: leaf(table, 0)!) == "AuthenticAMD")
        #expect(leaf(table, 1)?.eax == 0x0006_0FB1)  // family 0xF model 0x6B stepping 1, not the host's 0x19
        #expect(leaf(table, 0x8000_0001)?.eax == 0x0006_0FB1)
        #expect(leaf(table, 0x8000_0001)?.ebx == 0)
        for function: UInt32 in 0x8000_0002...0x8000_0004 {
            let brand = Self.model.cpuid(leaf: function)
            #expect(leaf(table, function).map { [$0.eax, $0.ebx, $0.ecx, $0.edx] } == [brand.eax, brand.ebx, brand.ecx, brand.edx])
        }
    }

    /// This host's PVM table gives every feature the model has, so the guest gets the model's leaves
    /// as the software backend reports them (leaf 1 EBX: CLFLUSH size only, APIC ID 0).
    @Test func onThisKindOfHostEveryModelLeafIsTheSoftwareBackends() {
        let table = GuestCPUID.normalized(supported: Self.amdHost, model: Self.model, host: Self.lapic)
        for entry in table {
            let model = Self.model.cpuid(leaf: entry.function, subleaf: entry.index)
            #expect([entry.eax, entry.ebx, entry.ecx, entry.edx] == [model.eax, model.ebx, model.ecx, model.edx], "leaf \(hex(entry.function))")
        }
        #expect(leaf(table, 0x4000_0001)?.eax == (1 << 3 | 1 << 24))  // CLOCKSOURCE2, CLOCKSOURCE_STABLE_BIT
        #expect(leaf(table, 0x8000_0008)?.eax == 0x3028)  // 48-bit linear, 40-bit physical (the model's)
        #expect(leaf(table, 4)?.flags == CPUIDEntry.significantIndex)
    }

    @Test func aFeatureTheHostLacksIsCleared() {
        var host = Self.amdHost
        host[1].ecx &= ~CPUModel.Leaf1ECX.cx16
        host[1].edx &= ~CPUModel.Leaf1EDX.clflush
        host[9].edx &= ~CPUModel.ExtendedLeaf1.nx
        host[7].eax = 1 << 3  // CLOCKSOURCE2 without the stable bit
        host[3].eax = 0  // no ARAT
        let table = GuestCPUID.normalized(supported: host, model: Self.model, host: Self.lapic)
        #expect(leaf(table, 1)!.ecx & CPUModel.Leaf1ECX.cx16 == 0)
        #expect(leaf(table, 1)!.edx & CPUModel.Leaf1EDX.clflush == 0)
        #expect(leaf(table, 1)!.ebx == 0, "no CLFLUSH line size without CLFLUSH")
        #expect(leaf(table, 0x8000_0001)!.edx == CPUModel.ExtendedLeaf1.syscall | CPUModel.ExtendedLeaf1.longMode)
        #expect(leaf(table, 0x4000_0001)!.eax == 1 << 3)
        #expect(leaf(table, 6)!.eax == 0)
    }

    @Test func theHostsExtraFeaturesStayHidden() {
        let table = GuestCPUID.normalized(supported: Self.intelHost, model: Self.model, host: Self.lapic)
        let model = Self.model
        #expect(leaf(table, 1)?.ecx == model.leaf1ECX)  // no AVX, XSAVE, x2APIC, PCID, SSE3...
        #expect(leaf(table, 1)?.edx == model.leaf1EDX)  // no HTT, MTRR, PAT, MCE...
        #expect(leaf(table, 0x8000_0001)?.edx == model.extendedLeaf1EDX)  // no RDTSCP, 1 GiB pages
        #expect(leaf(table, 0x8000_0001)?.ecx == model.extendedLeaf1ECX)  // no LZCNT, PREFETCHW
        #expect(leaf(table, 0x4000_0001)?.eax == 1 << 3)  // the host has no stable bit to give
    }

    @Test func onAnotherVendorsHostTheIdentityIsTheHosts() {
        let table = GuestCPUID.normalized(supported: Self.intelHost, model: Self.model, host: Self.lapic)
        #expect(GuestCPUID.vendor(of: leaf(table, 0)!) == "GenuineIntel")
        #expect(leaf(table, 0)?.eax == CPUModel.maximumBasicLeaf)
        #expect(leaf(table, 1)?.eax == 0x0005_0657)
        #expect(leaf(table, 0x8000_0002) == Self.intelHost[9])
        // Leaf 4's subleaves are the host's entries, but empty: the model has no cache leaves.
        #expect(leaf(table, 4, 1) == CPUIDEntry(function: 4, index: 1, flags: CPUIDEntry.significantIndex))
    }

    @Test func theHypervisorBitNeedsNoHostSupport() {
        var host = Self.intelHost
        host[1].ecx &= ~CPUModel.Leaf1ECX.hypervisor
        let table = GuestCPUID.normalized(supported: host, model: Self.model, host: Self.lapic)
        #expect(leaf(table, 1)!.ecx & CPUModel.Leaf1ECX.hypervisor != 0)
        // "KVMKVMKVM\0\0\0" in EBX, ECX, EDX; the highest hypervisor leaf in EAX.
        #expect(leaf(table, 0x4000_0000) == CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4B4D_564B, ecx: 0x564B_4D56, edx: 0x4D))
    }

    @Test func theLocalAPICBitsFollowTheInKernelLAPIC() {
        var host = Self.amdHost
        host[1].ecx &= ~CPUModel.Leaf1ECX.tscDeadline
        let withCapability = GuestCPUID.normalized(supported: host, model: Self.model, host: Self.lapic)
        #expect(leaf(withCapability, 1)!.ecx & CPUModel.Leaf1ECX.tscDeadline != 0, "KVM_CAP_TSC_DEADLINE_TIMER is enough")
        let noIRQChip = GuestCPUID.normalized(
            supported: Self.amdHost, model: Self.model, host: KVMCPUIDHost(hasInKernelLocalAPIC: false, hasTSCDeadlineTimer: true))
        #expect(leaf(noIRQChip, 1)!.ecx & CPUModel.Leaf1ECX.tscDeadline == 0)
        #expect(leaf(noIRQChip, 1)!.edx & CPUModel.Leaf1EDX.apic == 0)
    }

    @Test func topologyIsOneLogicalCPUWithTheGivenAPICID() {
        let table = GuestCPUID.normalized(supported: Self.intelHost, model: Self.model, host: Self.lapic, apicID: 3)
        #expect(leaf(table, 1)?.ebx == 0x0300_0800)  // APIC ID 3, no logical-processor count, CLFLUSH 64 bytes
        #expect(leaf(table, 1)!.edx & 1 << 28 == 0)  // no HTT
        #expect(leaf(table, 0x8000_0008)?.ecx == 0)  // one core, no APIC ID bits
        #expect(leaf(table, 0xB) == nil)
    }

    @Test func addressWidthsAreCappedAtTheHosts() {
        var host = Self.intelHost
        host[10].eax = 0x3027  // 39 physical bits, as on some client CPUs
        let table = GuestCPUID.normalized(supported: host, model: Self.model, host: Self.lapic)
        #expect(leaf(table, 0x8000_0008)?.eax == 0x3027)
    }

    @Test func withheldFeaturesAreCleared() {
        let host = KVMCPUIDHost(hasInKernelLocalAPIC: true, hasTSCDeadlineTimer: true, withheldLeaf1ECX: CPUModel.Leaf1ECX.cx16)
        let table = GuestCPUID.normalized(supported: Self.amdHost, model: Self.model, host: host)
        #expect(leaf(table, 1)!.ecx & CPUModel.Leaf1ECX.cx16 == 0)
        #expect(leaf(table, 1)!.ecx == Self.model.leaf1ECX & ~CPUModel.Leaf1ECX.cx16)
    }
}
