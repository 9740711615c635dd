import Devices
import Dispatch
import Synchronization
import TestSupport
import Testing
import VMCore

/// Port numbers, as Linux's i8259.c names them.
private let masterCommand: UInt16 = 0x20, masterData: UInt16 = 0x21
private let slaveCommand: UInt16 = 0xA0, slaveData: UInt16 = 0xA1
private let elcrMaster: UInt16 = 0x4D0, elcrSlave: UInt16 = 0x4D1

extension DualPIC {
    /// Linux's init_8259A: mask everything, ICW1 0x11, ICW2 0x30/0x38, ICW3 0x04/0x02, ICW4 0x01
    /// (0x03 on the master with auto-EOI), then the masks.
    mutating func initializeAsLinux(masterMask: UInt8 = 0xFA, slaveMask: UInt8 = 0xFF, autoEOI: Bool = false) {
        write(port: masterData, value: 0xFF)
        write(port: slaveData, value: 0xFF)
        write(port: masterCommand, value: 0x11)
        write(port: masterData, value: 0x30)
        write(port: masterData, value: 0x04)
        write(port: masterData, value: autoEOI ? 0x03 : 0x01)
        write(port: slaveCommand, value: 0x11)
        write(port: slaveData, value: 0x38)
        write(port: slaveData, value: 0x02)
        write(port: slaveData, value: 0x01)
        write(port: masterData, value: masterMask)
        write(port: slaveData, value: slaveMask)
    }

    /// Raises and lowers an edge-triggered IRQ, as a pulse.
    mutating func pulse(_ irq: Int) {
        setIRQ(irq, high: true)
        setIRQ(irq, high: false)
    }

    /// OCW3 "read ISR" then a read of the command port.
    mutating func readISR(port: UInt16) -> UInt8 {
        write(port: port, value: 0x0B)
        return read(port: port)
    }

    /// OCW3 "read IRR" then a read of the command port.
    mutating func readIRR(port: UInt16) -> UInt8 {
        write(port: port, value: 0x0A)
        return read(port: port)
    }
}

@Suite struct PIC8259Tests {
    var pic = DualPIC()

    // MARK: Initialization and the probe

    @Test mutating func linuxProbeReadsBackTheMaskItWrote() {
        // probe_8259A: 0xFF to the slave's mask, 0xFB to the master's, read it back.
        pic.write(port: slaveData, value: 0xFF)
        pic.write(port: masterData, value: 0xFB)
        #expect(pic.read(port: masterData) == 0xFB)
        #expect(pic.read(port: slaveData) == 0xFF)
    }

