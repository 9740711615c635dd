import Synchronization
import VMCore

/// Guest time that tests set by hand.
final class ManualGuestClock: GuestClock {
    private let now = Atomic<UInt64>(0)
    init(_ start: UInt64 = 0) { now.store(start, ordering: .relaxed) }
    var nanoseconds: UInt64 { now.load(ordering: .relaxed) }
    func set(_ value: UInt64) { now.store(value, ordering: .relaxed) }
    func advance(by nanoseconds: UInt64) { now.add(nanoseconds, ordering: .relaxed) }
}

/// An interrupt router that records every level change.
final class LevelRecorder: InterruptRouter {
    private let changes = Mutex<[Bool]>([])
    func setLevel(gsi: Int, high: Bool) { changes.withLock { $0.append(high) } }
    var levels: [Bool] { changes.withLock { $0 } }
    /// Rising edges seen (a pulse is one).
    var risingEdges: Int { zip([false] + levels, levels).filter { !$0 && $1 }.count }
}

/// A small deterministic generator (SplitMix64) so robustness failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
