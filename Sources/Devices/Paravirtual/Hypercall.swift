/// The swift-vmm hypercall ABI, version 1.
///
/// A guest makes a hypercall by writing the call number to the hypercall port with `out`
/// (KVM completes `vmcall` inside the kernel, so port I/O is the portable trap, as in Solo5 and
/// Hyperlight). Arguments are in RBX, RCX, RSI, RDI; the result comes back in RAX. In real and
/// protected mode only the low 32 bits of the arguments count. Addresses are guest-physical.
/// Errors are negative errno values in RAX.
public enum Hypercall: UInt32, Sendable, CaseIterable {
    /// RAX <- the ABI version (`Hypercall.abiVersion`).
    case abiVersion = 0
    /// Writes RCX bytes at guest-physical RBX to the console. RAX <- RCX, or -EFAULT / -EINVAL.
    case consoleWrite = 1
    /// Ends the run; the VMM exits with status RBX & 0xFF.
    case exit = 2
    /// RAX <- nanoseconds since the VM started, from a monotonic clock.
    case monotonicTime = 3

    /// The port the call number is written to (4 ports are claimed, 0x500-0x503).
    public static let port: UInt16 = 0x500
    public static let version: UInt64 = 1
    /// The longest console write accepted in one call.
    public static let maximumConsoleWrite: UInt64 = 1 << 20

    /// Errors, as negated Linux errno values.
    public static let errorBadAddress = UInt64(bitPattern: -14)  // -EFAULT
    public static let errorInvalidArgument = UInt64(bitPattern: -22)  // -EINVAL
    public static let errorNoSuchCall = UInt64(bitPattern: -38)  // -ENOSYS
}
