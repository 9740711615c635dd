/// The general-purpose registers, instruction pointer and flags, owned by the VMM so that CPU-mode
/// setup is written once for every backend.
public struct Registers: Sendable, Equatable {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0
    /// Bit 1 is reserved and always set.
    public var rflags: UInt64 = 0x2
    public init() {}

    /// RFLAGS.IF: maskable interrupts enabled.
    public static let interruptFlag: UInt64 = 1 << 9
}

/// A segment register with its hidden descriptor cache.
public struct Segment: Sendable, Equatable {
    public var base: UInt64 = 0
    public var limit: UInt32 = 0xFFFF
    public var selector: UInt16 = 0
    /// Descriptor type field (bits 8-11 of the descriptor's high word).
    public var type: UInt8 = 0x3
    public var present = true
    public var dpl: UInt8 = 0
    /// D/B: 32-bit default operand size.
    public var defaultSize32 = false
    /// S: code or data (as opposed to a system segment).
    public var isCodeOrData = true
    /// L: 64-bit code segment.
    public var long = false
    /// G: limit counts 4 KiB pages.
    public var granularity = false
    public var unusable = false
    public init() {}

    public init(
        base: UInt64, limit: UInt32, selector: UInt16, type: UInt8, dpl: UInt8 = 0, defaultSize32: Bool, isCodeOrData: Bool = true,
        long: Bool = false, granularity: Bool
    ) {
        self.base = base
        self.limit = limit
        self.selector = selector
        self.type = type
        self.dpl = dpl
        self.defaultSize32 = defaultSize32
        self.isCodeOrData = isCodeOrData
        self.long = long
        self.granularity = granularity
    }
}

/// GDTR or IDTR.
public struct DescriptorTable: Sendable, Equatable {
    public var base: UInt64 = 0
    public var limit: UInt16 = 0xFFFF
    public init(base: UInt64 = 0, limit: UInt16 = 0xFFFF) {
        self.base = base
        self.limit = limit
    }
}

/// Segments, descriptor tables, control registers and EFER.
public struct SystemRegisters: Sendable, Equatable {
    public var cs = Segment(), ds = Segment(), es = Segment(), fs = Segment(), gs = Segment(), ss = Segment()
    /// TR and LDTR as after RESET: a busy 32-bit TSS and an LDT, both empty (VMX checks the types).
    public var tr = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0xB, defaultSize32: false, isCodeOrData: false, granularity: false)
    public var ldt = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x2, defaultSize32: false, isCodeOrData: false, granularity: false)
    public var gdt = DescriptorTable(), idt = DescriptorTable()
    public var cr0: UInt64 = 0x6000_0010, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, cr8: UInt64 = 0
    public var efer: UInt64 = 0
    public var apicBase: UInt64 = 0xFEE0_0900
    public init() {}
}

/// Architectural bits the boot code sets.
public enum ControlBits {
    /// CR0.PE: protected mode.
    public static let cr0ProtectionEnable: UInt64 = 1 << 0
    /// CR0.ET: extension type, hard-wired to 1 on modern CPUs.
    public static let cr0ExtensionType: UInt64 = 1 << 4
    /// CR0.PG: paging.
    public static let cr0Paging: UInt64 = 1 << 31
    /// CR4.PAE: physical address extension, required by long mode.
    public static let cr4PhysicalAddressExtension: UInt64 = 1 << 5
    /// EFER.LME: long mode enable.
    public static let eferLongModeEnable: UInt64 = 1 << 8
    /// EFER.LMA: long mode active (set by the CPU once paging is on with LME).
    public static let eferLongModeActive: UInt64 = 1 << 10
}
