// Why the host FPU: results must be bit-exact with the CPU, flags included, and the surest way
// to get what the CPU computes (every rounding and precision control, denormals, NaN payloads,
// the transcendentals' exact bits, C1's round-up indication) is to have the CPU compute it. A
// soft-float implementation of FSIN or FYL2X that matches AMD's microcode bit for bit is not a
// realistic goal. The guest's state is loaded with FRSTOR and stored with FNSAVE around the one
// instruction; the guest never controls the host FPU beyond that instruction:
//   - every exception is masked on the host (control word bits 5:0 set), so the instruction
//     always completes with the masked response; the emulator derives the guest's unmasked
//     behaviour from the flags it raised (X87Exceptions.swift);
//   - the status word goes in with its exception flags, ES and B clear, so what comes back is
//     what this instruction raised, and no pending exception is ever loaded;
//   - the host's x87 state (its control word included) is saved first and restored after;
//   - only forms the table lists run, and memory operands are a 16-byte buffer of the caller's.
// MXCSR and the SSE registers are not touched.
#include "cx87.h"

#include "cx87_run.inc"

int cx87_execute(uint8_t opcode, uint8_t modrm, cx87_image *image, uint8_t *operand, uint8_t *flags) {
    image->bytes[0] |= 0x3F;  // control word: all exceptions masked
    image->bytes[4] &= 0x00;  // status word: exception flags, SF and ES clear...
    image->bytes[5] &= 0x7F;  // ...and B
    return cx87_run(opcode, modrm, image, operand, flags);
}
