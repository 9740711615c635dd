/// Where `vmm boot` puts the kernel, its parameters and the ACPI tables in guest RAM (README,
/// "Booting Linux"). Everything but the kernel and initrd lies below 1 MiB.
public enum LinuxBootLayout {
    /// The zero page (`struct boot_params`) for the bzImage entry, or the PVH start info.
    public static let bootParameters: UInt64 = 0x7000
    /// The PVH module list (one entry, the initrd) and memory map, after the start info.
    public static let pvhModuleList: UInt64 = 0x7040
    public static let pvhMemoryMap: UInt64 = 0x7100
    /// The NUL-terminated kernel command line.
    public static let commandLine: UInt64 = 0x2_0000
    /// The ACPI tables, RSDP first (where the kernel's scan of the BIOS area would find it too).
    public static let acpiTables: UInt64 = 0xE_0000
    public static let acpiTablesEnd: UInt64 = 0x10_0000
    /// The bzImage's protected-mode part, where boot loaders put it (its code32_start).
    public static let bzImageLoadAddress: UInt64 = 0x10_0000
    /// The stack the 64-bit entry starts with (the kernel sets up its own at once).
    public static let initialStack: UInt64 = 0x8_FF00
    /// Initrds go below this (the PVH entry maps only the first 1 GiB early, and the 64-bit
    /// entry's first page tables only 4 GiB).
    public static let initrdCeiling: UInt64 = 1 << 30
}
