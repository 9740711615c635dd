#if canImport(Glibc)
    import Glibc
#endif

/// Why a guest memory access from VMM code was refused.
public enum MemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `length` bytes at `address` are not all inside one RAM or ROM region.
    case outOfBounds(address: UInt64, length: UInt64)
    /// The bytes are in a read-only region (the firmware ROM).
    case readOnly(address: UInt64)
    /// The host could not reserve the memory.
    case mappingFailed(size: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case .outOfBounds(let address, let length):
            return "\(length) bytes at guest address \(hex(address)) are outside guest memory"
        case .readOnly(let address):
            return "guest address \(hex(address)) is read-only"
        case .mappingFailed(let size, let errno):
            return "could not map \(size) bytes of guest memory: \(String(cString: strerror(errno)))"
        }
    }
}

/// One contiguous guest-physical range backed by host memory.
public struct MemoryRegion: Sendable, Equatable {
    public var guestStart: UInt64
    public var size: UInt64
    public var readOnly: Bool
    /// Where the region's first byte lives in the host, as an integer so the value is Sendable;
    /// the owning GuestMemory keeps the mapping alive.
    public var hostAddress: UInt

    public var guestEnd: UInt64 { guestStart + size }
    public func contains(_ address: UInt64, length: UInt64) -> Bool {
        guard address >= guestStart else { return false }
        let offset = address - guestStart
        return offset <= size && length <= size - offset
    }
}

/// Guest RAM and the optional firmware ROM: the one owner of their host mappings.
///
/// The layout is fixed when the memory is created. Every access from VMM code is bounds-checked
/// with overflow-checked arithmetic, and errors are values, never traps.
/// `@unchecked Sendable`: the mappings are never moved or unmapped before deinit, and concurrent
/// guest-memory access has the same semantics as on real hardware (the guest's problem).
public final class GuestMemory: @unchecked Sendable {
    /// Guest RAM starts at 0 and may not reach into the 32-bit MMIO and firmware hole.
    public static let maximumRAMSize: UInt64 = 3 << 30
    /// The largest firmware ROM accepted, as the PC's 256 KiB BIOS window allows.
    public static let maximumROMSize: UInt64 = 256 << 10
    /// The part of the ROM that also appears just below 1 MiB (the legacy BIOS segment F000/E000).
    public static let lowROMAliasSize: UInt64 = 128 << 10

    public let ramSize: UInt64
    public let regions: [MemoryRegion]
    private let ramMapping: UnsafeMutableRawPointer
    private let romMapping: UnsafeMutableRawPointer?
    private let romSize: UInt64

    /// Maps `ramSize` bytes of RAM at guest address 0 and, if given, `rom` as read-only firmware that
    /// ends at 4 GiB with its last 128 KiB also ending at 1 MiB (RAM there is hidden by the ROM).
    public init(ramSize: UInt64, rom: [UInt8]? = nil) throws(MemoryError) {
        precondition(ramSize > 0 && ramSize <= Self.maximumRAMSize && ramSize % 4096 == 0)
        self.ramSize = ramSize
        ramMapping = try Self.mapAnonymous(size: ramSize)
        var regions: [MemoryRegion] = []
        if let rom {
            precondition(!rom.isEmpty && UInt64(rom.count) <= Self.maximumROMSize)
            let size = (UInt64(rom.count) + 4095) & ~4095
            let mapping: UnsafeMutableRawPointer
            do { mapping = try Self.mapAnonymous(size: size) } catch {
                munmap(ramMapping, Int(ramSize))
                throw error
            }
            // Right-align the image so its last byte sits at 4 GiB - 1, where the reset vector is.
            let padding = Int(size) - rom.count
            rom.withUnsafeBytes { mapping.advanced(by: padding).copyMemory(from: $0.baseAddress!, byteCount: rom.count) }
            romMapping = mapping
            romSize = size
            let lowAlias = min(size, Self.lowROMAliasSize)
            let lowStart: UInt64 = 0x10_0000 - lowAlias
            regions.append(MemoryRegion(guestStart: 0, size: min(ramSize, lowStart), readOnly: false, hostAddress: UInt(bitPattern: ramMapping)))
            regions.append(
                MemoryRegion(
                    guestStart: lowStart, size: lowAlias, readOnly: true, hostAddress: UInt(bitPattern: mapping.advanced(by: Int(size - lowAlias)))))
            if ramSize > 0x10_0000 {
                regions.append(
                    MemoryRegion(
                        guestStart: 0x10_0000, size: ramSize - 0x10_0000, readOnly: false,
                        hostAddress: UInt(bitPattern: ramMapping.advanced(by: 0x10_0000))))
            }
            regions.append(MemoryRegion(guestStart: (1 << 32) - size, size: size, readOnly: true, hostAddress: UInt(bitPattern: mapping)))
        } else {
            romMapping = nil
            romSize = 0
            regions.append(MemoryRegion(guestStart: 0, size: ramSize, readOnly: false, hostAddress: UInt(bitPattern: ramMapping)))
        }
        self.regions = regions.filter { $0.size > 0 }
    }

