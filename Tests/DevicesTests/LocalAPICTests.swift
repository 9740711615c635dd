import Devices
import TestSupport
import Testing
import VMCore

/// Register offsets, short, for the tests.
private let id: UInt64 = 0x20, version: UInt64 = 0x30, tpr: UInt64 = 0x80, apr: UInt64 = 0x90, ppr: UInt64 = 0xA0
private let eoi: UInt64 = 0xB0, ldr: UInt64 = 0xD0, dfr: UInt64 = 0xE0, svr: UInt64 = 0xF0, esr: UInt64 = 0x280
private let icrLow: UInt64 = 0x300, icrHigh: UInt64 = 0x310, lvtTimer: UInt64 = 0x320, lint0: UInt64 = 0x350
private let lint1: UInt64 = 0x360, lvtError: UInt64 = 0x370, initialCount: UInt64 = 0x380, currentCount: UInt64 = 0x390
private let divide: UInt64 = 0x3E0

/// A LAPIC software-enabled with spurious vector 0xFF, as Linux leaves it.
private func enabledAPIC(timerFrequencyHz: UInt64 = 1_000_000_000, tscFrequencyHz: UInt64 = 1_000_000_000) -> LocalAPIC {
    var apic = LocalAPIC(timerFrequencyHz: timerFrequencyHz, tscFrequencyHz: tscFrequencyHz, minimumPeriodNanoseconds: 0)
    _ = apic.write(offset: svr, value: 0x1FF, now: 0)
    return apic
}

