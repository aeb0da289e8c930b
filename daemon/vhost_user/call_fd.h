// The guest's call fds (SET_VRING_CALL), made safe to write from a worker: the front-end chose the
// fd, so pmdnet checks that it is an eventfd and makes its writes non-blocking before any worker
// notifies through it. A pipe, a socket or a saturated eventfd would otherwise raise SIGPIPE or
// block the worker, and with it every other port that worker polls.
#pragma once

#include "core/base/result.h"

namespace pmdnet::vhost_user {

// Accepts -1 (no call fd: the guest polls) and an eventfd, which it switches to O_NONBLOCK (the
// flag lives in the open file description shared with the front-end; an eventfd's reader is
// unaffected by it). Refuses anything else, naming what the fd is.
Result<void> prepare_call_fd(int fd);

// Writes one notification to a call fd that prepare_call_fd accepted. Never blocks: when the
// counter is saturated the guest has notifications pending already, and the write is dropped.
void notify_call_fd(int fd) noexcept;

}  // namespace pmdnet::vhost_user
