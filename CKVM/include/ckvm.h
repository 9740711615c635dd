// CKVM: the KVM ioctls as typed C functions, because Swift cannot import the _IOW(...) request
// macros or call the variadic ioctl(2). Each wrapper returns the ioctl's result, or -errno
// captured right after the call so Swift never reads a stale errno. No policy lives here.
#ifndef CKVM_H
#define CKVM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#define CKVM_RESULT(expr) ({ int ckvm_r = (expr); ckvm_r < 0 ? -errno : ckvm_r; })

// MARK: /dev/kvm (system) ioctls

/// KVM_GET_API_VERSION
static inline int ckvm_get_api_version(int kvm_fd) { return CKVM_RESULT(ioctl(kvm_fd, KVM_GET_API_VERSION, 0)); }
/// KVM_CHECK_EXTENSION
static inline int ckvm_check_extension(int fd, int capability) { return CKVM_RESULT(ioctl(fd, KVM_CHECK_EXTENSION, capability)); }
/// KVM_CREATE_VM (machine type 0: the default x86 VM)
static inline int ckvm_create_vm(int kvm_fd) { return CKVM_RESULT(ioctl(kvm_fd, KVM_CREATE_VM, 0)); }
/// KVM_GET_VCPU_MMAP_SIZE
static inline int ckvm_get_vcpu_mmap_size(int kvm_fd) { return CKVM_RESULT(ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0)); }
/// KVM_GET_SUPPORTED_CPUID; `cpuid->nent` must hold the capacity on entry.
static inline int ckvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 *cpuid) { return CKVM_RESULT(ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid)); }

// MARK: VM ioctls

/// KVM_SET_USER_MEMORY_REGION
static inline int ckvm_set_user_memory_region(int vm_fd, const struct kvm_userspace_memory_region *region) { return CKVM_RESULT(ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, region)); }
/// KVM_SET_TSS_ADDR (needed by VMX hosts without unrestricted guest to run real mode)
static inline int ckvm_set_tss_addr(int vm_fd, uint64_t address) { return CKVM_RESULT(ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)address)); }
/// KVM_SET_IDENTITY_MAP_ADDR
static inline int ckvm_set_identity_map_addr(int vm_fd, uint64_t address) { return CKVM_RESULT(ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &address)); }
/// KVM_CREATE_VCPU
static inline int ckvm_create_vcpu(int vm_fd, int vcpu_id) { return CKVM_RESULT(ioctl(vm_fd, KVM_CREATE_VCPU, vcpu_id)); }

/// KVM_CREATE_IRQCHIP: the in-kernel 8259 pair, I/O APIC and (for each vCPU created later) LAPIC.
static inline int ckvm_create_irqchip(int vm_fd) { return CKVM_RESULT(ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0)); }
/// KVM_CREATE_PIT2 with KVM_PIT_SPEAKER_DUMMY: the in-kernel 8254, which also answers port 0x61.
static inline int ckvm_create_pit2(int vm_fd) {
    struct kvm_pit_config config = {.flags = KVM_PIT_SPEAKER_DUMMY};
    return CKVM_RESULT(ioctl(vm_fd, KVM_CREATE_PIT2, &config));
}
/// KVM_IRQ_LINE: sets the level of a GSI on the in-kernel irqchip (any thread may call it).
static inline int ckvm_irq_line(int vm_fd, uint32_t gsi, uint32_t level) {
    struct kvm_irq_level irq = {.irq = gsi, .level = level};
    return CKVM_RESULT(ioctl(vm_fd, KVM_IRQ_LINE, &irq));
}

// MARK: vCPU ioctls

/// KVM_GET_MP_STATE: whether the vCPU is runnable or halted in the kernel (with an in-kernel LAPIC).
static inline int ckvm_get_mp_state(int vcpu_fd, uint32_t *state) {
    struct kvm_mp_state mp = {0};
    int result = CKVM_RESULT(ioctl(vcpu_fd, KVM_GET_MP_STATE, &mp));
    *state = mp.mp_state;
    return result;
}
static const uint32_t ckvm_mp_state_halted = KVM_MP_STATE_HALTED;

