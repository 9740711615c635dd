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
