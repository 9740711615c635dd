/// A failure the CLI reports as one line, "vmm: error: ...", and a process status.
struct CLIFailure: Error {
    var message: String
    var status: Int32
    init(_ message: String, status: Int32) {
        self.message = message
        self.status = status
    }
}
