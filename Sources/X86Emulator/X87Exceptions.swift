/// The guest's response to the exceptions an x87 instruction raised, from the host's masked run
/// (SDM vol. 1, 8.5 and 4.9.2).
///
/// The host always runs with every exception masked (CX87), so its result is the masked
/// response. Where the guest masks what was raised, that is the answer. Where it does not:
/// - invalid operation (stack faults included), denormal operand and zero divide are detected
///   before the operation: the CPU leaves the registers, the tags and TOP as they were and only
///   records the flags, ES/B and the condition codes (a compare's unordered; C1 tells a stack
///   overflow from an underflow, and is clear otherwise);
/// - overflow and underflow with a memory destination: nothing is stored and the stack is not
///   popped, as above;
/// - precision: the result is delivered as when masked; only ES/B differ.
/// Unmasked overflow and underflow with a register destination deliver a rebiased result, which
/// X87Rebias computes for the basic arithmetic and FSCALE. Known gap: for the transcendentals,
/// FPREM and FXTRACT the register gets the masked result instead (the flags, ES/B and the #MF are
/// right), and their exact tiny results, which signal underflow only when it is unmasked, go
/// unnoticed. Operating systems leave both masked.
struct X87ExceptionResponse {
    /// The state after the instruction.
    var state: X87State
    /// Whether the instruction's result is delivered (registers, memory, EFLAGS for FCOMI).
    var delivered: Bool

    init(before: X87State, host: X87State, storesToMemory: Bool, isCompare: Bool, clearsC2: Bool, setsEFLAGS: Bool, loadsReal: Bool) {
        let raised = host.status & (X87State.exceptionFlags | X87State.stackFault)
        let unmasked = raised & X87State.exceptionFlags & ~before.control
        // A denormal operand of FLD m32/m64 does not stop the load (measured on this CPU).
        let suppressing: UInt16 =
            X87State.invalid | (loadsReal ? 0 : X87State.denormal) | X87State.zeroDivide
            | (storesToMemory ? X87State.overflow | X87State.underflow : 0)
        if unmasked & suppressing != 0 {
            var state = before
            // The flags detected before the operation; a suppressed store's overflow or underflow
            // is reported without its precision exception.
            let recorded =
                unmasked & (X87State.invalid | X87State.denormal | X87State.zeroDivide) != 0
                ? raised & (X87State.invalid | X87State.denormal | X87State.zeroDivide | X87State.stackFault)
                : raised & ~X87State.precision
            state.status |= recorded
            // A compare reports its condition codes (unordered) as when masked; other
            // instructions keep C0, C2 and C3, but those that report through C2 (FPREM,
            // FPREM1, FPTAN, FSIN, FCOS, FSINCOS) clear it. C1 is set only by a stack overflow.
            let kept = before.status & (X87State.c0 | X87State.c3 | (clearsC2 ? 0 : X87State.c2))
            var codes = isCompare ? host.status & (X87State.c0 | X87State.c2 | X87State.c3) : kept
            var c1 = raised & X87State.stackFault != 0 ? host.status & X87State.c1 : 0
            if setsEFLAGS {  // FCOMI and FUCOMI report in EFLAGS and keep every condition code
                codes = kept
                if raised & X87State.stackFault == 0 { c1 = before.status & X87State.c1 }
            }
            state.status = state.status & ~(X87State.c0 | X87State.c1 | X87State.c2 | X87State.c3) | codes | c1
            state.updateErrorSummary()
            self.state = state
            delivered = false
        } else {
            var state = host
            state.status = host.status & ~(X87State.errorSummary | X87State.busy) | before.status & (X87State.exceptionFlags | X87State.stackFault)
            state.updateErrorSummary()
            self.state = state
            delivered = true
        }
    }
}
