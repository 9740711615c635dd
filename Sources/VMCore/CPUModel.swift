/// The one description of the CPU a guest sees: its identity and CPUID leaves, in one place
/// (design notes, "The CPU model"). The software backend implements exactly this CPU; a feature
/// bit is set here only when the emulator executes everything it implies.
///
/// Identity: AuthenticAMD family 0xF model 0x6B stepping 1, QEMU's `qemu64`. Linux has booted on
/// that identity under TCG for years; family 0xF is on the kernel's list of CPUs without
/// Meltdown/MDS, so it needs no PTI or `verw` (linux-boot-notes, 1.5). Being an AMD CPU decides
/// every vendor choice the manuals leave open: SYSCALL in compatibility mode works (through
/// CSTAR), SYSENTER in long mode raises #UD, and so on.
public struct CPUModel: Sendable {
    public struct Leaf: Equatable, Sendable {
        public var eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
        public init(eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
            self.eax = eax
            self.ebx = ebx
            self.ecx = ecx
            self.edx = edx
        }
    }

    /// CPUID.1:EDX bits (SDM vol. 2, CPUID, table "Feature Information Returned in EDX").
    public struct Leaf1EDX {
        public static let fpu: UInt32 = 1 << 0, vme: UInt32 = 1 << 1, de: UInt32 = 1 << 2, pse: UInt32 = 1 << 3
        public static let tsc: UInt32 = 1 << 4, msr: UInt32 = 1 << 5, pae: UInt32 = 1 << 6, cx8: UInt32 = 1 << 8
        public static let apic: UInt32 = 1 << 9, sep: UInt32 = 1 << 11, pge: UInt32 = 1 << 13, cmov: UInt32 = 1 << 15
        public static let pat: UInt32 = 1 << 16, clflush: UInt32 = 1 << 19, mmx: UInt32 = 1 << 23, fxsr: UInt32 = 1 << 24
        public static let sse: UInt32 = 1 << 25, sse2: UInt32 = 1 << 26
    }

    /// CPUID.1:ECX bits.
    public struct Leaf1ECX {
        public static let sse3: UInt32 = 1 << 0, cx16: UInt32 = 1 << 13, popcnt: UInt32 = 1 << 23
        public static let tscDeadline: UInt32 = 1 << 24, hypervisor: UInt32 = 1 << 31
    }

    /// CPUID.80000001h:EDX and ECX bits.
    public struct ExtendedLeaf1 {
        public static let syscall: UInt32 = 1 << 11, nx: UInt32 = 1 << 20, longMode: UInt32 = 1 << 29
        public static let lahfInLongMode: UInt32 = 1 << 0  // ECX
    }

    public var vendor = "AuthenticAMD"
    /// CPUID.1:EAX: extended model 6, family 0xF, model 0xB, stepping 1 (family 0xF, model 0x6B).
    public var signature: UInt32 = 0x0006_0FB1
    public var leaf1EDX: UInt32
    public var leaf1ECX: UInt32
    public var extendedLeaf1EDX: UInt32
    public var extendedLeaf1ECX: UInt32
    /// CPUID.80000008h:EAX: physical address bits (7:0) and linear address bits (15:8).
    public var physicalAddressBits: UInt32 = 40
    public var linearAddressBits: UInt32 = 48
    public var brand = "swift-vmm software CPU (qemu64 identity)"

    /// The CPU the software backend implements today.
    public static let softwareBackend = CPUModel(
        leaf1EDX: Leaf1EDX.fpu | Leaf1EDX.pse | Leaf1EDX.tsc | Leaf1EDX.msr | Leaf1EDX.pae | Leaf1EDX.cx8 | Leaf1EDX.apic | Leaf1EDX.sep
            | Leaf1EDX.cmov
            | Leaf1EDX.clflush | Leaf1EDX.mmx | Leaf1EDX.fxsr | Leaf1EDX.sse | Leaf1EDX.sse2,
        leaf1ECX: Leaf1ECX.cx16 | Leaf1ECX.tscDeadline | Leaf1ECX.hypervisor,
        extendedLeaf1EDX: ExtendedLeaf1.syscall | ExtendedLeaf1.nx | ExtendedLeaf1.longMode,
        extendedLeaf1ECX: ExtendedLeaf1.lahfInLongMode)