    deinit {
        munmap(ramMapping, Int(ramSize))
        if let romMapping { munmap(romMapping, Int(romSize)) }
    }

    private static func mapAnonymous(size: UInt64) throws(MemoryError) -> UnsafeMutableRawPointer {
        // NORESERVE: a guest pays only for the pages it touches.
        let pointer = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let pointer, pointer != MAP_FAILED else { throw .mappingFailed(size: size, errno: errno) }
        return pointer
    }

    /// The region holding all of `length` bytes at `address`, or nil.
    public func region(containing address: UInt64, length: UInt64) -> MemoryRegion? {
        regions.first { $0.contains(address, length: length) }
    }

    /// A host pointer to `length` bytes at `address`, checked to lie inside one region.
    @inline(__always)
    private func hostPointer(_ address: UInt64, _ length: UInt64, forWriting: Bool) throws(MemoryError) -> UnsafeMutableRawPointer {
        guard let region = region(containing: address, length: length) else {
            throw .outOfBounds(address: address, length: length)
        }
        if forWriting && region.readOnly { throw .readOnly(address: address) }
        return UnsafeMutableRawPointer(bitPattern: region.hostAddress)!.advanced(by: Int(address - region.guestStart))
    }

    /// Copies `count` bytes out of guest memory.
    public func read(_ address: UInt64, count: Int) throws(MemoryError) -> [UInt8] {
        guard count >= 0 else { throw .outOfBounds(address: address, length: 0) }
        let source = try hostPointer(address, UInt64(count), forWriting: false)
        return [UInt8](UnsafeRawBufferPointer(start: source, count: count))
    }

    /// Copies `bytes` into guest RAM.
    public func write(_ bytes: some Collection<UInt8>, at address: UInt64) throws(MemoryError) {
        let target = try hostPointer(address, UInt64(bytes.count), forWriting: true)
        let copied: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            if let base = buffer.baseAddress { target.copyMemory(from: base, byteCount: buffer.count) }
        }
        guard copied == nil else { return }
        for (offset, byte) in bytes.enumerated() { target.storeBytes(of: byte, toByteOffset: offset, as: UInt8.self) }
    }

    /// Fills `count` bytes of guest RAM with zero.
    public func zero(_ address: UInt64, count: UInt64) throws(MemoryError) {
        let target = try hostPointer(address, count, forWriting: true)
        target.initializeMemory(as: UInt8.self, repeating: 0, count: Int(count))
    }

    /// Reads a little-endian integer.
    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) throws(MemoryError) -> T {
        let source = try hostPointer(address, UInt64(MemoryLayout<T>.size), forWriting: false)
        return T(littleEndian: source.loadUnaligned(as: T.self))
    }

    /// Writes a little-endian integer.
    public func store<T: FixedWidthInteger>(_ value: T, at address: UInt64) throws(MemoryError) {
        let target = try hostPointer(address, UInt64(MemoryLayout<T>.size), forWriting: true)
        target.storeBytes(of: value.littleEndian, as: T.self)
    }

    /// Calls `body` with the bytes at `address`, without copying them (console output, checksums).
    public func withBytes<R>(at address: UInt64, count: UInt64, _ body: (UnsafeRawBufferPointer) -> R) throws(MemoryError) -> R {
        let source = try hostPointer(address, count, forWriting: false)
        return body(UnsafeRawBufferPointer(start: source, count: Int(count)))
    }
}
