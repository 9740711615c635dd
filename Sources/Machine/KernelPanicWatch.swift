import Devices
import Synchronization
import VMCore

/// A console sink that passes everything on and remembers the first "Kernel panic - not
/// syncing: ..." line Linux prints, so that the reboot a panic ends in (`panic=-1`) is reported
/// as the panic, with its message.
final class KernelPanicWatch: ConsoleSink {
    private let sink: any ConsoleSink
    private let state = Mutex(Scan())

    private struct Scan {
        var line: [UInt8] = []
        var panicLine: String? = nil
    }

    static let marker = Array("Kernel panic - not syncing: ".utf8)
    /// Longer lines are cut: the message is for a stop line, and the guest controls its length.
    static let maximumLine = 256

    init(_ sink: any ConsoleSink) { self.sink = sink }

    /// The panic message (after the marker), once one was printed.
    var panicMessage: String? { state.withLock { $0.panicLine } }

    func write(_ bytes: UnsafeRawBufferPointer, unlessStopped stop: StopSignal) -> Int {
        state.withLock { scan in
            guard scan.panicLine == nil else { return }
            for byte in bytes {
                if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                    Self.check(&scan)
                    scan.line.removeAll(keepingCapacity: true)
                } else if scan.line.count < Self.maximumLine {
                    scan.line.append(byte)
                }
            }
        }
        return sink.write(bytes, unlessStopped: stop)
    }

    private static func check(_ scan: inout Scan) {
        guard let start = scan.line.firstRange(of: marker) else { return }
        let message = scan.line[start.upperBound...].map { $0 >= 0x20 && $0 < 0x7F ? Character(UnicodeScalar($0)) : "?" }
        scan.panicLine = String(message)
    }
}
