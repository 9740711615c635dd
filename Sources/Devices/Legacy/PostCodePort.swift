import Synchronization
import VMCore

/// Port 0x80, where firmware and boot code write POST (power-on self-test) progress codes.
/// Keeps the last code and a short history for `--stats` and the result file.
public final class PostCodePort: BusDevice {
    public static let port: UInt16 = 0x80
    /// How many of the most recent codes are kept.
    public static let historyLength = 16

    public let name = "post-code"
    private let codes = Mutex<[UInt8]>([])
    public init() {}

    /// Reads return the last code written, as many chipsets latch it.
    public func read(offset: UInt64, width: AccessWidth) -> UInt64 {
        UInt64(codes.withLock { $0.last } ?? 0xFF)
    }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        codes.withLock { codes in
            if codes.count == Self.historyLength { codes.removeFirst() }
            codes.append(UInt8(truncatingIfNeeded: value))
        }
        return .proceed
    }

    /// The most recent codes, oldest first.
    public var history: [UInt8] { codes.withLock { $0 } }
    public var lastCode: UInt8? { history.last }
}
