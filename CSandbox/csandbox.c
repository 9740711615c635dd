// The SIGSYS handler behind a SECCOMP_RET_TRAP filter result. It runs in signal context on the
// thread that made the denied call, so it only formats into a stack buffer, write(2)s one line
// and _exit(2)s: both are async-signal-safe and on the allow-list.

#define _GNU_SOURCE
#include "csandbox.h"
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <ucontext.h>

// Names of the calls a denied one is most likely to be (the allow-list itself is in Swift); any
// other is reported by number only.
static const struct { int number; const char *name; } likely_denied_calls[] = {
    {SYS_open, "open"}, {SYS_openat, "openat"}, {SYS_creat, "creat"}, {SYS_stat, "stat"},
    {SYS_fstat, "fstat"}, {SYS_newfstatat, "newfstatat"}, {SYS_statx, "statx"},
    {SYS_lseek, "lseek"}, {SYS_ioctl, "ioctl"}, {SYS_pread64, "pread64"}, {SYS_pwrite64, "pwrite64"},
    {SYS_readv, "readv"}, {SYS_writev, "writev"}, {SYS_access, "access"}, {SYS_pipe, "pipe"},
    {SYS_pipe2, "pipe2"}, {SYS_select, "select"}, {SYS_ppoll, "ppoll"}, {SYS_sched_yield, "sched_yield"},
    {SYS_mremap, "mremap"}, {SYS_dup, "dup"}, {SYS_dup2, "dup2"}, {SYS_dup3, "dup3"},
    {SYS_nanosleep, "nanosleep"}, {SYS_clock_nanosleep, "clock_nanosleep"},
    {SYS_socket, "socket"}, {SYS_connect, "connect"}, {SYS_accept, "accept"}, {SYS_accept4, "accept4"},
    {SYS_sendto, "sendto"}, {SYS_recvfrom, "recvfrom"}, {SYS_sendmsg, "sendmsg"}, {SYS_recvmsg, "recvmsg"},
    {SYS_bind, "bind"}, {SYS_listen, "listen"}, {SYS_socketpair, "socketpair"}, {SYS_clone, "clone"},
    {SYS_clone3, "clone3"}, {SYS_fork, "fork"}, {SYS_vfork, "vfork"}, {SYS_execve, "execve"},
    {SYS_execveat, "execveat"}, {SYS_wait4, "wait4"}, {SYS_kill, "kill"}, {SYS_uname, "uname"},
    {SYS_fcntl, "fcntl"}, {SYS_getdents64, "getdents64"}, {SYS_getcwd, "getcwd"}, {SYS_chdir, "chdir"},
    {SYS_rename, "rename"}, {SYS_mkdir, "mkdir"}, {SYS_unlink, "unlink"}, {SYS_unlinkat, "unlinkat"},
    {SYS_readlink, "readlink"}, {SYS_chmod, "chmod"}, {SYS_chown, "chown"}, {SYS_umask, "umask"},
    {SYS_getrlimit, "getrlimit"}, {SYS_prlimit64, "prlimit64"}, {SYS_getuid, "getuid"},
    {SYS_setuid, "setuid"}, {SYS_setgid, "setgid"}, {SYS_ptrace, "ptrace"}, {SYS_sigaltstack, "sigaltstack"},
    {SYS_prctl, "prctl"}, {SYS_arch_prctl, "arch_prctl"}, {SYS_mount, "mount"}, {SYS_seccomp, "seccomp"},
    {SYS_bpf, "bpf"}, {SYS_memfd_create, "memfd_create"}, {SYS_set_robust_list, "set_robust_list"},
    {SYS_rseq, "rseq"}, {SYS_sched_getaffinity, "sched_getaffinity"}, {SYS_getrandom, "getrandom"},
    {SYS_epoll_create1, "epoll_create1"}, {SYS_epoll_wait, "epoll_wait"}, {SYS_eventfd2, "eventfd2"},
    {SYS_timerfd_create, "timerfd_create"}, {SYS_io_uring_setup, "io_uring_setup"},
};

static void append_text(char *line, size_t *used, size_t capacity, const char *text) {
    while (*text != '\0' && *used < capacity) line[(*used)++] = *text++;
}

static void append_number(char *line, size_t *used, size_t capacity, unsigned long value, unsigned base) {
    char digits[24];
    size_t count = 0;
    do {
        digits[count++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value != 0 && count < sizeof digits);
    while (count > 0 && *used < capacity) line[(*used)++] = digits[--count];
}

static void report_denied_call(int signal, siginfo_t *info, void *context) {
    (void)signal;
    char line[320];
    size_t used = 0;
    const size_t capacity = sizeof line - 1;
    int number = info->si_syscall;
    append_text(line, &used, capacity, "vmm: error: seccomp: system call ");
    append_number(line, &used, capacity, (unsigned long)number, 10);
    for (size_t index = 0; index < sizeof likely_denied_calls / sizeof likely_denied_calls[0]; index++) {
        if (likely_denied_calls[index].number != number) continue;
        append_text(line, &used, capacity, " (");
        append_text(line, &used, capacity, likely_denied_calls[index].name);
        append_text(line, &used, capacity, ")");
    }
    if (number == SYS_ioctl && context != NULL) {
        // The filter allows only some requests; the kernel reads the request as 32 bits.
        const ucontext_t *registers = context;
        append_text(line, &used, capacity, " with request 0x");
        append_number(line, &used, capacity, (unsigned long)(uint32_t)registers->uc_mcontext.gregs[REG_RSI], 16);
    }
    append_text(line, &used, capacity, " is not on the VMM's allow-list; stopping (--no-seccomp runs without the filter) (exit status ");
    append_number(line, &used, capacity, CSANDBOX_DENIED_CALL_EXIT_STATUS, 10);
    append_text(line, &used, capacity, ")");
    line[used++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, used);
    (void)ignored;
    _exit(CSANDBOX_DENIED_CALL_EXIT_STATUS);
}

int csandbox_install_denied_call_reporter(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = report_denied_call;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGSYS, &action, NULL) == 0 ? 0 : -errno;
}
