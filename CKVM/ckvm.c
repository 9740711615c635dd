// Layout checks for the kvm structures that Swift reads field by field; a mismatch with the
// kernel ABI this was written against fails the build instead of corrupting guest state.
#include "ckvm.h"

_Static_assert(sizeof(struct kvm_regs) == 18 * 8, "kvm_regs is 18 quadwords");
_Static_assert(offsetof(struct kvm_regs, rip) == 16 * 8, "rip follows r15");
_Static_assert(sizeof(struct kvm_segment) == 24, "kvm_segment layout");
_Static_assert(offsetof(struct kvm_sregs, cr0) == 8 * 24 + 2 * 16, "cr0 follows the segments and tables");
_Static_assert(offsetof(struct kvm_run, immediate_exit) == 1, "immediate_exit offset");
_Static_assert(sizeof(struct kvm_cpuid_entry2) == 40, "kvm_cpuid_entry2 layout");
