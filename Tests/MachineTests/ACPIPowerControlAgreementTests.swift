import Boot
import Devices
import Testing
import VMCore

/// The tables (Boot) and the power-control device (Devices) agree on the port and its values:
/// what the FADT and DSDT tell Linux to write is what the device acts on.
@Suite struct ACPIPowerControlAgreementTests {
    @Test func theTablesPointLinuxAtTheDevicesPortAndValues() throws {
        let config = ACPIConfiguration(cpuCount: 1, powerControlPort: ACPIPowerControl.port, resetValue: ACPIPowerControl.resetValue)
        let set = try ACPITables.build(config, at: ACPITables.conventionalBase)
        let fadtPlacement = try #require(set.tables.first { $0.signature == "FACP" })
        let fadt = Array(set.bytes[Int(fadtPlacement.address - set.rsdpAddress)...].prefix(fadtPlacement.length))
        let port = { (offset: Int) in UInt16(fadt[offset + 4]) | UInt16(fadt[offset + 5]) << 8 }
        #expect(port(116) == ACPIPowerControl.port && port(244) == ACPIPowerControl.port && port(256) == ACPIPowerControl.port)
        #expect(ACPITables.softOffSleepType == ACPIPowerControl.softOffSleepType)

        // What Linux writes: RESET_VALUE to RESET_REG; SLP_TYPa from \_S5 with SLP_EN to SLEEP_CONTROL_REG.
        let device = ACPIPowerControl()
        #expect(device.write(offset: 0, width: .byte, value: UInt64(fadt[128])) == .stop(.guestReset))
        let sleepControl = UInt64(ACPITables.softOffSleepType) << 2 | 1 << 5
        #expect(device.write(offset: 0, width: .byte, value: sleepControl) == .stop(.powerOff))
    }
}
