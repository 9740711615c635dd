import Devices
import Testing

@Suite struct UART16550Tests {
    var uart = UART16550()

    @Test mutating func transmitsWhatIsWrittenToTheDataRegister() {
        #expect(uart.write(offset: 0, value: 0x41) == 0x41)
        // Sent at once: THR and transmitter stay empty.
        #expect(uart.read(offset: 5) & 0x60 == 0x60)
    }

    @Test mutating func scratchRegisterKeepsItsValue() {
        _ = uart.write(offset: 7, value: 0xA5)
        #expect(uart.read(offset: 7) == 0xA5)
    }

    @Test mutating func interruptEnableKeepsOnlyTheFourStandardBits() {
        // Linux's autoconfig: IER 0 reads 0, 0x0F reads 0x0F, and the XScale UUE bit (0x40) does not stick.
        _ = uart.write(offset: 1, value: 0)
        #expect(uart.read(offset: 1) == 0)
        _ = uart.write(offset: 1, value: 0xFF)
        #expect(uart.read(offset: 1) == 0x0F)
    }

    @Test mutating func divisorLatchIsReachedThroughDLAB() {
        _ = uart.write(offset: 3, value: 0x83)  // DLAB, 8N1
        _ = uart.write(offset: 0, value: 0x01)
        _ = uart.write(offset: 1, value: 0x02)
        #expect(uart.read(offset: 0) == 0x01)
        #expect(uart.read(offset: 1) == 0x02)
        #expect(uart.divisorLatch == 0x0201)
        _ = uart.write(offset: 3, value: 0x03)
        #expect(uart.read(offset: 1) == 0)  // IER again, untouched by the divisor write
        #expect(uart.write(offset: 0, value: 0x42) == 0x42)
    }

    @Test mutating func loopbackWiresModemOutputsToInputs() {
        _ = uart.write(offset: 4, value: 0x1A)  // loopback | OUT2 | RTS, as Linux's probe
        #expect(uart.read(offset: 6) & 0xF0 == 0x90)  // DCD | CTS
        _ = uart.write(offset: 4, value: 0x1F)
        #expect(uart.read(offset: 6) & 0xF0 == 0xF0)
        _ = uart.write(offset: 4, value: 0x10)
        #expect(uart.read(offset: 6) & 0xF0 == 0)
    }

    @Test mutating func modemStatusDeltaBitsReportChangesOnceThenClear() {
        _ = uart.write(offset: 4, value: 0x10)  // loopback, all outputs low: inputs fall
        let first = uart.read(offset: 6)
        #expect(first & 0x0F == 0x0B)  // DDCD, DDSR, DCTS changed (RI was already low)
        #expect(uart.read(offset: 6) & 0x0F == 0)
    }

    @Test mutating func loopbackSendsBytesToTheReceiverNotTheLine() {
        _ = uart.write(offset: 4, value: 0x10)
        #expect(uart.write(offset: 0, value: 0x5A) == nil)
        #expect(uart.read(offset: 5) & 0x01 == 0x01)  // data ready
        #expect(uart.read(offset: 0) == 0x5A)
        #expect(uart.read(offset: 5) & 0x01 == 0)
    }

    @Test mutating func fifoControlShowsInTheIdentificationRegister() {
        #expect(uart.read(offset: 2) == 0x01)  // no FIFO, nothing pending
        _ = uart.write(offset: 2, value: 0x07)
        #expect(uart.read(offset: 2) == 0xC1)  // 16550A: both FIFO bits
        _ = uart.write(offset: 2, value: 0x27)  // the 16750's 64-byte bit is not honoured
        #expect(uart.read(offset: 2) >> 5 == 6)
    }

    @Test mutating func transmitterEmptyInterruptIsRaisedAndClearedByReadingIIR() {
        _ = uart.write(offset: 1, value: 0x02)
        #expect(uart.interruptPending)
        #expect(uart.read(offset: 2) == 0x02)
        #expect(!uart.interruptPending)
        #expect(uart.read(offset: 2) == 0x01)
        _ = uart.write(offset: 0, value: 0x41)  // sending re-arms it
        #expect(uart.read(offset: 2) == 0x02)
    }

    @Test mutating func receivedDataOutranksTransmitterEmpty() {
        _ = uart.write(offset: 1, value: 0x03)
        uart.receive(0x31)
        #expect(uart.read(offset: 2) == 0x04)
        #expect(uart.read(offset: 0) == 0x31)
        #expect(uart.read(offset: 2) == 0x02)
    }

    @Test mutating func overrunIsReportedOnceInLineStatus() {
        uart.receive(1)
        uart.receive(2)  // no FIFO: one byte of room
        #expect(uart.read(offset: 5) & 0x03 == 0x03)
        #expect(uart.read(offset: 5) & 0x02 == 0)
        #expect(uart.read(offset: 0) == 1)
    }

    @Test mutating func fifoHoldsSixteenBytes() {
        _ = uart.write(offset: 2, value: 0x01)
        for byte in 0..<17 { uart.receive(UInt8(byte)) }
        #expect(uart.read(offset: 5) & 0x02 == 0x02)
        for byte in 0..<16 { #expect(uart.read(offset: 0) == UInt8(byte)) }
        _ = uart.write(offset: 2, value: 0x03)  // clearing an empty FIFO is harmless
        #expect(uart.read(offset: 5) & 0x01 == 0)
    }
}
