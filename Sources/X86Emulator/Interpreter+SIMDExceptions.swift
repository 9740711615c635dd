import CSSE
import VMCore

/// MXCSR's exception flags after an SSE instruction ran on the host with every exception masked
/// (SDM vol. 1, 11.5.1-11.5.3).
extension Interpreter {
    /// Invalid operation, denormal operand, divide by zero: found before the computation.
    static let preComputationExceptions: UInt32 = 0x7

    /// Records the flags `raised` by an instruction whose result is ready. Masked exceptions just
    /// set their flags and the result is written (the caller does it after this returns). An
    /// unmasked one leaves the destination alone and raises #XM (or #UD when CR4.OSXMMEXCPT is
    /// clear); its flags are set, with only the pre-computation ones when one of those is
    /// unmasked, as then the computation never happens.
    @inline(__always)
    func commitSIMDFlags(_ raised: UInt32) throws(Interruption) {
        let masks = (mxcsr >> 7) & 0x3F
        guard raised & ~masks != 0 else {
            mxcsr |= raised
            return
        }
        // An unmasked pre-computation exception stops the computation: only those flags are set.
        // Otherwise every flag the computation raised is set. (Not modelled: with overflow or
        // underflow unmasked the CPU rounds to an unbounded exponent, so its inexact flag, and
        // underflow on an exact tiny result, can differ from the masked run's; the differential
        // tester leaves OM and UM masked for that reason.)
        let pre = raised & Self.preComputationExceptions
        mxcsr |= pre & ~masks != 0 ? pre : raised
        // One throw site: this function is on the decoded-block path (scripts/check-hot-path).
        let vector = state.pointee.cr4 & Self.cr4OSXMMEXCPT == 0 ? Fault.invalidOpcode : Self.simdException
        throw .fault(Fault(vector: vector, errorCode: nil))
    }

    /// `op destination, source` on the host; the destination changes only if no unmasked
    /// exception occurred.
    @inline(__always)
    func hostBinary(_ op: csse_binary_op, _ destination: inout csse_xmm, _ source: csse_xmm) throws(Interruption) {
        destination = try hostOperation(op, destination, source)
    }

    /// The result of `op destination, source` on the host. It goes to a slot in the state, not a
    /// local: a local whose address C code gets would make the compiler add a stack protector
    /// check (a libc call) on the hot path.
    func hostOperation(_ op: csse_binary_op, _ destination: csse_xmm, _ source: csse_xmm) throws(Interruption) -> csse_xmm {
        hostResult.pointee = destination
        try commitSIMDFlags(csse_binary(op, hostResult, source, mxcsr))
        return hostResult.pointee
    }
}
