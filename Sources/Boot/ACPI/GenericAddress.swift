/// A Generic Address Structure (ACPI 6.5 section 5.2.3.2): where a register lives, 12 bytes.
struct GenericAddress: Equatable {
    enum AddressSpace: UInt8 {
        case systemMemory = 0
        case systemIO = 1
    }
    /// How the register must be accessed (0 = undefined, for legacy reasons).
    enum AccessSize: UInt8 {
        case undefined = 0
        case byte = 1
        case word = 2
        case doubleWord = 3
        case quadWord = 4
    }

    var space: AddressSpace
    var bitWidth: UInt8
    var bitOffset: UInt8 = 0
    var accessSize: AccessSize
    var address: UInt64

    /// An 8-bit register at I/O port `port`, accessed as a byte.
    static func ioPortByte(_ port: UInt16) -> GenericAddress {
        GenericAddress(space: .systemIO, bitWidth: 8, accessSize: .byte, address: UInt64(port))
    }

    /// The null address: no such register.
    static let none = GenericAddress(space: .systemMemory, bitWidth: 0, accessSize: .undefined, address: 0)

    var bytes: [UInt8] {
        [space.rawValue, bitWidth, bitOffset, accessSize.rawValue] + address.littleEndianBytes
    }
}
