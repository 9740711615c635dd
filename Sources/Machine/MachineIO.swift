import Devices
import Logging
import VMCore

/// The machine's side of `GuestIO`: dispatches accesses to the port and MMIO buses, counts them
/// per device, and serves hypercalls. Used by the one vCPU thread only.
package final class MachineIO: GuestIO {
    let ports: Bus
    let mmio: Bus
    let hypercallPort: HypercallPort
    let hypercalls: HypercallHandler
    let logger: Logger
    private(set) var counters: AccessCounters

    package init(ports: Bus, mmio: Bus, hypercallPort: HypercallPort, hypercalls: HypercallHandler, logger: Logger) {
        self.ports = ports
        self.mmio = mmio
        self.hypercallPort = hypercallPort
        self.hypercalls = hypercalls
        self.logger = logger
        counters = AccessCounters(portDevices: ports.entries.count, mmioDevices: mmio.entries.count)
    }

    package func portRead(_ port: IOPort, width: AccessWidth) -> UInt32 {
        guard let (entry, offset, index) = ports.lookup(UInt64(port.rawValue), length: UInt64(width.byteCount)) else {
            if counters.countUnclaimedPort(port) { logger.debug("unclaimed port read at \(port) (\(width.byteCount) bytes) reads as all ones") }
            return UInt32(truncatingIfNeeded: width.mask)  // an empty ISA bus floats high
        }
        counters.portAccesses[index] += 1
        return UInt32(truncatingIfNeeded: entry.device.read(offset: offset, width: width) & width.mask)
    }

    package func portWrite(_ port: IOPort, width: AccessWidth, value: UInt32) -> IOAction {
        guard let (entry, offset, index) = ports.lookup(UInt64(port.rawValue), length: UInt64(width.byteCount)) else {
            if counters.countUnclaimedPort(port) { logger.debug("unclaimed port write of \(hex(value)) to \(port) dropped") }
            return .proceed
        }
        counters.portAccesses[index] += 1
        return entry.device.write(offset: offset, width: width, value: UInt64(value) & width.mask)
    }

    package func mmioRead(_ address: GuestAddress, width: AccessWidth) -> UInt64 {
        guard let (entry, offset, index) = mmio.lookup(address.rawValue, length: UInt64(width.byteCount)) else {
            if counters.countUnclaimedMMIO(address) { logger.debug("unclaimed MMIO read at \(address) reads as zero") }
            return 0
        }
        counters.mmioAccesses[index] += 1
        return entry.device.read(offset: offset, width: width) & width.mask
    }

    package func mmioWrite(_ address: GuestAddress, width: AccessWidth, value: UInt64) -> IOAction {
        guard let (entry, offset, index) = mmio.lookup(address.rawValue, length: UInt64(width.byteCount)) else {
            if counters.countUnclaimedMMIO(address) { logger.debug("unclaimed MMIO write of \(hex(value)) to \(address) dropped") }
            return .proceed
        }
        counters.mmioAccesses[index] += 1
        return entry.device.write(offset: offset, width: width, value: value & width.mask)
    }

    package func hypercall(_ registers: inout Registers, longMode: Bool) -> IOAction {
        let number = hypercallPort.pendingNumber
        counters.countHypercall(number)
        return hypercalls.serve(number: number, registers: &registers, longMode: longMode)
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

    /// Counts a miss; returns true the first time this port misses (so it is logged once).
    mutating func countUnclaimedPort(_ port: IOPort) -> Bool {
        unclaimedPortTotal += 1
        return Self.count(port.rawValue, in: &unclaimedPorts)
    }

    /// Counts a miss; returns true the first time this address misses.
    mutating func countUnclaimedMMIO(_ address: GuestAddress) -> Bool {
        unclaimedMMIOTotal += 1
        return Self.count(address.rawValue, in: &unclaimedMMIO)
    }

    private static func count<Key: Hashable>(_ key: Key, in table: inout [Key: UInt64]) -> Bool {
        if let seen = table[key] {
            table[key] = seen + 1
            return false
        }
        guard table.count < maximumTrackedMisses else { return false }
        table[key] = 1
        return true
    }

    mutating func countHypercall(_ number: UInt32) {
        _ = Self.count(number, in: &hypercalls)
    }
}