@Suite struct LocalAPICRegisterTests {
    @Test func powerUpValuesFollowTheSDM() {
        var apic = LocalAPIC(id: 3)
        #expect(apic.read(offset: id, now: 0) == 0x0300_0000)
        #expect(apic.read(offset: version, now: 0) == 0x0005_0014)
        #expect(apic.read(offset: tpr, now: 0) == 0)
        #expect(apic.read(offset: ppr, now: 0) == 0)
        #expect(apic.read(offset: ldr, now: 0) == 0)
        #expect(apic.read(offset: dfr, now: 0) == 0xFFFF_FFFF)
        #expect(apic.read(offset: svr, now: 0) == 0xFF)
        for offset in stride(from: UInt64(0x100), through: 0x270, by: 0x10) { #expect(apic.read(offset: offset, now: 0) == 0) }
        for offset: UInt64 in [0x2F0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370] { #expect(apic.read(offset: offset, now: 0) == 0x1_0000) }
        #expect(apic.read(offset: initialCount, now: 0) == 0)
        #expect(apic.read(offset: currentCount, now: 0) == 0)
        #expect(apic.read(offset: divide, now: 0) == 0)
        #expect(apic.read(offset: esr, now: 0) == 0)
        #expect(apic.apicBase == 0xFEE0_0900)  // base, global enable, BSP
        #expect(!apic.isSoftwareEnabled)
        #expect(!apic.lint0IsExtINT)
    }

    @Test func virtualWireIsWhatFirmwareLeavesForTheBSP() {
        var apic = LocalAPIC(virtualWire: true)
        #expect(apic.isSoftwareEnabled)
        #expect(apic.read(offset: lint0, now: 0) == 0x700)
        #expect(apic.read(offset: lint1, now: 0) == 0x400)
        #expect(apic.lint0IsExtINT)
    }

    @Test func writableBitsOnly() {
        var apic = enabledAPIC()
        _ = apic.write(offset: id, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: id, now: 0) == 0xFF00_0000)
        _ = apic.write(offset: version, value: 0, now: 0)
        #expect(apic.read(offset: version, now: 0) == 0x0005_0014)
        _ = apic.write(offset: tpr, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: tpr, now: 0) == 0xFF)
        _ = apic.write(offset: ldr, value: 0x0123_4567, now: 0)
        #expect(apic.read(offset: ldr, now: 0) == 0x0100_0000)
        _ = apic.write(offset: dfr, value: 0, now: 0)
        #expect(apic.read(offset: dfr, now: 0) == 0x0FFF_FFFF)
        _ = apic.write(offset: svr, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: svr, now: 0) == 0x3FF)
        _ = apic.write(offset: lvtTimer, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: lvtTimer, now: 0) == 0x7_00FF)
        _ = apic.write(offset: lint0, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: lint0, now: 0) == 0x1_A7FF)  // delivery status and remote IRR read 0
        _ = apic.write(offset: lvtError, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: lvtError, now: 0) == 0x1_00FF)
        _ = apic.write(offset: divide, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: divide, now: 0) == 0xB)
        _ = apic.write(offset: icrHigh, value: 0xFFFF_FFFF, now: 0)
        #expect(apic.read(offset: icrHigh, now: 0) == 0xFF00_0000)
    }

    @Test func softwareDisableMasksEveryLVTAndKeepsThemMasked() {
        var apic = enabledAPIC()
        _ = apic.write(offset: lvtTimer, value: 0x30, now: 0)
        _ = apic.write(offset: lint0, value: 0x700, now: 0)
        #expect(apic.read(offset: lvtTimer, now: 0) == 0x30)
        _ = apic.write(offset: svr, value: 0xFF, now: 0)
        #expect(apic.read(offset: lvtTimer, now: 0) == 0x1_0030)
        #expect(apic.read(offset: lint0, now: 0) == 0x1_0700)
        #expect(!apic.lint0IsExtINT)
        _ = apic.write(offset: lvtTimer, value: 0x31, now: 0)
        #expect(apic.read(offset: lvtTimer, now: 0) == 0x1_0031)
        // Fixed interrupts are dropped while disabled.
        #expect(apic.accept(vector: 0x40, levelTriggered: false) == false)
        _ = apic.write(offset: svr, value: 0x1FF, now: 0)
        #expect(apic.read(offset: lvtTimer, now: 0) == 0x1_0031)  // enabling does not unmask
        _ = apic.write(offset: lvtTimer, value: 0x31, now: 0)
        #expect(apic.read(offset: lvtTimer, now: 0) == 0x31)
    }

    @Test(arguments: [
        // (TPR, in-service vector or nil, expected PPR)
        (UInt32(0x00), UInt8?.none, UInt32(0x00)),
        (0x25, nil, 0x25),
        (0x25, 0x31, 0x30),  // ISRV's class is higher: PPR = ISRV & 0xF0
        (0x35, 0x31, 0x35),  // same class: TPR
        (0x45, 0x31, 0x45),
        (0xFF, 0xFE, 0xFF),
    ])
    func processorPriorityFromTPRAndISRV(tprValue: UInt32, inService: UInt8?, expected: UInt32) {
        var apic = enabledAPIC()
        if let inService {
            apic.accept(vector: inService, levelTriggered: false)
            #expect(apic.acknowledge() == inService)
        }
        _ = apic.write(offset: tpr, value: tprValue, now: 0)
        #expect(apic.read(offset: ppr, now: 0) == expected)
    }

    @Test func arbitrationPriorityFollowsTheHighestClass() {
        var apic = enabledAPIC()
        _ = apic.write(offset: tpr, value: 0x25, now: 0)
        #expect(apic.read(offset: apr, now: 0) == 0x25)
        apic.accept(vector: 0x51, levelTriggered: false)
        #expect(apic.read(offset: apr, now: 0) == 0x50)
    }

    @Test func errorStatusIsLatchedByAWrite() {
        var apic = enabledAPIC()
        #expect(apic.accept(vector: 3, levelTriggered: false) == false)  // illegal vector: dropped
        #expect(apic.irr.isEmpty)
        #expect(apic.read(offset: esr, now: 0) == 0)  // not latched yet
        _ = apic.write(offset: esr, value: 0, now: 0)
        #expect(apic.read(offset: esr, now: 0) == 0x40)
        #expect(apic.read(offset: esr, now: 0) == 0x40)  // reads do not clear
        _ = apic.write(offset: esr, value: 0xFFFF_FFFF, now: 0)  // the value written does not matter
        #expect(apic.read(offset: esr, now: 0) == 0)
    }

    @Test func unimplementedRegistersReadZeroAndLogIllegalRegisterAddress() {
        var apic = enabledAPIC()
        #expect(apic.read(offset: 0x40, now: 0) == 0)
        #expect(apic.write(offset: 0x3F0, value: 1, now: 0) == .none)
        _ = apic.write(offset: esr, value: 0, now: 0)
        #expect(apic.read(offset: esr, now: 0) == 0x80)
        // Read-only registers and misaligned offsets log nothing.
        _ = apic.write(offset: version, value: 1, now: 0)
        _ = apic.read(offset: 0x24, now: 0)
        _ = apic.write(offset: esr, value: 0, now: 0)
        #expect(apic.read(offset: esr, now: 0) == 0)
    }

    @Test func anErrorRaisesTheLVTErrorInterrupt() {
        var apic = enabledAPIC()
        _ = apic.write(offset: lvtError, value: 0xFE, now: 0)
        apic.accept(vector: 1, levelTriggered: false)
        #expect(apic.pendingVector() == 0xFE)
        // An illegal error vector logs and stops there.
        var other = enabledAPIC()
        _ = other.write(offset: lvtError, value: 0x05, now: 0)
        other.accept(vector: 1, levelTriggered: false)
        #expect(other.irr.isEmpty)
    }

    @Test func narrowAndMisalignedAccesses() {
        var apic = LocalAPIC(id: 0x12)
        #expect(apic.read(offset: id + 3, width: .byte, now: 0) == 0x12)
        #expect(apic.read(offset: id + 2, width: .word, now: 0) == 0x1200)
        #expect(apic.read(offset: id + 2, width: .doubleWord, now: 0) == 0)  // crosses the 4-byte register
        #expect(apic.read(offset: version, width: .quadWord, now: 0) == 0)
        #expect(apic.write(offset: tpr, width: .byte, value: 0x50, now: 0) == .none)
        #expect(apic.write(offset: tpr + 4, width: .doubleWord, value: 0x50, now: 0) == .none)
        #expect(apic.taskPriority == 0)
        _ = apic.write(offset: tpr, width: .doubleWord, value: 0x50, now: 0)
        #expect(apic.taskPriority == 0x50)
    }

    @Test func baseMSRRejectsReservedBitsAndDisablingResets() {
        var apic = enabledAPIC()
        #expect(apic.writeBaseMSR(0xFEE0_0000 | 1 << 10 | 1 << 11) == false)  // x2APIC
        #expect(apic.writeBaseMSR(0xFEE0_0001 | 1 << 11) == false)
        #expect(apic.writeBaseMSR(0xFED0_0000 | 1 << 11) == true)
        #expect(apic.baseAddress == 0xFED0_0000)
        #expect(apic.apicBase & 1 << 8 != 0)  // BSP stays
        _ = apic.write(offset: tpr, value: 0x20, now: 0)
        #expect(apic.writeBaseMSR(0xFED0_0000) == true)
        #expect(!apic.isHardwareEnabled)
        #expect(apic.lint0IsExtINT)  // the PIC goes straight to the CPU
        #expect(apic.taskPriority == 0)
        #expect(apic.accept(vector: 0x40, levelTriggered: false) == false)
    }
}

