import Synchronization

/// Deterministic guest time (`--deterministic`): a function of the instructions the vCPU retired,
/// not of the host's clock, so two runs of a guest with the same input see the same times. A
/// halted vCPU skips straight to its next deadline.
public final class InstructionClock: GuestClock {
    /// Guest nanoseconds per retired instruction: 4 ns, a 250 MIPS CPU, about what the software
    /// backend runs kernel code at, so guest timers keep roughly their real-time pace.
    public static let nanosecondsPerInstruction: UInt64 = 4
    private let instructions = Atomic<UInt64>(0)
    /// Time skipped while halted.
    private let skipped = Atomic<UInt64>(0)

    public init() {}

    public var nanoseconds: UInt64 {
        instructions.load(ordering: .relaxed) &* Self.nanosecondsPerInstruction &+ skipped.load(ordering: .relaxed)
    }

    /// The vCPU's retired-instruction count (it stores it between chains of blocks).
    public func setInstructions(_ count: UInt64) { instructions.store(count, ordering: .relaxed) }

    /// Moves time forward to `deadline` (never back).
    public func skip(to deadline: UInt64) {
        let now = nanoseconds
        if deadline > now { skipped.add(deadline - now, ordering: .relaxed) }
    }
}
