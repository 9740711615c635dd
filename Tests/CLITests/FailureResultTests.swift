import DemoGuests
import Foundation
import Testing

/// A VMM failure's status (64, 65, 66, 69...) can equal a guest's exit value, so the result file
/// is always written, and its `stop_reason` tells the two apart.
@Suite struct FailureResultTests {
    func result(_ arguments: [String], name: String) throws -> (status: Int32, json: [String: Any]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vmm-failure-\(getpid())-\(name).json").path
        try? FileManager.default.removeItem(atPath: path)
        let run = try VMMProcess.run(arguments + ["--result", path])
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return (run.status, json)
    }

    @Test func aMissingImageWritesALoadErrorResult() throws {
        let (status, json) = try result(["run", "/nonexistent/guest.bin"], name: "missing")
        #expect(status == 66)
        #expect(json["stop_reason"] as? String == "load-error")
        #expect(json["exit_status"] as? Int == 66)
        #expect((json["stop_detail"] as? String)?.contains("cannot read image '/nonexistent/guest.bin'") == true)
    }

    @Test func aBadImageWritesALoadErrorResult() throws {
        var elf = GuestImages.longELF
        elf[18] = 183
        let image = try VMMProcess.temporaryFile(elf, name: "bad-result.elf")
        let (status, json) = try result(["run", image], name: "bad")
        #expect(status == 65)
        #expect(json["stop_reason"] as? String == "load-error")
    }

    @Test func anOptionThatCannotApplyWritesAUsageErrorResult() throws {
        let image = try VMMProcess.temporaryFile(GuestImages.longELF, name: "usage-result.elf")
        let (status, json) = try result(["run", image, "--cmdline", "x"], name: "usage")
        #expect(status == 64)
        #expect(json["stop_reason"] as? String == "usage-error")
    }

    @Test func anUnavailableKVMWritesAVMMErrorResult() throws {
        let image = try VMMProcess.temporaryFile(GuestImages.real, name: "nokvm-result.bin")
        let (status, json) = try result(["run", image, "--mode", "real", "--backend", "kvm", "--kvm-device", "/nonexistent/kvm"], name: "nokvm")
        #expect(status == 69)
        #expect(json["stop_reason"] as? String == "vmm-error")
        #expect((json["stop_detail"] as? String)?.contains("/nonexistent/kvm") == true)
    }
}
