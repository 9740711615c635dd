import Synchronization
import Testing
import VMCore

/// A router that records every level change, for device tests.
final class RecordingRouter: InterruptRouter {
    let changes = Mutex<[(gsi: Int, high: Bool)]>([])
    func setLevel(gsi: Int, high: Bool) { changes.withLock { $0.append((gsi, high)) } }
}

@Suite struct InterruptLineTests {
    @Test func aLineSetsTheLevelOfItsGSI() {
        let router = RecordingRouter()
        let line = InterruptLine(gsi: 4, router: router)
        line.raise()
        line.lower()
        line.pulse()
        line.set(true)
        #expect(router.changes.withLock { $0.map { "\($0.gsi):\($0.high)" } } == ["4:true", "4:false", "4:true", "4:false", "4:true"])
    }

    @Test func anUnconnectedLineGoesNowhere() {
        InterruptLine.unconnected.pulse()  // must not crash
        #expect(InterruptLine.unconnected.gsi == -1)
    }
}
