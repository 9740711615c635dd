// CX87: runs one x87 instruction on the host FPU for the software backend (see cx87.c for why).
#ifndef CX87_H
#define CX87_H

#include <stdint.h>

/// The 108-byte FNSAVE image (32-bit protected-mode layout): control, status and tag words,
/// pointers, then ST(0)..ST(7) as 10-byte values from offset 28.
typedef struct {
    uint8_t bytes[108];
} cx87_image;

/// Runs the x87 instruction `opcode` (0xD8-0xDF) `modrm` on the state in `image` and stores the
/// state it leaves there. A memory form is given with mod = 0, rm = 7 and addresses `operand`
/// (16 bytes, read and written in place). `flags` holds the guest's RFLAGS low byte on entry (for
/// FCMOVcc) and the host's after the instruction (for FCOMI). The control word is run with every
/// exception masked and the status word's flags, ES and B cleared, so the status that comes back
/// holds exactly the exceptions this instruction raised. Returns 0, or -1 for a form the table
/// does not hold (the caller raises #UD), in which case nothing ran.
int cx87_execute(uint8_t opcode, uint8_t modrm, cx87_image *image, uint8_t *operand, uint8_t *flags);

#endif
