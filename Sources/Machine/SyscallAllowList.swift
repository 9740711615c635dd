import CSandbox  // for the SYS_* numbers of <sys/syscall.h>
import KVM
import Sandbox

#if canImport(Glibc)
    import Glibc
#endif

/// The system calls the VMM keeps once a machine is built (README, "Seccomp"): what the vCPU run
/// loop, the watchdog, the report and process exit need, found by running every guest under
/// strace on both backends (timeout, signals, closed stdout, --stats, --result). This file is the
/// whole allow-list.
enum SyscallAllowList {
    /// Running the built machine, reporting the stop, releasing the machine and exiting.
    static let runLoop: [SyscallFilter.Call] = [
        .init(SYS_read, "read"),  // the watchdog drains the SIGINT/SIGTERM pipe
        .init(SYS_write, "write"),  // guest console (stdout), stderr reports, the result file, wake-up pipes
        .init(SYS_poll, "poll"),  // the watchdog sleeps on its pipes with the timeout as deadline
        .init(SYS_ppoll, "ppoll"),  // a halted software vCPU sleeps until its next timer deadline (nanoseconds)
        .init(SYS_close, "close"),  // the watchdog's pipes, the KVM fds and the result file when released
        .init(SYS_ioctl, "ioctl"),  // KVM_RUN and the register ioctls only (runLoopRequests)
        .init(SYS_mmap, "mmap"),  // malloc (Swift allocations; glibc's arena for the watchdog thread)
        .init(SYS_munmap, "munmap"),  // free, and unmapping guest memory and kvm_run when the machine is released
        .init(SYS_mprotect, "mprotect"),  // glibc growing a thread's malloc arena
        .init(SYS_madvise, "madvise"),  // free returning memory; glibc releasing a finished thread's stack
        .init(SYS_brk, "brk"),  // malloc on the main heap
        .init(SYS_futex, "futex"),  // Mutex (Synchronization), pthread_join of the watchdog, glibc locks
        .init(SYS_gettid, "gettid"),  // Mutex records its owner's thread id; pthread_kill
        .init(SYS_getpid, "getpid"),  // pthread_kill (the kick out of KVM_RUN) passes the process id to tgkill
        .init(SYS_tgkill, "tgkill"),  // pthread_kill: the watchdog kicks the vCPU thread out of KVM_RUN with SIGUSR1
        .init(SYS_rt_sigaction, "rt_sigaction"),  // the kick signal's handler, installed when the KVM run loop starts
        .init(SYS_rt_sigprocmask, "rt_sigprocmask"),  // unblocking the kick and SIGINT/SIGTERM; thread exit
        .init(SYS_rt_sigreturn, "rt_sigreturn"),  // returning from the kick and SIGINT/SIGTERM handlers
        .init(SYS_clock_gettime, "clock_gettime"),  // run timings, the timeout (the vDSO falls back to the call on some hosts)
        .init(SYS_exit, "exit"),  // the watchdog thread ends
        .init(SYS_exit_group, "exit_group"),  // the process ends (also after a denied call)
    ]

    /// Added when more machines will be built after the filter is on (`vmm demo` running all its
    /// guests, `vmm bench create`): what building a machine and starting its watchdog needs.
    static let machineBuilding: [SyscallFilter.Call] = [
        .init(SYS_openat, "openat"),  // /dev/kvm, and the next --result file
        .init(SYS_pipe2, "pipe2"),  // the watchdog's cancel pipe
        .init(SYS_fcntl, "fcntl"),  // making those pipes close-on-exec and non-blocking
        .init(SYS_clone3, "clone3"),  // starting the watchdog thread
        .init(SYS_set_robust_list, "set_robust_list"),  // glibc, in a new thread
        .init(SYS_rseq, "rseq"),  // glibc, in a new thread
    ]

    /// Added when the machine logs during the run (`-v`: unclaimed accesses are logged at debug).
    static let debugLogging: [SyscallFilter.Call] = [
        .init(SYS_newfstatat, "newfstatat")  // swift-log stamps each line with localtime(3), which stats /etc/localtime
    ]

    /// The ioctls of the run loop and the report's register reads.
    static let runLoopRequests: [KVMRequest] = [
        .run, .getRegisters, .setRegisters, .getSystemRegisters, .irqLine, .getMPState, .getVCPUEvents, .setVCPUEvents,
    ]

    /// The ioctls that build a KVM VM and vCPU.
    static let machineBuildingRequests: [KVMRequest] = [
        .getAPIVersion, .checkExtension, .createVM, .getVCPUMmapSize, .getSupportedCPUID, .setUserMemoryRegion, .setTSSAddress,
        .setIdentityMapAddress, .createVCPU, .setSystemRegisters, .setCPUID, .createIRQChip, .createPIT2, .setMSRs, .getFPU, .setFPU,
        .getLocalAPIC, .setLocalAPIC,
    ]

    /// Added when the serial console is a terminal: restoring its mode after the run.
    static let terminalRequests: [UInt32] = [
        0x5401,  // TCGETS: glibc's tcsetattr reads the attributes back to check what the driver took
        0x5402,  // TCSETS: tcsetattr(TCSANOW) puts back the mode the terminal had before the run
    ]

    /// The filter for a policy (nil for `.off`); `logsDuringRun` adds what debug logging needs,
    /// `restoresTerminal` the ioctl that gives the terminal its mode back.
    static func filter(for policy: SeccompPolicy, logsDuringRun: Bool, restoresTerminal: Bool = false) -> SyscallFilter? {
        let logging = logsDuringRun ? debugLogging : []
        let terminal = restoresTerminal ? terminalRequests : []
        switch policy {
        case .off: return nil
        case .thisMachine:
            return SyscallFilter(calls: runLoop + logging, ioctlRequests: runLoopRequests.map(\.number) + terminal)
        case .thisAndLaterMachines:
            return SyscallFilter(
                calls: runLoop + machineBuilding + logging,
                ioctlRequests: (runLoopRequests + machineBuildingRequests).map(\.number) + terminal)
        }
    }
}