@Suite struct LocalAPICInterruptTests {
    @Test func theHighestVectorAbovePPRIsPending() {
        var apic = enabledAPIC()
        apic.accept(vector: 0x41, levelTriggered: false)
        apic.accept(vector: 0x62, levelTriggered: false)
        #expect(apic.pendingVector() == 0x62)
        _ = apic.write(offset: tpr, value: 0x60, now: 0)
        #expect(apic.pendingVector() == nil)  // class 6 is not above class 6
        _ = apic.write(offset: tpr, value: 0x5F, now: 0)
        #expect(apic.pendingVector() == 0x62)
        #expect(apic.acknowledge() == 0x62)
        #expect(apic.isr.contains(0x62))
        #expect(!apic.irr.contains(0x62))
        // 0x41 waits: PPR is now 0x60.
        #expect(apic.pendingVector() == nil)
        #expect(apic.acknowledge() == nil)
    }

    @Test func nestingAndEOIRetireTheHighestInService() {
        var apic = enabledAPIC()
        apic.accept(vector: 0x30, levelTriggered: false)
        #expect(apic.acknowledge() == 0x30)
        apic.accept(vector: 0x31, levelTriggered: false)
        #expect(apic.pendingVector() == nil)  // same class as the one in service
        apic.accept(vector: 0x80, levelTriggered: false)
        #expect(apic.acknowledge() == 0x80)  // a higher class nests
        #expect(apic.read(offset: ppr, now: 0) == 0x80)
        #expect(apic.write(offset: eoi, value: 0, now: 0) == .eoi(vector: 0x80, level: false))
        #expect(apic.pendingVector() == nil)
        #expect(apic.write(offset: eoi, value: 0, now: 0) == .eoi(vector: 0x30, level: false))
        #expect(apic.acknowledge() == 0x31)
        #expect(apic.write(offset: eoi, value: 0, now: 0) == .eoi(vector: 0x31, level: false))
        #expect(apic.write(offset: eoi, value: 0, now: 0) == .none)  // nothing in service
    }

