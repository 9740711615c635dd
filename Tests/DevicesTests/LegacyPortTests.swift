import Devices
import TestSupport
import Testing
import VMCore

@Suite struct I8042Tests {
    @Test func anIdleControllerReadsZeroOnBothPorts() {
        #expect(I8042.CommandPort().read(offset: 0, width: .byte) == 0)  // kb_wait sees bit 1 clear
        #expect(I8042.DataPort().read(offset: 0, width: .byte) == 0)
    }

    @Test func commandFEStopsWithAResetAndOthersAreIgnored() {
        let command = I8042.CommandPort()
        #expect(command.write(offset: 0, width: .byte, value: 0xFE) == .stop(.guestReset))
        #expect(command.write(offset: 0, width: .byte, value: 0x1FE) == .stop(.guestReset))  // the low byte counts
        for value: UInt64 in [0x00, 0x20, 0x60, 0xA7, 0xAA, 0xAD, 0xD4, 0xFD, 0xFF] {
            #expect(command.write(offset: 0, width: .byte, value: value) == .proceed)
        }
        #expect(I8042.DataPort().write(offset: 0, width: .byte, value: 0xFE) == .proceed)
    }

    @Test func randomWritesOnlyEverStopForFE() {
        var random = SplitMix64(seed: 0x8042)
        let command = I8042.CommandPort()
        let data = I8042.DataPort()
        for _ in 0..<5000 {
            let value = UInt64.random(in: 0...UInt64.max, using: &random)
            let width = [AccessWidth.byte, .word, .doubleWord][Int.random(in: 0..<3, using: &random)]
            #expect((command.write(offset: 0, width: width, value: value) == .stop(.guestReset)) == (value & 0xFF == 0xFE))
            #expect(data.write(offset: 0, width: width, value: value) == .proceed)
            #expect(command.read(offset: 0, width: width) == 0 && data.read(offset: 0, width: width) == 0)
        }
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
