// Unauthenticated resource use and brute force (issue 9 §4 and §5), against a real parleyd over
// loopback. Several source addresses (127.0.x.y: all of 127.0.0.0/8 is local on Linux) stand for many
// clients. Pass criteria:
//  §4 - connect/open/disconnect cycles (plaintext stream headers, some over STARTTLS, leaving cleanly,
//       by FIN or by RST) leave parleyd's RSS within 10% and its descriptor count where it was;
//       PARLEY_ABUSE_CYCLES sets how many (default: the 100,000);
//     - 1,000 slow-loris sockets (a stream header or a ClientHello sent one byte every 2 s, a stanza
//       dripped over TLS, an open SASL exchange kept alive with whitespace) are all closed by the
//       pre-authentication timeout, never later and never reset by the bytes; meanwhile a 21st
//       connection from one of their addresses is closed at once and a real user still logs in;
//  §5 - 10,000 wrong passwords from one address over 100 concurrent connections get at most 20 full
//       password verifications (counted by parleyd: parley_auth_verifications_total), then the address
//       is refused (temporary-auth-failure) for [auth] ip_block_time;
//     - an account attacked from 50 addresses gets temporary-auth-failure with a doubling backoff for
//       addresses it never used, while its owner, from an address it logged in from before, keeps
//       logging in with p99 < 1 s.
// Each test prints its numbers on a "[ measure  ]" line (docs/SECURITY.md has them).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/sasl/scram.h"
#include "server/util/crypto.h"
#include "tests/support/http_client.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_server.h"

namespace parley::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kHeader =
    "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";

// --- Measuring parleyd ----------------------------------------------------------------------------

long procStatusKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Open descriptors of a process (entries of /proc/<pid>/fd).
int openFds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (const dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

// Waits until parleyd has at most `fds` descriptors open (connections close asynchronously).
int waitForFds(pid_t pid, int fds, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  int n = openFds(pid);
  while (n > fds && Clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    n = openFds(pid);
  }
  return n;
}

long envCount(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atol(v) : fallback;
}

// The memory criteria are about parleyd's own memory: ASan's quarantine of freed blocks (256 MB by
// default) would otherwise count as growth (as in MalformedCorpusTest). Inherited by parleyd.
void asanQuarantineOff() {
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string options =
      std::string(asan ? asan : "") + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
  ::setenv("ASAN_OPTIONS", options.c_str(), 1);
}

// The value of one series in a Prometheus exposition ("name{labels} value"); -1 if absent.
double metricValue(const std::string& exposition, const std::string& series) {
  for (std::size_t pos = 0; pos < exposition.size();) {
    const auto eol = std::min(exposition.find('\n', pos), exposition.size());
    const std::string_view line(exposition.data() + pos, eol - pos);
    if (line.starts_with(series + " ")) return std::stod(std::string(line.substr(series.size() + 1)));
    pos = eol + 1;
  }
  return -1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(static_cast<double>(v.size()) * p))];
}

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// --- Raw sockets ----------------------------------------------------------------------------------

