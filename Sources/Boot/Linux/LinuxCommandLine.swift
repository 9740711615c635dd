/// The kernel command line `vmm boot` starts from (README, "Booting Linux", says why each
/// option is there).
public enum LinuxCommandLine {
    public static let defaultOptions = [
        // The console on the platform's 16550A, the only UART (no probing of three more).
        "console=ttyS0", "8250.nr_uarts=1",
        // A panic reboots at once, and a reboot reaches the VMM through the FADT's reset register
        // (the kernel falls back to the i8042 reset), so that neither leaves a guest hanging.
        "panic=-1", "reboot=acpi",
        // No keyboard or mouse is behind the i8042 (it is there for the reset line): no ports,
        // and no PNP probe.
        "i8042.nopnp", "i8042.nokbd", "i8042.noaux",
        // The crypto self-tests cost a quarter of the initcalls' time under emulation.
        "cryptomgr.notests",
    ]
    public static let defaultCommandLine = defaultOptions.joined(separator: " ")

    /// The base line and the user's additions, one space between.
    public static func join(_ base: String, _ addition: String?) -> String {
        [base, addition ?? ""].filter { !$0.isEmpty }.joined(separator: " ")
    }
}
