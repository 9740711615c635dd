import Devices
import TestSupport
import Testing
import VMCore

@Suite struct SerialPortTests {
    @Test func sendsTransmittedBytesToTheConsole() {
        let console = RecordingConsole()
        let port = SerialPort(console: Console(console))
        for byte in "hi\n".utf8 { _ = port.write(offset: 0, width: .byte, value: UInt64(byte)) }
        #expect(console.output == "hi\n")
    }

    @Test func aWideAccessReachesConsecutiveRegisters() {
        let port = SerialPort(console: Console(RecordingConsole()))
        _ = port.write(offset: 7, width: .byte, value: 0x5A)
        // A word read at offset 6 returns MSR in the low byte and the scratch register above it.
        #expect(port.read(offset: 6, width: .word) >> 8 == 0x5A)
        // Bytes beyond the eighth register read as a floating bus.
        #expect(port.read(offset: 7, width: .word) >> 8 == 0xFF)
    }
}

@Suite struct LegacyDeviceTests {
    @Test(arguments: [(UInt32(0), Int32(1)), (0x21, 67), (0x7F, 255), (0x80, 1), (0xFFFF_FFFF, 255)])
    func debugExitStatusIsValueShiftedOneWithTheLowBitSet(value: UInt32, status: Int32) {
        #expect(DebugExit.exitStatus(for: value) == status)
        #expect(DebugExit().write(offset: 0, width: .byte, value: UInt64(value)) == .stop(.debugExit(value: value)))
    }

    @Test func postCodeHistoryKeepsTheLastSixteen() {
        let port = PostCodePort()
        #expect(port.lastCode == nil)
        for code in 0..<20 { _ = port.write(offset: 0, width: .byte, value: UInt64(code)) }
        #expect(port.history == Array(4..<20).map(UInt8.init))
        #expect(port.read(offset: 0, width: .byte) == 19)
    }
}

@Suite struct HypercallTests {
    let memory = try! GuestMemory(ramSize: 1 << 20)
    let console = RecordingConsole()
    let handler: HypercallHandler

    init() { handler = HypercallHandler(memory: memory, console: Console(console)) }

    func call(_ number: UInt32, _ rbx: UInt64 = 0, _ rcx: UInt64 = 0, longMode: Bool = true) -> (IOAction, Registers) {
        var registers = Registers()
        registers.rbx = rbx
        registers.rcx = rcx
        let action = handler.serve(number: number, registers: &registers, longMode: longMode)
        return (action, registers)
    }

    @Test func reportsTheABIVersion() {
        #expect(call(0).1.rax == 1)
        #expect(HypercallPort().write(offset: 0, width: .doubleWord, value: 0) == .hypercall)
    }

    @Test func writesAGuestBufferToTheConsole() throws {
        try memory.write(Array("hello".utf8), at: 0x2000)
        let (action, registers) = call(1, 0x2000, 5)
        #expect(action == .proceed)
        #expect(registers.rax == 5)
        #expect(console.output == "hello")
    }

    @Test func refusesBuffersOutsideGuestMemory() {
        #expect(call(1, 0xFFFF_FFFF_FFFF_FFF0, 0x20).1.rax == Hypercall.errorBadAddress)
        #expect(call(1, 1 << 20, 1).1.rax == Hypercall.errorBadAddress)
        #expect(call(1, (1 << 20) - 4, 8).1.rax == Hypercall.errorBadAddress)
        #expect(call(1, 0, Hypercall.maximumConsoleWrite + 1).1.rax == Hypercall.errorInvalidArgument)
        #expect(console.output.isEmpty)
    }

    @Test func usesOnlyTheLow32BitsOfArgumentsOutsideLongMode() throws {
        try memory.write(Array("ok".utf8), at: 0x3000)
        let (_, registers) = call(1, 0xDEAD_BEEF_0000_3000, 0x1_0000_0002, longMode: false)
        #expect(registers.rax == 2)
        #expect(console.output == "ok")
    }

    @Test func exitStopsTheRunWithTheStatus() {
        #expect(call(2, 7).0 == .stop(.exitHypercall(status: 7)))
    }

    @Test func exitReportsAll64BitsOfRBX() {
        // The process status is the low 8 bits (0 here), but the report must not say "status 0".
        let (action, _) = call(2, 0xFFFF_FFFF_0000_0000)
        #expect(action == .stop(.exitHypercall(status: 0xFFFF_FFFF_0000_0000)))
        #expect(StopReason.exitHypercall(status: 0xFFFF_FFFF_0000_0000).description.contains("0xffffffff00000000"))
    }

    @Test func monotonicTimeAdvances() {
        let first = call(3).1.rax
        let second = call(3).1.rax
        #expect(second >= first)
        #expect(first < 60_000_000_000)  // measured from the handler's start, not boot of the host
    }

    @Test func unknownCallsGetENOSYS() {
        #expect(call(99).1.rax == Hypercall.errorNoSuchCall)
    }
}
