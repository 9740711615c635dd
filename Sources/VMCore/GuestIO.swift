/// How a backend hands the guest's device accesses to the machine.
///
/// The backend calls back into the machine for I/O instead of returning exits for its caller to
/// finish: the emulator handles `in al, dx` without leaving its loop, and the KVM backend fills
/// in `kvm_run` and re-enters KVM_RUN.
public protocol GuestIO {
    func portRead(_ port: IOPort, width: AccessWidth) -> UInt32
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction
    func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64
    func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction
    /// Serves a hypercall that a `portWrite` announced with `.hypercall`: reads its arguments from
    /// `registers` and writes its result there.
    /// `longMode` tells whether the vCPU runs 64-bit code, which decides the width of the arguments.
    func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction
}
