import CX87

/// The x87 state in the FNSAVE image the host FPU loads and stores (CX87): control, status and
/// tag words, ST(0)..ST(7) from offset 28. The pointer fields stay zero: the host's would name
/// the emulator's own code, so the emulator keeps the guest's itself.
extension X87State {
    var hostImage: cx87_image {
        var image = cx87_image()
        withUnsafeMutableBytes(of: &image.bytes) { bytes in
            bytes.storeBytes(of: control, toByteOffset: 0, as: UInt16.self)
            bytes.storeBytes(of: status, toByteOffset: 4, as: UInt16.self)
            bytes.storeBytes(of: tag, toByteOffset: 8, as: UInt16.self)
            for i in 0..<8 { Self.storeRegister(stack(i), bytes, at: 28 + 10 * i) }
        }
        return image
    }

    /// The state `image` holds, with this state's control word (CX87 masks the image's) and
    /// pointers (the caller sets them for the instruction that ran).
    func applying(hostImage image: cx87_image) -> X87State {
        var result = self
        withUnsafeBytes(of: image.bytes) { bytes in
            result.status = bytes.load(fromByteOffset: 4, as: UInt16.self)
            result.tag = bytes.load(fromByteOffset: 8, as: UInt16.self)
            let top = result.top
            for i in 0..<8 { result.setRegister(physical: top + i, Self.loadRegister(bytes, at: 28 + 10 * i)) }
        }
        return result
    }

    /// The 10-byte memory form of an extended-precision value: significand, then sign and exponent.
    static func storeRegister(_ value: X87Register, _ bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes.storeBytes(of: value.significand.littleEndian, toByteOffset: offset, as: UInt64.self)
        bytes.storeBytes(of: value.signExponent.littleEndian, toByteOffset: offset + 8, as: UInt16.self)
    }

    static func loadRegister(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> X87Register {
        X87Register(
            significand: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
            signExponent: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt16.self)))
    }
}

/// A memory operand for the host FPU: the bytes the instruction reads or writes at [rdi].
struct X87OperandBuffer {
    var bytes: (UInt64, UInt64) = (0, 0)
}

/// Runs one x87 instruction form on the host FPU (CX87) with every exception masked; nil when
/// the form does not exist (#UD). `flags` carries RFLAGS' low byte in (FCMOVcc) and out (FCOMI).
func runOnHostFPU(opcode: UInt8, modrm: UInt8, _ x87: X87State, _ operand: inout X87OperandBuffer, flags: inout UInt8) -> X87State? {
    var image = x87.hostImage
    let result = withUnsafeMutableBytes(of: &operand.bytes) { buffer in
        cx87_execute(opcode, modrm, &image, buffer.baseAddress!.assumingMemoryBound(to: UInt8.self), &flags)
    }
    return result == 0 ? x87.applying(hostImage: image) : nil
}
