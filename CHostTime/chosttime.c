#define _GNU_SOURCE
#include "chosttime.h"

#include <time.h>

int chosttime_poll_nanoseconds(struct pollfd *fds, unsigned count, int64_t nanoseconds) {
    if (nanoseconds < 0) return ppoll(fds, count, NULL, NULL);
    struct timespec timeout = {.tv_sec = nanoseconds / 1000000000, .tv_nsec = nanoseconds % 1000000000};
    return ppoll(fds, count, &timeout, NULL);
}
