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
