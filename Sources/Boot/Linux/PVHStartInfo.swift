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
        ZeroPage.put32(&info, 0, magic)
        ZeroPage.put32(&info, 4, version)
        ZeroPage.put32(&info, 8, 0)  // flags
        ZeroPage.put32(&info, 12, initrd == nil ? 0 : 1)
        ZeroPage.put64(&info, 16, initrd == nil ? 0 : LinuxBootLayout.pvhModuleList)
        ZeroPage.put64(&info, 24, commandLine)
        ZeroPage.put64(&info, 32, rsdp ?? 0)
        ZeroPage.put64(&info, 40, LinuxBootLayout.pvhMemoryMap)
        ZeroPage.put32(&info, 48, UInt64(memoryMap.count))
        var writes = [MemoryWrite(address: LinuxBootLayout.bootParameters, bytes: info)]
        if let initrd {
            var module = [UInt8](repeating: 0, count: 32)
            ZeroPage.put64(&module, 0, initrd.address)
            ZeroPage.put64(&module, 8, initrd.size)
            writes.append(MemoryWrite(address: LinuxBootLayout.pvhModuleList, bytes: module))
        }
        var map = [UInt8](repeating: 0, count: memoryMap.count * memoryMapEntrySize)
        for (index, entry) in memoryMap.enumerated() {
            let base = index * memoryMapEntrySize
            ZeroPage.put64(&map, base, entry.address)
            ZeroPage.put64(&map, base + 8, entry.size)
            ZeroPage.put32(&map, base + 16, UInt64(entry.kind.rawValue))
        }
        writes.append(MemoryWrite(address: LinuxBootLayout.pvhMemoryMap, bytes: map))
        return writes
    }
}