    public init(leaf1EDX: UInt32, leaf1ECX: UInt32, extendedLeaf1EDX: UInt32, extendedLeaf1ECX: UInt32) {
        self.leaf1EDX = leaf1EDX
        self.leaf1ECX = leaf1ECX
        self.extendedLeaf1EDX = extendedLeaf1EDX
        self.extendedLeaf1ECX = extendedLeaf1ECX
    }

    /// CPUID.6:EAX bit 2: the APIC timer runs at a constant rate in every C-state (ARAT), so
    /// Linux needs no broadcast timer to idle.
    public static let alwaysRunningAPICTimer: UInt32 = 1 << 2

    /// The hypervisor leaves (CPUID 0x40000000 up): KVM's signature and its kvmclock features, so
    /// that guests use kvmclock (Linux looks for it only with the hypervisor bit set).
    public var hypervisorSignature = "KVMKVMKVM"
    public var hypervisorFeatures: UInt32 = (1 << 3) | (1 << 24)  // KVM_FEATURE_CLOCKSOURCE2, CLOCKSOURCE_STABLE_BIT

    public static let maximumBasicLeaf: UInt32 = 6
    public static let maximumExtendedLeaf: UInt32 = 0x8000_0008

    /// CPUID for `leaf` (and `subleaf`, for the leaves that have them). Leaves above the maximum
    /// return zeros, as Linux expects of the leaves it bounds-checks (linux-boot-notes, 1.4).
    public func cpuid(leaf: UInt32, subleaf: UInt32 = 0) -> Leaf {
        switch leaf {
        case 0:
            let (b, d, c) = Self.registers(fromText: vendor)
            return Leaf(eax: Self.maximumBasicLeaf, ebx: b, ecx: c, edx: d)
        case 1:
            // EBX: CLFLUSH line size in 8-byte units (15:8) when CLFLUSH is advertised, APIC ID 0.
            let lineSize: UInt32 = leaf1EDX & Leaf1EDX.clflush != 0 ? 8 << 8 : 0
            return Leaf(eax: signature, ebx: lineSize, ecx: leaf1ECX, edx: leaf1EDX)
        case 6:
            return Leaf(eax: Self.alwaysRunningAPICTimer)
        case 0x4000_0000 where leaf1ECX & Leaf1ECX.hypervisor != 0:
            let (b, c, d) = Self.registers(fromText: hypervisorSignature)
            return Leaf(eax: 0x4000_0001, ebx: b, ecx: c, edx: d)
        case 0x4000_0001 where leaf1ECX & Leaf1ECX.hypervisor != 0:
            return Leaf(eax: hypervisorFeatures)
        case 0x8000_0000:
            return Leaf(eax: Self.maximumExtendedLeaf)
        case 0x8000_0001:
            return Leaf(eax: signature, ecx: extendedLeaf1ECX, edx: extendedLeaf1EDX)
        case 0x8000_0002...0x8000_0004:
            let bytes = Array(brand.utf8.prefix(47)) + [UInt8](repeating: 0, count: 48 - min(brand.utf8.count, 47))
            let chunk = Array(bytes[Int(leaf - 0x8000_0002) * 16..<Int(leaf - 0x8000_0002) * 16 + 16])
            func word(_ index: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(chunk[index * 4 + $1]) << (8 * UInt32($1)) } }
            return Leaf(eax: word(0), ebx: word(1), ecx: word(2), edx: word(3))
        case 0x8000_0008:
            return Leaf(eax: linearAddressBits << 8 | physicalAddressBits)
        default:
            return Leaf()
        }
    }

    /// The 12-byte vendor string as CPUID leaf 0 returns it: EBX, EDX, ECX.
    static func registers(fromText text: String) -> (UInt32, UInt32, UInt32) {
        let bytes = Array(text.utf8.prefix(12)) + [UInt8](repeating: 0, count: max(0, 12 - text.utf8.count))
        func word(_ index: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[index * 4 + $1]) << (8 * UInt32($1)) } }
        return (word(0), word(1), word(2))
    }
}
