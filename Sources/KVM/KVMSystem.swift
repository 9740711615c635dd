import CKVM
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// An open `/dev/kvm`: checks the API and creates VMs.
public final class KVMSystem: Sendable {
    public static let defaultPath = "/dev/kvm"
    /// The only stable KVM API version.
    static let stableAPIVersion: Int32 = 12

    let fd: FileDescriptor

    /// Opens `path` and checks the API version and the capabilities this VMM relies on.
    public init(path: String = KVMSystem.defaultPath) throws(KVMUnavailable) {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: .closeOnExec)
        } catch let error as Errno {
            switch error {
            case .noSuchFileOrDirectory, .noSuchAddressOrDevice, .operationNotSupportedByDevice: throw .deviceMissing(path: path)
            case .permissionDenied, .notPermitted: throw .permissionDenied(path: path)
            default: throw .openFailed(path: path, errno: error)
            }
        } catch {
            throw .openFailed(path: path, errno: .ioError)
        }
        self.fd = fd
        let version = ckvm_get_api_version(fd.rawValue)
        guard version == Self.stableAPIVersion else {
            try? fd.close()
            if version < 0 { throw .failed(KVMError("KVM_GET_API_VERSION", result: version)) }
            throw .wrongAPIVersion(found: version)
        }
        for (capability, name) in [(KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"), (KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT")]
        where ckvm_check_extension(fd.rawValue, Int32(capability)) <= 0 {
            try? fd.close()
            throw .missingCapability(name)
        }
    }

    deinit { try? fd.close() }

    /// Whether the host supports `capability` (a KVM_CAP_* constant).
    public func hasCapability(_ capability: Int32) -> Bool {
        ckvm_check_extension(fd.rawValue, capability) > 0
    }

    /// The size of each vCPU's shared `kvm_run` area.
    func vcpuMapSize() throws(KVMError) -> Int {
        let size = ckvm_get_vcpu_mmap_size(fd.rawValue)
        guard size > 0 else { throw KVMError("KVM_GET_VCPU_MMAP_SIZE", result: size) }
        return Int(size)
    }

    /// The CPUID leaves KVM can present to a guest (KVM_GET_SUPPORTED_CPUID). The ioctl costs
    /// about half a millisecond here and its answer never changes, so the table is fetched once
    /// per process.
    public func supportedCPUID() throws(KVMError) -> [CPUIDEntry] {
        try Self.cpuidCache.withLock { cached throws(KVMError) in
            if let cached { return cached }
            let entries = try fetchSupportedCPUID()
            cached = entries
            return entries
        }
    }

    private static let cpuidCache = Mutex<[CPUIDEntry]?>(nil)

    private func fetchSupportedCPUID() throws(KVMError) -> [CPUIDEntry] {
        var capacity = 256  // more than any host reports, so one call suffices
        while true {
            let table = CPUIDTable(capacity: capacity)
            let result = ckvm_get_supported_cpuid(fd.rawValue, table.pointer)
            if result >= 0 { return table.entries }
            guard result == -E2BIG, capacity < 4096 else { throw KVMError("KVM_GET_SUPPORTED_CPUID", result: result) }
            capacity *= 2
        }
    }

    /// What KVM offers a vCPU's CPUID besides the supported table, for a VM with or without the
    /// in-kernel irqchip.
    func cpuidHost(hasInKernelLocalAPIC: Bool) -> KVMCPUIDHost {
        KVMCPUIDHost(
            hasInKernelLocalAPIC: hasInKernelLocalAPIC, hasTSCDeadlineTimer: hasCapability(Int32(KVM_CAP_TSC_DEADLINE_TIMER)),
            withheldLeaf1ECX: Self.isPVM ? Self.pvmWithheldLeaf1ECX : 0)
    }

    /// Whether this host's KVM is PVM, the software hypervisor of the development hosts (machine
    /// notes): it runs CPL 3 natively and emulates CPL 0 code, with gaps its CPUID does not show.
    public static let isPVM = access("/sys/module/kvm_pvm", F_OK) == 0

    /// CMPXCHG16B: PVM reports it, but its CPL 0 emulator stops with an emulation failure on
    /// `lock cmpxchg16b`, which Linux's SLUB allocator runs early in boot whenever CX16 is set
    /// (measured: `vmm boot` of Debian's 6.1 stopped there after 73 s). Without CX16 the kernel
    /// takes its locked slow path.
    static let pvmWithheldLeaf1ECX: UInt32 = 1 << 13

    /// Creates an empty VM (KVM_CREATE_VM).
    public func makeVirtualMachine() throws(KVMError) -> KVMVirtualMachine {
        let vmFD = ckvm_create_vm(fd.rawValue)
        guard vmFD >= 0 else { throw KVMError("KVM_CREATE_VM", result: vmFD) }
        let vm = KVMVirtualMachine(system: self, fd: FileDescriptor(rawValue: vmFD))
        try vm.placeRealModeStructures()
        return vm
    }
}
