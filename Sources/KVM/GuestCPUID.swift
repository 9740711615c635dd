import VMCore

/// One CPUID leaf (and subleaf) as KVM_GET_SUPPORTED_CPUID reports it and KVM_SET_CPUID2 takes it.
public struct CPUIDEntry: Equatable, Sendable, CustomStringConvertible {
    public var function: UInt32
    public var index: UInt32
    /// `significantIndex` when the leaf has subleaves (the only KVM flag this VMM uses).
    public var flags: UInt32
    public var eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32

    public init(function: UInt32, index: UInt32 = 0, flags: UInt32 = 0, eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.function = function
        self.index = index
        self.flags = flags
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }

    /// KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry answers only for subleaf `index`.
    public static let significantIndex: UInt32 = 1

    public var description: String {
        "\(hex(function)).\(index): eax=\(hex(eax)) ebx=\(hex(ebx)) ecx=\(hex(ecx)) edx=\(hex(edx))"
    }
}

/// What the host's KVM offers besides its supported-CPUID table.
public struct KVMCPUIDHost: Sendable, Equatable {
    /// KVM_CREATE_IRQCHIP was called: the APIC, x2APIC and TSC-deadline bits have a LAPIC behind them.
    public var hasInKernelLocalAPIC: Bool
    /// KVM_CAP_TSC_DEADLINE_TIMER: the in-kernel LAPIC has the TSC-deadline mode even when the
    /// table leaves the bit out (kernels before 4.x did; Firecracker sets the bit the same way).
    public var hasTSCDeadlineTimer: Bool
    /// CPUID.1:ECX bits the table reports but the host cannot run where the guest needs them
    /// (PVM: CMPXCHG16B at CPL 0, see `KVMSystem.withheldLeaf1ECX`).
    public var withheldLeaf1ECX: UInt32

    public init(hasInKernelLocalAPIC: Bool, hasTSCDeadlineTimer: Bool, withheldLeaf1ECX: UInt32 = 0) {
        self.hasInKernelLocalAPIC = hasInKernelLocalAPIC
        self.hasTSCDeadlineTimer = hasTSCDeadlineTimer
        self.withheldLeaf1ECX = withheldLeaf1ECX
    }
}

/// The guest's CPUID on KVM: the CPU model's leaves, cut down to what KVM can give, so that a
/// guest sees the same CPU on both backends wherever the host allows it (design notes, "The CPU
/// model"). Pure: it reads the KVM_GET_SUPPORTED_CPUID table and returns the KVM_SET_CPUID2 one.
///
/// - Leaves: exactly the model's (0 to its maximum basic leaf, 0x40000000-0x40000001 with the
///   hypervisor bit, 0x80000000 to its maximum extended leaf); KVM answers zeros for the rest.
/// - Feature bits: the model's AND the host's, so the guest never sees a feature the software
///   backend lacks or one KVM cannot give. Register values that are not bitmaps (signature,
///   address widths, topology) are set as the model says, the address widths capped at the host's.
/// - The hypervisor bit needs no hardware and is the model's; TSC-deadline and x2APIC are KVM's
///   LAPIC's, so they follow the in-kernel LAPIC.
/// - Identity (vendor, family/model/stepping, brand): the model's when the host has the model's
///   vendor. On another vendor's CPU the host's stays: the guest kernel picks its errata and
///   speculation mitigations by vendor and family (an Intel CPU posing as an AMD family 0xF gets
///   no PTI, whose absence Meltdown exploits), and the silicon's SYSCALL/SYSENTER rules in
///   compatibility mode are its vendor's (QEMU keeps the host's vendor on KVM for this reason).
/// - Topology: one logical CPU; CPUID.1:EBX carries the vCPU's APIC ID, no HTT, and leaf
///   0x80000008 ECX says one core (the model's leaf 4 is empty and leaf 0xB is past its maximum).
///
/// On PVM (this project's development hosts) KVM applies the table only in part, measured with raw
/// ioctls: CPL 3 code runs CPUID natively and sees the host's own leaves, and at CPL 0 leaves 1
/// (ECX, EDX), 7 and 0xD come back ORed with host features (SSE4.2, AVX, XSAVE, RDRAND, ...). The
/// model's maximum basic leaf 6 still hides leaves 7 and 0xD from Linux, which then also drops
/// XSAVE (`filter_cpuid_features`: no leaf 0xD). Leaves 0, 1:EAX/EBX, 6, 0x4000000x and
/// 0x8000000x are honored as set.
public enum GuestCPUID {
    static let x2APIC: UInt32 = 1 << 21
    static let hyperThreading: UInt32 = 1 << 28

