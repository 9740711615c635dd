#include "cx87_oracle.h"

#include "../../CX87/cx87_run.inc"

int cx87_oracle_execute(uint8_t opcode, uint8_t modrm, cx87_image *image, uint8_t *operand, uint8_t *flags) {
    image->bytes[4] &= (image->bytes[0] & 0x3F) | 0x40;  // flags the control word masks, and SF
    image->bytes[5] &= 0x7F;
    return cx87_run(opcode, modrm, image, operand, flags);
}
