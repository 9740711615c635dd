// CSandbox: what installing a seccomp filter needs from C. prctl(2) and syscall(2) are variadic,
// which Swift cannot call, and the SIGSYS handler that reports a denied call must be
// async-signal-safe (no allocation, no locks, no Swift runtime), so it is C too. The filter
// program itself and the allow-list are built in Swift (Sources/Sandbox, Sources/Machine).

#ifndef CSANDBOX_H
#define CSANDBOX_H

#include <errno.h>
#include <stdint.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/// The process status after a denied system call (README, "Exit statuses"): unused by every
/// other stop and failure, and even, so no debug-exit write produces it.
#define CSANDBOX_DENIED_CALL_EXIT_STATUS 72

/// The `seccomp_data.arch` value of native x86-64 system calls (AUDIT_ARCH_X86_64 is a macro
/// expression Swift does not import).
static const uint32_t csandbox_audit_arch_x86_64 = AUDIT_ARCH_X86_64;
/// The bit that marks an x32 system call in `seccomp_data.nr`.
static const uint32_t csandbox_x32_syscall_bit = __X32_SYSCALL_BIT;

/// prctl(PR_SET_NO_NEW_PRIVS, 1): required before an unprivileged process may install a filter,
/// and keeps execve from gaining privileges. Returns 0 or -errno.
static inline int csandbox_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

/// seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, program): installs the filter on
/// every thread of the process at once. Returns 0, -errno, or (TSYNC) the id of a thread that
/// could not be synchronized.
static inline long csandbox_install_filter_on_all_threads(const struct sock_filter *instructions, uint16_t count) {
    struct sock_fprog program = {.len = count, .filter = (struct sock_filter *)instructions};
    long result = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program);
    return result < 0 ? -errno : result;
}

/// Installs the SIGSYS handler (csandbox.c) that a SECCOMP_RET_TRAP filter result runs: it writes
/// one line naming the denied call to stderr and ends the process with
/// CSANDBOX_DENIED_CALL_EXIT_STATUS. Returns 0 or -errno.
int csandbox_install_denied_call_reporter(void);

#endif