bool sendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `needle` arrives (true), or the peer closes or 5 s pass (false).
bool readUntil(int fd, std::string_view needle, std::string* got = nullptr) {
  std::string buf;
  const auto deadline = Clock::now() + 5s;
  while (buf.find(needle) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    const int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0 || ::poll(&p, 1, left) <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  if (got) *got = std::move(buf);
  return true;
}

// The same over TLS (blocking socket).
bool sslReadUntil(SSL* ssl, std::string_view needle) {
  std::string buf;
  const auto deadline = Clock::now() + 5s;
  while (buf.find(needle) == std::string::npos && Clock::now() < deadline) {
    char chunk[4096];
    const int n = SSL_read(ssl, chunk, sizeof chunk);
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  return buf.find(needle) != std::string::npos;
}

bool sslWriteAll(SSL* ssl, std::string_view bytes) {
  return SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
}

// --- §4: connect/open/disconnect cycles -----------------------------------------------------------

// One cycle on the STARTTLS port without TLS: the stream header, the features, then one of three ways
// to leave: </stream:stream> (waiting for the server's), a FIN, or a reset. False without features.
bool plainCycle(std::uint16_t port, const std::string& source, long n) {
  const int fd = connectTcp(port, source);
  if (fd < 0) return false;
  const bool ok = sendAll(fd, kHeader) && readUntil(fd, "</stream:features>");
  if (n % 3 == 0) {
    sendAll(fd, "</stream:stream>");
    readUntil(fd, "</stream:stream>");
  } else if (n % 3 == 2) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd);
  return ok;
}

// One cycle through STARTTLS: header, <starttls/>, handshake, the restarted stream's features (SASL),
// then a cut connection or a clean close.
bool tlsCycle(std::uint16_t port, const std::string& source, long n) {
  RawClient c(port, false, source);
  if (!c.ok()) return false;
  c.openStream();
  if (!c.startTls()) return false;
  const bool ok = c.openStream().find("<mechanisms") != std::string::npos;
  if (n % 2) c.drop();
  return ok;
}

TEST(UnauthenticatedLoadTest, ConnectOpenDisconnectCyclesLeakNeitherMemoryNorDescriptors) {
  // The number, 100,000, about 30 s with the ASan build on 2 cores (PARLEY_ABUSE_CYCLES changes
  // it).
  const long cycles = envCount("PARLEY_ABUSE_CYCLES", 100000);
  constexpr long kWarmUp = 1000;
  constexpr int kLanes = 4;       // concurrent clients, one source address each
  constexpr long kTlsEvery = 50;  // every 50th cycle goes through STARTTLS
  asanQuarantineOff();
  TestServerOptions o;
  o.logLevel = "info";  // one line per connection, not five
  TestServer server(o);
  server.start();
  const pid_t pid = server.pid();
  const long rssStart = procStatusKb(pid, "VmRSS");
  const int fdStart = openFds(pid);

  std::atomic<long> failed{0};
  auto run = [&](long total) {
    std::vector<std::thread> lanes;
    for (int lane = 0; lane < kLanes; ++lane) {
      lanes.emplace_back([&, lane] {
        const std::string source = "127.0.1." + std::to_string(lane + 1);
        for (long n = lane; n < total; n += kLanes) {
          const bool ok = n % kTlsEvery == kTlsEvery - 1 ? tlsCycle(server.c2sPort(), source, n)
                                                         : plainCycle(server.c2sPort(), source, n);
          if (!ok) ++failed;
        }
      });
    }
    for (auto& t : lanes) t.join();
  };
  // Warm-up: thread-local buffers, allocator size classes, OpenSSL's per-thread state — memory that is
  // allocated once, not per connection.
  run(kWarmUp);
  ASSERT_EQ(waitForFds(pid, fdStart, 10s), fdStart);
  const long rssWarm = procStatusKb(pid, "VmRSS");

  const auto start = Clock::now();
  run(cycles);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const int fdEnd = waitForFds(pid, fdStart, 10s);
  const long rssEnd = procStatusKb(pid, "VmRSS");
  std::printf(
      "[ measure  ] %ld cycles (+%ld warm-up, %d lanes, 1 in %ld over STARTTLS) in %.1f s (%.0f/s), %ld "
      "failed; parleyd VmRSS %ld kB at start, %ld after warm-up, %ld after (%+.1f%%); fds %d -> %d\n",
      cycles, kWarmUp, kLanes, kTlsEvery, seconds, static_cast<double>(cycles) / seconds, failed.load(),
      rssStart, rssWarm, rssEnd, 100.0 * static_cast<double>(rssEnd - rssWarm) / static_cast<double>(rssWarm),
      fdStart, fdEnd);
  EXPECT_EQ(failed.load(), 0) << "cycles that got no stream features";
  EXPECT_EQ(fdEnd, fdStart) << "descriptors leaked";
  EXPECT_LE(rssEnd, rssStart + rssStart / 10) << "RSS grew by more than 10% (the issue's criterion)";
  // Stricter: most of an ASan process's RSS is the sanitizer's own (shadow memory, allocator metadata),
  // so 10% of it would hide a leak of ~240 bytes per cycle. 8 MB after the warm-up is ~80 bytes per
  // cycle at 100,000 (measured: about 1 MB).
  EXPECT_LT(rssEnd - rssWarm, 8 * 1024) << "RSS grew by more than 8 MB after the warm-up";
  // LeakSanitizer (ASan builds) checks parleyd at exit: a leaked allocation makes the exit status non-zero.
  EXPECT_EQ(server.stop(), 0) << "parleyd did not exit cleanly (a LeakSanitizer report?)";
}

// --- §4: slow-loris -------------------------------------------------------------------------------

// The bytes of a TLS ClientHello for "localhost" (from a client on memory BIOs).
std::string clientHello() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_connect(ssl);  // wants to read the ServerHello; the ClientHello is in `out`
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string hello(data, static_cast<std::size_t>(std::max(n, 0L)));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return hello;
}

