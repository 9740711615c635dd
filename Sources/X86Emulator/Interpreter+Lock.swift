/// The LOCK prefix is valid only on the read-modify-write instructions with a memory destination
/// (SDM vol. 2, LOCK; AMD APM vol. 3, 1.2.5): anywhere else it is #UD, checked before the
/// instruction does anything. (The decoded-block path never accepts a LOCK prefix, so every
/// locked instruction comes here.)
extension Interpreter {
    func checkLockable(_ opcode: UInt8, _ i: Instruction) throws(Interruption) {
        func peek(_ index: UInt64) throws(Interruption) -> UInt8 {
            UInt8(try readSegmented(.cs, maskIP(i.cursor &+ index), size: 1, fetch: true))
        }
        let twoByte = opcode == 0x0F
        let op = twoByte ? try peek(0) : opcode
        let modrm = try peek(twoByte ? 1 : 0)
        let reg = (modrm >> 3) & 7
        guard modrm >> 6 != 3 else { throw .fault(.ud) }
        let lockable: Bool
        if twoByte {
            switch op {
            case 0xAB, 0xB3, 0xBB, 0xB0, 0xB1, 0xC0, 0xC1: lockable = true  // BTS BTR BTC CMPXCHG XADD
            case 0xBA: lockable = reg >= 5  // BTS BTR BTC imm8
            case 0xC7: lockable = reg == 1  // CMPXCHG8B/16B
            default: lockable = false
            }
        } else {
            switch op {
            case 0x00, 0x01, 0x08, 0x09, 0x10, 0x11, 0x18, 0x19, 0x20, 0x21, 0x28, 0x29, 0x30, 0x31: lockable = true  // ALU r/m, r
            case 0x80...0x83: lockable = reg != 7  // not CMP
            case 0x86, 0x87: lockable = true  // XCHG
            case 0xF6, 0xF7: lockable = reg == 2 || reg == 3  // NOT NEG
            case 0xFE, 0xFF: lockable = reg <= 1  // INC DEC
            default: lockable = false
            }
        }
        guard lockable else { throw .fault(.ud) }
    }
}
