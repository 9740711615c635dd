import Devices
import Synchronization
import TestSupport
import Testing
import VMCore

/// Reads and writes through IOREGSEL/IOWIN, as a guest does.
extension IOAPIC {
    fileprivate mutating func readIndex(_ index: UInt8) -> UInt32 {
        _ = write(offset: 0x00, value: UInt32(index))
        return read(offset: 0x10)
    }

    @discardableResult
    fileprivate mutating func writeIndex(_ index: UInt8, _ value: UInt32) -> IOAPICDelivery? {
        _ = write(offset: 0x00, value: UInt32(index))
        return write(offset: 0x10, value: value)
    }

    /// Programs `pin`: low dword, then the destination in the high one.
    @discardableResult
    fileprivate mutating func program(pin: Int, low: UInt32, destination: UInt8 = 0) -> IOAPICDelivery? {
        writeIndex(UInt8(0x11 + 2 * pin), UInt32(destination) << 24)
        return writeIndex(UInt8(0x10 + 2 * pin), low)
    }
}

private let masked: UInt32 = 1 << 16, level: UInt32 = 1 << 15, remoteIRR: UInt32 = 1 << 14

@Suite struct IOAPICTests {
    var ioapic = IOAPIC()

    @Test mutating func resetStateHasEveryPinMasked() {
        #expect(ioapic.readIndex(0) == 0)
        #expect(ioapic.readIndex(1) == 0x0017_0011)
        #expect(ioapic.readIndex(2) == 0)
        for pin in 0..<24 {
            #expect(ioapic.readIndex(UInt8(0x10 + 2 * pin)) == masked)
            #expect(ioapic.readIndex(UInt8(0x11 + 2 * pin)) == 0)
        }
        var other = IOAPIC(id: 2)
        #expect(other.readIndex(0) == 0x0200_0000)
    }

    @Test mutating func registerSelectReadsBack() {
        _ = ioapic.write(offset: 0, value: 0x1234_5678)
        #expect(ioapic.read(offset: 0) == 0x78)
    }

    @Test mutating func redirectionEntriesKeepWritableBitsAndHideReadOnlyOnes() {
        ioapic.writeIndex(0x10 + 6, 0xFFFF_FFFF)
        #expect(ioapic.readIndex(0x10 + 6) == 0x0001_AFFF)  // no delivery status (12), no remote IRR (14)
        ioapic.writeIndex(0x11 + 6, 0xFFFF_FFFF)
        #expect(ioapic.readIndex(0x11 + 6) == 0xFF00_0000)
        ioapic.writeIndex(0, 0xFFFF_FFFF)
        #expect(ioapic.readIndex(0) == 0x0F00_0000)
        ioapic.writeIndex(1, 0)
        #expect(ioapic.readIndex(1) == 0x0017_0011)
    }

    @Test mutating func outOfRangeIndicesReadZeroAndIgnoreWrites() {
        let before = ioapic
        for index in [UInt8(3), 0x0F, 0x40, 0x41, 0x80, 0xFF] {
            #expect(ioapic.writeIndex(index, 0xFFFF_FFFF) == nil)
            #expect(ioapic.readIndex(index) == 0)
        }
        _ = ioapic.write(offset: 0x20, value: 1)
        _ = ioapic.write(offset: 0x40, value: 1)
        #expect(ioapic.read(offset: 0x04) == 0)
        #expect(ioapic.redirection == before.redirection)
        #expect(ioapic.setLevel(pin: 24, high: true) == nil)
        #expect(ioapic.setLevel(pin: -1, high: true) == nil)
    }

