import VMCore

/// An x86 exception raised while executing an instruction, delivered through the IVT or IDT.
struct Fault: Sendable {
    var vector: UInt8
    var errorCode: UInt32?

    static let divideError: UInt8 = 0, debug: UInt8 = 1, breakpoint: UInt8 = 3, overflow: UInt8 = 4, boundRange: UInt8 = 5
    static let invalidOpcode: UInt8 = 6, doubleFault: UInt8 = 8, generalProtection: UInt8 = 13
    static let invalidTSS: UInt8 = 10, segmentNotPresent: UInt8 = 11, stackFault: UInt8 = 12, pageFault: UInt8 = 14

    static let ud = Fault(vector: invalidOpcode, errorCode: nil)
    static let de = Fault(vector: divideError, errorCode: nil)
    static func gp(_ code: UInt32 = 0) -> Fault { Fault(vector: generalProtection, errorCode: code) }

    /// Exceptions of the fault class, after which the instruction restarts (SDM vol. 3, table 6-1).
    static func isFaultClass(_ vector: UInt8) -> Bool {
        switch vector {
        case 0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20: return true
        default: return false
        }
    }

    /// Contributory exceptions: two in a row make a double fault (SDM vol. 3, table 6-5).
    static func isContributory(_ vector: UInt8) -> Bool {
        switch vector {
        case 0, 10, 11, 12, 13: return true
        default: return false
        }
    }
}

/// What ends the execution of one instruction early: an exception for the guest, or a stop of
/// the whole run (HLT, a device's request, a triple fault).
enum Interruption: Error {
    case fault(Fault)
    case stop(StopReason)
}

/// Whether delivering exception `vector` pushes an error code (Intel SDM vol. 3, table 6-1); for
/// reading exception frames, as the differential tester does.
public func exceptionPushesErrorCode(_ vector: Int) -> Bool {
    switch vector {
    case 8, 10, 11, 12, 13, 14, 17, 21: return true
    default: return false
    }
}
