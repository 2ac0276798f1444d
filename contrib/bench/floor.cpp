// parley-floor: what one machine charges for the system calls any XMPP server must make, with no XMPP,
// no TLS and no storage, so that Parley's CPU per message can be read against the machine's floor
// (docs/PERFORMANCE.md, "The machine's floor").
//
//   parley-floor server PORT CONNECTIONS GROUP [uring]
//   parley-floor client PORT CONNECTIONS GROUP RATE SECONDS SIZE
//
// The server accepts CONNECTIONS on 127.0.0.1:PORT; each read is written to the other connections of
// its GROUP (GROUP 2: to its partner, as a 1:1 message; GROUP 100: to 100 connections, as a room
// message), one send() each, or all of them in one io_uring submission with `uring`. It stops 3 s
// after the last read and prints its CPU per read and per delivery (JSON). The client offers RATE
// messages/s of SIZE bytes for SECONDS from the first connection of each group in turn.
// Loopback only; bounded in time.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

double now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double cpuSeconds() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

void prepare(int fd, int epoll, int index) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, O_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered, registered once: no epoll_ctl per message
  ev.data.u32 = static_cast<std::uint32_t>(index);
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

int server(int port, int conns, int group, bool uring) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in a = loopback(port);
  if (bind(listener, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || listen(listener, 4096) != 0) {
    perror("parley-floor: bind");
    return 1;
  }
  io_uring ring{};
  if (uring && io_uring_queue_init(4096, &ring, 0) < 0) {
    perror("parley-floor: io_uring");
    return 1;
  }
  const int epoll = epoll_create1(0);
  std::vector<int> fds;
  while (static_cast<int>(fds.size()) < conns) {
    const int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    prepare(fd, epoll, static_cast<int>(fds.size()));
    fds.push_back(fd);
  }
  const double cpu0 = cpuSeconds();
  long reads = 0, deliveries = 0;
  std::vector<char> buf(65536);
  epoll_event events[256];
  while (true) {
    const int n = epoll_wait(epoll, events, 256, 3000);
    if (n <= 0) break;
    for (int k = 0; k < n; ++k) {
      const int i = static_cast<int>(events[k].data.u32);
      const ssize_t r = recv(fds[i], buf.data(), buf.size(), 0);
      if (r <= 0) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, fds[i], nullptr);
        continue;
      }
      ++reads;
      const int base = i / group * group;
      const int end = std::min(base + group, conns);
      for (int j = base; j < end; ++j) {
        if (group == 2 && j == i) continue;  // 1:1: to the partner only
        if (uring) {
          io_uring_prep_send(io_uring_get_sqe(&ring), fds[j], buf.data(), static_cast<std::size_t>(r),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
          send(fds[j], buf.data(), static_cast<std::size_t>(r), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        ++deliveries;
      }
      if (uring) {
        const unsigned want = static_cast<unsigned>(end - base - (group == 2 ? 1 : 0));
        io_uring_submit_and_wait(&ring, want);
        io_uring_cqe* cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe)++ seen;
        io_uring_cq_advance(&ring, seen);
      }
    }
  }
  const double cpu = cpuSeconds() - cpu0;
  std::printf(
      "{\"mode\":\"%s\",\"group\":%d,\"reads\":%ld,\"deliveries\":%ld,\"cpu_seconds\":%.3f,"
      "\"cpu_us_per_read\":%.2f,\"cpu_us_per_delivery\":%.2f}\n",
      uring ? "io_uring" : "send", group, reads, deliveries, cpu,
      reads ? cpu * 1e6 / static_cast<double>(reads) : 0.0,
      deliveries ? cpu * 1e6 / static_cast<double>(deliveries) : 0.0);
  return 0;
}

int client(int port, int conns, int group, double rate, double seconds, int size) {
  const int epoll = epoll_create1(0);
  std::vector<int> fds;
  for (int i = 0; i < conns; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in a = loopback(port);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      perror("parley-floor: connect");
      return 1;
    }
    prepare(fd, epoll, i);
    fds.push_back(fd);
  }
  const std::string message(static_cast<std::size_t>(size), 'x');
  std::vector<char> buf(65536);
  epoll_event events[256];
  const double t0 = now(), end = t0 + seconds;
  long sent = 0, received = 0;
  int next = 0;
  for (double t = now(); t < end + 1; t = now()) {
    const long due = t < end ? static_cast<long>((t - t0) * rate) : sent;
    for (; sent < due; ++sent) {
      send(fds[next], message.data(), message.size(), MSG_NOSIGNAL);
      next = (next + group) % conns;
    }
    // Sleep until the next message is due (nanosecond timeout: no busy loop at high rates).
    const double wait = t < end ? std::max(0.0, (static_cast<double>(sent + 1) / rate) - (t - t0)) : 0.05;
    timespec ts{static_cast<time_t>(wait), static_cast<long>(std::fmod(wait, 1.0) * 1e9)};
    const int n = epoll_pwait2(epoll, events, 256, &ts, nullptr);
    for (int k = 0; k < n; ++k) {
      const ssize_t r = recv(fds[events[k].data.u32], buf.data(), buf.size(), 0);
      if (r > 0) received += r;
    }
  }
  std::printf("{\"sent\":%ld,\"bytes_received\":%ld}\n", sent, received);
  for (int fd : fds) close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "server" && argc >= 5)
    return server(std::atoi(argv[2]), std::atoi(argv[3]), std::max(2, std::atoi(argv[4])),
                  argc > 5 && std::string(argv[5]) == "uring");
  if (mode == "client" && argc >= 8)
    return client(std::atoi(argv[2]), std::atoi(argv[3]), std::max(2, std::atoi(argv[4])), std::atof(argv[5]),
                  std::atof(argv[6]), std::atoi(argv[7]));
  std::fprintf(stderr,
               "usage: parley-floor server PORT CONNECTIONS GROUP [uring]\n"
               "       parley-floor client PORT CONNECTIONS GROUP RATE SECONDS SIZE\n");
  return 2;
}
