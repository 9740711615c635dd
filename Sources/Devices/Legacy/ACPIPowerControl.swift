import VMCore

/// The one I/O port that a hardware-reduced ACPI platform's FADT names as its reset register,
/// sleep control register and sleep status register (linux-boot-notes 2.5): how Linux's poweroff
/// and its default reboot reach the VMM.
///
/// Port 0x600, as Cloud Hypervisor uses; nothing else of ours is there. Writes (the low byte
/// counts; the registers are 8 bits):
/// * SLP_EN (bit 5) with SLP_TYP (bits 4-2) = 5, the DSDT's `\_S5`: stop with `.powerOff`. Linux
///   writes 0x34 (`acpi_hw_extended_sleep`).
/// * The FADT's RESET_VALUE, 1: stop with `.guestReset`.
/// * Anything else is accepted and ignored: the WAK_STS clear (0x80) Linux writes to the sleep
///   status register first, and sleep states the DSDT does not offer.
///
/// Reads return 0: WAK_STS clear, since nothing ever sleeps and wakes here.
public final class ACPIPowerControl: BusDevice {
    public static let port: UInt16 = 0x600
    public static let portCount: UInt64 = 1
    /// RESET_VALUE in the FADT.
    public static let resetValue: UInt8 = 1
    /// SLP_TYP for S5, as the DSDT's `\_S5` package gives it (Boot's `ACPITables.softOffSleepType`).
    public static let softOffSleepType: UInt8 = 5
    /// SLP_EN: start the transition to the state in SLP_TYP.
    public static let sleepEnable: UInt8 = 1 << 5
    /// What Linux writes to power off: 0x34.
    public static let softOffCommand = softOffSleepType << 2 | sleepEnable

    public let name = "acpi-power"
    public init() {}

    public func read(offset: UInt64, width: AccessWidth) -> UInt64 { 0 }

    public func write(offset: UInt64, width: AccessWidth, value: UInt64) -> IOAction {
        let byte = UInt8(truncatingIfNeeded: value)
        if byte & Self.sleepEnable != 0 && byte >> 2 & 0x7 == Self.softOffSleepType { return .stop(.powerOff) }
        if byte == Self.resetValue { return .stop(.guestReset) }
        return .proceed
    }
}
