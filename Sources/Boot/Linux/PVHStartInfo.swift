/// The PVH boot structures (xen/include/public/arch-x86/hvm/start_info.h): `hvm_start_info`,
/// handed to the kernel in EBX, the module list (the initrd) and the memory map. Version 1, the
/// first with the memory map.
enum PVHStartInfo {
    static let magic: UInt64 = 0x336E_C578
    static let version: UInt64 = 1
    static let memoryMapEntrySize = 24

    /// The writes at `LinuxBootLayout.bootParameters`, `.pvhModuleList` and `.pvhMemoryMap`.
    static func build(commandLine: UInt64, initrd: (address: UInt64, size: UInt64)?, rsdp: UInt64?, memoryMap: [E820Entry]) -> [MemoryWrite] {
        var info = [UInt8](repeating: 0, count: 56)
        info.store(UInt32(truncatingIfNeeded: magic), at: 0)
        info.store(UInt32(truncatingIfNeeded: version), at: 4)
        // flags (offset 8) stay 0
        info.store(UInt32(initrd == nil ? 0 : 1), at: 12)
        info.store(initrd == nil ? 0 : LinuxBootLayout.pvhModuleList, at: 16)
        info.store(commandLine, at: 24)
        info.store(rsdp ?? 0, at: 32)
        info.store(LinuxBootLayout.pvhMemoryMap, at: 40)
        info.store(UInt32(memoryMap.count), at: 48)
        var writes = [MemoryWrite(address: LinuxBootLayout.bootParameters, bytes: info)]
        if let initrd {
            var module = [UInt8](repeating: 0, count: 32)
            module.store(initrd.address, at: 0)
            module.store(initrd.size, at: 8)
            writes.append(MemoryWrite(address: LinuxBootLayout.pvhModuleList, bytes: module))
        }
        var map = [UInt8](repeating: 0, count: memoryMap.count * memoryMapEntrySize)
        for (index, entry) in memoryMap.enumerated() {
            let base = index * memoryMapEntrySize
            map.store(entry.address, at: base)
            map.store(entry.size, at: base + 8)
            map.store(entry.kind.rawValue, at: base + 16)
        }
        writes.append(MemoryWrite(address: LinuxBootLayout.pvhMemoryMap, bytes: map))
        return writes
    }
}
