import Boot
import Machine
import TestSupport
import Testing
import VMCore

/// With `watchesForKernelPanic` (vmm boot), a Linux panic line on the console turns the reset
/// that follows it (`panic=-1`) into a panic stop quoting the message.
@Suite struct KernelPanicStopTests {
    /// Prints `text` on COM1, then asks the i8042 for a reset.
    func guest(printing text: String) throws -> BootPlan {
        let code: [UInt8] = [
            0x48, 0x8D, 0x35, 0x11, 0x00, 0x00, 0x00,  // lea rsi, [rip + message]
            0x66, 0xBA, 0xF8, 0x03,  // mov dx, 0x3F8
            0xAC,  // next: lodsb
            0x84, 0xC0,  // test al, al
            0x74, 0x03,  // jz reset
            0xEE,  // out dx, al
            0xEB, 0xF8,  // jmp next
            0xB0, 0xFE,  // reset: mov al, 0xFE
            0xE6, 0x64,  // out 0x64, al
            0xF4,  // hlt
        ]
        return try flatPlan(code + Array(text.utf8) + [0])
    }

    func run(_ plan: BootPlan, backend: BackendChoice, watching: Bool) throws -> RunReport {
        var configuration = MachineConfiguration(memorySize: 16 << 20)
        configuration.console = RecordingConsole()
        configuration.timeout = 10
        configuration.backend = backend
        configuration.watchesForKernelPanic = watching
        return try Machine(plan: plan, configuration: configuration).run()
    }

    static let panicText = "[    1.5] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n[    1.6] Rebooting\r\n"

    @Test(arguments: testedBackends)
    func aPanicLineThenAResetIsAPanicStop(backend: BackendChoice) throws {
        let report = try run(guest(printing: Self.panicText), backend: backend, watching: true)
        #expect(report.stopReason == .kernelPanic(message: "Attempted to kill init! exitcode=0x00000100"))
        #expect(report.exitStatus == 119)
        #expect(report.stopReason.description == "guest kernel panic: Attempted to kill init! exitcode=0x00000100")
    }

    @Test(arguments: testedBackends)
    func withoutWatchingOrWithoutAPanicLineAResetStaysAReset(backend: BackendChoice) throws {
        #expect(try run(guest(printing: Self.panicText), backend: backend, watching: false).stopReason == .guestReset)
        let ordinary = try run(guest(printing: "reboot: Restarting system\r\n"), backend: backend, watching: true)
        #expect(ordinary.stopReason == .guestReset)
        #expect(ordinary.exitStatus == 120)
    }

    /// The message is cut at 256 bytes and non-printable bytes become "?": the guest controls it.
    @Test func aHostileMessageIsBoundedAndPrintable() throws {
        let long = "Kernel panic - not syncing: \u{1B}[31m" + String(repeating: "x", count: 1000) + "\n"
        let report = try run(guest(printing: long), backend: .software, watching: true)
        guard case .kernelPanic(let message) = report.stopReason else {
            Issue.record("stopped with \(report.stopReason)")
            return
        }
        #expect(message.hasPrefix("?[31mxxx"))
        #expect(message.count == 256 - "Kernel panic - not syncing: ".count)
    }
}
