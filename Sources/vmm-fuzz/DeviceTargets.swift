import Devices
import Logging
import Machine
import Synchronization
import VMCore

/// Console output, kept for the properties.
private final class CapturingConsole: ConsoleSink {
    let bytes = Mutex<[UInt8]>([])
    func write(_ bytes: UnsafeRawBufferPointer, unlessStopped stop: StopSignal) -> Int {
        self.bytes.withLock { $0.append(contentsOf: bytes) }
        return 0
    }
    func take() -> [UInt8] {
        bytes.withLock { bytes in
            defer { bytes.removeAll() }; return bytes
        }
    }
}

/// `devices`: a sequence of accesses decoded from the input (port or MMIO, read or write, an
/// address near a device, a width, a value; hypercalls with random arguments) through the
/// machine's own GuestIO and port bus: every device stays sane, whatever the order. Checked:
/// reads fit their width; unclaimed ports read all ones; each UART access, split by the bus
/// into byte accesses, does what the same bytes do to a separate `UART16550` model (the
/// transmitted bytes reach the console); IIR and LSR are well formed; debug-exit writes stop
/// with the value; the POST port reads back the last code; hypercalls return what the ABI says.
func fuzzDevices(_ data: UnsafeRawBufferPointer) {
    var input = FuzzInput(data)
    let memory: GuestMemory
    do { memory = try GuestMemory(ramSize: 64 << 10) } catch { fatalError("\(error)") }
    let postCodes = PostCodePort(), hypercallPort = HypercallPort(), console = CapturingConsole()
    let devicesConsole = Console(console)
    let ports = try! Machine.portBus(postCodes: postCodes, hypercallPort: hypercallPort, console: devicesConsole)
    let io = MachineIO(
        ports: ports, mmio: try! Bus([]), hypercallPort: hypercallPort, hypercalls: HypercallHandler(memory: memory, console: devicesConsole),
        logger: Logger(label: "fuzz"))
    var uart = UART16550()
    var lastCode: UInt8? = nil
    // Ports near each device (and one far from all), so that most accesses hit something and
    // accesses straddling a range's ends are common.
    let bases: [UInt16] = [SerialPort.com1, DebugExit.port, PostCodePort.port, Hypercall.port, 0x3F8 - 4, 0x1000]
    while !input.isAtEnd {
        let operation = input.byte()
        let port = bases[Int(operation >> 4) % bases.count] &+ UInt16(input.byte() % 12)
        let width = AccessWidth(byteCount: [1, 2, 4][Int(operation >> 1 & 3) % 3])!
        let value = UInt32(truncatingIfNeeded: input.integer(UInt32.self) & UInt32(truncatingIfNeeded: width.mask))
        let range = UInt64(port)..<UInt64(port) + UInt64(width.byteCount)
        let inUART = range.lowerBound >= UInt64(SerialPort.com1) && range.upperBound <= UInt64(SerialPort.com1) + SerialPort.portCount
        let claimed = ports.lookup(UInt64(port), length: UInt64(width.byteCount)) != nil
        switch operation & 1 {
        case 0:  // port read
            let read = io.portRead(IOPort(port), width: width)
            require(UInt64(read) <= width.mask, "a \(width.byteCount)-byte read of \(hex(port)) gave \(hex(read))")
            if !claimed { require(UInt64(read) == width.mask, "unclaimed port \(hex(port)) read \(hex(read))") }
            if inUART {
                var expected: UInt32 = 0
                for index in 0..<width.byteCount {
                    expected |= UInt32(uart.read(offset: range.lowerBound - UInt64(SerialPort.com1) + UInt64(index))) << (8 * index)
                }
                require(read == expected, "UART read at \(hex(port)) gave \(hex(read)), the model \(hex(expected))")
                for index in 0..<width.byteCount {
                    let register = range.lowerBound - UInt64(SerialPort.com1) + UInt64(index)
                    let byte = UInt8(truncatingIfNeeded: read >> (8 * index))
                    if register == UART16550.interruptIdentificationRegister {
                        require([0x01, 0x06, 0x04, 0x02, 0x00].contains(byte & 0x3F) && byte & 0x30 == 0, "IIR \(hex(byte))")
                    }
                    if register == UART16550.lineStatusRegister { require(byte & 0x60 == 0x60 && byte & 0x9C == 0, "LSR \(hex(byte))") }
                }
            }
            if claimed && range.lowerBound == UInt64(PostCodePort.port) {
                require(read == UInt32(lastCode ?? 0xFF), "POST port read \(hex(read)), last code \(String(describing: lastCode))")
            }
        default:  // port write
            let action = io.portWrite(IOPort(port), width: width, value: value)
            var transmitted: [UInt8] = []
            if inUART {
                for index in 0..<width.byteCount {
                    let register = range.lowerBound - UInt64(SerialPort.com1) + UInt64(index)
                    if let byte = uart.write(offset: register, value: UInt8(truncatingIfNeeded: value >> (8 * index))) { transmitted.append(byte) }
                }
            }
            let output = console.take()
            if claimed && range.lowerBound >= UInt64(Hypercall.port) && range.lowerBound < UInt64(Hypercall.port) + HypercallPort.portCount {
                require(action == .hypercall, "hypercall port write gave \(action)")
                require(hypercallPort.pendingNumber == value, "pending hypercall \(hypercallPort.pendingNumber), written \(value)")
                hypercall(io, number: value, memory: memory, console: console, input: &input)
            } else if claimed && range.lowerBound >= UInt64(DebugExit.port) && range.lowerBound < UInt64(DebugExit.port) + DebugExit.portCount {
                require(action == .stop(.debugExit(value: value)), "debug-exit write of \(hex(value)) gave \(action)")
            } else {
                require(action == .proceed, "a write to \(hex(port)) gave \(action)")
                require(output == transmitted, "the UART sent \(output), the model \(transmitted)")
                if claimed && range.lowerBound == UInt64(PostCodePort.port) { lastCode = UInt8(truncatingIfNeeded: value) }
            }
            require(postCodes.history.count <= PostCodePort.historyLength, "POST history of \(postCodes.history.count)")
        }
        if operation & 0x08 != 0 {  // an MMIO access: nothing is mapped, reads are zero, writes dropped
            let address = GuestAddress(UInt64(input.integer(UInt32.self)) << 12 | UInt64(port))
            require(io.mmioRead(address, width: width) == 0, "MMIO read of \(address)")
            require(io.mmioWrite(address, width: width, value: UInt64(value)) == .proceed, "MMIO write to \(address)")
        }
    }
    let state = ports.lookup(UInt64(SerialPort.com1))!.entry.device as! SerialPort
    require(state.state == uart, "the UART's state differs from the model's")
}

