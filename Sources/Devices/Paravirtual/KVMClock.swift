/// kvmclock, KVM's paravirtual clock (Documentation/virt/kvm/x86/msr.rst), as the software backend
/// offers it: the guest gives the address of a `pvclock_vcpu_time_info` through an MSR and reads
/// time from it as `system_time + scale(TSC - tsc_timestamp)`. The TSC counts guest nanoseconds
/// (1 GHz), so one write at enable time stays right forever and the structure is marked stable.
public enum KVMClock {
    /// MSR_KVM_WALL_CLOCK_NEW: writing a guest-physical address stores the wall clock there.
    public static let wallClockMSR: UInt32 = 0x4B56_4D00
    /// MSR_KVM_SYSTEM_TIME_NEW: bit 0 enables, bits 63:1 are the structure's address.
    public static let systemTimeMSR: UInt32 = 0x4B56_4D01

    /// CPUID 0x40000001 EAX bits: KVM_FEATURE_CLOCKSOURCE2 (the `_NEW` MSRs) and
    /// KVM_FEATURE_CLOCKSOURCE_STABLE_BIT (the guest may trust PVCLOCK_TSC_STABLE_BIT).
    public static let featureClockSource2: UInt32 = 1 << 3
    public static let featureStableBit: UInt32 = 1 << 24

    /// PVCLOCK_TSC_STABLE_BIT: one vCPU and one TSC, so readings never go backwards.
    static let tscStableFlag: UInt8 = 1 << 0

    /// The 32-byte `pvclock_vcpu_time_info` for a TSC that reads `tsc` at guest time
    /// `nanoseconds`, at 1 GHz: `(delta << 1) * 2^31 >> 32 == delta`. The version is even (a
    /// stable copy); the writer stores it in one piece while the guest is not running.
    public static func systemTime(nanoseconds: UInt64, tsc: UInt64, version: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(version)
        append(UInt32(0))  // pad0
        append(tsc)  // tsc_timestamp
        append(nanoseconds)  // system_time
        append(UInt32(1) << 31)  // tsc_to_system_mul
        append(Int8(1))  // tsc_shift
        append(tscStableFlag)  // flags
        append(UInt16(0))  // pad
        return bytes
    }

    /// The 12-byte `pvclock_wall_clock`: the wall-clock time (since the Unix epoch) at which the
    /// guest clock read zero.
    public static func wallClock(bootSeconds: Int64, bootNanoseconds: UInt32, version: UInt32) -> [UInt8] {
        var bytes: [UInt8] = []
        func append(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(version)
        append(UInt32(truncatingIfNeeded: max(bootSeconds, 0)))
        append(bootNanoseconds)
        return bytes
    }
}
