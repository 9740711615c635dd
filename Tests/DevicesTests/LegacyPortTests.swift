import Devices
import TestSupport
import Testing
import VMCore

@Suite struct I8042Tests {
    func ports() -> (I8042.CommandPort, I8042.DataPort) {
        let controller = I8042.Controller()
        return (I8042.CommandPort(controller), I8042.DataPort(controller))
    }

    @Test func anIdleControllerHasBothBuffersEmpty() {
        let (command, data) = ports()
        let status = command.read(offset: 0, width: .byte)
        #expect(status & 0x02 == 0)  // kb_wait: the input buffer is empty
        #expect(status & 0x01 == 0)  // i8042_flush: nothing to read
        #expect(data.read(offset: 0, width: .byte) == 0)
    }

    /// What Linux's i8042_controller_init does: read the command byte twice (it must be stable),
    /// write it back changed, read it again.
    @Test func theCommandByteReadsBackAsWritten() {
        let (command, data) = ports()
        for _ in 0..<2 {
            #expect(command.write(offset: 0, width: .byte, value: 0x20) == .proceed)
            #expect(command.read(offset: 0, width: .byte) & 0x01 == 1)
            #expect(data.read(offset: 0, width: .byte) == 0x45)
            #expect(command.read(offset: 0, width: .byte) & 0x01 == 0)
        }
        _ = command.write(offset: 0, width: .byte, value: 0x60)
        _ = data.write(offset: 0, width: .byte, value: 0x54)
        _ = command.write(offset: 0, width: .byte, value: 0xAE)  // enable the keyboard: clears bit 4
        _ = command.write(offset: 0, width: .byte, value: 0x20)
        #expect(data.read(offset: 0, width: .byte) == 0x44)
    }

    @Test func selfTestsAnswerAsAControllerWithoutAMousePort() {
        let (command, data) = ports()
        for (request, answer): (UInt64, UInt64) in [(0xAA, 0x55), (0xAB, 0x00), (0xA9, 0xFF), (0xD0, 0x03)] {
            _ = command.write(offset: 0, width: .byte, value: request)
            #expect(data.read(offset: 0, width: .byte) == answer)
        }
        _ = command.write(offset: 0, width: .byte, value: 0xD2)  // echo a byte as keyboard data
        _ = data.write(offset: 0, width: .byte, value: 0x9C)
        #expect(data.read(offset: 0, width: .byte) == 0x9C)
        // A byte for the keyboard with no command pending goes nowhere: no keyboard is attached.
        _ = data.write(offset: 0, width: .byte, value: 0xF2)
        #expect(command.read(offset: 0, width: .byte) & 0x01 == 0)
    }

    @Test func commandFEStopsWithAResetAndOthersProceed() {
        let (command, data) = ports()
        #expect(command.write(offset: 0, width: .byte, value: 0xFE) == .stop(.guestReset))
        #expect(command.write(offset: 0, width: .byte, value: 0x1FE) == .stop(.guestReset))  // the low byte counts
        for value: UInt64 in [0x00, 0x20, 0x60, 0xA7, 0xAA, 0xAD, 0xD4, 0xFD, 0xFF] {
            #expect(command.write(offset: 0, width: .byte, value: value) == .proceed)
        }
        #expect(data.write(offset: 0, width: .byte, value: 0xFE) == .proceed)
    }

    /// A guest issuing commands without reading the answers cannot grow the output buffer, and
    /// only 0xFE ever stops the run.
    @Test func randomAccessesOnlyEverStopForFEAndTheBufferStaysBounded() {
        var random = SplitMix64(seed: 0x8042)
        let (command, data) = ports()
        for _ in 0..<5000 {
            let value = UInt64.random(in: 0...UInt64.max, using: &random)
            let width = [AccessWidth.byte, .word, .doubleWord][Int.random(in: 0..<3, using: &random)]
            #expect((command.write(offset: 0, width: width, value: value) == .stop(.guestReset)) == (value & 0xFF == 0xFE))
            #expect(data.write(offset: 0, width: width, value: value) == .proceed)
            #expect(command.read(offset: 0, width: width) & 0x02 == 0)
            if Bool.random(using: &random) { _ = data.read(offset: 0, width: width) }
        }
        for _ in 0..<100 { _ = command.write(offset: 0, width: .byte, value: 0xAA) }
        var answers = 0
        while command.read(offset: 0, width: .byte) & 0x01 == 1 {
            _ = data.read(offset: 0, width: .byte)
            answers += 1
        }
        #expect(answers == 16)
    }
}

@Suite struct DebugConsoleTests {
    @Test func writtenBytesReachTheConsoleAndReadsReturnE9() {
        let recorder = RecordingConsole()
        let port = DebugConsole(console: Console(recorder))
        for byte in "boot: ok\n".utf8 { _ = port.write(offset: 0, width: .byte, value: UInt64(byte)) }
        _ = port.write(offset: 0, width: .word, value: 0x4121)  // only the low byte
        #expect(recorder.output == "boot: ok\n!")
        #expect(port.read(offset: 0, width: .byte) == 0xE9)
    }

    @Test func randomWritesNeverTrap() {
        var random = SplitMix64(seed: 0xE9)
        let recorder = RecordingConsole()
        let port = DebugConsole(console: Console(recorder))
        for _ in 0..<5000 {
            #expect(port.write(offset: 0, width: .doubleWord, value: UInt64.random(in: 0...UInt64.max, using: &random)) == .proceed)
        }
        #expect(recorder.output.utf8.count > 0)
    }
}

@Suite struct ACPIPowerControlTests {
    @Test func theSoftOffCommandPowersOffAndTheResetValueResets() {
        let power = ACPIPowerControl()
        #expect(ACPIPowerControl.softOffCommand == 0x34)
        #expect(power.write(offset: 0, width: .byte, value: 0x34) == .stop(.powerOff))
        #expect(power.write(offset: 0, width: .byte, value: 0xB7) == .stop(.powerOff))  // reserved bits 0, 1, 6, 7 do not matter
        #expect(power.write(offset: 0, width: .word, value: 0x1234) == .stop(.powerOff))  // the low byte counts
        #expect(power.write(offset: 0, width: .byte, value: 0x01) == .stop(.guestReset))
        #expect(power.write(offset: 0, width: .doubleWord, value: 0xFF01) == .stop(.guestReset))
    }

    @Test func otherWritesAreIgnoredAndTheStatusReadsZero() {
        let power = ACPIPowerControl()
        // 0x80: the WAK_STS clear Linux writes to the sleep status register before sleeping;
        // 0x14: SLP_TYP 5 without SLP_EN; 0x20-0x3C: SLP_EN with another sleep type.
        for value: UInt64 in [0x00, 0x02, 0x03, 0x80, 0x14, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x38, 0x3C, 0x81, 0xFE, 0xFF] {
            #expect(power.write(offset: 0, width: .byte, value: value) == .proceed, "\(hex(value))")
        }
        for width in AccessWidth.allCases { #expect(power.read(offset: 0, width: width) == 0, "WAK_STS clear") }
    }

    @Test func randomWritesStopOnlyForSoftOffOrReset() {
        var random = SplitMix64(seed: 0x600)
        let power = ACPIPowerControl()
        for _ in 0..<5000 {
            let value = UInt64.random(in: 0...UInt64.max, using: &random)
            let byte = UInt8(truncatingIfNeeded: value)
            let expected: IOAction = byte & 0x3C == 0x34 ? .stop(.powerOff) : (byte == 1 ? .stop(.guestReset) : .proceed)
            #expect(power.write(offset: 0, width: .byte, value: value) == expected)
        }
    }
}
