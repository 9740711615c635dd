import Foundation
import Testing

/// An abnormal stop says what the user most likely meant, and whether the stop comes from this
/// host's KVM rather than from the guest.
@Suite struct StopHintTests {
    @Test func aBootSectorRunOutsideRealModeGetsTheHint() throws {
        // ud2 with no IDT: a triple fault in long mode, as most boot sectors would give.
        let sector = [0x0F, 0x0B] + [UInt8](repeating: 0, count: 508) + [0x55, 0xAA]
        let path = try VMMProcess.temporaryFile(sector, name: "boot-sector.bin")
        let result = try VMMProcess.run(["run", path, "--backend", "software"])
        #expect(result.status == 121)
        #expect(result.stderr.contains("vmm: hint: the image looks like a boot sector (512 bytes ending in 55 AA): run it with --mode real"))
    }

    /// Protected mode: identity-maps 4 MiB with a page table, turns on 32-bit paging, halts.
    static let legacyPagingGuest: [UInt8] =
        [0xBF, 0x00, 0x10, 0x20, 0x00, 0xB8, 0x03, 0x00, 0x00, 0x00, 0xB9, 0x00, 0x04, 0x00, 0x00]  // edi, eax, ecx
        + [0xAB, 0x05, 0x00, 0x10, 0x00, 0x00, 0xE2, 0xF8]  // 1: stosd; add eax, 0x1000; loop 1b
        + [0xC7, 0x05, 0x00, 0x00, 0x20, 0x00, 0x03, 0x10, 0x20, 0x00]  // PDE 0 -> the page table
        + [0xB8, 0x00, 0x00, 0x20, 0x00, 0x0F, 0x22, 0xD8]  // mov cr3, 0x200000
        + [0x0F, 0x20, 0xC0, 0x0D, 0x00, 0x00, 0x00, 0x80, 0x0F, 0x22, 0xC0, 0xF4]  // CR0.PG; hlt

    @Test func legacyPagingRunsOnTheSoftwareBackend() throws {
        let path = try VMMProcess.temporaryFile(Self.legacyPagingGuest, name: "legacy-paging.bin")
        let result = try VMMProcess.run(["run", path, "--mode", "protected", "--backend", "software"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test(.enabled(if: kvmUsable, "/dev/kvm is not usable here"))
    func aHostLimitationOfKVMIsNamedAsSuch() throws {
        let path = try VMMProcess.temporaryFile(Self.legacyPagingGuest, name: "legacy-paging-kvm.bin")
        let result = try VMMProcess.run(["run", path, "--mode", "protected", "--backend", "kvm"], timeout: 60)
        if FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm") {
            // PVM triple-faults when 32-bit paging is enabled (machine notes).
            #expect(result.status == 121)
            #expect(result.stderr.contains("vmm: hint: this may be a limitation of this host's KVM (PVM, a software hypervisor)"))
            #expect(result.stderr.contains("32-bit paging"))
            #expect(result.stderr.contains("; run it with --backend software"))
        } else {
            #expect(result.status == 0, "hardware KVM runs legacy paging: \(result.stderr)")
        }
    }
}
