import CSandbox

/// The classic-BPF program a seccomp filter runs on every system call: native x86-64 calls on
/// the allow-list pass, ioctl(2) passes only with an allowed request number, anything else traps
/// (SIGSYS, reported by the C handler), and a call from another ABI (i386, x32) kills the process,
/// since its numbers mean different calls.
enum SeccompProgram {
    static func instructions(allowing calls: [UInt32], ioctlRequests: [UInt32]) -> [sock_filter] {
        let ioctlNumber = UInt32(SYS_ioctl)
        let plainCalls = calls.filter { $0 != ioctlNumber }
        // Without ioctl on the list no request passes.
        let ioctlRequests = calls.contains(ioctlNumber) ? ioctlRequests : []
        // Layout (BPF jumps only forward, by at most 255):
        //   check arch, check x32, [ioctl -> requests], each call -> allow, trap,
        //   requests: load the request, each -> allow, trap, allow, kill.
        let headerCount = 5
        let callsEnd = headerCount + plainCalls.count  // index of the trap after the calls
        let requestsStart = callsEnd + 1
        let requestsEnd = requestsStart + 1 + ioctlRequests.count  // index of the trap after the requests
        let allow = requestsEnd + 1
        let kill = allow + 1
        precondition(kill < 255, "the allow-list is too long for one-hop BPF jumps")

        var program: [sock_filter] = []
        func jump(to target: Int) -> UInt8 { UInt8(target - program.count - 1) }
        program.append(load(offset: SeccompData.archOffset))
        program.append(jumpIfEqual(csandbox_audit_arch_x86_64, then: 0, else: jump(to: kill)))
        program.append(load(offset: SeccompData.numberOffset))
        program.append(jumpIfAnyBit(csandbox_x32_syscall_bit, then: jump(to: kill), else: 0))
        program.append(jumpIfEqual(ioctlNumber, then: jump(to: requestsStart), else: 0))
        for call in plainCalls { program.append(jumpIfEqual(call, then: jump(to: allow), else: 0)) }
        program.append(returning(UInt32(SECCOMP_RET_TRAP)))
        // The kernel takes ioctl's request as an unsigned int, so its low 32 bits are the request.
        program.append(load(offset: SeccompData.argumentOffset(1)))
        for request in ioctlRequests { program.append(jumpIfEqual(request, then: jump(to: allow), else: 0)) }
        program.append(returning(UInt32(SECCOMP_RET_TRAP)))
        program.append(returning(UInt32(SECCOMP_RET_ALLOW)))
        program.append(returning(UInt32(SECCOMP_RET_KILL_PROCESS)))
        assert(program.count == kill + 1)
        return program
    }

    private static func load(offset: UInt32) -> sock_filter {
        sock_filter(code: UInt16(BPF_LD | BPF_W | BPF_ABS), jt: 0, jf: 0, k: offset)
    }

    private static func jumpIfEqual(_ value: UInt32, then: UInt8, else otherwise: UInt8) -> sock_filter {
        sock_filter(code: UInt16(BPF_JMP | BPF_JEQ | BPF_K), jt: then, jf: otherwise, k: value)
    }

    private static func jumpIfAnyBit(_ bits: UInt32, then: UInt8, else otherwise: UInt8) -> sock_filter {
        sock_filter(code: UInt16(BPF_JMP | BPF_JSET | BPF_K), jt: then, jf: otherwise, k: bits)
    }

    private static func returning(_ action: UInt32) -> sock_filter {
        sock_filter(code: UInt16(BPF_RET | BPF_K), jt: 0, jf: 0, k: action)
    }
}

/// Offsets into `struct seccomp_data`, the input of the program (little-endian fields).
private enum SeccompData {
    static let numberOffset = UInt32(MemoryLayout<seccomp_data>.offset(of: \.nr)!)
    static let archOffset = UInt32(MemoryLayout<seccomp_data>.offset(of: \.arch)!)
    /// The low 32 bits of argument `index` (0-5).
    static func argumentOffset(_ index: Int) -> UInt32 {
        UInt32(MemoryLayout<seccomp_data>.offset(of: \.args)! + index * 8)
    }
}