    @Test func levelTriggeredEOIAsksForABroadcast() {
        var apic = enabledAPIC()
        apic.accept(vector: 0x55, levelTriggered: true)
        #expect(apic.read(offset: 0x180 + 0x20, now: 0) == 1 << 21)  // TMR bit 0x55
        #expect(apic.read(offset: 0x200 + 0x20, now: 0) == 1 << 21)  // IRR bit 0x55
        #expect(apic.acknowledge() == 0x55)
        #expect(apic.read(offset: 0x100 + 0x20, now: 0) == 1 << 21)  // ISR bit 0x55
        #expect(apic.write(offset: eoi, value: 0, now: 0) == .eoi(vector: 0x55, level: true))
        // Accepted again as edge: TMR clears.
        apic.accept(vector: 0x55, levelTriggered: false)
        #expect(!apic.tmr.contains(0x55))
    }

    @Test func aSelfIPIDeliversAFixedVector() {
        var apic = enabledAPIC()
        #expect(apic.write(offset: icrLow, value: 0x0004_0040, now: 0) == .none)  // shorthand self, vector 0x40
        #expect(apic.pendingVector() == 0x40)
        #expect(apic.read(offset: icrLow, now: 0) & 1 << 12 == 0)  // delivery status: idle
        // By destination: this APIC's ID, physical.
        _ = apic.write(offset: icrHigh, value: 0, now: 0)
        #expect(apic.write(offset: icrLow, value: 0x50, now: 0) == .none)
        #expect(apic.pendingVector() == 0x50)
    }

    @Test func anIllegalIPIVectorIsNotSent() {
        var apic = enabledAPIC()
        #expect(apic.write(offset: icrLow, value: 0x0004_0005, now: 0) == .none)
        #expect(apic.irr.isEmpty)
        _ = apic.write(offset: esr, value: 0, now: 0)
        #expect(apic.read(offset: esr, now: 0) == 0x20)  // send illegal vector
    }

    @Test func anNMIIPIToThisCPUIsLatched() {
        var apic = enabledAPIC()
        #expect(apic.write(offset: icrLow, value: 0x400, now: 0) == .none)  // NMI to ID 0
        #expect(apic.nmiPending)
        #expect(apic.takeNMI() == true)
        #expect(apic.takeNMI() == false)
        // To another CPU: the machine routes it.
        _ = apic.write(offset: icrHigh, value: 0x0100_0000, now: 0)
        let effect = apic.write(offset: icrLow, value: 0x400, now: 0)
        guard case .sendIPI(let command) = effect else {
            Issue.record("expected an IPI, got \(effect)")
            return
        }
        #expect(command.deliveryMode == .nmi)
        #expect(command.destination == 1)
        #expect(!apic.nmiPending)
    }

    @Test func initAndStartupGoToTheMachine() {
        var apic = enabledAPIC()
        _ = apic.write(offset: icrHigh, value: 0x0100_0000, now: 0)
        guard case .sendIPI(let initIPI) = apic.write(offset: icrLow, value: 0x0000_C500, now: 0) else {
            Issue.record("INIT not sent")
            return
        }
        #expect(initIPI.deliveryMode == .initialize && initIPI.assert && initIPI.levelTriggered)
        #expect(apic.write(offset: icrLow, value: 0x0000_8500, now: 0) == .none)  // INIT de-assert
        guard case .sendIPI(let sipi) = apic.write(offset: icrLow, value: 0x0000_0698, now: 0) else {
            Issue.record("SIPI not sent")
            return
        }
        #expect(sipi.deliveryMode == .startup && sipi.vector == 0x98)
        // Broadcast fixed, including self: delivered here and sent on.
        guard case .sendIPI(let broadcast) = apic.write(offset: icrLow, value: 0x0008_0061, now: 0) else {
            Issue.record("broadcast not sent")
            return
        }
        #expect(broadcast.shorthand == .allIncludingSelf)
        #expect(apic.pendingVector() == 0x61)
    }

