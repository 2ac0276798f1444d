#include "server/net/batched_send.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include <liburing.h>
#include <sys/socket.h>

#include "server/log/log.h"

namespace parley::net {

namespace {

constexpr unsigned kRingEntries = 256;  // a larger batch is submitted in parts of this size

std::atomic<bool> gUringAllowed{true};

// A ring that can send: 0, or -errno (-ENOSYS: the kernel has io_uring but not IORING_OP_SEND, which
// came with Linux 5.6, so every send would fail).
int initSendRing(io_uring& ring, unsigned entries) {
  const int r = io_uring_queue_init(entries, &ring, 0);
  if (r < 0) return r;
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  const bool canSend = probe && io_uring_opcode_supported(probe, IORING_OP_SEND);
  if (probe) io_uring_free_probe(probe);
  if (canSend) return 0;
  io_uring_queue_exit(&ring);
  return -ENOSYS;
}

struct ThreadRing {
  io_uring ring{};
  bool tried = false;
  bool ready = false;
  int failNextSubmit = 0;  // tests: -errno the next submission returns instead of entering the kernel
  ~ThreadRing() { disable(); }
  void disable() {
    if (ready) io_uring_queue_exit(&ring);
    ready = false;
  }
  bool get() {
    if (!gUringAllowed.load(std::memory_order_relaxed)) return false;
    if (tried) return ready;
    tried = true;
    const int r = initSendRing(ring, kRingEntries);
    if (r < 0) {
      // Logged once per process: every network thread would find the same.
      static std::atomic<bool> logged{false};
      if (!logged.exchange(true))
        log::warn("net.io_uring.unavailable", "error=\"{}\" (fan-out writes use one send() per socket)",
                  r == -ENOSYS ? "no IORING_OP_SEND" : std::strerror(-r));
      return false;
    }
    ready = true;
    return true;
  }
};

thread_local ThreadRing tRing;

void sendEach(std::span<BatchedSend> sends) {
  for (auto& s : sends) {
    ssize_t n;
    do {
      n = ::send(s.fd, s.data, s.size, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    s.result = n < 0 ? -errno : n;
  }
}

// One part of at most kRingEntries sends. False if the ring failed, and the thread stops using it: the
// sends the kernel never took go out with send() instead; those it took but did not report get -EIO
// (whether they left is unknown, and a TLS record must not be sent twice).
bool submitPart(io_uring& ring, std::span<BatchedSend> part, int& failNext) {
  for (std::size_t i = 0; i < part.size(); ++i) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);  // never null: the ring is empty between parts
    io_uring_prep_send(sqe, part[i].fd, part[i].data, part[i].size, MSG_NOSIGNAL | MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, i);
    part[i].result = -EINPROGRESS;
  }
  unsigned done = 0;
  int transient = 0;
  while (done < part.size()) {
    // Non-blocking sends complete while they are submitted, so the wait returns at once.
    const int r = failNext ? std::exchange(failNext, 0)
                           : io_uring_submit_and_wait(&ring, static_cast<unsigned>(part.size()) - done);
    if (r < 0 && !((r == -EINTR || r == -EAGAIN || r == -EBUSY) && ++transient < 1000)) {
      // The kernel takes entries in order: the last `notTaken` were prepared for it and never started.
      const std::size_t notTaken = std::min<std::size_t>(io_uring_sq_ready(&ring), part.size());
      const std::size_t taken = part.size() - notTaken;
      std::size_t unknown = 0;
      for (std::size_t i = 0; i < taken; ++i)
        if (part[i].result == -EINPROGRESS) {
          part[i].result = -EIO;
          ++unknown;
        }
      log::error("net.io_uring.submit_failed", "error=\"{}\" resent={} unknown={}", std::strerror(-r),
                 notTaken, unknown);
      sendEach(part.subspan(taken));
      return false;
    }
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      const auto i = io_uring_cqe_get_data64(cqe);
      if (i < part.size()) part[i].result = cqe->res;
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
    done += seen;
  }
  return true;
}

}  // namespace

void setBatchedSendUring(bool on) {
  gUringAllowed.store(on, std::memory_order_relaxed);
}

bool batchedSendUsesUring() {
  return tRing.get();
}

void failNextBatchedSubmitForTest(int error) {
  tRing.failNextSubmit = error;
}

const char* batchedSendMode() {
  if (!gUringAllowed.load(std::memory_order_relaxed)) return "off";
  io_uring probe;
  if (initSendRing(probe, 2) < 0) return "send";
  io_uring_queue_exit(&probe);
  return "io_uring";
}

void sendBatch(std::span<BatchedSend> sends) {
  if (sends.size() < 2 || !tRing.get()) {
    sendEach(sends);
    return;
  }
  for (std::size_t at = 0; at < sends.size(); at += kRingEntries) {
    auto part = sends.subspan(at, std::min<std::size_t>(kRingEntries, sends.size() - at));
    if (!submitPart(tRing.ring, part, tRing.failNextSubmit)) {
      tRing.disable();
      sendEach(sends.subspan(at + part.size()));
      return;
    }
  }
}

}  // namespace parley::net
