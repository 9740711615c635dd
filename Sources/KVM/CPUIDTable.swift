import CKVM

/// A `struct kvm_cpuid2` with room for `capacity` entries, the buffer KVM_GET_SUPPORTED_CPUID fills
/// and KVM_SET_CPUID2 reads; kvm_cpuid2 ends in a flexible array, so it is allocated by hand. It
/// lives for one ioctl: the VMM keeps CPUID tables as `[CPUIDEntry]`.
final class CPUIDTable {
    let pointer: UnsafeMutablePointer<kvm_cpuid2>
    private let raw: UnsafeMutableRawPointer

    init(capacity: Int) {
        let size = MemoryLayout<kvm_cpuid2>.size + capacity * MemoryLayout<kvm_cpuid_entry2>.stride
        raw = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        pointer = raw.bindMemory(to: kvm_cpuid2.self, capacity: 1)
        pointer.pointee.nent = UInt32(capacity)
    }

    convenience init(_ entries: [CPUIDEntry]) {
        self.init(capacity: entries.count)
        let slots = ckvm_cpuid2_entries(pointer)!
        for (slot, entry) in entries.enumerated() {
            slots[slot] = kvm_cpuid_entry2(
                function: entry.function, index: entry.index, flags: entry.flags, eax: entry.eax, ebx: entry.ebx, ecx: entry.ecx,
                edx: entry.edx, padding: (0, 0, 0))
        }
    }

    deinit { raw.deallocate() }

    /// The entries KVM wrote (`nent` of them).
    var entries: [CPUIDEntry] {
        let slots = ckvm_cpuid2_entries(pointer)!
        return (0..<Int(pointer.pointee.nent)).map { slot in
            let raw = slots[slot]
            return CPUIDEntry(function: raw.function, index: raw.index, flags: raw.flags, eax: raw.eax, ebx: raw.ebx, ecx: raw.ecx, edx: raw.edx)
        }
    }
}