    @Test func aLowestPriorityIPIThatSelectsThisAPICStaysHere() {
        var apic = enabledAPIC()
        _ = apic.write(offset: ldr, value: 0x0100_0000, now: 0)
        _ = apic.write(offset: icrHigh, value: 0x0300_0000, now: 0)
        #expect(apic.write(offset: icrLow, value: 0x0000_0971, now: 0) == .none)  // logical, lowest priority
        #expect(apic.pendingVector() == 0x71)
        _ = apic.write(offset: icrHigh, value: 0x0200_0000, now: 0)
        guard case .sendIPI(let command) = apic.write(offset: icrLow, value: 0x0000_0972, now: 0) else {
            Issue.record("an IPI for another APIC stayed here")
            return
        }
        #expect(command.logicalDestination && command.deliveryMode == .lowestPriority)
        #expect(!apic.irr.contains(0x72))
    }

    @Test func messagesFromTheIOAPIC() {
        var apic = enabledAPIC()
        let level = IOAPICDelivery(pin: 9, vector: 0x49, deliveryMode: .fixed, logicalDestination: false, destination: 0, levelTriggered: true)
        #expect(apic.receive(level) == true)
        #expect(apic.tmr.contains(0x49) && apic.pendingVector() == 0x49)
        var other = level
        other.destination = 1
        #expect(apic.receive(other) == false)
        let nmi = IOAPICDelivery(pin: 2, vector: 0, deliveryMode: .nmi, logicalDestination: false, destination: 0xFF, levelTriggered: false)
        #expect(apic.receive(nmi) == true)
        #expect(apic.nmiPending)
        var extINT = nmi
        extINT.deliveryMode = .extINT
        #expect(apic.receive(extINT) == false)
    }

    @Test func initResetsAllButTheIDAndBase() {
        var apic = LocalAPIC(id: 5)
        _ = apic.writeBaseMSR(0xFED0_0000 | 1 << 11)
        _ = apic.write(offset: svr, value: 0x1FF, now: 0)
        _ = apic.write(offset: tpr, value: 0x30, now: 0)
        apic.accept(vector: 0x40, levelTriggered: false)
        apic.receiveINIT()
        #expect(apic.id == 5 && apic.baseAddress == 0xFED0_0000)
        #expect(!apic.isSoftwareEnabled && apic.taskPriority == 0 && apic.irr.isEmpty)
    }

    @Test func logicalDestinations() {
        var apic = enabledAPIC()
        _ = apic.write(offset: ldr, value: 0x0400_0000, now: 0)
        #expect(apic.matchesDestination(0x04, logical: true))
        #expect(apic.matchesDestination(0x06, logical: true))
        #expect(!apic.matchesDestination(0x02, logical: true))
        _ = apic.write(offset: dfr, value: 0, now: 0)  // cluster model
        _ = apic.write(offset: ldr, value: 0x2100_0000, now: 0)
        #expect(apic.matchesDestination(0x23, logical: true))
        #expect(!apic.matchesDestination(0x13, logical: true))
        #expect(apic.matchesDestination(0xFF, logical: false))
        #expect(apic.matchesDestination(0x00, logical: false))
        #expect(!apic.matchesDestination(0x01, logical: false))
    }

    @Test func lint1IsNMIAndLint0CanDeliverFixed() {
        var apic = LocalAPIC(virtualWire: true)
        apic.setLINT1(high: true)
        #expect(apic.takeNMI() == true)
        apic.setLINT1(high: true)  // no new edge
        #expect(!apic.nmiPending)
        apic.setLINT1(high: false)
        apic.setLINT1(high: true)
        #expect(apic.nmiPending)
        _ = apic.write(offset: lint0, value: 0x33, now: 0)
        #expect(!apic.lint0IsExtINT)
        apic.setLINT0(high: true)
        #expect(apic.pendingVector() == 0x33)
    }
}

