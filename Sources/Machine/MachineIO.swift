import Devices
import VMCore

/// The machine's side of `GuestIO`: dispatches accesses to the port and MMIO buses, counts them
/// per device, and serves hypercalls. Used by the one vCPU thread only.
final class MachineIO: GuestIO {
    let ports: Bus
    let mmio: Bus
    let hypercallPort: HypercallPort
    let hypercalls: HypercallHandler
    private(set) var counters: AccessCounters

    init(ports: Bus, mmio: Bus, hypercallPort: HypercallPort, hypercalls: HypercallHandler) {
        self.ports = ports
        self.mmio = mmio
        self.hypercallPort = hypercallPort
        self.hypercalls = hypercalls
        counters = AccessCounters(portDevices: ports.entries.count, mmioDevices: mmio.entries.count)
    }

    func portRead(_ port: IOPort, width: AccessWidth) -> UInt32 {
        guard let (entry, offset) = ports.lookup(UInt64(port.rawValue), length: UInt64(width.byteCount)) else {
            counters.countUnclaimedPort(port)
            return UInt32(truncatingIfNeeded: width.mask)  // an empty ISA bus floats high
        }
        counters.portAccesses[indexOf(entry, in: ports)] += 1
        return UInt32(truncatingIfNeeded: entry.device.read(offset: offset, width: width) & width.mask)
    }

    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction {
        guard let (entry, offset) = ports.lookup(UInt64(port.rawValue), length: UInt64(width.byteCount)) else {
            counters.countUnclaimedPort(port)
            return .proceed
        }
        counters.portAccesses[indexOf(entry, in: ports)] += 1
        return entry.device.write(offset: offset, width: width, value: UInt64(value) & width.mask)
    }

    func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64 {
        guard let (entry, offset) = mmio.lookup(address.rawValue, length: UInt64(width.byteCount)) else {
            counters.countUnclaimedMMIO(address)
            return 0
        }
        counters.mmioAccesses[indexOf(entry, in: mmio)] += 1
        return entry.device.read(offset: offset, width: width) & width.mask
    }

    func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction {
        guard let (entry, offset) = mmio.lookup(address.rawValue, length: UInt64(width.byteCount)) else {
            counters.countUnclaimedMMIO(address)
            return .proceed
        }
        counters.mmioAccesses[indexOf(entry, in: mmio)] += 1
        return entry.device.write(offset: offset, width: width, value: value & width.mask)
    }

    func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction {
        let number = hypercallPort.pendingNumber
        counters.countHypercall(number)
        return hypercalls.serve(number: number, registers: &registers, longMode: longMode)
    }

    /// Entries are few (a handful of devices), and identity comparison is cheap.
    private func indexOf(_ entry: Bus.Entry, in bus: Bus) -> Int {
        bus.entries.firstIndex { $0.device === entry.device } ?? 0
    }
}

/// Access counts per device, misses per address, and hypercalls per number.
struct AccessCounters {
    var portAccesses: [UInt64]
    var mmioAccesses: [UInt64]
    /// Unclaimed accesses, by port or address. Bounded: past `maximumTrackedMisses` distinct
    /// addresses only the total grows, so a guest scanning the bus cannot grow VMM memory.
    var unclaimedPorts: [UInt16: UInt64] = [:]
    var unclaimedMMIO: [UInt64: UInt64] = [:]
    var unclaimedPortTotal: UInt64 = 0
    var unclaimedMMIOTotal: UInt64 = 0
    var hypercalls: [UInt32: UInt64] = [:]
    static let maximumTrackedMisses = 64

    init(portDevices: Int, mmioDevices: Int) {
        portAccesses = Array(repeating: 0, count: portDevices)
        mmioAccesses = Array(repeating: 0, count: mmioDevices)
    }

    mutating func countUnclaimedPort(_ port: IOPort) {
        unclaimedPortTotal += 1
        if unclaimedPorts[port.rawValue] != nil || unclaimedPorts.count < Self.maximumTrackedMisses {
            unclaimedPorts[port.rawValue, default: 0] += 1
        }
    }

    mutating func countUnclaimedMMIO(_ address: GuestAddress) {
        unclaimedMMIOTotal += 1
        if unclaimedMMIO[address.rawValue] != nil || unclaimedMMIO.count < Self.maximumTrackedMisses {
            unclaimedMMIO[address.rawValue, default: 0] += 1
        }
    }

    mutating func countHypercall(_ number: UInt32) {
        if hypercalls[number] != nil || hypercalls.count < Self.maximumTrackedMisses {
            hypercalls[number, default: 0] += 1
        }
    }
}