    /// The KVM_SET_CPUID2 table for vCPU `apicID` of a machine with CPU `model` on a host whose
    /// KVM_GET_SUPPORTED_CPUID is `supported`.
    public static func normalized(supported: [CPUIDEntry], model: CPUModel, host: KVMCPUIDHost, apicID: UInt8 = 0) -> [CPUIDEntry] {
        let keepsModelIdentity = supported.first { $0.function == 0 }.map { vendor(of: $0) == model.vendor } ?? true
        var leaves = Array(0...CPUModel.maximumBasicLeaf)
        if model.leaf1ECX & CPUModel.Leaf1ECX.hypervisor != 0 { leaves += [0x4000_0000, 0x4000_0001] }
        leaves += Array(0x8000_0000...CPUModel.maximumExtendedLeaf)
        var table: [CPUIDEntry] = []
        for function in leaves {
            // A leaf with subleaves keeps the host's subleaf entries (and their flag); others have one.
            let hostEntries = supported.filter { $0.function == function }
            let subleaves = hostEntries.isEmpty ? [CPUIDEntry(function: function)] : hostEntries
            for hostEntry in subleaves {
                let leaf = model.cpuid(leaf: function, subleaf: hostEntry.index)
                var entry = CPUIDEntry(
                    function: function, index: hostEntry.index, flags: hostEntry.flags & CPUIDEntry.significantIndex,
                    eax: leaf.eax, ebx: leaf.ebx, ecx: leaf.ecx, edx: leaf.edx)
                shape(
                    &entry, host: hostEntries.isEmpty ? nil : hostEntry, keepsModelIdentity: keepsModelIdentity, model: model, kvm: host,
                    apicID: apicID)
                table.append(entry)
            }
        }
        return table
    }

    /// Turns the model's values for one leaf into what the guest gets on this host.
    private static func shape(
        _ entry: inout CPUIDEntry, host: CPUIDEntry?, keepsModelIdentity: Bool, model: CPUModel, kvm: KVMCPUIDHost, apicID: UInt8
    ) {
        let hostEntry = host ?? CPUIDEntry(function: entry.function)
        func identity(_ value: inout UInt32, _ hostValue: UInt32) { if !keepsModelIdentity { value = hostValue } }
        switch entry.function {
        case 0:
            // EAX, the maximum basic leaf, is the model's; the vendor string is the identity's.
            identity(&entry.ebx, hostEntry.ebx)
            identity(&entry.ecx, hostEntry.ecx)
            identity(&entry.edx, hostEntry.edx)
        case 1:
            identity(&entry.eax, hostEntry.eax)
            var hostECX = hostEntry.ecx | CPUModel.Leaf1ECX.hypervisor
            if kvm.hasTSCDeadlineTimer { hostECX |= CPUModel.Leaf1ECX.tscDeadline }
            var hostEDX = hostEntry.edx & ~hyperThreading
            if !kvm.hasInKernelLocalAPIC {
                hostECX &= ~(CPUModel.Leaf1ECX.tscDeadline | x2APIC)
                hostEDX &= ~CPUModel.Leaf1EDX.apic
            }
            entry.ecx &= hostECX & ~kvm.withheldLeaf1ECX
            entry.edx &= hostEDX
            // EBX: CLFLUSH line size (8 qwords) if CLFLUSH is left, one logical CPU, the APIC ID.
            let lineSize: UInt32 = entry.edx & CPUModel.Leaf1EDX.clflush != 0 ? 8 << 8 : 0
            entry.ebx = lineSize | UInt32(apicID) << 24
        case 0x4000_0000:
            break  // KVM's signature and the maximum hypervisor leaf, as the model has them
        case 0x8000_0000:
            entry.eax = CPUModel.maximumExtendedLeaf
            entry.ebx &= hostEntry.ebx
            entry.ecx &= hostEntry.ecx
            entry.edx &= hostEntry.edx
        case 0x8000_0001:
            identity(&entry.eax, hostEntry.eax)
            entry.ebx = 0
            entry.ecx &= hostEntry.ecx
            entry.edx &= hostEntry.edx
        case 0x8000_0002...0x8000_0004:
            if !keepsModelIdentity { entry = hostEntry }
        case 0x8000_0008:
            // Address widths no wider than the host's (KVM checks guest page tables against them);
            // EBX's feature bits as the model has them (none); ECX 0: one core, no APIC ID bits.
            let hostPhysical = host.map { $0.eax & 0xFF } ?? model.physicalAddressBits
            let hostLinear = host.map { $0.eax >> 8 & 0xFF } ?? model.linearAddressBits
            entry.eax = min(model.linearAddressBits, hostLinear) << 8 | min(model.physicalAddressBits, hostPhysical)
            entry.ebx &= hostEntry.ebx
            entry.ecx = 0
            entry.edx = 0
        default:
            // Every other leaf is taken as feature bits: the model's that the host has too. A value
            // the model adds to such a leaf later gets a case above.
            entry.eax &= hostEntry.eax
            entry.ebx &= hostEntry.ebx
            entry.ecx &= hostEntry.ecx
            entry.edx &= hostEntry.edx
        }
    }

    /// The vendor string of a leaf-0 entry (EBX, EDX, ECX).
    public static func vendor(of entry: CPUIDEntry) -> String {
        let bytes = [entry.ebx, entry.edx, entry.ecx].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