    @Test mutating func anEdgePinDeliversOncePerRisingEdge() {
        ioapic.program(pin: 4, low: 0x34, destination: 1)
        let delivery = ioapic.setLevel(pin: 4, high: true)
        #expect(
            delivery
                == IOAPICDelivery(pin: 4, vector: 0x34, deliveryMode: .fixed, logicalDestination: false, destination: 1, levelTriggered: false)
        )
        #expect(ioapic.setLevel(pin: 4, high: true) == nil)  // still high: no edge
        #expect(ioapic.setLevel(pin: 4, high: false) == nil)
        #expect(ioapic.setLevel(pin: 4, high: true) != nil)
        #expect(ioapic.endOfInterrupt(vector: 0x34).isEmpty)  // edge pins ignore EOI
    }

    @Test mutating func aMaskedEdgeIsLost() {
        ioapic.program(pin: 1, low: masked | 0x31)
        #expect(ioapic.setLevel(pin: 1, high: true) == nil)
        #expect(ioapic.program(pin: 1, low: 0x31) == nil)  // unmasking an edge pin delivers nothing
        _ = ioapic.setLevel(pin: 1, high: false)
        #expect(ioapic.setLevel(pin: 1, high: true)?.vector == 0x31)
    }

    @Test mutating func aLevelPinDeliversOnceUntilEOIThenAgainWhileHigh() {
        ioapic.program(pin: 10, low: level | 0x5A)
        let first = ioapic.setLevel(pin: 10, high: true)
        #expect(first?.vector == 0x5A && first?.levelTriggered == true)
        #expect(ioapic.readIndex(0x10 + 20) & remoteIRR != 0)
        #expect(ioapic.setLevel(pin: 10, high: true) == nil)  // remote IRR set: no storm
        #expect(ioapic.endOfInterrupt(vector: 0x5B).isEmpty)  // another vector
        let again = ioapic.endOfInterrupt(vector: 0x5A)
        #expect(again.map(\.pin) == [10])  // still asserted: delivered again
        #expect(ioapic.readIndex(0x10 + 20) & remoteIRR != 0)
        _ = ioapic.setLevel(pin: 10, high: false)
        #expect(ioapic.endOfInterrupt(vector: 0x5A).isEmpty)  // lowered: nothing more
        #expect(ioapic.readIndex(0x10 + 20) & remoteIRR == 0)
    }

    @Test mutating func unmaskingAnAssertedLevelPinDelivers() {
        ioapic.program(pin: 5, low: masked | level | 0x45)
        #expect(ioapic.setLevel(pin: 5, high: true) == nil)
        #expect(ioapic.program(pin: 5, low: level | 0x45)?.vector == 0x45)
        // Masking keeps remote IRR; an EOI while masked does not deliver.
        ioapic.program(pin: 5, low: masked | level | 0x45)
        #expect(ioapic.endOfInterrupt(vector: 0x45).isEmpty)
        #expect(ioapic.program(pin: 5, low: level | 0x45)?.vector == 0x45)
    }

    @Test mutating func remoteIRRWritesAreIgnoredAndEdgeModeClearsIt() {
        ioapic.program(pin: 3, low: level | 0x40)
        _ = ioapic.setLevel(pin: 3, high: true)
        ioapic.writeIndex(0x10 + 6, level | 0x40)  // rewriting keeps remote IRR
        #expect(ioapic.readIndex(0x10 + 6) & remoteIRR != 0)
        ioapic.writeIndex(0x10 + 6, 0x40)  // to edge: cleared
        #expect(ioapic.readIndex(0x10 + 6) & remoteIRR == 0)
    }

    @Test mutating func aRejectedLevelDeliveryDoesNotLeaveThePinStuck() {
        ioapic.program(pin: 7, low: level | 0x47)
        #expect(ioapic.setLevel(pin: 7, high: true) != nil)
        ioapic.deliveryRejected(pin: 7)
        #expect(ioapic.readIndex(0x10 + 14) & remoteIRR == 0)
        #expect(ioapic.setLevel(pin: 7, high: true) != nil)  // the next assertion tries again
        ioapic.deliveryRejected(pin: 99)
    }

    @Test mutating func nmiAndExtINTEntriesAreEdgeWhateverTheTriggerBit() {
        ioapic.program(pin: 2, low: level | 0x400)  // NMI
        let nmi = ioapic.setLevel(pin: 2, high: true)
        #expect(nmi?.deliveryMode == .nmi && nmi?.levelTriggered == false)
        #expect(ioapic.readIndex(0x10 + 4) & remoteIRR == 0)
        ioapic.program(pin: 0, low: 0x700)
        #expect(ioapic.setLevel(pin: 0, high: true)?.deliveryMode == .extINT)
    }

    @Test mutating func logicalDestinationsAreReported() {
        ioapic.program(pin: 9, low: 1 << 11 | 0x100 | 0x39, destination: 0x03)
        let delivery = ioapic.setLevel(pin: 9, high: true)
        #expect(delivery?.logicalDestination == true && delivery?.destination == 3 && delivery?.deliveryMode == .lowestPriority)
    }

    @Test func randomAccessesNeverTrap() {
        var random = SplitMix64(seed: 0x10A9_1C00)
        var ioapic = IOAPIC()
        for _ in 0..<20_000 {
            let value = UInt32(truncatingIfNeeded: random.next())
            switch Int.random(in: 0..<6, using: &random) {
            case 0: _ = ioapic.write(offset: UInt64.random(in: 0...0x20, using: &random), value: value)
            case 1: _ = ioapic.write(offset: 0x10, value: value)
            case 2: _ = ioapic.read(offset: random.next() & 0xFFF)
            case 3: _ = ioapic.setLevel(pin: Int.random(in: -2...26, using: &random), high: Bool.random(using: &random))
            case 4: _ = ioapic.endOfInterrupt(vector: UInt8(truncatingIfNeeded: value))
            default: _ = ioapic.write(offset: 0, value: value)
            }
            #expect(ioapic.read(offset: 0x00) <= 0xFF)
        }
    }
}

