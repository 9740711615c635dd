#ifndef CHOSTTIME_H
#define CHOSTTIME_H

#include <poll.h>
#include <stdint.h>

/// poll(2) with a timeout in nanoseconds (ppoll), for a halted vCPU that sleeps until its next
/// timer deadline: poll's milliseconds would make a 1000 Hz guest tick late. A negative timeout
/// waits without one. Swift cannot see ppoll (glibc declares it only under _GNU_SOURCE).
int chosttime_poll_nanoseconds(struct pollfd *fds, unsigned count, int64_t nanoseconds);

#endif