@Suite struct LocalAPICTimerTests {
    /// Divide register values and the divisor each selects.
    static let divisors: [(UInt32, UInt64)] = [(0x0, 2), (0x1, 4), (0x2, 8), (0x3, 16), (0x8, 32), (0x9, 64), (0xA, 128), (0xB, 1)]

    @Test(arguments: divisors)
    func oneShotCountsDownAtTheDividedRate(divideValue: UInt32, divisor: UInt64) {
        // A 100 MHz timer clock: 10 ns per tick before the divider.
        var apic = enabledAPIC(timerFrequencyHz: 100_000_000)
        _ = apic.write(offset: divide, value: divideValue, now: 0)
        #expect(apic.timerDivisor == divisor)
        _ = apic.write(offset: lvtTimer, value: 0x40, now: 0)
        let start: UInt64 = 5_000
        #expect(apic.write(offset: initialCount, value: 1000, now: start) == .timerChanged)
        let tick = 10 * divisor
        #expect(apic.nextTimerDeadline() == start + 1000 * tick)
        #expect(apic.read(offset: currentCount, now: start) == 1000)
        #expect(apic.read(offset: currentCount, now: start + 250 * tick) == 750)
        #expect(apic.read(offset: currentCount, now: start + 250 * tick - 1) == 751)
        #expect(apic.fireTimer(now: start + 1000 * tick - 1) == false)  // early: nothing
        #expect(apic.pendingVector() == nil)
        #expect(apic.fireTimer(now: start + 1000 * tick) == true)
        #expect(apic.pendingVector() == 0x40)
        #expect(apic.nextTimerDeadline() == nil)
        #expect(apic.read(offset: currentCount, now: start + 1000 * tick + 1) == 0)
        #expect(apic.read(offset: initialCount, now: 0) == 1000)
    }

    @Test(arguments: divisors)
    func periodicRearms(divideValue: UInt32, divisor: UInt64) {
        var apic = enabledAPIC(timerFrequencyHz: 1_000_000_000)
        _ = apic.write(offset: divide, value: divideValue, now: 0)
        _ = apic.write(offset: lvtTimer, value: 0x2_0041, now: 0)
        #expect(apic.timerMode == .periodic)
        _ = apic.write(offset: initialCount, value: 500, now: 0)
        let period = 500 * divisor
        #expect(apic.nextTimerDeadline() == period)
        #expect(apic.fireTimer(now: period) == true)
        #expect(apic.nextTimerDeadline() == 2 * period)
        #expect(apic.read(offset: currentCount, now: period + 100 * divisor) == 400)
        #expect(apic.acknowledge() == 0x41)
        _ = apic.write(offset: eoi, value: 0, now: 0)
        // Late by two and a half periods: one interrupt, the phase kept.
        #expect(apic.fireTimer(now: 4 * period + period / 2) == true)
        #expect(apic.nextTimerDeadline() == 5 * period)
        #expect(apic.pendingVector() == 0x41)
    }

    @Test func periodicCountWrapsWhenNotFiredYet() {
        var apic = enabledAPIC()
        _ = apic.write(offset: divide, value: 0xB, now: 0)
        _ = apic.write(offset: lvtTimer, value: 0x2_0041, now: 0)
        _ = apic.write(offset: initialCount, value: 100, now: 0)
        #expect(apic.read(offset: currentCount, now: 130) == 70)
    }

    @Test func writingZeroStopsTheTimer() {
        var apic = enabledAPIC()
        _ = apic.write(offset: lvtTimer, value: 0x40, now: 0)
        _ = apic.write(offset: initialCount, value: 100, now: 0)
        _ = apic.write(offset: initialCount, value: 0, now: 10)
        #expect(apic.nextTimerDeadline() == nil)
        #expect(apic.read(offset: currentCount, now: 20) == 0)
    }

    @Test func changingTheDivideKeepsTheCountLeft() {
        var apic = enabledAPIC()
        _ = apic.write(offset: divide, value: 0xB, now: 0)  // 1
        _ = apic.write(offset: lvtTimer, value: 0x40, now: 0)
        _ = apic.write(offset: initialCount, value: 1000, now: 0)
        #expect(apic.write(offset: divide, value: 0x0, now: 400) == .timerChanged)  // 600 left, now 2 ns each
        #expect(apic.read(offset: currentCount, now: 400) == 600)
        #expect(apic.nextTimerDeadline() == 400 + 1200)
    }

