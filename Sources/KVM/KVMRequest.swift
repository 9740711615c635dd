import CKVM

/// An ioctl request this backend makes, by name and number, so that the machine's seccomp
/// allow-list can admit exactly these on ioctl(2) without importing CKVM.
public struct KVMRequest: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let number: UInt32
    public var description: String { name }

    // The vCPU run loop and the register reads of the report.
    public static let run = KVMRequest(name: "KVM_RUN", number: ckvm_request_run)
    public static let getRegisters = KVMRequest(name: "KVM_GET_REGS", number: ckvm_request_get_regs)
    public static let setRegisters = KVMRequest(name: "KVM_SET_REGS", number: ckvm_request_set_regs)
    public static let getSystemRegisters = KVMRequest(name: "KVM_GET_SREGS", number: ckvm_request_get_sregs)
    /// Device lines into the in-kernel irqchip (the UART's IRQ 4), and the halt check.
    public static let irqLine = KVMRequest(name: "KVM_IRQ_LINE", number: ckvm_request_irq_line)
    public static let getMPState = KVMRequest(name: "KVM_GET_MP_STATE", number: ckvm_request_get_mp_state)
    /// On PVM: delivering the #BP of an INT3 its emulator could not run (`deliverBreakpoint`).
    public static let getVCPUEvents = KVMRequest(name: "KVM_GET_VCPU_EVENTS", number: ckvm_request_get_vcpu_events)
    public static let setVCPUEvents = KVMRequest(name: "KVM_SET_VCPU_EVENTS", number: ckvm_request_set_vcpu_events)

    // Building a VM and its vCPU.
    public static let getAPIVersion = KVMRequest(name: "KVM_GET_API_VERSION", number: ckvm_request_get_api_version)
    public static let checkExtension = KVMRequest(name: "KVM_CHECK_EXTENSION", number: ckvm_request_check_extension)
    public static let createVM = KVMRequest(name: "KVM_CREATE_VM", number: ckvm_request_create_vm)
    public static let getVCPUMmapSize = KVMRequest(name: "KVM_GET_VCPU_MMAP_SIZE", number: ckvm_request_get_vcpu_mmap_size)
    public static let getSupportedCPUID = KVMRequest(name: "KVM_GET_SUPPORTED_CPUID", number: ckvm_request_get_supported_cpuid)
    public static let setUserMemoryRegion = KVMRequest(name: "KVM_SET_USER_MEMORY_REGION", number: ckvm_request_set_user_memory_region)
    public static let setTSSAddress = KVMRequest(name: "KVM_SET_TSS_ADDR", number: ckvm_request_set_tss_addr)
    public static let setIdentityMapAddress = KVMRequest(name: "KVM_SET_IDENTITY_MAP_ADDR", number: ckvm_request_set_identity_map_addr)
    public static let createVCPU = KVMRequest(name: "KVM_CREATE_VCPU", number: ckvm_request_create_vcpu)
    public static let setSystemRegisters = KVMRequest(name: "KVM_SET_SREGS", number: ckvm_request_set_sregs)
    public static let setCPUID = KVMRequest(name: "KVM_SET_CPUID2", number: ckvm_request_set_cpuid2)
    // The vCPU's state at power-on (`KVMVirtualCPU.setPowerOnState`).
    public static let setMSRs = KVMRequest(name: "KVM_SET_MSRS", number: ckvm_request_set_msrs)
    public static let getFPU = KVMRequest(name: "KVM_GET_FPU", number: ckvm_request_get_fpu)
    public static let setFPU = KVMRequest(name: "KVM_SET_FPU", number: ckvm_request_set_fpu)
    public static let getLocalAPIC = KVMRequest(name: "KVM_GET_LAPIC", number: ckvm_request_get_lapic)
    public static let setLocalAPIC = KVMRequest(name: "KVM_SET_LAPIC", number: ckvm_request_set_lapic)
    public static let createIRQChip = KVMRequest(name: "KVM_CREATE_IRQCHIP", number: ckvm_request_create_irqchip)
    public static let createPIT2 = KVMRequest(name: "KVM_CREATE_PIT2", number: ckvm_request_create_pit2)
}
