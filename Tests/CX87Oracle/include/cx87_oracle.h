// The tests' oracle: one x87 instruction run natively with the guest's own control word.
#ifndef CX87_ORACLE_H
#define CX87_ORACLE_H

#include "../../../CX87/include/cx87.h"

/// As cx87_execute, but with the control word as given, unmasked exceptions included: the CPU's
/// own response to an unmasked exception, for checking the emulator's derivation of it. The
/// status word keeps only the flags the control word masks, and loses ES and B (a pending
/// exception would fault on the host).
int cx87_oracle_execute(uint8_t opcode, uint8_t modrm, cx87_image *image, uint8_t *operand, uint8_t *flags);

#endif