struct Loris {
  enum Kind { Header, ClientHello, StanzaOverTls, SaslOverTls };
  Kind kind = Header;
  int fd = -1;
  SSL* ssl = nullptr;
  std::string drip;  // sent one byte per tick
  std::size_t sent = 0;
  Clock::time_point opened{}, closed{};
  bool open() const { return fd >= 0; }
};

// Reads what the server sent; on end of stream or error, closes the socket and records when.
void drain(Loris& l) {
  char buf[4096];
  for (;;) {
    int n;
    if (l.ssl) {
      n = SSL_read(l.ssl, buf, sizeof buf);
      if (n <= 0 && SSL_get_error(l.ssl, n) == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        return;
      }
      ERR_clear_error();
    } else {
      n = static_cast<int>(::recv(l.fd, buf, sizeof buf, 0));
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    }
    if (n <= 0) {
      l.closed = Clock::now();
      if (l.ssl) SSL_free(l.ssl);
      l.ssl = nullptr;
      ::close(l.fd);
      l.fd = -1;
      return;
    }
  }
}

TEST(UnauthenticatedLoadTest, ThousandSlowLorisSocketsAreClosedByThePreauthTimeout) {
  constexpr int kSockets = 1000;
  constexpr int kPerAddress = 20;  // the default [limits] unauthenticated_per_ip
  constexpr auto kTimeout =
      15s;  // [limits] preauth_timeout below: longer than the setup takes on a busy CI machine
  constexpr auto kTick = 2s;  // one byte per socket this often
  ::signal(SIGPIPE, SIG_IGN);
  TestServerOptions o;
  o.logLevel = "info";
  o.extra = "[limits]\npreauth_timeout = 15\n";
  TestServer server(o);
  server.addUser("alice", "alice-secret");
  server.start();
  const int fdStart = openFds(server.pid());
  const std::string hello = clientHello();
  ASSERT_GT(hello.size(), 100u);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  std::vector<Loris> loris(kSockets);
  auto sweep = [&] {  // notices the sockets the server closed, without waiting
    std::vector<pollfd> fds;
    std::vector<Loris*> who;
    for (auto& l : loris)
      if (l.open()) {
        fds.push_back({l.fd, POLLIN, 0});
        who.push_back(&l);
      }
    if (fds.empty() || ::poll(fds.data(), fds.size(), 0) <= 0) return;
    for (std::size_t i = 0; i < fds.size(); ++i)
      if (fds[i].revents) drain(*who[i]);
  };
  // A byte into every socket set up so far, each tick (also while the others are being set up, which
  // takes seconds on a loaded machine: every socket keeps sending for the whole timeout).
  auto nextTick = Clock::now() + kTick;
  auto drip = [&] {
    if (Clock::now() < nextTick) return;
    for (auto& l : loris) {
      if (!l.open() || l.drip.empty() || l.sent >= l.drip.size()) continue;
      const char* b = l.drip.data() + l.sent;
      const bool wrote = l.ssl ? SSL_write(l.ssl, b, 1) == 1 : ::send(l.fd, b, 1, MSG_NOSIGNAL) == 1;
      ERR_clear_error();
      if (wrote) ++l.sent;
    }
    nextTick += kTick;
  };
  const auto setupStart = Clock::now();
  int setupFailures = 0;
  for (int j = 0; j < kSockets; ++j) {
    Loris& l = loris[j];
    l.kind = static_cast<Loris::Kind>(j % 4);
    const std::string source = "127.0.2." + std::to_string(j / kPerAddress + 1);
    const bool directTls = l.kind == Loris::ClientHello || l.kind == Loris::SaslOverTls;
    l.fd = connectTcp(directTls ? server.tlsPort() : server.c2sPort(), source);
    l.opened = Clock::now();
    bool ok = l.fd >= 0;
    switch (l.kind) {
      case Loris::Header:  // the stream header, a byte at a time
        l.drip = kHeader;
        break;
      case Loris::ClientHello:  // the TLS handshake never completes
        l.drip = hello;
        break;
      case Loris::StanzaOverTls:  // STARTTLS, the restarted stream, then an <auth/> that never ends
        ok = ok && sendAll(l.fd, kHeader) && readUntil(l.fd, "</stream:features>") &&
             sendAll(l.fd, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") &&
             readUntil(l.fd, "<proceed");
        if (ok) {
          l.ssl = SSL_new(ctx);
          SSL_set_fd(l.ssl, l.fd);
          SSL_set_tlsext_host_name(l.ssl, "localhost");
          ok = SSL_connect(l.ssl) == 1 && sslWriteAll(l.ssl, kHeader) &&
               sslReadUntil(l.ssl, "</stream:features>");
        }
        l.drip = "<auth xmlns='" + std::string(kSaslNs) + "' mechanism='PLAIN'>" + std::string(200, 'A');
        break;
      case Loris::SaslOverTls: {  // direct TLS, a SCRAM exchange left open, whitespace keepalives
        l.ssl = SSL_new(ctx);
        SSL_set_fd(l.ssl, l.fd);
        SSL_set_tlsext_host_name(l.ssl, "localhost");
        // A user name per socket: the point is the connection, not the account's failed-login limit.
        sasl::ScramClient scram(util::HashAlg::Sha256, "loris" + std::to_string(j), "x");
        ok = ok && SSL_connect(l.ssl) == 1 && sslWriteAll(l.ssl, kHeader) &&
             sslReadUntil(l.ssl, "</stream:features>") &&
             sslWriteAll(l.ssl, "<auth xmlns='" + std::string(kSaslNs) + "' mechanism='SCRAM-SHA-256'>" +
                                    util::base64Encode(scram.clientFirst()) + "</auth>") &&
             sslReadUntil(l.ssl, "</challenge>");
        l.drip = std::string(200, ' ');
        break;
      }
    }
    if (!ok) {
      ++setupFailures;
      ADD_FAILURE() << "socket " << j << " (kind " << l.kind << ") could not be set up";
    }
    if (l.fd >= 0) ::fcntl(l.fd, F_SETFL, ::fcntl(l.fd, F_GETFL) | O_NONBLOCK);
    if (j % 20 == 19) {
      sweep();
      drip();
    }
  }
  const double setupSeconds = std::chrono::duration<double>(Clock::now() - setupStart).count();
  ASSERT_EQ(setupFailures, 0);

  // All 1,000 are open now. The per-address limit holds: a 21st unauthenticated connection from one
  // of their addresses is closed before anything is sent…
  RawClient extra(server.c2sPort(), false, "127.0.2.1");
  EXPECT_TRUE(extra.waitClosed(2s)) << "a 21st connection from 127.0.2.1 stayed open";
  EXPECT_EQ(extra.received(), "");
  // …while a real user elsewhere still logs in.
  const auto loginStart = Clock::now();
  RawClient user(server.c2sPort(), false, "127.0.2.250");
  EXPECT_TRUE(user.login("alice", "alice-secret")) << user.received();
  const double loginMs = ms(Clock::now() - loginStart);
  int openWhenChecked = 0;
  sweep();
  for (auto& l : loris) openWhenChecked += l.open();

  // Drip a byte into every socket each tick until the server has closed them all.
  const auto lastOpened = loris.back().opened;
  while (Clock::now() < lastOpened + kTimeout + 5s) {
    drip();
    sweep();
    if (std::none_of(loris.begin(), loris.end(), [](const Loris& l) { return l.open(); })) break;
    std::this_thread::sleep_for(20ms);
  }
  SSL_CTX_free(ctx);

  int stillOpen = 0, early = 0, late = 0;
  double first = 1e9, last = 0;
  std::size_t bytesDripped = 0, minDripped = SIZE_MAX;
  std::map<int, double> latestByKind;
  for (const auto& l : loris) {
    bytesDripped += l.sent;
    minDripped = std::min(minDripped, l.sent);
    if (l.open()) {
      ++stillOpen;
      continue;
    }
    const double after = ms(l.closed - l.opened);
    first = std::min(first, after);
    last = std::max(last, after);
    latestByKind[l.kind] = std::max(latestByKind[l.kind], after);
    if (l.closed - l.opened < kTimeout - 500ms) ++early;
    if (l.closed - l.opened > kTimeout + 1500ms) ++late;
  }
  for (auto& l : loris)
    if (l.open()) {
      if (l.ssl) SSL_free(l.ssl);
      ::close(l.fd);
    }
  const int fdEnd = waitForFds(server.pid(), fdStart + 2, 10s);  // + the user's and the extra's, maybe
  std::printf(
      "[ measure  ] %d slow-loris sockets from %d addresses (set up in %.1f s), %zu bytes dripped (at least "
      "%zu each, one per %lld ms); %d open "
      "when checked; closed %.0f..%.0f ms after connecting (pre-auth timeout %lld ms; latest by kind: "
      "header %.0f, ClientHello %.0f, stanza over TLS %.0f, SASL over TLS %.0f); %d early, %d late, %d "
      "never; "
      "21st connection refused: %s; a login meanwhile took %.0f ms; parleyd fds %d -> %d\n",
      kSockets, kSockets / kPerAddress, setupSeconds, bytesDripped, minDripped,
      static_cast<long long>(std::chrono::milliseconds(kTick).count()), openWhenChecked, first, last,
      static_cast<long long>(std::chrono::milliseconds(kTimeout).count()), latestByKind[0], latestByKind[1],
      latestByKind[2], latestByKind[3], early, late, stillOpen, extra.closed() ? "yes" : "no", loginMs,
      fdStart, fdEnd);
  EXPECT_EQ(openWhenChecked, kSockets) << "slow-loris sockets closed before the timeout";
  EXPECT_EQ(stillOpen, 0) << "sockets the server never closed";
  EXPECT_EQ(early, 0) << "closed before the timeout: by what?";
  EXPECT_EQ(late, 0) << "closed more than 1.5 s after the pre-auth timeout";
  // Every socket kept sending through the timeout (a byte per tick does not reset it).
  EXPECT_GE(minDripped, 3u) << "a socket that was not kept busy";
  EXPECT_LE(fdEnd, fdStart + 2);
  EXPECT_LT(loginMs, 2000);
}

// --- §5: brute force ------------------------------------------------------------------------------

// What the server answered to one SASL attempt.
enum class Answer { Success, NotAuthorized, Refused, Closed, Other };

Answer classify(const RawClient& c, bool ok) {
  if (ok) return Answer::Success;
  const std::string& r = c.received();
  if (r.find("<temporary-auth-failure/>") != std::string::npos) return Answer::Refused;
  if (r.find("<not-authorized/>") != std::string::npos) return Answer::NotAuthorized;
  if (c.closed() || r.find("<stream:error>") != std::string::npos) return Answer::Closed;
  return Answer::Other;
}

// A client on a STARTTLS stream from `source`, ready for SASL.
std::unique_ptr<RawClient> encryptedFrom(const TestServer& server, const std::string& source) {
  auto c = std::make_unique<RawClient>(server.c2sPort(), false, source);
  if (!c->ok()) return nullptr;
  c->openStream();
  if (!c->startTls()) return nullptr;
  c->openStream();
  return c;
}

std::string metricsOf(const TestServer& server) {
  HttpClient http;
  return http.get("http://127.0.0.1:" + std::to_string(server.httpPort()) + "/metrics").body;
}

const std::string kMetricsListener = "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n";

TEST(BruteForceTest, TenThousandWrongPasswordsFromOneAddressCostAtMostTwentyVerifications) {
  constexpr int kConnections = 100;
  constexpr int kAttemptsEach = 100;
  const std::string attacker = "127.0.3.1";
  TestServerOptions o;
  o.logLevel = "info";
  // [auth] at its defaults (failures_per_ip = 20): the point is that the default holds. The per-address
  // connection limits are raised so that 100 connections from one address exist at once: they are a
  // separate defence (UnauthenticatedLoadTest, StreamTest.FourthConnectionFromOneAddressIsClosedAtOnce).
  o.extra = "[limits]\nunauthenticated_per_ip = 200\nconnections_per_ip = 200\n" + kMetricsListener;
  TestServer server(o);
  server.addUser("alice", "alice-secret");
  server.addUser("bob", "bob-secret");
  server.start();
  // Guessed accounts: the two real ones and 48 that do not exist (SCRAM fakes their exchange).
  std::vector<std::string> names = {"alice", "bob"};
  for (int i = 0; names.size() < 50; ++i) names.push_back("user" + std::to_string(i));

  std::atomic<int> answers[5] = {};
  std::atomic<int> connections{0}, setupFailures{0};
  std::latch ready(kConnections);
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      auto c = encryptedFrom(server, attacker);
      ++connections;
      if (!c) ++setupFailures;
      ready.arrive_and_wait();  // every first attempt at the same moment: a race, if there is one
      for (int i = 0; i < kAttemptsEach && c;) {
        const std::string& name = names[static_cast<std::size_t>(t + i) % names.size()];  // 50 at once
        const std::string mechanism = (t + i) % 2 ? "PLAIN" : "SCRAM-SHA-256";
        const bool ok = c->authenticate(name, "guess-" + std::to_string(i), mechanism);
        const Answer a = classify(*c, ok);
        if (a == Answer::Closed || c->closed() || c->received().find("<stream:error>") != std::string::npos) {
          // Three failures end a stream (RFC 6120 §6.4.5): count the answer, if any, and reconnect.
          if (a != Answer::Closed) {
            ++answers[static_cast<int>(a)];
            ++i;
          }
          c = encryptedFrom(server, attacker);
          ++connections;
          if (!c) ++setupFailures;
          continue;
        }
        ++answers[static_cast<int>(a)];
        ++i;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  const std::string m = metricsOf(server);
  const double verifications = metricValue(m, "parley_auth_verifications_total");
  const double refused = metricValue(m, "parley_auth_refused_total{limit=\"address\"}");
  const double refusedPair = metricValue(m, "parley_auth_refused_total{limit=\"account_and_address\"}");
  const double refusedAccount = metricValue(m, "parley_auth_refused_total{limit=\"account\"}");
  const int notAuthorized = answers[static_cast<int>(Answer::NotAuthorized)];
  const int refusedAnswers = answers[static_cast<int>(Answer::Refused)];
  // The address is refused now, even with a right password…
  auto bobThere = encryptedFrom(server, attacker);
  ASSERT_TRUE(bobThere);
  EXPECT_FALSE(bobThere->authenticate("bob", "bob-secret", "SCRAM-SHA-256"));
  EXPECT_EQ(classify(*bobThere, false), Answer::Refused) << bobThere->received();
  // …and nobody else is.
  auto bobElsewhere = encryptedFrom(server, "127.0.3.2");
  ASSERT_TRUE(bobElsewhere);
  EXPECT_TRUE(bobElsewhere->authenticate("bob", "bob-secret", "SCRAM-SHA-256")) << bobElsewhere->received();
  EXPECT_TRUE(server.waitForLog("auth.address_blocked peer=" + attacker));

  std::printf(
      "[ measure  ] %d wrong-password attempts from %s over %d connections (%d concurrent) in %.1f s: %d "
      "not-authorized, %d temporary-auth-failure, %d other; parley_auth_verifications_total %.0f, "
      "parley_auth_refused_total{limit=address} %.0f, {limit=account_and_address} %.0f, {limit=account} "
      "%.0f\n",
      notAuthorized + refusedAnswers + answers[static_cast<int>(Answer::Other)] +
          answers[static_cast<int>(Answer::Success)],
      attacker.c_str(), connections.load(), kConnections, seconds, notAuthorized, refusedAnswers,
      answers[static_cast<int>(Answer::Other)].load(), verifications, refused, refusedPair, refusedAccount);
  EXPECT_EQ(setupFailures.load(), 0);
  EXPECT_EQ(notAuthorized + refusedAnswers, kConnections * kAttemptsEach);
  EXPECT_EQ(answers[static_cast<int>(Answer::Success)].load(), 0);
  EXPECT_GE(verifications, 1);
  EXPECT_LE(verifications, 20) << "full password verifications for one address";
  EXPECT_LE(notAuthorized, 20);
  // Every temporary-auth-failure came from the limits (not, say, from storage errors under the load).
  EXPECT_EQ(refused + refusedPair + refusedAccount, refusedAnswers);
}

TEST(BruteForceTest, AnAddressIsRefusedForIpBlockTimeThenAllowedAgain) {
  TestServerOptions o;
  o.logLevel = "info";
  o.extra = "[auth]\nfailures_per_ip = 3\nip_block_time = 2\nfailure_delay_ms = 0\n" + kMetricsListener;
  TestServer server(o);
  server.addUser("bob", "bob-secret");
  server.start();
  const std::string attacker = "127.0.3.5";
  for (const char* name : {"a", "b", "c"}) {
    auto c = encryptedFrom(server, attacker);
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->authenticate(name, "wrong", "SCRAM-SHA-256"));
    EXPECT_EQ(classify(*c, false), Answer::NotAuthorized) << c->received();
  }
  const auto blockedAt = Clock::now();
  auto refused = encryptedFrom(server, attacker);
  EXPECT_FALSE(refused->authenticate("bob", "bob-secret", "SCRAM-SHA-256"));
  EXPECT_EQ(classify(*refused, false), Answer::Refused) << refused->received();
  // After ip_block_time the right password works again from that address.
  bool in = false;
  while (!in && Clock::now() < blockedAt + 10s) {
    std::this_thread::sleep_for(250ms);  // the block is a span of time: there is no event to wait for
    auto c = encryptedFrom(server, attacker);
    in = c && c->authenticate("bob", "bob-secret", "SCRAM-SHA-256");
  }
  const double after = ms(Clock::now() - blockedAt);
  std::printf("[ measure  ] blocked after 3 failures; allowed again after %.0f ms (ip_block_time 2 s)\n",
              after);
  EXPECT_TRUE(in);
  EXPECT_GE(after, 1900);
  EXPECT_EQ(metricValue(metricsOf(server), "parley_auth_verifications_total"), 4);
}

TEST(BruteForceTest, AccountAttackedFromManyAddressesStillLetsItsOwnerIn) {
  constexpr int kAttackers = 50;
  constexpr auto kAttack = 12s;
  TestServerOptions o;
  o.logLevel = "info";
  o.extra = kMetricsListener;  // [auth] and [limits] at their defaults
  TestServer server(o);
  server.addUser("alice", "alice-secret");
  server.start();
  // The owner's phone and laptop logged in before, from their usual addresses.
  const std::vector<std::string> owner = {"127.0.4.200", "127.0.4.201"};
  for (const auto& a : owner) {
    RawClient c(server.c2sPort(), false, a);
    ASSERT_TRUE(c.login("alice", "alice-secret")) << c.received();
  }

  std::atomic<bool> stop{false};
  std::atomic<int> attackerAnswers[5] = {};
  std::mutex mu;
  std::vector<double> notAuthorizedAt;  // ms since the attack started
  const auto start = Clock::now();
  std::vector<std::thread> attackers;
  for (int t = 0; t < kAttackers; ++t) {
    attackers.emplace_back([&, t] {
      const std::string source = "127.0.4." + std::to_string(t + 1);
      std::unique_ptr<RawClient> c;
      for (int i = 0; !stop.load(); ++i) {
        if (!c || c->closed() || c->received().find("<stream:error>") != std::string::npos)
          c = encryptedFrom(server, source);
        if (!c) continue;
        const bool ok = c->authenticate("alice", "guess-" + std::to_string(t) + "-" + std::to_string(i),
                                        i % 2 ? "PLAIN" : "SCRAM-SHA-256");
        const Answer a = classify(*c, ok);
        ++attackerAnswers[static_cast<int>(a)];
        if (a == Answer::NotAuthorized) {
          std::lock_guard lock(mu);
          notAuthorizedAt.push_back(ms(Clock::now() - start));
        }
        std::this_thread::sleep_for(50ms);  // 50 addresses, 1,000 attempts a second together
      }
    });
  }
  // Meanwhile the owner logs in again and again from the two known addresses: connect, STARTTLS,
  // SCRAM-SHA-256, bind.
  std::vector<double> loginMs;
  int ownerFailures = 0;
  for (int i = 0; Clock::now() < start + kAttack; ++i) {
    const auto t0 = Clock::now();
    RawClient c(server.c2sPort(), false, owner[static_cast<std::size_t>(i) % owner.size()]);
    if (c.login("alice", "alice-secret"))
      loginMs.push_back(ms(Clock::now() - t0));
    else {
      ++ownerFailures;
      ADD_FAILURE() << "the owner could not log in:\n" << c.received();
    }
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  for (auto& t : attackers) t.join();
  // A device on an address the account never used gets temporary-auth-failure while the attack lasts
  // (the documented trade-off; the backoff slot was just taken by an attacker).
  auto newNetwork = encryptedFrom(server, "127.0.4.99");
  ASSERT_TRUE(newNetwork);
  const bool newNetworkIn = newNetwork->authenticate("alice", "alice-secret", "SCRAM-SHA-256");

  // The backoff for unknown addresses, from the log: it doubles with every failure.
  std::vector<int> backoffs;
  const std::string logs = server.logs();
  const std::string marker = "auth.account_backoff account=alice@localhost backoff_s=";
  for (auto pos = logs.find(marker); pos != std::string::npos; pos = logs.find(marker, pos + 1))
    backoffs.push_back(std::stoi(logs.substr(pos + marker.size())));
  const std::string m = metricsOf(server);
  const int notAuthorized = attackerAnswers[static_cast<int>(Answer::NotAuthorized)];
  const int refusedAnswers = attackerAnswers[static_cast<int>(Answer::Refused)];
  std::string times, steps;
  std::sort(notAuthorizedAt.begin(), notAuthorizedAt.end());
  for (double at : notAuthorizedAt) times += " " + std::to_string(static_cast<long>(at));
  for (int b : backoffs) steps += " " + std::to_string(b);
  std::printf(
      "[ measure  ] account attacked from %d addresses for %lld s: %d attempts, %d not-authorized "
      "(verified), %d "
      "temporary-auth-failure (parley_auth_refused_total{limit=account} %.0f); not-authorized at (ms):%s; "
      "backoff for unknown addresses (s):%s; the owner from 2 known addresses: %zu logins, %d failed, p50 "
      "%.0f ms, p99 %.0f ms, max %.0f "
      "ms; a new address during the attack: %s\n",
      kAttackers, static_cast<long long>(std::chrono::seconds(kAttack).count()),
      notAuthorized + refusedAnswers + attackerAnswers[static_cast<int>(Answer::Other)], notAuthorized,
      refusedAnswers, metricValue(m, "parley_auth_refused_total{limit=\"account\"}"), times.c_str(),
      steps.c_str(), loginMs.size(), ownerFailures, percentile(loginMs, 0.5), percentile(loginMs, 0.99),
      loginMs.empty() ? 0.0 : *std::max_element(loginMs.begin(), loginMs.end()),
      newNetworkIn ? "logged in (a backoff slot was free)" : "temporary-auth-failure");
  EXPECT_EQ(ownerFailures, 0);
  EXPECT_GE(loginMs.size(), 20u);
  EXPECT_LT(percentile(loginMs, 0.99), 1000.0) << "the owner's login p99";
  EXPECT_EQ(attackerAnswers[static_cast<int>(Answer::Success)].load(), 0);
  EXPECT_GT(refusedAnswers, 1000) << "the attack was refused with temporary-auth-failure";
  // failures_per_account (10) before the protection (reservations in flight count, so a burst cannot get
  // past it), then one per backoff slot: 2 s, then 4 s, then 8 s after the previous failure — 2 or 3 in
  // 12 s.
  EXPECT_LE(notAuthorized, 10 + 3);
  ASSERT_GE(backoffs.size(), 2u);
  for (std::size_t i = 1; i < backoffs.size(); ++i)
    EXPECT_EQ(backoffs[i], std::min(backoffs[i - 1] * 2, 600));
}

}  // namespace
}  // namespace parley::test
