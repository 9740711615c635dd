import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Reads an input file (image, firmware, module), refusing files larger than `limit` before
/// reading them whole.
enum ImageFile {
    static func read(_ path: String, what: String, limit: UInt64) throws(CLIFailure) -> [UInt8] {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        } catch {
            throw CLIFailure("cannot read \(what) '\(path)': \(describe(error))", status: 66)
        }
        defer { try? fd.close() }
        do {
            var status = stat()
            guard fstat(fd.rawValue, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
                throw CLIFailure("cannot read \(what) '\(path)': not a regular file", status: 66)
            }
            let size = Int64(status.st_size)
            guard UInt64(size) <= limit else {
                throw CLIFailure("\(what) '\(path)' is \(size) bytes, more than the \(limit) bytes it may have (\(limitReason(what)))", status: 65)
            }
            var bytes = [UInt8](repeating: 0, count: Int(size))
            var filled = 0
            while filled < bytes.count {
                let count = try bytes.withUnsafeMutableBytes { buffer in
                    try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                }
                guard count > 0 else { break }
                filled += count
            }
            return Array(bytes[..<filled])
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure("cannot read \(what) '\(path)': \(describe(error))", status: 66)
        }
    }

    private static func describe(_ error: any Error) -> String {
        (error as? Errno)?.description ?? "\(error)"
    }

    private static func limitReason(_ what: String) -> String {
        what == "firmware" ? "the firmware window is 256 KiB" : "it must fit in guest memory; raise --memory"
    }
}
