import Synchronization
import Testing
import VMCore

final class NamedDevice: BusDevice {
    let name: String
    init(_ name: String) { self.name = name }
    func read(offset: UInt64, width: AccessWidth) -> UInt64 { offset }
    func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction { .proceed }
}

@Suite struct BusTests {
    let a = NamedDevice("a"), b = NamedDevice("b"), c = NamedDevice("c")

    func makeBus() throws -> Bus {
        try Bus([(BusRange(base: 0x3F8, size: 8), a), (BusRange(base: 0x80, size: 1), b), (BusRange(base: .max - 3, size: 4), c)])
    }

    @Test func findsDevicesAtTheEdgesOfTheirRanges() throws {
        let bus = try makeBus()
        #expect(bus.lookup(0x3F8)?.entry.device === a)
        #expect(bus.lookup(0x3F8)?.offset == 0)
        #expect(bus.lookup(0x3FF)?.offset == 7)
        #expect(bus.lookup(0x80)?.entry.device === b)
        #expect(bus.lookup(.max)?.entry.device === c)
        #expect(bus.lookup(.max - 3, length: 4)?.offset == 0)
    }

    @Test func findsNothingOutsideTheRanges() throws {
        let bus = try makeBus()
        for address: UInt64 in [0, 0x7F, 0x81, 0x3F7, 0x400, .max - 4] { #expect(bus.lookup(address) == nil) }
        #expect(try Bus([]).lookup(0) == nil)
    }

    @Test func anAccessStraddlingTheEndOfARangeIsUnclaimed() throws {
        let bus = try makeBus()
        #expect(bus.lookup(0x3FE, length: 2) != nil)
        #expect(bus.lookup(0x3FF, length: 2) == nil)
        #expect(bus.lookup(0x80, length: 2) == nil)
        #expect(bus.lookup(.max, length: 2) == nil)
    }

    @Test func overlappingRangesAreRejected() {
        #expect(throws: BusError.overlap("a", "b")) {
            try Bus([(BusRange(base: 0x10, size: 8), a), (BusRange(base: 0x17, size: 1), b)])
        }
    }

    @Test func emptyAndWrappingRangesAreRejected() {
        #expect(throws: BusError.emptyRange(device: "a")) { try Bus([(BusRange(base: 0x10, size: 0), a)]) }
        #expect(throws: BusError.self) { try Bus([(BusRange(base: .max, size: 2), a)]) }
    }

    @Test func accessWidthMasks() {
        #expect(AccessWidth.byte.mask == 0xFF)
        #expect(AccessWidth.doubleWord.mask == 0xFFFF_FFFF)
        #expect(AccessWidth.quadWord.mask == .max)
        #expect(AccessWidth(byteCount: 3) == nil)
    }
}

@Suite struct CPUKickerTests {
    @Test func theFirstStopRequestWinsAndInterruptsTheVCPU() {
        let kicker = CPUKicker()
        let interrupts = Mutex(0)
        kicker.setInterrupt { interrupts.withLock { $0 += 1 } }
        kicker.requestStop(.timedOut)
        kicker.requestStop(.interrupted)
        #expect(kicker.requestedStop == .timedOut)
        #expect(interrupts.withLock { $0 } == 1)
    }

    @Test func aRequestAfterTheRunEndedTouchesNothing() {
        let kicker = CPUKicker()
        kicker.setInterrupt { Issue.record("interrupted a vCPU that is no longer running") }
        kicker.setInterrupt(nil)
        kicker.requestStop(.interrupted)
        #expect(kicker.requestedStop == .interrupted)
    }
}