/// KVM_RUN
static inline int ckvm_run(int vcpu_fd) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_RUN, 0)); }
/// KVM_GET_REGS
static inline int ckvm_get_regs(int vcpu_fd, struct kvm_regs *regs) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_GET_REGS, regs)); }
/// KVM_SET_REGS
static inline int ckvm_set_regs(int vcpu_fd, const struct kvm_regs *regs) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_SET_REGS, regs)); }
/// KVM_GET_SREGS
static inline int ckvm_get_sregs(int vcpu_fd, struct kvm_sregs *sregs) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_GET_SREGS, sregs)); }
/// KVM_SET_SREGS
static inline int ckvm_set_sregs(int vcpu_fd, const struct kvm_sregs *sregs) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_SET_SREGS, sregs)); }
/// KVM_SET_CPUID2
static inline int ckvm_set_cpuid2(int vcpu_fd, const struct kvm_cpuid2 *cpuid) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid)); }
/// The entries of a kvm_cpuid2 (a flexible array, which Swift does not import).
static inline struct kvm_cpuid_entry2 *ckvm_cpuid2_entries(struct kvm_cpuid2 *cpuid) { return cpuid->entries; }

/// KVM_SET_MSRS for `count` (at most 32) MSRs; returns how many KVM set, or -errno.
static inline int ckvm_set_msrs(int vcpu_fd, const uint32_t *indices, const uint64_t *values, uint32_t count) {
    union { struct kvm_msrs msrs; uint8_t bytes[sizeof(struct kvm_msrs) + 32 * sizeof(struct kvm_msr_entry)]; } buffer = {0};
    if (count > 32) return -E2BIG;
    buffer.msrs.nmsrs = count;
    for (uint32_t i = 0; i < count; i++) { buffer.msrs.entries[i].index = indices[i]; buffer.msrs.entries[i].data = values[i]; }
    return CKVM_RESULT(ioctl(vcpu_fd, KVM_SET_MSRS, &buffer.msrs));
}
/// KVM_GET_VCPU_EVENTS
static inline int ckvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *events) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, events)); }
/// KVM_SET_VCPU_EVENTS
static inline int ckvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *events) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, events)); }
/// KVM_GET_FPU
static inline int ckvm_get_fpu(int vcpu_fd, struct kvm_fpu *fpu) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_GET_FPU, fpu)); }
/// KVM_SET_FPU
static inline int ckvm_set_fpu(int vcpu_fd, const struct kvm_fpu *fpu) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_SET_FPU, fpu)); }
/// KVM_GET_LAPIC: the in-kernel LAPIC's register page (1 KiB, registers at their MMIO offsets).
static inline int ckvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *lapic) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_GET_LAPIC, lapic)); }
/// KVM_SET_LAPIC
static inline int ckvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *lapic) { return CKVM_RESULT(ioctl(vcpu_fd, KVM_SET_LAPIC, lapic)); }