    @Test mutating func linuxInitSequenceSetsBasesCascadeAndMasks() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0xFF)
        #expect(pic.master.vectorBase == 0x30)
        #expect(pic.slave.vectorBase == 0x38)
        #expect(pic.master.cascadeConfiguration == 0x04)
        #expect(pic.slave.cascadeConfiguration == 0x02)
        #expect(pic.master.mode8086 && pic.slave.mode8086)
        #expect(!pic.master.autoEOI && !pic.master.singleMode)
        // The sequence is over: the data port is the mask again.
        #expect(pic.read(port: masterData) == 0xFB)
        #expect(pic.read(port: slaveData) == 0xFF)
        #expect(pic.inService == 0)
        #expect(!pic.interruptRequested)
        // The probe still works after initialization.
        pic.write(port: masterData, value: 0xFB)
        #expect(pic.read(port: masterData) == 0xFB)
    }

    @Test mutating func icw2KeepsOnlyTheVectorBaseBits() {
        pic.write(port: masterCommand, value: 0x13)  // single, ICW4 needed: no ICW3
        pic.write(port: masterData, value: 0x47)
        pic.write(port: masterData, value: 0x01)  // ICW4
        pic.write(port: masterData, value: 0x5A)  // OCW1
        #expect(pic.master.vectorBase == 0x40)
        #expect(pic.master.singleMode)
        #expect(pic.read(port: masterData) == 0x5A)
    }

    @Test mutating func icw1WithoutICW4EndsAfterICW3AndClearsTheICW4Functions() {
        pic.initializeAsLinux(autoEOI: true)
        pic.write(port: masterCommand, value: 0x10)  // cascade, no ICW4
        pic.write(port: masterData, value: 0x20)  // ICW2
        pic.write(port: masterData, value: 0x04)  // ICW3
        pic.write(port: masterData, value: 0xF0)  // OCW1 already
        #expect(pic.read(port: masterData) == 0xF0)
        #expect(!pic.master.autoEOI && !pic.master.mode8086)
        // Single mode without ICW4: ICW2 is the whole sequence.
        pic.write(port: slaveCommand, value: 0x12)
        pic.write(port: slaveData, value: 0x70)
        pic.write(port: slaveData, value: 0x0F)
        #expect(pic.read(port: slaveData) == 0x0F)
        #expect(pic.slave.vectorBase == 0x70)
    }

    @Test mutating func icw1ClearsMaskInServiceAndTheEdgeSense() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.setIRQ(0, high: true)
        pic.setIRQ(4, high: true)
        _ = pic.acknowledge()
        #expect(pic.master.inService == 0x01)
        pic.write(port: masterCommand, value: 0x11)
        #expect(pic.master.inService == 0 && pic.master.interruptMask == 0)
        #expect(pic.master.interruptRequests == 0)  // the latched IRQ 4 is gone
        pic.write(port: masterData, value: 0x30)
        pic.write(port: masterData, value: 0x04)
        pic.write(port: masterData, value: 0x01)
        // The lines are still high, but an edge input must rise again to request.
        #expect(!pic.interruptRequested)
        pic.setIRQ(4, high: false)
        pic.setIRQ(4, high: true)
        #expect(pic.acknowledge() == 0x34)
    }

    // MARK: Priorities, vectors and EOI

    @Test mutating func irq0OutranksIrq4AndNonSpecificEOIEndsIt() {
        pic.initializeAsLinux(masterMask: 0xEA)  // IRQ 0, 2, 4 unmasked
        pic.pulse(4)
        pic.pulse(0)
        #expect(pic.master.interruptRequests == 0x11)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x30)
        #expect(pic.master.inService == 0x01)
        #expect(pic.master.interruptRequests == 0x10)
        // IRQ 4 waits for the EOI of the higher-priority IRQ 0.
        #expect(!pic.interruptRequested)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.master.inService == 0)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x34)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.inService == 0 && pic.interruptRequests == 0)
        #expect(!pic.interruptRequested)
    }

    @Test mutating func aHigherPriorityInterruptNestsInsideALowerOne() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.pulse(4)
        #expect(pic.acknowledge() == 0x34)
        // Lower priorities wait, higher ones interrupt.
        pic.pulse(6)
        #expect(!pic.interruptRequested)
        pic.pulse(4)  // the same level waits too
        #expect(!pic.interruptRequested)
        pic.pulse(0)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x30)
        #expect(pic.master.inService == 0x11)
        pic.pulse(3)  // below 0, above 4: waits for IRQ 0's EOI
        #expect(!pic.interruptRequested)
        // The non-specific EOI ends the highest level in service, IRQ 0.
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.master.inService == 0x10)
        #expect(pic.acknowledge() == 0x33)
        #expect(pic.master.inService == 0x18)
        pic.write(port: masterCommand, value: 0x20)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.acknowledge() == 0x34)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.acknowledge() == 0x36)
    }

    @Test mutating func specificEOIEndsTheNamedLevel() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.pulse(4)
        _ = pic.acknowledge()
        pic.pulse(1)
        _ = pic.acknowledge()
        #expect(pic.master.inService == 0x12)
        pic.write(port: masterCommand, value: 0x64)  // specific EOI, IRQ 4
        #expect(pic.master.inService == 0x02)
        pic.write(port: masterCommand, value: 0x64)  // again: nothing to end
        #expect(pic.master.inService == 0x02)
        pic.write(port: masterCommand, value: 0x61)
        #expect(pic.master.inService == 0)
    }

    @Test mutating func maskedRequestsStayInIRRButAreNotDelivered() {
        pic.initializeAsLinux(masterMask: 0xFF)
        pic.pulse(3)
        #expect(pic.master.interruptRequests == 0x08)
        #expect(!pic.interruptRequested)
        #expect(pic.acknowledge() == 0x37)  // spurious: nothing unmasked
        #expect(pic.inService == 0)
        pic.write(port: masterData, value: 0xF7)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x33)
    }

    @Test mutating func setPriorityAndRotationChangeTheOrder() {
        pic.initializeAsLinux(masterMask: 0x00)
        // Set priority: IRQ 3 lowest, so IRQ 4 is the highest.
        pic.write(port: masterCommand, value: 0xC3)
        #expect(pic.master.highestPriorityLevel == 4)
        pic.pulse(0)
        pic.pulse(4)
        #expect(pic.acknowledge() == 0x34)
        #expect(!pic.interruptRequested)  // IRQ 0 now ranks below IRQ 4
        // Rotate on non-specific EOI: IRQ 4 ends and becomes the lowest.
        pic.write(port: masterCommand, value: 0xA0)
        #expect(pic.master.inService == 0 && pic.master.highestPriorityLevel == 5)
        pic.pulse(7)
        #expect(pic.acknowledge() == 0x37)
        #expect(pic.master.inService == 0x80)  // a real IRQ 7, in service
        // Rotate on specific EOI of 7: 0 is the highest again.
        pic.write(port: masterCommand, value: 0xE7)
        #expect(pic.master.inService == 0 && pic.master.highestPriorityLevel == 0)
        #expect(pic.acknowledge() == 0x30)
        // No-operation OCW2 does nothing.
        let before = pic
        pic.write(port: masterCommand, value: 0x40)
        #expect(pic == before)
    }

    @Test mutating func specialMaskModeLetsLowerPrioritiesThroughAMaskedLevel() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.pulse(4)
        _ = pic.acknowledge()
        pic.pulse(6)
        #expect(!pic.interruptRequested)
        pic.write(port: masterData, value: 0x10)  // mask the level in service
        #expect(!pic.interruptRequested)
        pic.write(port: masterCommand, value: 0x68)  // OCW3: set special mask mode
        #expect(pic.master.specialMaskMode)
        #expect(pic.acknowledge() == 0x36)
        #expect(pic.master.inService == 0x50)
        pic.write(port: masterCommand, value: 0x48)  // reset special mask mode
        #expect(!pic.master.specialMaskMode)
    }

    // MARK: Auto-EOI

    @Test mutating func autoEOILeavesNothingInService() {
        pic.initializeAsLinux(masterMask: 0x00, autoEOI: true)
        #expect(pic.master.autoEOI && !pic.slave.autoEOI)
        pic.pulse(4)
        pic.pulse(5)
        #expect(pic.acknowledge() == 0x34)
        #expect(pic.master.inService == 0)
        // No EOI needed before the next one.
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x35)
        #expect(!pic.interruptRequested)
    }

    @Test mutating func rotateInAutoEOIModeMakesTheLevelTheLowest() {
        pic.initializeAsLinux(masterMask: 0x00, autoEOI: true)
        pic.write(port: masterCommand, value: 0x80)  // set rotate in AEOI mode
        pic.pulse(0)
        #expect(pic.acknowledge() == 0x30)
        #expect(pic.master.highestPriorityLevel == 1)
        pic.pulse(0)
        pic.pulse(1)
        #expect(pic.acknowledge() == 0x31)
        pic.write(port: masterCommand, value: 0x00)  // clear it
        #expect(!pic.master.rotateOnAutoEOI)
        #expect(pic.acknowledge() == 0x30)
        #expect(pic.master.highestPriorityLevel == 2)
    }

    // MARK: The cascade

    @Test mutating func slaveInterruptsArriveThroughIRQ2AndSetBothISRs() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0xEE)  // IRQ 2, 8 and 12 unmasked
        pic.pulse(12)
        #expect(pic.slave.interruptRequested)
        #expect(pic.master.interruptRequests == 0x04)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x3C)
        #expect(pic.master.inService == 0x04)
        #expect(pic.slave.inService == 0x10)
        #expect(pic.master.interruptRequests == 0)
        // IRQ 8 outranks 12 on the slave, but the master's IR2 is in service.
        pic.pulse(8)
        #expect(pic.slave.interruptRequested)
        #expect(!pic.interruptRequested)
        // Linux's mask_and_ack_8259A for a slave IRQ: specific EOI on both chips.
        pic.write(port: slaveCommand, value: 0x64)
        pic.write(port: masterCommand, value: 0x62)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x38)
        #expect(pic.inService == 0x0104)
        pic.write(port: slaveCommand, value: 0x20)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.inService == 0)
        #expect(!pic.interruptRequested)
    }

    @Test mutating func slaveIRQsRankBetweenIRQ1AndIRQ3() {
        pic.initializeAsLinux(masterMask: 0x00, slaveMask: 0x00)
        pic.pulse(3)
        pic.pulse(15)
        pic.pulse(1)
        #expect(pic.acknowledge() == 0x31)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.acknowledge() == 0x3F)  // a real IRQ 15
        #expect(pic.slave.inService == 0x80)
        pic.write(port: slaveCommand, value: 0x20)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.acknowledge() == 0x33)
    }

    @Test mutating func maskingTheSlaveLineDropsItsOutput() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0xFF)
        pic.pulse(9)
        #expect(!pic.slave.interruptRequested)
        #expect(!pic.interruptRequested)
        pic.write(port: slaveData, value: 0xFD)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x39)
    }

    @Test mutating func specialFullyNestedModeLetsAHigherSlaveRequestThrough() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0xEE)
        pic.write(port: masterCommand, value: 0x11)
        pic.write(port: masterData, value: 0x30)
        pic.write(port: masterData, value: 0x04)
        pic.write(port: masterData, value: 0x11)  // ICW4: SFNM, 8086
        pic.write(port: masterData, value: 0xFB)
        #expect(pic.master.specialFullyNested)
        pic.pulse(12)
        #expect(pic.acknowledge() == 0x3C)
        pic.pulse(8)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x38)
        #expect(pic.slave.inService == 0x11)
    }

    @Test mutating func aSingleModeMasterDoesNotAskTheSlave() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0x00)
        pic.write(port: masterCommand, value: 0x13)
        pic.write(port: masterData, value: 0x30)
        pic.write(port: masterData, value: 0x01)
        pic.write(port: masterData, value: 0xFB)
        pic.pulse(8)
        #expect(pic.acknowledge() == 0x32)
        #expect(pic.slave.inService == 0)
    }

    // MARK: Edge and level triggering

    @Test mutating func anEdgeRequestSurvivesTheLineFallingBeforeTheAcknowledge() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.setIRQ(5, high: true)
        pic.setIRQ(5, high: false)
        #expect(pic.master.interruptRequests == 0x20)
        #expect(pic.acknowledge() == 0x35)
        #expect(pic.master.interruptRequests == 0)
        pic.write(port: masterCommand, value: 0x20)
        // A line held high is one request, not one per EOI.
        pic.setIRQ(5, high: true)
        pic.setIRQ(5, high: true)
        #expect(pic.acknowledge() == 0x35)
        pic.write(port: masterCommand, value: 0x20)
        #expect(!pic.interruptRequested)
    }

    @Test mutating func aLevelRequestFollowsTheLine() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.write(port: elcrMaster, value: 0x20)  // IRQ 5 level-triggered
        #expect(pic.read(port: elcrMaster) == 0x20)
        pic.setIRQ(5, high: true)
        #expect(pic.master.interruptRequests == 0x20)
        pic.setIRQ(5, high: false)
        #expect(pic.master.interruptRequests == 0)
        #expect(!pic.interruptRequested)
        // Still high after the EOI: requested again.
        pic.setIRQ(5, high: true)
        #expect(pic.acknowledge() == 0x35)
        #expect(pic.master.interruptRequests == 0x20)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x35)
        pic.setIRQ(5, high: false)
        pic.write(port: masterCommand, value: 0x20)
        #expect(!pic.interruptRequested)
    }

    @Test mutating func elcrReservedBitsReadAsZero() {
        pic.write(port: elcrMaster, value: 0xFF)
        pic.write(port: elcrSlave, value: 0xFF)
        #expect(pic.read(port: elcrMaster) == 0xF8)  // IRQs 0, 1, 2 are edge only
        #expect(pic.read(port: elcrSlave) == 0xDE)  // IRQs 8 and 13 are edge only
        // ICW1 leaves the ELCR alone.
        pic.initializeAsLinux()
        #expect(pic.read(port: elcrMaster) == 0xF8)
    }

    @Test mutating func switchingToLevelDropsALatchedEdge() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.pulse(6)
        #expect(pic.master.interruptRequests == 0x40)
        pic.write(port: elcrMaster, value: 0x40)
        #expect(pic.master.interruptRequests == 0)
        pic.setIRQ(6, high: true)
        pic.write(port: elcrMaster, value: 0x00)  // back to edge: no new edge, no request
        #expect(pic.master.interruptRequests == 0)
    }

    @Test mutating func icw1LevelTriggeredModeMakesEveryInputLevel() {
        pic.write(port: masterCommand, value: 0x19)
        pic.write(port: masterData, value: 0x30)
        pic.write(port: masterData, value: 0x04)
        pic.write(port: masterData, value: 0x01)
        #expect(pic.master.levelTriggered == 0xFF)
        pic.setIRQ(1, high: true)
        pic.setIRQ(1, high: false)
        #expect(!pic.interruptRequested)
    }

    @Test mutating func levelTriggeredSlaveIRQ() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0xF7)
        pic.write(port: elcrSlave, value: 0x08)  // IRQ 11
        pic.setIRQ(11, high: true)
        #expect(pic.acknowledge() == 0x3B)
        pic.write(port: slaveCommand, value: 0x20)
        pic.write(port: masterCommand, value: 0x20)
        #expect(pic.acknowledge() == 0x3B)  // still high: again
        pic.setIRQ(11, high: false)
        pic.write(port: slaveCommand, value: 0x20)
        pic.write(port: masterCommand, value: 0x20)
        #expect(!pic.interruptRequested)
    }

    // MARK: Spurious interrupts

    @Test mutating func aVanishedMasterRequestIsSpuriousIRQ7() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.write(port: elcrMaster, value: 0x20)
        pic.setIRQ(5, high: true)
        #expect(pic.interruptRequested)  // the CPU sees INT...
        pic.setIRQ(5, high: false)  // ...and the line drops before INTA
        #expect(pic.acknowledge() == 0x37)
        #expect(pic.inService == 0)
        // Linux's check: IRQ 7 is not in service, so it is spurious.
        #expect(pic.readISR(port: masterCommand) & 0x80 == 0)
    }

    @Test mutating func aVanishedSlaveRequestIsSpuriousIRQ15WithTheCascadeInService() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0xF7)
        pic.write(port: elcrSlave, value: 0x08)
        pic.setIRQ(11, high: true)
        #expect(pic.interruptRequested)
        pic.setIRQ(11, high: false)
        // The master latched the slave's edge on IR2, so it still asks.
        #expect(pic.interruptRequested)
        #expect(pic.acknowledge() == 0x3F)
        #expect(pic.slave.inService == 0)
        #expect(pic.master.inService == 0x04)
        pic.write(port: masterCommand, value: 0x62)
        #expect(pic.inService == 0 && !pic.interruptRequested)
    }

    @Test mutating func maskingAfterTheEdgeAlsoGivesSpuriousIRQ15() {
        pic.initializeAsLinux(masterMask: 0xFB, slaveMask: 0xEF)
        pic.pulse(12)
        pic.write(port: slaveData, value: 0xFF)
        #expect(pic.acknowledge() == 0x3F)
        #expect(pic.slave.inService == 0 && pic.master.inService == 0x04)
    }

    // MARK: Status reads and poll mode

    @Test mutating func ocw3SelectsIRROrISRForTheCommandPort() {
        pic.initializeAsLinux(masterMask: 0x00, slaveMask: 0x00)
        pic.pulse(0)
        pic.pulse(4)
        pic.pulse(10)
        #expect(pic.read(port: masterCommand) == 0x15)  // IRR by default
        #expect(pic.read(port: slaveCommand) == 0x04)
        _ = pic.acknowledge()
        #expect(pic.readISR(port: masterCommand) == 0x01)
        #expect(pic.read(port: masterCommand) == 0x01)  // the selection sticks
        #expect(pic.read(port: masterData) == 0x00)  // the data port still reads the mask
        #expect(pic.readIRR(port: masterCommand) == 0x14)
        // OCW3 without RR keeps the selection.
        pic.write(port: masterCommand, value: 0x08)
        #expect(pic.read(port: masterCommand) == 0x14)
    }

    @Test mutating func pollModeReadsAndAcknowledgesTheHighestRequest() {
        pic.initializeAsLinux(masterMask: 0x00)
        pic.pulse(4)
        pic.pulse(6)
        pic.write(port: masterCommand, value: 0x0C)  // OCW3: poll
        #expect(pic.master.pollPending)
        #expect(pic.read(port: masterCommand) == 0x84)
        #expect(pic.master.inService == 0x10)
        #expect(pic.master.interruptRequests == 0x40)
        // One read per poll command: the next read is the IRR again.
        #expect(pic.read(port: masterCommand) == 0x40)
        pic.write(port: masterCommand, value: 0x0C)
        #expect(pic.read(port: masterCommand) == 0x00)  // IRQ 6 is blocked by 4
        pic.write(port: masterCommand, value: 0x20)
        pic.write(port: masterCommand, value: 0x0C)
        #expect(pic.read(port: masterData) == 0x86)  // either port
    }

    @Test mutating func pollingTheCascadeTakesTwoPolls() {
        pic.initializeAsLinux(masterMask: 0x00, slaveMask: 0x00)
        pic.pulse(13)
        pic.write(port: masterCommand, value: 0x0C)
        #expect(pic.read(port: masterCommand) == 0x82)
        pic.write(port: slaveCommand, value: 0x0C)
        #expect(pic.read(port: slaveCommand) == 0x85)
        #expect(pic.inService == 0x2004)
    }

    // MARK: Hostile input

    @Test mutating func irqNumbersWithoutAPinAreIgnored() {
        pic.initializeAsLinux(masterMask: 0x00, slaveMask: 0x00)
        for irq in [-1, 2, 16, Int.min, Int.max] { pic.setIRQ(irq, high: true) }
        #expect(pic.interruptRequests == 0)
        #expect(pic.read(port: 0x22) == 0xFF)
        pic.write(port: 0x4D2, value: 0xFF)
        #expect(pic.read(port: elcrMaster) == 0)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 0xDEAD_BEEF])
    func randomPortWritesAndLineChangesKeepTheInvariants(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var pic = DualPIC()
        if seed & 1 == 1 { pic.initializeAsLinux(masterMask: 0x00, slaveMask: 0x00) }
        let ports: [UInt16] = [masterCommand, masterData, slaveCommand, slaveData, elcrMaster, elcrSlave]
        var deliveries = 0
        for _ in 0..<5_000 {
            let before = pic
            switch random.next() % 8 {
            case 0, 1:
                let port = random.next() % 16 == 0 ? UInt16(truncatingIfNeeded: random.next()) : ports.randomElement(using: &random)!
                let value = UInt8(truncatingIfNeeded: random.next())
                pic.write(port: port, value: value)
                #expect(pic.inService & ~before.inService == 0, "a write set an ISR bit")
            case 2:
                let port = ports.randomElement(using: &random)!
                _ = pic.read(port: port)
                let polled = before.master.pollPending || before.slave.pollPending
                if !polled { #expect(pic == before, "a plain read changed state") }
            case 3, 4, 5:
                pic.setIRQ(Int(random.next() % 20) - 2, high: random.next() & 1 == 0)
                #expect(pic.inService == before.inService, "a line change touched the ISR")
            default:
                if checkAcknowledge(&pic) != nil { deliveries += 1 }
            }
            checkInvariants(pic)
        }
        // The run reached real deliveries, not only spurious ones.
        #expect(deliveries > 50)
    }

    /// Runs an INTA cycle and checks it against what the chips' state said beforehand; returns the
    /// vector if it was a real (not spurious) interrupt.
    private func checkAcknowledge(_ pic: inout DualPIC) -> UInt8? {
        let before = pic
        let vector = pic.acknowledge()
        guard let level = before.master.pendingLevel else {
            #expect(vector == before.master.spuriousVector)
            #expect(pic.inService == before.inService)
            return nil
        }
        let bit = UInt8(1) << UInt8(level)
        #expect(before.master.interruptMask & bit == 0, "a masked level was delivered")
        let masterGained = pic.master.inService & ~before.master.inService
        #expect(masterGained == (before.master.autoEOI ? 0 : bit) || before.master.inService & bit != 0 && masterGained == 0)
        if level == DualPIC.cascadeIRQ && !before.master.singleMode {
            let slaveGained = pic.slave.inService & ~before.slave.inService
            if let slaveLevel = before.slave.pendingLevel {
                #expect(vector == before.slave.vector(forLevel: slaveLevel))
                #expect(before.slave.interruptMask & (1 << UInt8(slaveLevel)) == 0)
                #expect(slaveGained & ~(1 << UInt8(slaveLevel)) == 0)
            } else {
                #expect(vector == before.slave.spuriousVector)
                #expect(slaveGained == 0)
                return nil
            }
        } else {
            #expect(vector == before.master.vector(forLevel: level))
            #expect(pic.slave == before.slave)
        }
        return vector
    }

    private func checkInvariants(_ pic: DualPIC) {
        for chip in [pic.master, pic.slave] {
            // Level inputs request exactly while their pin is high.
            #expect(chip.interruptRequests & chip.levelTriggered == chip.inputLevels & chip.levelTriggered)
            if let level = chip.pendingLevel {
                let bit = UInt8(1) << UInt8(level)
                #expect(chip.interruptRequests & ~chip.interruptMask & bit != 0)
            }
            #expect(chip.vectorBase & 7 == 0)
            #expect(chip.highestPriorityLevel < 8)
        }
        // The cascade wire.
        #expect((pic.master.inputLevels & 0x04 != 0) == pic.slave.interruptRequested)
        #expect(pic.master.edgeLevelControl & ~DualPIC.masterELCRMask == 0)
        #expect(pic.slave.edgeLevelControl & ~DualPIC.slaveELCRMask == 0)
    }
}

/// Counts calls from any thread.
private final class CallCounter: Sendable {
    let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

@Suite struct PICDeviceTests {
    private func device(_ devices: [(BusRange, any BusDevice)], at port: UInt64) -> (any BusDevice, UInt64) {
        let entry = devices.first { port >= $0.0.base && port <= $0.0.last }!
        return (entry.1, port - entry.0.base)
    }

    @Test func claimsThreeTwoPortRangesThatFormABus() throws {
        let pic = PICDevice()
        let devices = pic.busDevices
        #expect(devices.map(\.0) == [BusRange(base: 0x20, size: 2), BusRange(base: 0xA0, size: 2), BusRange(base: 0x4D0, size: 2)])
        #expect(devices.map(\.1.name) == ["pic-master", "pic-slave", "elcr"])
        let bus = try Bus(devices)
        #expect(bus.lookup(0x21)?.offset == 1)
        #expect(bus.lookup(0x22) == nil)
    }

    @Test func linuxProbeAndInitThroughTheBus() {
        let pic = PICDevice()
        let devices = pic.busDevices
        func out(_ port: UInt64, _ value: UInt64) {
            let (device, offset) = device(devices, at: port)
            _ = device.write(offset: offset, width: .byte, value: value)
        }
        func inb(_ port: UInt64) -> UInt64 {
            let (device, offset) = device(devices, at: port)
            return device.read(offset: offset, width: .byte)
        }
        out(0xA1, 0xFF)
        out(0x21, 0xFB)
        #expect(inb(0x21) == 0xFB)
        for (port, value) in [(0x20, 0x11), (0x21, 0x30), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x38), (0xA1, 0x02), (0xA1, 0x01)] {
            out(UInt64(port), UInt64(value))
        }
        #expect(pic.state.master.vectorBase == 0x30 && pic.state.slave.vectorBase == 0x38)
        // A word access reaches both ports of a block: ELCR as Linux reads it, low byte first.
        let (elcr, _) = device(devices, at: 0x4D0)
        _ = elcr.write(offset: 0, width: .word, value: 0x0820)
        #expect(elcr.read(offset: 0, width: .word) == 0x0820)
        #expect(inb(0x4D1) == 0x08)
        // Bytes past the block float.
        #expect(elcr.read(offset: 1, width: .word) == 0xFF08)
    }

    @Test func interruptLinesDriveTheControllerAndRaiseTheCallbackOnce() {
        let counter = CallCounter()
        let pic = PICDevice { counter.increment() }
        let devices = pic.busDevices
        let (master, _) = device(devices, at: 0x20)
        for (offset, value) in [(0, 0x11), (1, 0x30), (1, 0x04), (1, 0x01), (1, 0xEF)] {
            _ = master.write(offset: UInt64(offset), width: .byte, value: UInt64(value))
        }
        let serial = InterruptLine(gsi: 4, router: pic)
        serial.raise()
        #expect(pic.interruptRequested)
        #expect(counter.value == 1)
        serial.raise()  // no new edge, INT already high
        #expect(counter.value == 1)
        #expect(pic.acknowledge() == 0x34)
        #expect(!pic.interruptRequested)
        serial.lower()
        serial.raise()  // a new edge, but IRQ 4 is in service
        #expect(counter.value == 1)
        _ = master.write(offset: 0, width: .byte, value: 0x20)  // the EOI lets it through
        #expect(counter.value == 2)
        #expect(pic.acknowledge() == 0x34)
        // A masked line does not call; unmasking it does.
        InterruptLine(gsi: 3, router: pic).pulse()
        #expect(counter.value == 2)
        _ = master.write(offset: 0, width: .byte, value: 0x20)
        _ = master.write(offset: 1, width: .byte, value: 0xE7)
        #expect(counter.value == 3)
        #expect(pic.acknowledgeIfRequested() == 0x33)
        #expect(pic.acknowledgeIfRequested() == nil)  // IRQ 3 in service: INT is low
        #expect(pic.state.inService == 0x08)
        // GSIs past the ISA range are not the PIC's.
        pic.setLevel(gsi: 20, high: true)
        #expect(pic.state.interruptRequests == 0)
    }

    @Test func randomBusAccessesNeverTrap() {
        let pic = PICDevice()
        let devices = pic.busDevices.map(\.1)
        var random = SplitMix64(seed: 7)
        for _ in 0..<5_000 {
            let device = devices.randomElement(using: &random)!
            let width = AccessWidth.allCases.randomElement(using: &random)!
            // Offsets past the range too: the bus never sends them, but nothing may trap on them.
            let offset = random.next() % 4 == 0 ? random.next() : random.next() % 2
            switch random.next() % 4 {
            case 0: _ = device.read(offset: offset, width: width)
            case 1: pic.setLevel(gsi: Int(truncatingIfNeeded: random.next() % 24), high: random.next() & 1 == 0)
            case 2: _ = pic.acknowledge()
            default: _ = device.write(offset: offset, width: width, value: random.next())
            }
        }
    }

    @Test func linesFromManyThreadsAreAllDeliveredAndEnded() {
        let counter = CallCounter()
        let pic = PICDevice { counter.increment() }
        let devices = pic.busDevices
        let (master, _) = device(devices, at: 0x20)
        let (slave, _) = device(devices, at: 0xA0)
        for (device, values) in [(master, [0x11, 0x30, 0x04, 0x01, 0x00]), (slave, [0x11, 0x38, 0x02, 0x01, 0x00])] {
            for (index, value) in values.enumerated() {
                _ = device.write(offset: index == 0 ? 0 : 1, width: .byte, value: UInt64(value))
            }
        }
        let delivered = Mutex(0)
        @Sendable func serve() {
            guard let vector = pic.acknowledgeIfRequested() else { return }
            delivered.withLock { $0 += 1 }
            // Linux's EOI order for the cascade: slave, then master.
            if vector >= 0x38 { _ = slave.write(offset: 0, width: .byte, value: 0x20) }
            _ = master.write(offset: 0, width: .byte, value: 0x20)
        }
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            var random = SplitMix64(seed: UInt64(thread))
            for _ in 0..<2_000 {
                if thread == 0 {
                    serve()
                } else {
                    let irq = Int(random.next() % 15)
                    pic.setLevel(gsi: irq < 2 ? irq : irq + 1, high: true)  // skip the cascade
                    pic.setLevel(gsi: irq < 2 ? irq : irq + 1, high: false)
                }
            }
        }
        for _ in 0..<64 { serve() }
        #expect(!pic.interruptRequested)
        #expect(pic.state.inService == 0)
        #expect(pic.state.interruptRequests == 0)
        #expect(delivered.withLock { $0 } > 0)
        #expect(counter.value > 0)
    }
}
