// sendBatch (server/net/batched_send.h): each send's result is what a non-blocking send() would have
// returned, through io_uring and through the fallback alike.
#include "server/net/batched_send.h"

#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace parley::net {
namespace {

struct Pair {
  int writer = -1, reader = -1;
  Pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0) {
      writer = fds[0];
      reader = fds[1];
    }
  }
  ~Pair() {
    if (writer >= 0) ::close(writer);
    if (reader >= 0) ::close(reader);
  }
  std::string drain() const {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(reader, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
};

class BatchedSendTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    setBatchedSendUring(GetParam());
    if (GetParam() && !batchedSendUsesUring()) {
      GTEST_SKIP() << "io_uring is not available here";
    }
    if (!GetParam()) {
      ASSERT_FALSE(batchedSendUsesUring());
    }
  }
  void TearDown() override { setBatchedSendUring(true); }
};

// More sockets than the ring has entries (256), so the batch goes in parts.
TEST_P(BatchedSendTest, EverySocketGetsItsOwnBytes) {
  constexpr int kSockets = 300;
  std::vector<Pair> pairs(kSockets);
  std::vector<std::string> payloads;
  std::vector<BatchedSend> sends;
  for (int i = 0; i < kSockets; ++i) {
    ASSERT_GE(pairs[i].writer, 0);
    std::string p(static_cast<std::size_t>(i) + 1, 'x');
    p.replace(0, 1, std::to_string(i));
    payloads.push_back(std::move(p));
  }
  for (int i = 0; i < kSockets; ++i)
    sends.push_back({pairs[i].writer, payloads[i].data(), payloads[i].size(), 0});
  sendBatch(sends);
  for (int i = 0; i < kSockets; ++i) {
    EXPECT_EQ(sends[i].result, static_cast<ssize_t>(payloads[i].size())) << "socket " << i;
    EXPECT_EQ(pairs[i].drain(), payloads[i]) << "socket " << i;
  }
}

// A full socket takes nothing (-EAGAIN) or part of the bytes, a closed one fails with -EPIPE (and no
// SIGPIPE), and neither disturbs the others of the batch.
TEST_P(BatchedSendTest, FullAndClosedSocketsReportWhatSendWould) {
  Pair full, partial, closed, fine;
  const int small = 4096;
  ::setsockopt(full.writer, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ::setsockopt(partial.writer, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  const std::string chunk(1024, 'f');
  while (::send(full.writer, chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {
  }
  ::close(closed.reader);
  closed.reader = -1;
  const std::string big(1 << 20, 'p'), small1("hello"), small2("world");
  std::vector<BatchedSend> sends{{full.writer, small1.data(), small1.size(), 0},
                                 {partial.writer, big.data(), big.size(), 0},
                                 {closed.writer, small1.data(), small1.size(), 0},
                                 {fine.writer, small2.data(), small2.size(), 0}};
  sendBatch(sends);
  EXPECT_EQ(sends[0].result, -EAGAIN);
  EXPECT_GT(sends[1].result, 0);
  EXPECT_LT(sends[1].result, static_cast<ssize_t>(big.size()));
  EXPECT_EQ(partial.drain(), big.substr(0, static_cast<std::size_t>(sends[1].result)));
  EXPECT_EQ(sends[2].result, -EPIPE);
  EXPECT_EQ(sends[3].result, static_cast<ssize_t>(small2.size()));
  EXPECT_EQ(fine.drain(), small2);
}

// io_uring_enter() can fail for good (-ENOMEM; -EPERM where a seccomp rule came after the ring was
// made). The sends it never took must still go out, with send(), instead of being reported lost: a
// lost send closes a healthy connection. On its own thread, whose ring the failure turns off.
TEST(BatchedSendRingFailureTest, SendsTheKernelNeverTookGoOutWithSend) {
  setBatchedSendUring(true);
  std::thread([] {
    if (!batchedSendUsesUring()) GTEST_SKIP() << "io_uring is not available here";
    std::vector<Pair> pairs(5);
    std::vector<std::string> payloads;
    std::vector<BatchedSend> sends;
    for (std::size_t i = 0; i < pairs.size(); ++i) payloads.push_back("record " + std::to_string(i));
    for (std::size_t i = 0; i < pairs.size(); ++i)
      sends.push_back({pairs[i].writer, payloads[i].data(), payloads[i].size(), 0});
    failNextBatchedSubmitForTest(-ENOMEM);
    sendBatch(sends);
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      EXPECT_EQ(sends[i].result, static_cast<ssize_t>(payloads[i].size())) << i;
      EXPECT_EQ(pairs[i].drain(), payloads[i]) << i;
    }
    EXPECT_FALSE(batchedSendUsesUring());  // the thread stopped using its ring
  }).join();
}

INSTANTIATE_TEST_SUITE_P(Modes, BatchedSendTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "IoUring" : "SendEach"; });

}  // namespace
}  // namespace parley::net
