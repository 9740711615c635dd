import Devices
import Synchronization

/// A console that keeps what the guest printed, for assertions.
public final class RecordingConsole: ConsoleSink {
    private let bytes = Mutex<[UInt8]>([])
    public init() {}
    public func write(_ buffer: UnsafeRawBufferPointer) { bytes.withLock { $0 += buffer } }
    public var output: String { String(decoding: bytes.withLock { $0 }, as: UTF8.self) }
}
