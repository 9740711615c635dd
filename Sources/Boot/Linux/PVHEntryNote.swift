import VMCore

/// The PVH entry point of a vmlinux: the ELF note XEN_ELFNOTE_PHYS32_ENTRY (owner "Xen", type 18)
/// holding the 32-bit physical address where a loader starts the kernel in protected mode
/// (arch/x86/platform/pvh/head.S; xen/interface/elfnote.h).
enum PVHEntryNote {
    static let programTypeNote: UInt32 = 4
    static let phys32EntryType: UInt32 = 18
    static let owner: [UInt8] = Array("Xen".utf8) + [0]

    /// The entry address, or nil when the ELF64 file has no such note. Every size and offset is
    /// checked against the file.
    static func find(in bytes: [UInt8]) throws(BootError) -> UInt64? {
        let reader = ByteReader(bytes: bytes)
        let programHeaderOffset = try reader.u64(32, "e_phoff")
        let entrySize = UInt64(try reader.u16(54, "e_phentsize"))
        let count = UInt64(try reader.u16(56, "e_phnum"))
        guard entrySize >= 56 else { return nil }
        for index in 0..<count {
            let (base, overflow) = programHeaderOffset.addingReportingOverflow(index * entrySize)
            guard !overflow, try reader.u32(base, "program header \(index)") == programTypeNote else { continue }
            let offset = try reader.u64(base + 8, "program header \(index)")
            let size = try reader.u64(base + 32, "program header \(index)")
            let notes = try reader.slice(offset, size, "the notes of program header \(index)")
            if let entry = try entry(inNotes: Array(notes)) { return entry }
        }
        return nil
    }

    /// Walks one note segment: each note is namesz, descsz, type, then name and descriptor, each
    /// padded to 4 bytes.
    static func entry(inNotes notes: [UInt8]) throws(BootError) -> UInt64? {
        let reader = ByteReader(bytes: notes)
        var position: UInt64 = 0
        let padded = { (size: UInt64) -> UInt64 in (size + 3) & ~3 }
        while position + 12 <= UInt64(notes.count) {
            let nameSize = UInt64(try reader.u32(position, "an ELF note"))
            let descriptorSize = UInt64(try reader.u32(position + 4, "an ELF note"))
            let type = try reader.u32(position + 8, "an ELF note")
            guard nameSize < 1 << 16, descriptorSize < 1 << 16 else {
                throw .badELF("an ELF note claims a size of \(max(nameSize, descriptorSize)) bytes")
            }
            let name = try reader.slice(position + 12, nameSize, "an ELF note's name")
            let descriptor = position + 12 + padded(nameSize)
            if Array(name) == owner && type == phys32EntryType {
                switch descriptorSize {
                case 4: return UInt64(try reader.u32(descriptor, "the PVH entry note"))
                case 8: return try reader.u64(descriptor, "the PVH entry note")
                default: throw .badKernel("the PVH entry note has \(descriptorSize) bytes, not 4 or 8")
                }
            }
            position = descriptor + padded(descriptorSize)
        }
        return nil
    }
}