    @Test func anOverdueTimerFiresBeforeTheNextAccess() {
        var apic = enabledAPIC()
        _ = apic.write(offset: divide, value: 0xB, now: 0)
        _ = apic.write(offset: lvtTimer, value: 0x40, now: 0)
        _ = apic.write(offset: initialCount, value: 100, now: 0)
        // The machine has not called fireTimer yet; the guest reprograms the timer late.
        _ = apic.write(offset: initialCount, value: 100, now: 150)
        #expect(apic.pendingVector() == 0x40)
        #expect(apic.nextTimerDeadline() == 250)
    }

    @Test func aMaskedTimerCountsButRequestsNothing() {
        var apic = enabledAPIC()
        _ = apic.write(offset: lvtTimer, value: 0x1_0040, now: 0)
        _ = apic.write(offset: initialCount, value: 10, now: 0)
        let deadline = apic.nextTimerDeadline()!
        #expect(apic.fireTimer(now: deadline) == false)
        #expect(apic.irr.isEmpty)
        #expect(apic.nextTimerDeadline() == nil)
    }

    @Test func periodicIsLimitedToTheMinimumPeriod() {
        var apic = LocalAPIC(minimumPeriodNanoseconds: 200_000)
        _ = apic.write(offset: svr, value: 0x1FF, now: 0)
        _ = apic.write(offset: divide, value: 0xB, now: 0)
        _ = apic.write(offset: lvtTimer, value: 0x2_0040, now: 0)
        _ = apic.write(offset: initialCount, value: 1, now: 0)
        #expect(apic.nextTimerDeadline() == 200_000)
    }

    @Test func tscDeadlineArmsDisarmsAndFiresAtOnceInThePast() {
        // TSC at 2 GHz: 2 ticks per ns.
        var apic = enabledAPIC(tscFrequencyHz: 2_000_000_000)
        #expect(apic.writeTSCDeadline(5000, now: 0) == .none)  // not in TSC-deadline mode: ignored
        #expect(apic.tscDeadline == 0)
        _ = apic.write(offset: lvtTimer, value: 0x4_00EF, now: 0)
        #expect(apic.timerMode == .tscDeadline)
        #expect(apic.write(offset: initialCount, value: 100, now: 0) == .none)  // ignored in this mode
        #expect(apic.read(offset: initialCount, now: 0) == 0)
        #expect(apic.writeTSCDeadline(5000, now: 1000) == .timerChanged)
        #expect(apic.tscDeadline == 5000)
        #expect(apic.nextTimerDeadline() == 2500)
        #expect(apic.read(offset: currentCount, now: 1200) == 0)
        #expect(apic.fireTimer(now: 2499) == false)
        #expect(apic.fireTimer(now: 2500) == true)
        #expect(apic.pendingVector() == 0xEF)
        #expect(apic.tscDeadline == 0)
        #expect(apic.nextTimerDeadline() == nil)
        _ = apic.acknowledge()
        _ = apic.write(offset: eoi, value: 0, now: 3000)
        // Disarm.
        _ = apic.writeTSCDeadline(1_000_000, now: 3000)
        _ = apic.writeTSCDeadline(0, now: 3000)
        #expect(apic.nextTimerDeadline() == nil)
        // In the past: fires during the write.
        _ = apic.writeTSCDeadline(10, now: 3000)
        #expect(apic.pendingVector() == 0xEF)
        #expect(apic.tscDeadline == 0)
        // Odd TSC values round the deadline up, never early.
        _ = apic.writeTSCDeadline(6001, now: 3000)
        #expect(apic.nextTimerDeadline() == 3001)
        #expect(apic.tsc(atNanoseconds: 3001) == 6002)
    }

    @Test func changingTheTimerModeDisarms() {
        var apic = enabledAPIC()
        _ = apic.write(offset: lvtTimer, value: 0x40, now: 0)
        _ = apic.write(offset: initialCount, value: 1000, now: 0)
        _ = apic.write(offset: lvtTimer, value: 0x41, now: 10)  // same mode: keeps counting
        #expect(apic.nextTimerDeadline() != nil)
        _ = apic.write(offset: lvtTimer, value: 0x2_0041, now: 20)  // one-shot to periodic
        #expect(apic.nextTimerDeadline() == nil)
        #expect(apic.read(offset: currentCount, now: 30) == 0)
        _ = apic.write(offset: initialCount, value: 1000, now: 40)
        #expect(apic.nextTimerDeadline() == 40 + 2000)
    }

