import Devices
import Foundation
import Synchronization
import Testing
import VMCore

/// The console waits for a slow reader (no byte dropped) but never past a stop request.
@Suite struct FileDescriptorConsoleTests {
    @Test func writesEverythingToAReaderThatKeepsUp() throws {
        let pipe = Pipe()
        let console = FileDescriptorConsole(fd: pipe.fileHandleForWriting.fileDescriptor)
        let bytes = [UInt8](repeating: 0x41, count: 200_000)  // three times a pipe's buffer
        let collected = CollectedBytes()
        let reader = Thread { collected.bytes.withLock { $0 = pipe.fileHandleForReading.readDataToEndOfFile() } }
        reader.start()
        let left = bytes.withUnsafeBytes { console.write($0, unlessStopped: StopSignal()) }
        try pipe.fileHandleForWriting.close()
        while !reader.isFinished { Thread.sleep(forTimeInterval: 0.005) }
        #expect(left == 0)
        #expect(collected.bytes.withLock { $0.count } == bytes.count)
    }

    @Test func givesUpOnAFullPipeWhenTheStopIsRaised() {
        let pipe = Pipe()
        let console = FileDescriptorConsole(fd: pipe.fileHandleForWriting.fileDescriptor)
        let stop = StopSignal()
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.2)
            stop.raise()
        }
        let bytes = [UInt8](repeating: 0x42, count: 1 << 20)  // far more than the pipe holds
        let left = bytes.withUnsafeBytes { console.write($0, unlessStopped: stop) }
        #expect(left > 0 && left < bytes.count)
        // After the stop, what cannot be written at once is not waited for.
        #expect(bytes.withUnsafeBytes { console.write($0, unlessStopped: stop) } == bytes.count)
        withExtendedLifetime(pipe) {}
    }

    @Test func countsWhatAClosedOutputRefused() throws {
        let pipe = Pipe()
        try pipe.fileHandleForReading.close()
        signal(SIGPIPE, SIG_IGN)
        let console = Console(FileDescriptorConsole(fd: pipe.fileHandleForWriting.fileDescriptor))
        [UInt8](repeating: 0x43, count: 10).withUnsafeBytes { console.write($0) }
        #expect(console.unwrittenBytes == 10)
    }
}

final class CollectedBytes: Sendable {
    let bytes = Mutex(Data())
}