/// A hypercall with arguments from the input, and what the ABI promises for it.
private func hypercall(_ io: MachineIO, number: UInt32, memory: GuestMemory, console: CapturingConsole, input: inout FuzzInput) {
    var registers = Registers()
    let longMode = input.bool()
    let address = UInt64(input.integer(UInt32.self)) % (96 << 10)
    let length = UInt64(input.integer(UInt16.self)) | (input.bool() ? 1 << 20 : 0)
    (registers.rbx, registers.rcx) = (address, length)
    registers.rax = 0xDEAD
    let action = io.hypercall(&registers, longMode: longMode)
    let output = console.take()
    switch Hypercall(rawValue: number) {
    case nil:
        require(registers.rax == Hypercall.errorNoSuchCall && action == .proceed, "unknown hypercall \(number)")
    case .abiVersion:
        require(registers.rax == Hypercall.version && action == .proceed, "version call gave \(hex(registers.rax))")
    case .exit:
        require(action == .stop(.exitHypercall(status: address)), "exit call gave \(action)")
    case .monotonicTime:
        require(action == .proceed, "time call gave \(action)")
    case .consoleWrite:
        let fits = address + length <= memory.ramSize
        if length > Hypercall.maximumConsoleWrite {
            require(registers.rax == Hypercall.errorInvalidArgument && output.isEmpty, "console write of \(length) bytes")
        } else if fits {
            require(registers.rax == length && output == (try! memory.read(address, count: Int(length))), "console write at \(hex(address))")
        } else {
            require(registers.rax == Hypercall.errorBadAddress && output.isEmpty, "console write outside RAM at \(hex(address))")
        }
    }
}

func deviceSeeds() -> [[UInt8]] {
    // Writes "hi" to COM1, reads LSR, sets DLAB and the divisor, POST code, version hypercall.
    [[0x01, 0, 0x68, 0, 0, 0, 0x01, 0, 0x69, 0, 0, 0, 0x00, 5, 0x01, 3, 0x80, 0, 0, 0, 0x21, 0, 0x55, 0, 0, 0, 0x31, 0, 0, 0, 0, 0, 0]]
}
