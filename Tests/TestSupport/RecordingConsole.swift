import Devices
import Synchronization
import VMCore

/// A console that keeps what the guest printed, for assertions.
public final class RecordingConsole: ConsoleSink {
    private let bytes = Mutex<[UInt8]>([])
    public init() {}
    public func write(_ buffer: UnsafeRawBufferPointer, unlessStopped stop: StopSignal) -> Int {
        bytes.withLock { $0 += buffer }
        return 0
    }
    public var output: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}
