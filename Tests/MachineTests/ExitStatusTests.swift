import Machine
import Testing
import VMCore

@Suite struct ExitStatusTests {
    @Test(arguments: [
        (StopReason.halted(interruptsEnabled: false), Int32(0)),
        (.halted(interruptsEnabled: true), 0),
        (.debugExit(value: 0x21), 67),
        (.exitHypercall(status: 0x1_2A), 42),
        (.guestReset, 120),
        (.powerOff, 0),
        (.shutdown, 121),
        (.entryFailed(hardwareReason: 0x8000_0021), 122),
        (.internalError(suberror: 1, data: [0x10]), 123),
        (.timedOut, 124),
        (.unhandledExit(reason: 4, detail: "KVM_EXIT_DEBUG"), 125),
        (.interrupted, 130),
    ])
    func everyStopHasItsDocumentedStatus(reason: StopReason, status: Int32) {
        #expect(ExitStatus.forStop(reason) == status)
    }

    @Test func failureStopsNameTheirCause() {
        #expect(StopReason.internalError(suberror: 1, data: [0xAB]).description == "KVM internal error: emulation failure [0xab]")
        #expect(StopReason.entryFailed(hardwareReason: 0x21).description.contains("hardware entry failure reason 0x21"))
        #expect(StopReason.unhandledExit(reason: 4, detail: "KVM_EXIT_DEBUG").description == "unhandled exit 4: KVM_EXIT_DEBUG")
        #expect(!StopReason.shutdown.isNormal && StopReason.debugExit(value: 1).isNormal)
        #expect(StopReason.guestReset.isNormal && StopReason.guestReset.kind == "reset")
        #expect(StopReason.guestReset.description == "guest requested a reset")
        #expect(StopReason.powerOff.isNormal && StopReason.powerOff.kind == "poweroff")
        #expect(StopReason.powerOff.description == "guest powered off (ACPI S5)")
    }

    @Test func jsonStringsAreEscaped() {
        #expect(JSON.string("a\"b\\c\n\u{1}").serialized() == #""a\"b\\c\n\u0001""#)
        #expect(
            JSON.object([("k", .array([.unsigned(1), .null, .bool(true)]))]).serialized() == "{\n  \"k\": [\n    1,\n    null,\n    true\n  ]\n}")
    }
}
