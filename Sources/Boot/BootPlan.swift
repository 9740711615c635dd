import VMCore

/// The CPU mode a guest starts in.
public enum CPUMode: String, Sendable, CaseIterable {
    case real, protected, long
}

/// Bytes to place in guest RAM, followed by `zeroFill` zero bytes (an ELF segment's .bss: fresh
/// guest memory is zero already, so the machine writes only `bytes`).
public struct MemoryWrite: Sendable, Equatable {
    public var address: UInt64
    public var bytes: [UInt8]
    public var zeroFill: UInt64 = 0
    public init(address: UInt64, bytes: [UInt8], zeroFill: UInt64 = 0) {
        self.address = address
        self.bytes = bytes
        self.zeroFill = zeroFill
    }
    /// One past the last byte written (computed with checked arithmetic by the loaders first).
    public var end: UInt64 { address + UInt64(bytes.count) + zeroFill }
}

/// What a loader decided: the memory to write and the vCPU state to start from. The machine
/// applies it to guest memory and to whichever backend runs the guest.
public struct BootPlan: Sendable, Equatable {
    public var writes: [MemoryWrite] = []
    public var registers = Registers()
    public var systemRegisters = SystemRegisters()
    public var mode: CPUMode
    /// The firmware ROM image, for `--firmware` starts.
    public var firmware: [UInt8]? = nil
    /// A one-line account of what was loaded ("ELF64 executable, 2 segments, entry 0x100000").
    public var summary: String
    /// What the user most likely meant, printed if the guest stops abnormally ("the image looks
    /// like a boot sector: run it with --mode real").
    public var hint: String? = nil

    public init(mode: CPUMode, summary: String) {
        self.mode = mode
        self.summary = summary
    }
}

/// Why an image could not be loaded. Each message names the problem and where it is.
public enum BootError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyImage
    case truncated(what: String, needed: UInt64, available: UInt64)
    case badELF(String)
    case badMultiboot(String)
    case outsideMemory(what: String, address: UInt64, length: UInt64, memorySize: UInt64)
    case overlapsBootStructures(what: String, address: UInt64, length: UInt64, reserved: ClosedRange<UInt64>)
    case overlappingSegments(first: UInt64, second: UInt64)
    case badEntry(String)
    case badFirmware(String)
    case tooLarge(what: String, size: UInt64, limit: UInt64)
    case badKernel(String)
    case commandLineTooLong(length: UInt64, limit: UInt64)

    public var description: String {
        switch self {
        case .emptyImage:
            return "the image is empty"
        case .truncated(let what, let needed, let available):
            return "the image is truncated: \(what) needs \(needed) bytes but the file has \(available)"
        case .badELF(let message):
            return "bad ELF image: \(message)"
        case .badMultiboot(let message):
            return "bad multiboot image: \(message)"
        case .outsideMemory(let what, let address, let length, let memorySize):
            return
                "\(what) (\(length) bytes at \(hex(address))) does not fit in guest memory of \(memorySize) bytes (\(memorySize >> 20) MiB); raise --memory"
        case .overlapsBootStructures(let what, let address, let length, let reserved):
            return
                "\(what) (\(length) bytes at \(hex(address))) overlaps the VMM's boot structures at \(hex(reserved.lowerBound))-\(hex(reserved.upperBound)); load it elsewhere"
        case .overlappingSegments(let first, let second):
            return "loadable segments at \(hex(first)) and \(hex(second)) overlap"
        case .badEntry(let message):
            return "bad entry point: \(message)"
        case .badFirmware(let message):
            return "bad firmware image: \(message)"
        case .tooLarge(let what, let size, let limit):
            return "\(what) is \(size) bytes, more than the limit of \(limit)"
        case .badKernel(let message):
            return "bad Linux kernel: \(message)"
        case .commandLineTooLong(let length, let limit):
            return "the kernel command line is \(length) bytes, more than the \(limit) this kernel takes (its cmdline_size)"
        }
    }
}