@Suite struct IOAPICDeviceTests {
    @Test func levelChangesAndEOIsReachTheCallback() {
        let delivered = Mutex<[IOAPICDelivery]>([])
        let device = IOAPICDevice { delivery in
            delivered.withLock { $0.append(delivery) }
            return true
        }
        // Pin 11: level-triggered vector 0x3B, unmasked, through the MMIO bus interface.
        _ = device.write(offset: 0x00, width: .doubleWord, value: 0x10 + 22)
        _ = device.write(offset: 0x10, width: .doubleWord, value: 0x8000 | 0x3B)
        #expect(device.read(offset: 0x10, width: .doubleWord) == 0x803B)
        #expect(device.read(offset: 0x10, width: .byte) == 0x3B)
        let router: any InterruptRouter = device
        router.setLevel(gsi: 11, high: true)
        router.setLevel(gsi: 11, high: true)
        #expect(delivered.withLock { $0.map(\.vector) } == [0x3B])
        device.endOfInterrupt(vector: 0x3B)
        #expect(delivered.withLock { $0.count } == 2)
        router.setLevel(gsi: 11, high: false)
        device.endOfInterrupt(vector: 0x3B)
        #expect(delivered.withLock { $0.count } == 2)
        #expect(device.state.lineLevels == 0)
    }

    @Test func theCallbackRunsOutsideTheLockSoItMayCallBack() {
        // A callback that reads the device (as a machine's EOI path might) must not deadlock.
        let box = Mutex<IOAPICDevice?>(nil)
        let device = IOAPICDevice { _ in
            _ = box.withLock { $0 }?.read(offset: 0x10, width: .doubleWord)
            return true
        }
        box.withLock { $0 = device }
        _ = device.write(offset: 0x00, width: .doubleWord, value: 0x10)
        _ = device.write(offset: 0x10, width: .doubleWord, value: 0x30)
        device.setLevel(gsi: 0, high: true)
        box.withLock { $0 = nil }
    }

    @Test func aDeliveryNoLAPICTookLeavesTheLevelPinFreeToDeliverAgain() {
        let attempts = Mutex(0)
        let device = IOAPICDevice { _ in
            attempts.withLock { $0 += 1 }
            return false  // every LAPIC disabled, say
        }
        _ = device.write(offset: 0x00, width: .doubleWord, value: 0x10 + 22)
        _ = device.write(offset: 0x10, width: .doubleWord, value: 0x8000 | 0x3B)  // pin 11, level
        device.setLevel(gsi: 11, high: true)
        device.setLevel(gsi: 11, high: true)
        #expect(attempts.withLock { $0 } == 2, "no remote IRR held the pin after the refusal")
        #expect(device.state.redirection[11] & (1 << 14) == 0, "remote IRR (bit 14) clear")
    }
}
