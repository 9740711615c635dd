import VMCore

/// Segment register numbers as encoded in instructions (ModRM.reg for MOV Sreg, prefixes).
enum SegmentIndex: Int {
    case es = 0
    case cs, ss, ds, fs, gs
}

/// The architectural state the interpreter works on: a plain struct reached through a pointer,
/// with the general registers in a fixed array indexed by their encoding (RAX = 0 ... R15 = 15).
struct CPUState {
    var gpr:
        (
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
            UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64
        ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var rip: UInt64 = 0
    /// RFLAGS, except the arithmetic flags while `lazyFlags` holds them.
    var storedFlags: UInt64 = 0x2
    var lazyFlags = LazyFlags()
    /// Set when a write hit a page with decoded code: the running block must stop.
    var stopBlock = false
    /// Iterations that REP string instructions ran, each a unit of work toward the stop check (a
    /// REP instruction is one instruction however long it runs).
    var repeatedIterations: UInt64 = 0
    /// REP instructions that paused part-way (RIP on the instruction, RCX holding what is left)
    /// so that the run loop could check for a stop; they retire once, when they finish.
    var pausedRepeats: UInt64 = 0
    /// Set by STI (when it sets IF) and by MOV SS/POP SS: no interrupt is taken before the next
    /// instruction completes (SDM vol. 3, 6.8.3, and STI's "Operation").
    var interruptShadow = false
    /// Set when an NMI is delivered, cleared by the next IRET: NMIs do not nest.
    var nmiBlocked = false
    var segments: (Segment, Segment, Segment, Segment, Segment, Segment) = (Segment(), Segment(), Segment(), Segment(), Segment(), Segment())
    var tr = Segment(), ldt = Segment()
    var gdt = DescriptorTable(), idt = DescriptorTable()
    var cr0: UInt64 = 0x6000_0010, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, cr8: UInt64 = 0
    var efer: UInt64 = 0
    var apicBase: UInt64 = 0xFEE0_0900
    /// Model-specific registers the boot path touches (STAR, LSTAR, FS/GS base, TSC...).
    var star: UInt64 = 0, lstar: UInt64 = 0, cstar: UInt64 = 0, sfmask: UInt64 = 0, kernelGSBase: UInt64 = 0
    var tscOffset: UInt64 = 0
    /// The floating-point units: x87 (and MMX, which aliases it) and SSE.
    var x87 = X87State()
    var sse = SSEState()
    var dr: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0x0FFF_0FF0, 0x400)

    // RFLAGS bits.
    static let cf: UInt64 = 1 << 0, pf: UInt64 = 1 << 2, af: UInt64 = 1 << 4, zf: UInt64 = 1 << 6
    static let sf: UInt64 = 1 << 7, tf: UInt64 = 1 << 8, ifl: UInt64 = 1 << 9, df: UInt64 = 1 << 10
    static let of: UInt64 = 1 << 11, iopl: UInt64 = 3 << 12, nt: UInt64 = 1 << 14, rf: UInt64 = 1 << 16
    static let vm: UInt64 = 1 << 17, ac: UInt64 = 1 << 18, id: UInt64 = 1 << 21
    static let arithmeticFlags: UInt64 = cf | pf | af | zf | sf | of

    /// RFLAGS with the lazily kept arithmetic flags folded in; writing it drops the lazy state.
    var rflags: UInt64 {
        @inline(__always) get {
            if lazyFlags.kind == .none { return storedFlags }
            return storedFlags & ~CPUState.arithmeticFlags | lazyFlags.arithmeticFlags(storedCarry: storedFlags & CPUState.cf != 0)
        }
        @inline(__always) set {
            storedFlags = newValue
            lazyFlags.kind = .none
        }
    }

    var isProtected: Bool { cr0 & ControlBits.cr0ProtectionEnable != 0 }
    var isPaging: Bool { cr0 & ControlBits.cr0Paging != 0 }
    var isLongModeActive: Bool { efer & ControlBits.eferLongModeActive != 0 }
    /// 64-bit mode: long mode active and a 64-bit code segment.
    var is64BitMode: Bool { isLongModeActive && segments.1.long }
    var cpl: UInt8 { isProtected ? segments.1.dpl : 0 }

    func register(_ index: Int) -> UInt64 {
        withUnsafeBytes(of: gpr) { $0.load(fromByteOffset: index * 8, as: UInt64.self) }
    }

    mutating func setRegister(_ index: Int, _ value: UInt64) {
        withUnsafeMutableBytes(of: &gpr) { $0.storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self) }
    }

    func segment(_ index: SegmentIndex) -> Segment {
        switch index {
        case .es: return segments.0
        case .cs: return segments.1
        case .ss: return segments.2
        case .ds: return segments.3
        case .fs: return segments.4
        case .gs: return segments.5
        }
    }

    mutating func setSegment(_ index: SegmentIndex, _ segment: Segment) {
        switch index {
        case .es: segments.0 = segment
        case .cs: segments.1 = segment
        case .ss: segments.2 = segment
        case .ds: segments.3 = segment
        case .fs: segments.4 = segment
        case .gs: segments.5 = segment
        }
    }

    func flag(_ bit: UInt64) -> Bool { rflags & bit != 0 }
    mutating func setFlag(_ bit: UInt64, _ on: Bool) {
        if on { rflags |= bit } else { rflags &= ~bit }
    }
}

extension CPUState {
    /// The general registers, RIP and RFLAGS as the VMM's backend-neutral struct.
    var generalRegisters: Registers {
        var r = Registers()
        r.rax = register(0); r.rcx = register(1); r.rdx = register(2); r.rbx = register(3)
        r.rsp = register(4); r.rbp = register(5); r.rsi = register(6); r.rdi = register(7)
        r.r8 = register(8); r.r9 = register(9); r.r10 = register(10); r.r11 = register(11)
        r.r12 = register(12); r.r13 = register(13); r.r14 = register(14); r.r15 = register(15)
        r.rip = rip; r.rflags = rflags
        return r
    }

    mutating func setGeneralRegisters(_ r: Registers) {
        let values = [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15]
        for (index, value) in values.enumerated() { setRegister(index, value) }
        rip = r.rip
        rflags = r.rflags | 2  // bit 1 is always set
    }
}

extension UnsafeMutablePointer where Pointee == CPUState {
    /// 32-bit protected (or compatibility-mode) code whose CS, DS, ES and SS are flat: base 0,
    /// 4 GiB limit, usable, 32-bit, data writable and expanding up. Such code addresses memory
    /// as linear = offset, which the decoded-block path relies on; anything else takes the byte
    /// interpreter, which does full segmentation. (On the pointer: a property of CPUState would
    /// copy the whole state to read a few fields.)
    var isFlat32: Bool {
        guard
            pointee.cr0 & ControlBits.cr0ProtectionEnable != 0 && pointee.storedFlags & CPUState.vm == 0 && !pointee.segments.1.long
                && pointee.segments.1.defaultSize32 && pointee.segments.2.defaultSize32
        else { return false }
        func flat(_ segment: Segment, code: Bool) -> Bool {
            let expandsUp = code ? segment.type & 8 != 0 : segment.type & 0xE == 0x2  // code; or data, writable, not expand-down
            return segment.base == 0 && segment.limit == 0xFFFF_FFFF && !segment.unusable && segment.isCodeOrData && expandsUp
        }
        return flat(pointee.segments.1, code: true) && flat(pointee.segments.3, code: false) && flat(pointee.segments.0, code: false)
            && flat(pointee.segments.2, code: false)
    }
}
