#if canImport(Glibc)
    import Glibc
#endif
import Dispatch
import VMCore

/// Stops the vCPU when the timeout passes or when SIGINT or SIGTERM arrives, so a guest that spins
/// forever never leaves the VMM hanging.
final class Watchdog {
    private let signalSources: [any DispatchSourceSignal]
    private let timer: (any DispatchSourceTimer)?
    private static let queue = DispatchQueue(label: "vmm.watchdog")

    init(kicker: CPUKicker, timeout: Double?) {
        signalSources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)  // delivered to the dispatch source instead
            let source = DispatchSource.makeSignalSource(signal: number, queue: Self.queue)
            source.setEventHandler { kicker.requestStop(.interrupted) }
            source.resume()
            return source
        }
        if let timeout {
            let timer = DispatchSource.makeTimerSource(queue: Self.queue)
            timer.schedule(deadline: .now() + timeout)
            timer.setEventHandler { kicker.requestStop(.timedOut) }
            timer.resume()
            self.timer = timer
        } else {
            timer = nil
        }
    }

    func cancel() {
        timer?.cancel()
        for source in signalSources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