// MARK: request numbers
// The ioctl request numbers the wrappers above use, as constants Swift can read (it cannot
// import the _IOW(...) macros): the seccomp filter allows exactly these on ioctl.
static const uint32_t ckvm_request_get_api_version = KVM_GET_API_VERSION;
static const uint32_t ckvm_request_check_extension = KVM_CHECK_EXTENSION;
static const uint32_t ckvm_request_create_vm = KVM_CREATE_VM;
static const uint32_t ckvm_request_get_vcpu_mmap_size = KVM_GET_VCPU_MMAP_SIZE;
static const uint32_t ckvm_request_get_supported_cpuid = KVM_GET_SUPPORTED_CPUID;
static const uint32_t ckvm_request_set_user_memory_region = KVM_SET_USER_MEMORY_REGION;
static const uint32_t ckvm_request_set_tss_addr = KVM_SET_TSS_ADDR;
static const uint32_t ckvm_request_set_identity_map_addr = KVM_SET_IDENTITY_MAP_ADDR;
static const uint32_t ckvm_request_create_vcpu = KVM_CREATE_VCPU;
static const uint32_t ckvm_request_run = KVM_RUN;
static const uint32_t ckvm_request_get_regs = KVM_GET_REGS;
static const uint32_t ckvm_request_set_regs = KVM_SET_REGS;
static const uint32_t ckvm_request_get_sregs = KVM_GET_SREGS;
static const uint32_t ckvm_request_set_sregs = KVM_SET_SREGS;
static const uint32_t ckvm_request_set_cpuid2 = KVM_SET_CPUID2;
static const uint32_t ckvm_request_set_msrs = KVM_SET_MSRS;
static const uint32_t ckvm_request_get_vcpu_events = KVM_GET_VCPU_EVENTS;
static const uint32_t ckvm_request_set_vcpu_events = KVM_SET_VCPU_EVENTS;
static const uint32_t ckvm_request_get_fpu = KVM_GET_FPU;
static const uint32_t ckvm_request_set_fpu = KVM_SET_FPU;
static const uint32_t ckvm_request_get_lapic = KVM_GET_LAPIC;
static const uint32_t ckvm_request_set_lapic = KVM_SET_LAPIC;
static const uint32_t ckvm_request_create_irqchip = KVM_CREATE_IRQCHIP;
static const uint32_t ckvm_request_create_pit2 = KVM_CREATE_PIT2;
static const uint32_t ckvm_request_irq_line = KVM_IRQ_LINE;
static const uint32_t ckvm_request_get_mp_state = KVM_GET_MP_STATE;

// MARK: kvm_run field access
// kvm_run's exit data sits in anonymous unions, which Swift imports awkwardly; these accessors
// name the fields instead. They only read or write memory.

static inline uint32_t ckvm_run_exit_reason(const struct kvm_run *run) { return run->exit_reason; }
static inline void ckvm_run_set_immediate_exit(struct kvm_run *run, uint8_t value) { __atomic_store_n(&run->immediate_exit, value, __ATOMIC_SEQ_CST); }
static inline uint8_t ckvm_run_io_direction(const struct kvm_run *run) { return run->io.direction; }
static inline uint8_t ckvm_run_io_size(const struct kvm_run *run) { return run->io.size; }
static inline uint16_t ckvm_run_io_port(const struct kvm_run *run) { return run->io.port; }
static inline uint32_t ckvm_run_io_count(const struct kvm_run *run) { return run->io.count; }
static inline uint64_t ckvm_run_io_data_offset(const struct kvm_run *run) { return run->io.data_offset; }
static inline uint64_t ckvm_run_mmio_phys_addr(const struct kvm_run *run) { return run->mmio.phys_addr; }
static inline uint8_t *ckvm_run_mmio_data(struct kvm_run *run) { return run->mmio.data; }
static inline uint32_t ckvm_run_mmio_len(const struct kvm_run *run) { return run->mmio.len; }
static inline uint8_t ckvm_run_mmio_is_write(const struct kvm_run *run) { return run->mmio.is_write; }
static inline uint64_t ckvm_run_fail_entry_reason(const struct kvm_run *run) { return run->fail_entry.hardware_entry_failure_reason; }
static inline uint32_t ckvm_run_internal_suberror(const struct kvm_run *run) { return run->internal.suberror; }
static inline uint32_t ckvm_run_internal_ndata(const struct kvm_run *run) { return run->internal.ndata; }
static inline uint64_t ckvm_run_internal_data(const struct kvm_run *run, uint32_t index) { return index < 16 ? run->internal.data[index] : 0; }
static inline uint32_t ckvm_run_system_event_type(const struct kvm_run *run) { return run->system_event.type; }
static inline uint64_t ckvm_run_hw_exit_reason(const struct kvm_run *run) { return run->hw.hardware_exit_reason; }

#endif
