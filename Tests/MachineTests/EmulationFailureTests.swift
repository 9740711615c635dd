import Testing
import VMCore

@testable import Machine

/// A KVM emulation failure names the instruction it stopped on; on PVM the hint says which one
/// its CPL 0 emulator could not run.
@Suite struct EmulationFailureTests {
    /// What PVM reported when Linux 6.1's int3 self-test ran: flags 1 (instruction bytes), 15
    /// bytes `cc 90 90 90 90 83 7c 24 04 01 74 02 0f 0b 48`, then its own debug word 0x1000.
    static let int3Failure = StopReason.internalError(
        suberror: 1, data: [0x1, 0x7C83_9090_9090_CC0F, 0x480B_0F02_7401_0424, 0x1000, 0, 0, 0, 0])

    @Test func theInstructionBytesAreDecoded() {
        #expect(Self.int3Failure.emulationFailureBytes == [0xCC, 0x90, 0x90, 0x90, 0x90, 0x83, 0x7C, 0x24, 0x04, 0x01, 0x74, 0x02, 0x0F, 0x0B, 0x48])
        #expect(
            Self.int3Failure.description
                == "KVM internal error: emulation failure at the instruction bytes cc 90 90 90 90 83 7c 24 04 01 74 02 0f 0b 48 [0x1000 0x0 0x0 0x0 0x0]"
        )
        // Without the flag (or the words) the data stays raw.
        #expect(StopReason.internalError(suberror: 1, data: [0, 0x7C83_9090_9090_CC0F, 0]).emulationFailureBytes == nil)
        #expect(StopReason.internalError(suberror: 3, data: [1, 2, 3]).emulationFailureBytes == nil)
    }

    @Test(
        arguments: [
            ([0xCC, 0x90], "int3"),
            ([0xF3, 0x48, 0x0F, 0xB8, 0xC7], "popcnt"),  // Linux's hweight64 after alternatives, seen on PVM
            ([0x48, 0x0F, 0xB8, 0xC7], nil),  // no F3: JMPE, not POPCNT
            ([0xF0, 0x48, 0x0F, 0xC7, 0x4D, 0x20], "lock cmpxchg16b"),  // SLUB's cmpxchg_double, seen on PVM
            ([0x0F, 0xC7, 0x0E], "cmpxchg8b"),
            ([0x48, 0x0F, 0xAE, 0x2F], "xrstor"),
            ([0x48, 0x0F, 0xC7, 0xF0], "rdrand"),
            ([0x66, 0x0F, 0x6F, 0x07], "an SSE or MMX instruction"),
            ([0x0F, 0x01, 0xD1], "xsetbv"),
            ([0x48, 0x89, 0xC3], nil),  // mov rbx, rax: not one PVM fails on
        ] as [([UInt8], String?)])
    func knownInstructionsAreNamed(bytes: [UInt8], name: String?) {
        #expect(FailedInstructionName.name(of: bytes) == name)
    }
}
