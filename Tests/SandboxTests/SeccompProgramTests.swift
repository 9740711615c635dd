import CSandbox
import Testing

@testable import Machine
@testable import Sandbox

/// The BPF program itself, run by a small classic-BPF evaluator (the four instructions the
/// program uses), so the decisions can be checked without installing a filter on the test runner.
@Suite struct SeccompProgramTests {
    static let allow = UInt32(SECCOMP_RET_ALLOW)
    static let trap = UInt32(SECCOMP_RET_TRAP)
    static let kill = UInt32(SECCOMP_RET_KILL_PROCESS)
    static let native = csandbox_audit_arch_x86_64
    static let i386: UInt32 = 0x4000_0003  // AUDIT_ARCH_I386

    let program = SeccompProgram.instructions(
        allowing: [UInt32(SYS_read), UInt32(SYS_write), UInt32(SYS_ioctl)], ioctlRequests: [0xAE80, 0x8090_AE81])

    @Test func listedCallsAreAllowed() {
        #expect(evaluate(program, number: UInt32(SYS_read)) == Self.allow)
        #expect(evaluate(program, number: UInt32(SYS_write)) == Self.allow)
    }

    @Test func anyOtherCallTraps() {
        for call in [SYS_socket, SYS_openat, SYS_execve, SYS_clone3, 0, 999] where call != SYS_read {
            #expect(evaluate(program, number: UInt32(call)) == Self.trap, "call \(call)")
        }
    }

    @Test func ioctlIsAllowedOnlyWithAListedRequest() {
        #expect(evaluate(program, number: UInt32(SYS_ioctl), arguments: [7, 0xAE80]) == Self.allow)
        #expect(evaluate(program, number: UInt32(SYS_ioctl), arguments: [7, 0x8090_AE81]) == Self.allow)
        #expect(evaluate(program, number: UInt32(SYS_ioctl), arguments: [7, 0x5401]) == Self.trap)  // TCGETS
        // The kernel reads the request as 32 bits, so bits above them change nothing.
        #expect(evaluate(program, number: UInt32(SYS_ioctl), arguments: [7, 0x1_0000_AE80]) == Self.allow)
    }

    @Test func withoutIoctlOnTheListNoRequestPasses() {
        let noIoctl = SeccompProgram.instructions(allowing: [UInt32(SYS_read)], ioctlRequests: [0xAE80])
        #expect(evaluate(noIoctl, number: UInt32(SYS_ioctl), arguments: [7, 0xAE80]) == Self.trap)
    }

    @Test func otherABIsKillTheProcess() {
        #expect(evaluate(program, number: UInt32(SYS_read), arch: Self.i386) == Self.kill)
        #expect(evaluate(program, number: csandbox_x32_syscall_bit | UInt32(SYS_read)) == Self.kill)
    }

    @Test func theStrictAllowListRefusesWhatOnlyBuildingNeeds() throws {
        let strict = try #require(SyscallAllowList.filter(for: .thisMachine, logsDuringRun: false))
        let strictProgram = SeccompProgram.instructions(allowing: strict.calls.map(\.number), ioctlRequests: strict.ioctlRequests)
        let building = try #require(SyscallAllowList.filter(for: .thisAndLaterMachines, logsDuringRun: false))
        let buildingProgram = SeccompProgram.instructions(allowing: building.calls.map(\.number), ioctlRequests: building.ioctlRequests)
        for call in [SYS_openat, SYS_clone3, SYS_pipe2] {
            #expect(evaluate(strictProgram, number: UInt32(call)) == Self.trap, "call \(call)")
            #expect(evaluate(buildingProgram, number: UInt32(call)) == Self.allow, "call \(call)")
        }
        for call in [SYS_execve, SYS_socket, SYS_open, SYS_fork, SYS_ptrace] {
            #expect(evaluate(buildingProgram, number: UInt32(call)) == Self.trap, "call \(call)")
        }
        let run = UInt64(requestNumber("KVM_RUN"))
        let createVM = UInt64(requestNumber("KVM_CREATE_VM"))
        #expect(evaluate(strictProgram, number: UInt32(SYS_ioctl), arguments: [5, run]) == Self.allow)
        #expect(evaluate(strictProgram, number: UInt32(SYS_ioctl), arguments: [5, createVM]) == Self.trap)
        #expect(evaluate(buildingProgram, number: UInt32(SYS_ioctl), arguments: [5, createVM]) == Self.allow)
    }

    private func requestNumber(_ name: String) -> UInt32 {
        let all = SyscallAllowList.runLoopRequests + SyscallAllowList.machineBuildingRequests
        return all.first { $0.name == name }!.number
    }
}

/// Runs `program` on one system call the way the kernel's classic-BPF interpreter would, over a
/// `struct seccomp_data` (nr, arch, instruction pointer, six arguments; little-endian).
private func evaluate(_ program: [sock_filter], number: UInt32, arch: UInt32 = SeccompProgramTests.native, arguments: [UInt64] = [])
    -> UInt32?
{
    var data = [UInt8](repeating: 0, count: MemoryLayout<seccomp_data>.size)
    func store(_ value: UInt64, at offset: Int, bytes: Int) {
        for index in 0..<bytes { data[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
    store(UInt64(number), at: MemoryLayout<seccomp_data>.offset(of: \.nr)!, bytes: 4)
    store(UInt64(arch), at: MemoryLayout<seccomp_data>.offset(of: \.arch)!, bytes: 4)
    for (index, argument) in arguments.enumerated() { store(argument, at: MemoryLayout<seccomp_data>.offset(of: \.args)! + 8 * index, bytes: 8) }
    var accumulator: UInt32 = 0
    var pc = 0
    while pc < program.count {
        let instruction = program[pc]
        switch Int32(instruction.code) {
        case BPF_LD | BPF_W | BPF_ABS:
            let offset = Int(instruction.k)
            accumulator = (0..<4).reduce(0) { $0 | UInt32(data[offset + $1]) << (8 * $1) }
            pc += 1
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += 1 + Int(accumulator == instruction.k ? instruction.jt : instruction.jf)
        case BPF_JMP | BPF_JSET | BPF_K:
            pc += 1 + Int(accumulator & instruction.k != 0 ? instruction.jt : instruction.jf)
        case BPF_RET | BPF_K:
            return instruction.k
        default:
            Issue.record("unexpected BPF instruction \(instruction.code) at \(pc)")
            return nil
        }
    }
    Issue.record("the program ran off its end")
    return nil
}
