import CKVM
import SystemPackage
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// A KVM vCPU: its fd and the `kvm_run` area KVM shares with us. The `kvm_run` pointer never
/// leaves this target. A class so that the machine can hold either backend in a plain enum; it is
/// used by one thread at a time (not Sendable).
public final class KVMVirtualCPU: VirtualCPU {
    let fd: FileDescriptor
    let run: UnsafeMutablePointer<kvm_run>
    let mapSize: Int
    public internal(set) var statistics = CPUStatistics()
    /// Whether HLT waits in the kernel (the VM has the in-kernel irqchip): then a halt with
    /// interrupts disabled is found by the halt probe, not by a KVM_EXIT_HLT.
    var haltsInKernel = false
    /// Whether an INT3 the hypervisor could not emulate is delivered by the VMM (on PVM).
    var deliversUnemulatedBreakpoints = false

    init(fd: FileDescriptor, mapSize: Int) throws(KVMError) {
        let mapping = mmap(nil, mapSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0)
        guard let mapping, mapping != MAP_FAILED else {
            let error = KVMError("mmap of kvm_run", Errno(rawValue: errno))
            try? fd.close()
            throw error
        }
        self.fd = fd
        self.mapSize = mapSize
        self.run = mapping.bindMemory(to: kvm_run.self, capacity: 1)
    }

    deinit {
        munmap(run, mapSize)
        try? fd.close()
    }

    /// Converts a CKVM result into the backend-neutral error.
    func check(_ result: Int32, _ operation: String) throws(CPUError) {
        guard result < 0 else { return }
        let errno = Errno(rawValue: -result)
        throw CPUError(operation: operation, errno: errno.rawValue, message: errno.description)
    }
}
