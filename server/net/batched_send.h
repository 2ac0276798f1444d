// DESIGN: many sockets written with one system call. A fan-out (a room message, a presence broadcast,
// a PEP notification) hands one record to each of many connections of a network thread; one send()
// each makes the system call's entry and exit, which on a virtual machine cost as much as the TCP work
// itself, the largest share of a delivery. sendBatch() submits all of them through the thread's
// io_uring in one io_uring_enter() instead (docs/PERFORMANCE.md, eighth round).
//  - Every send is non-blocking (MSG_DONTWAIT): it completes during the submission, taking what the
//    socket has room for, so the caller sees exactly what one send() each would have returned and keeps
//    its own partial-write and EAGAIN handling.
//  - One ring per network thread, made on first use. Where io_uring is unavailable (an old kernel, a
//    seccomp profile that forbids it) or turned off, the same call makes one send() per socket.
// Network threads only; no allocation per call once the ring exists.
#pragma once

#include <cstddef>
#include <span>

#include <sys/types.h>

namespace parley::net {

struct BatchedSend {
  int fd = -1;
  const char* data = nullptr;
  std::size_t size = 0;
  ssize_t result = 0;  // out: bytes taken, or -errno (-EAGAIN: the socket had no room)
};

// Sends every entry (MSG_NOSIGNAL | MSG_DONTWAIT) and fills in its result.
void sendBatch(std::span<BatchedSend> sends);

// Whether sendBatch() may use io_uring (process-wide; [server] io_uring). Default: on.
void setBatchedSendUring(bool on);
// Whether the calling thread's sendBatch() goes through io_uring (makes its ring if needed).
bool batchedSendUsesUring();
// "io_uring", "off" (turned off) or "send" (io_uring unavailable here): for the start-up log line.
const char* batchedSendMode();
// Tests: the calling thread's next io_uring submission fails with `error` (-errno) without entering
// the kernel, as io_uring_enter() may (-ENOMEM, or -EPERM from a seccomp rule made after the ring).
void failNextBatchedSubmitForTest(int error);

}  // namespace parley::net
