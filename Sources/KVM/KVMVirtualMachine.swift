import CKVM
import Synchronization
import SystemPackage
import VMCore

/// A KVM VM: guest memory slots and vCPU creation.
public final class KVMVirtualMachine: Sendable {
    let system: KVMSystem
    let fd: FileDescriptor
    // Where KVM puts the real-mode TSS and identity map that VMX hosts without unrestricted guest
    // need: three pages and one page just below the 256 KiB firmware window, outside guest RAM
    // (Firecracker's TSS address too).
    static let tssAddress: UInt64 = 0xFFFB_D000
    static let identityMapAddress: UInt64 = 0xFFFB_C000

    init(system: KVMSystem, fd: FileDescriptor) {
        self.system = system
        self.fd = fd
    }

    /// Places the real-mode TSS and identity map (KVM_SET_IDENTITY_MAP_ADDR, then
    /// KVM_SET_TSS_ADDR, before any vCPU as the API requires). The KVM API calls the TSS
    /// "required on Intel-based hosts", so a host that has the capability and refuses is an
    /// error; a host without it (not x86 VMX) does not need them.
    func placeRealModeStructures() throws(KVMError) {
        if system.hasCapability(Int32(KVM_CAP_SET_IDENTITY_MAP_ADDR)) {
            let result = ckvm_set_identity_map_addr(fd.rawValue, Self.identityMapAddress)
            guard result >= 0 else { throw KVMError("KVM_SET_IDENTITY_MAP_ADDR", result: result) }
        }
        if system.hasCapability(Int32(KVM_CAP_SET_TSS_ADDR)) {
            let result = ckvm_set_tss_addr(fd.rawValue, Self.tssAddress)
            guard result >= 0 else { throw KVMError("KVM_SET_TSS_ADDR", result: result) }
        }
    }

    deinit { try? fd.close() }

    /// Registers every region of `memory` as a memory slot (KVM_SET_USER_MEMORY_REGION).
    ///
    /// Unsafe in the KVM API's sense: the mappings must outlive this VM, so the VM keeps `memory`.
    public func mapMemory(_ memory: GuestMemory) throws(KVMError) {
        for (slot, region) in memory.regions.enumerated() {
            if region.readOnly && !system.hasCapability(Int32(KVM_CAP_READONLY_MEM)) {
                throw KVMError("KVM_CAP_READONLY_MEM (needed for the firmware ROM)", .notSupported)
            }
            var description = kvm_userspace_memory_region(
                slot: UInt32(slot), flags: region.readOnly ? UInt32(KVM_MEM_READONLY) : 0,
                guest_phys_addr: region.guestStart, memory_size: region.size,
                userspace_addr: UInt64(region.hostAddress))
            let result = ckvm_set_user_memory_region(fd.rawValue, &description)
            guard result >= 0 else { throw KVMError("KVM_SET_USER_MEMORY_REGION (slot \(slot))", result: result) }
        }
    }

    /// Creates the in-kernel PC platform: the 8259 pair, the I/O APIC, the 8254 PIT (with port
    /// 0x61) and, for the vCPUs created after it, their LAPICs. HLT then waits in the kernel
    /// until an interrupt. Must come before `makeVirtualCPU`.
    public func createInKernelPlatform() throws(KVMError) {
        let irqchip = ckvm_create_irqchip(fd.rawValue)
        guard irqchip >= 0 else { throw KVMError("KVM_CREATE_IRQCHIP", result: irqchip) }
        let pit = ckvm_create_pit2(fd.rawValue)
        guard pit >= 0 else { throw KVMError("KVM_CREATE_PIT2", result: pit) }
        hasInKernelPlatform.store(true, ordering: .releasing)
    }

    let hasInKernelPlatform = Atomic<Bool>(false)

    /// The in-kernel irqchip as the router of device lines (KVM_IRQ_LINE on GSI 0-23, which KVM's
    /// default routing sends to the 8259 pair for 0-15 and to the I/O APIC pin of the same number).
    public var interruptRouter: any InterruptRouter { KVMInterruptRouter(vm: self) }

    /// Creates vCPU `id` (KVM_CREATE_VCPU), maps its `kvm_run` area, gives it the CPU model's
    /// CPUID as far as this host's KVM can give it (`GuestCPUID`) and the power-on state firmware
    /// would leave (`setPowerOnState`).
    public func makeVirtualCPU(id: Int32 = 0, model: CPUModel = .softwareBackend) throws(KVMError) -> KVMVirtualCPU {
        let vcpuFD = ckvm_create_vcpu(fd.rawValue, id)
        guard vcpuFD >= 0 else { throw KVMError("KVM_CREATE_VCPU", result: vcpuFD) }
        let cpu = try KVMVirtualCPU(fd: FileDescriptor(rawValue: vcpuFD), mapSize: system.vcpuMapSize())
        let hasLocalAPIC = hasInKernelPlatform.load(ordering: .acquiring)
        cpu.haltsInKernel = hasLocalAPIC
        cpu.deliversUnemulatedBreakpoints = KVMSystem.isPVM
        let cpuid = try guestCPUID(model: model, hasInKernelLocalAPIC: hasLocalAPIC, apicID: UInt8(truncatingIfNeeded: id))
        let table = CPUIDTable(cpuid)
        let result = ckvm_set_cpuid2(vcpuFD, table.pointer)
        guard result >= 0 else { throw KVMError("KVM_SET_CPUID2", result: result) }
        try cpu.setPowerOnState(hasInKernelLocalAPIC: hasLocalAPIC)
        return cpu
    }

    /// The CPUID table a vCPU of this VM gets.
    public func guestCPUID(model: CPUModel = .softwareBackend, hasInKernelLocalAPIC: Bool, apicID: UInt8 = 0) throws(KVMError) -> [CPUIDEntry] {
        GuestCPUID.normalized(
            supported: try system.supportedCPUID(), model: model, host: system.cpuidHost(hasInKernelLocalAPIC: hasInKernelLocalAPIC),
            apicID: apicID)
    }
}

/// Device lines into the in-kernel irqchip. KVM_IRQ_LINE is a VM ioctl: safe from any thread.
/// It holds the VM, so the fd stays open as long as a device can raise a line.
final class KVMInterruptRouter: InterruptRouter {
    let vm: KVMVirtualMachine

    init(vm: KVMVirtualMachine) { self.vm = vm }

    func setLevel(gsi: Int, high: Bool) {
        guard gsi >= 0 && gsi < 24 else { return }
        _ = ckvm_irq_line(vm.fd.rawValue, UInt32(gsi), high ? 1 : 0)
    }
}
