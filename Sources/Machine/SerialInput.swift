import Devices
import Synchronization
import VMCore

#if canImport(Glibc)
    import Glibc
#endif

/// Host input for the UART's receiver: a thread that reads a file descriptor (stdin) and feeds
/// the bytes as fast as the guest reads them. Nothing is dropped: the receive FIFO's free space
/// is the back pressure, and the thread waits (in poll, never spinning) until the guest reads.
/// It also holds the bytes until the guest has opened the receiver (`UART16550.hostInputOpen`),
/// so that Linux's driver does not drop them while it starts the port. End of input leaves the
/// line idle; the run goes on.
///
/// On a terminal, the terminal is put in raw mode for the run (Ctrl-C reaches the guest) and
/// restored by `stop()`; `Ctrl-A x` stops the run and `Ctrl-A Ctrl-A` sends one Ctrl-A, as QEMU's
/// `-serial mon:stdio` does.
final class SerialInput {
    private let shared: Shared
    private var thread: pthread_t?
    private var savedTerminal: termios?

    /// What the input thread and the UART's read callback share.
    final class Shared: Sendable {
        let fd: Int32
        let isTerminal: Bool
        let room = makeWakePipe()
        let cancel = makeWakePipe()
        let waitingForRoom = Atomic<Bool>(false)
        /// Set until the input ends: a halted guest may still be woken by a byte.
        let attached = Atomic<Bool>(true)

        init(fd: Int32) {
            self.fd = fd
            isTerminal = isatty(fd) == 1
        }

        deinit {
            for fd in [room.read, room.write, cancel.read, cancel.write] where fd >= 0 { close(fd) }
        }

        /// The UART has more room for input: if the thread waits for room, wake it.
        func receiverHasRoom() {
            guard waitingForRoom.load(ordering: .sequentiallyConsistent) else { return }
            var one: UInt8 = 1
            _ = write(room.write, &one, 1)
        }
    }

    init(fd: Int32 = STDIN_FILENO) { shared = Shared(fd: fd) }

    /// The callback for the UART: called when a guest access gave the input more room.
    var receiverHasRoom: @Sendable () -> Void { { [shared] in shared.receiverHasRoom() } }

    /// Whether input may still arrive (the input has not ended), for the platform's idle wait.
    var attachedProbe: @Sendable () -> Bool { { [shared] in shared.attached.load(ordering: .acquiring) } }

    var isTerminal: Bool { shared.isTerminal }

    /// Starts feeding `port` (its IRQ line wakes a halted vCPU); Ctrl-A x stops through `kicker`.
    func start(feeding port: SerialPort, kicker: CPUKicker) {
        if shared.isTerminal {
            var terminal = termios()
            if tcgetattr(shared.fd, &terminal) == 0 {
                savedTerminal = terminal
                var raw = terminal
                cfmakeraw(&raw)
                raw.c_oflag = terminal.c_oflag  // keep output processing: the guest's "\n" still returns the carriage
                _ = tcsetattr(shared.fd, TCSANOW, &raw)
            }
        }
        let pump = InputPump(shared: shared, port: port, kicker: kicker)
        thread = spawnThread { pump.run() }
    }

    /// Stops the thread and restores the terminal.
    func stop() {
        var one: UInt8 = 1
        _ = write(shared.cancel.write, &one, 1)
        if let thread { pthread_join(thread, nil) }
        thread = nil
        if var terminal = savedTerminal { _ = tcsetattr(shared.fd, TCSANOW, &terminal) }
        savedTerminal = nil
    }
}

/// The input thread's loop.
private struct InputPump: Sendable {
    let shared: SerialInput.Shared
    let port: SerialPort
    let kicker: CPUKicker
    static let controlA: UInt8 = 0x01

    func run() {
        var pending: [UInt8] = []
        var afterControlA = false
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer { shared.attached.store(false, ordering: .releasing) }
        while true {
            if pending.isEmpty {
                guard wait(for: shared.fd) else { return }
                let count = read(shared.fd, &buffer, buffer.count)
                if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                guard count > 0 else { return }  // end of input (or an error): the line goes idle
                for byte in buffer[..<count] {
                    guard shared.isTerminal else {
                        pending.append(byte)
                        continue
                    }
                    if afterControlA {
                        afterControlA = false
                        if byte == UInt8(ascii: "x") {
                            kicker.requestStop(.stoppedByUser)
                            return
                        }
                        pending.append(byte)  // Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A c sends c
                    } else if byte == Self.controlA {
                        afterControlA = true
                    } else {
                        pending.append(byte)
                    }
                }
            } else {
                shared.waitingForRoom.store(true, ordering: .sequentiallyConsistent)
                let taken = port.receive(pending[...])
                if taken > 0 {
                    shared.waitingForRoom.store(false, ordering: .relaxed)
                    pending.removeFirst(taken)
                    continue
                }
                guard wait(for: shared.room.read) else { return }
                shared.waitingForRoom.store(false, ordering: .relaxed)
                var drain = [UInt8](repeating: 0, count: 64)
                _ = read(shared.room.read, &drain, drain.count)
            }
        }
    }

    /// Waits until `fd` is readable; false when the pump is cancelled.
    private func wait(for fd: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: shared.cancel.read, events: Int16(POLLIN), revents: 0)]
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if fds[1].revents != 0 || ready < 0 { return false }
            return true
        }
    }
}