    @Test func leavingTSCDeadlineModeDisarms() {
        var apic = enabledAPIC()
        _ = apic.write(offset: lvtTimer, value: 0x4_0040, now: 0)
        _ = apic.writeTSCDeadline(5000, now: 0)
        _ = apic.write(offset: lvtTimer, value: 0x0_0040, now: 0)
        #expect(apic.nextTimerDeadline() == nil)
        _ = apic.write(offset: lvtTimer, value: 0x4_0040, now: 0)
        #expect(apic.tscDeadline == 0)
    }

    @Test func extremeValuesSaturateInsteadOfTrapping() {
        var apic = LocalAPIC(timerFrequencyHz: 1, tscFrequencyHz: 1, minimumPeriodNanoseconds: 0)
        _ = apic.write(offset: svr, value: 0x1FF, now: 0)
        _ = apic.write(offset: divide, value: 0xA, now: 0)  // 128
        _ = apic.write(offset: lvtTimer, value: 0x2_0040, now: 0)
        _ = apic.write(offset: initialCount, value: 0xFFFF_FFFF, now: .max - 5)
        #expect(apic.nextTimerDeadline() == .max)
        #expect(apic.read(offset: currentCount, now: .max) == 0xFFFF_FFFF)
        #expect(apic.fireTimer(now: .max) == true)
        _ = apic.write(offset: lvtTimer, value: 0x4_0040, now: 0)
        _ = apic.writeTSCDeadline(.max, now: 0)
        #expect(apic.nextTimerDeadline() == .max)
    }
}

@Suite struct LocalAPICRobustnessTests {
    @Test(arguments: 0..<4)
    func randomAccessesNeverTrap(seed: UInt64) {
        var random = SplitMix64(seed: 0xA91C_0000 &+ seed)
        var apic = LocalAPIC(
            id: UInt8.random(in: 0...255, using: &random), timerFrequencyHz: random.next() >> UInt64.random(in: 0...63, using: &random),
            tscFrequencyHz: random.next() >> UInt64.random(in: 0...63, using: &random), minimumPeriodNanoseconds: 0)
        var now: UInt64 = 0
        for _ in 0..<5000 {
            // Mostly small steps, sometimes huge jumps, sometimes backwards.
            switch Int.random(in: 0..<10, using: &random) {
            case 0: now = random.next()
            case 1: now = now &- UInt64.random(in: 0...1000, using: &random)
            default: now = now &+ UInt64.random(in: 0...100_000, using: &random)
            }
            let offset = Bool.random(using: &random) ? UInt64.random(in: 0...0x3F, using: &random) << 4 : random.next() & 0x1FFF
            let value = UInt32(truncatingIfNeeded: random.next())
            let width = AccessWidth.allCases.randomElement(using: &random)!
            switch Int.random(in: 0..<10, using: &random) {
            case 0...3: _ = apic.write(offset: offset, value: value, now: now)
            case 4: _ = apic.write(offset: offset, width: width, value: random.next(), now: now)
            case 5: _ = apic.read(offset: offset, width: width, now: now)
            case 6: apic.accept(vector: UInt8(truncatingIfNeeded: value), levelTriggered: Bool.random(using: &random))
            case 7:
                _ = apic.acknowledge()
                _ = apic.writeTSCDeadline(random.next() >> UInt64.random(in: 0...63, using: &random), now: now)
            case 8:
                if let deadline = apic.nextTimerDeadline() { apic.fireTimer(now: max(deadline, now)) }
                _ = apic.writeBaseMSR(random.next() & 0xFFFF_FFFF_FFFF_FD00 | 0x800)
            default: _ = apic.read(offset: offset, now: now)
            }
            // Invariants.
            if let vector = apic.pendingVector() { #expect(vector >= 16) }
            #expect(apic.read(offset: 0x30, now: now) == 0x0005_0014)
            if apic.timerMode == .tscDeadline { #expect(apic.read(offset: 0x390, now: now) == 0) }
        }
    }
}
