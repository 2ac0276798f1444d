// The HTTP server inside parleyd (server/http): /health, /metrics (checked by Prometheus' own parser,
// promtool), access control, keep-alive, limits against slow or oversized requests.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "integration/module_helpers.h"
#include "support/http_client.h"

// GCC 12's -Wmissing-field-initializers flags designated initializers that leave class-type members
// to their default member initializers (HttpRequest{.method = …, .url = …}); that is the intent here.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace parley::test {
namespace {

// A plain-HTTP listener on loopback (allowed without TLS only there), short header timeout.
class HttpTest : public ModuleTest {
 protected:
  HttpTest()
      : ModuleTest(
            "[http]\nheader_timeout = 2\nidle_timeout = 3\nmax_header_size = 4096\n"
            "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n") {}
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server.httpPort()) + path;
  }
  // A raw TCP connection to the HTTP port.
  int connectRaw() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.httpPort());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  // Reads until the peer closes or `timeout`; returns what came, and whether it closed.
  static std::pair<std::string, bool> readUntilClosed(int fd, std::chrono::milliseconds timeout) {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {got, false};
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return {got, true};
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
};

TEST_F(HttpTest, HealthAndUnknownPaths) {
  HttpClient http;
  auto h = http.get(url("/health"));
  EXPECT_EQ(h.status, 200) << h.error;
  EXPECT_EQ(h.body, "ok\n");
  // Kept alive: the next request goes over the same connection.
  auto again = http.get(url("/health"));
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.newConnections, 0);
  EXPECT_EQ(http.get(url("/nothing-here")).status, 404);
  auto wrongMethod = http.request({.method = "DELETE", .url = url("/health")});
  EXPECT_EQ(wrongMethod.status, 405);
  EXPECT_NE(wrongMethod.header("allow").find("GET"), std::string::npos);
  EXPECT_TRUE(server.waitForLog("http.access peer=127.0.0.1 method=GET route=/health status=200"));
}

// /metrics in the Prometheus text format, as Prometheus itself parses it (promtool check metrics).
TEST_F(HttpTest, MetricsParseWithPromtool) {
  // Some traffic first, so the counters and histograms have values.
  auto alice = client("alice", "phone");
  auto bob = client("bob", "phone");
  alice->send("<message to='bob@localhost/phone' type='chat'><body>hi</body></message>");
  ASSERT_TRUE(bob->expect(isMessage().body("hi")));
  HttpClient http;
  auto m = http.get(url("/metrics"));
  ASSERT_EQ(m.status, 200) << m.error;
  EXPECT_EQ(m.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* family : {"parley_http_responses_total", "parley_sessions",
                             "parley_http_request_duration_seconds_bucket", "parley_upload_bytes_total"})
    EXPECT_NE(m.body.find(family), std::string::npos) << family << " missing:\n" << m.body;

  const char* promtool = "/usr/bin/promtool";
  if (::access(promtool, X_OK) != 0) {
    GTEST_SKIP() << "\n\n*** promtool is not installed: /metrics was NOT checked by Prometheus' parser. "
                    "contrib/install-deps.sh installs it (Debian package prometheus). ***\n";
  }
  const std::string file = server.dir() + "/metrics.txt";
  std::ofstream(file) << m.body;
  auto [status, out] = runProgram({"/bin/sh", "-c", std::string(promtool) + " check metrics < " + file});
  EXPECT_EQ(status, 0) << "promtool check metrics:\n" << out << "\n--- exposition ---\n" << m.body;
}

// A client that trickles its header is dropped after header_timeout; an idle kept-alive connection after
// idle_timeout.
TEST_F(HttpTest, SlowHeaderIsCutOff) {
  int fd = connectRaw();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_GT(::write(fd, "GET /health HTTP/1.1\r\nHost: x\r\n", 31), 0);
  // Keep sending a byte now and then, never finishing the header.
  bool closed = false;
  for (int i = 0; i < 20 && !closed; ++i) {
    closed = readUntilClosed(fd, std::chrono::milliseconds(300)).second;
    if (!closed && ::write(fd, "X", 1) < 0) closed = true;
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(closed) << "the server kept a trickling client";
  EXPECT_LT(took, std::chrono::seconds(4));
  ::close(fd);
}

TEST_F(HttpTest, OversizedHeaderGets431) {
  int fd = connectRaw();
  std::string req = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n";
  ASSERT_GT(::write(fd, req.data(), req.size()), 0);
  auto [got, closed] = readUntilClosed(fd, std::chrono::seconds(3));
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got;
  EXPECT_TRUE(closed);
  ::close(fd);
}

TEST_F(HttpTest, GarbageGets400) {
  int fd = connectRaw();
  std::string req = "NOT HTTP AT ALL\r\n\r\n";
  ASSERT_GT(::write(fd, req.data(), req.size()), 0);
  auto [got, closed] = readUntilClosed(fd, std::chrono::seconds(3));
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  ::close(fd);
}

// /metrics from a network not in metrics_allow needs the bearer token.
class HttpMetricsAccessTest : public ModuleTest {
 protected:
  HttpMetricsAccessTest()
      : ModuleTest(
            "[http]\nmetrics_allow = [\"10.0.0.0/8\"]\nmetrics_token = \"s3cret-token\"\n"
            "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n") {}
};

TEST_F(HttpMetricsAccessTest, TokenRequiredOutsideAllowedNetworks) {
  HttpClient http;
  const std::string u = "http://127.0.0.1:" + std::to_string(server.httpPort()) + "/metrics";
  auto denied = http.get(u);
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.body.find("parley_"), std::string::npos);
  EXPECT_EQ(http.get(u, {"Authorization: Bearer wrong-token!"}).status, 401);
  auto ok = http.get(u, {"Authorization: Bearer s3cret-token"});
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("parley_sessions"), std::string::npos);
  // /health stays open to load balancers.
  EXPECT_EQ(http.get("http://127.0.0.1:" + std::to_string(server.httpPort()) + "/health").status, 200);
}

// One address may hold max_connections_per_ip HTTP connections; the next is closed before any work, and
// a slot frees when one of them closes.
class HttpPerIpLimitTest : public ModuleTest {
 protected:
  HttpPerIpLimitTest()
      : ModuleTest(
            "[http]\nmax_connections_per_ip = 3\n"
            "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n") {}
  int connectRaw() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.httpPort());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  // Sends a keep-alive GET /health; true if the answer is 200.
  static bool healthy(int fd) {
    const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return false;
    std::string got;  // the whole answer: header and the body "ok\n" may come in separate reads
    while (got.find("\r\n\r\nok\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 3000) <= 0) return false;
      char buf[1024];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return false;
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got.rfind("HTTP/1.1 200", 0) == 0;
  }
};

TEST_F(HttpPerIpLimitTest, ExtraConnectionsFromOneAddressAreClosed) {
  std::vector<int> open;
  for (int i = 0; i < 3; ++i) {
    open.push_back(connectRaw());
    EXPECT_TRUE(healthy(open.back())) << "connection " << i << " is within the limit";
  }
  int extra = connectRaw();
  EXPECT_FALSE(healthy(extra)) << "a fourth connection from 127.0.0.1 was served";
  ::close(extra);
  EXPECT_TRUE(server.waitForLog("http.refused peer=127.0.0.1 reason=connections_per_ip limit=3"));
  // The others are untouched, and closing one lets a new one in.
  EXPECT_TRUE(healthy(open[0]));
  ::close(open[0]);
  int again = -1;
  bool served = false;
  for (int attempt = 0; attempt < 20 && !served; ++attempt) {  // the close reaches the server asynchronously
    if (again >= 0) ::close(again);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    again = connectRaw();
    served = healthy(again);
  }
  EXPECT_TRUE(served);
  ::close(again);
  for (std::size_t i = 1; i < open.size(); ++i) ::close(open[i]);
  HttpClient http;
  HttpResponse m;
  for (int attempt = 0; attempt < 20 && m.status != 200; ++attempt) {  // until the closes are seen
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    m = http.get("http://127.0.0.1:" + std::to_string(server.httpPort()) + "/metrics");
  }
  EXPECT_NE(m.body.find("parley_http_refused_connections_total 1"), std::string::npos) << m.body;
}

// With shutdown_delay, SIGTERM first turns /health to 503 while everything keeps serving (a load balancer
// takes the node out), then the server shuts down as usual.
class HttpShutdownDelayTest : public ModuleTest {
 protected:
  HttpShutdownDelayTest()
      : ModuleTest(
            "[http]\nshutdown_delay = 2\n"
            "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\ntls = false\n") {}
};

TEST_F(HttpShutdownDelayTest, HealthSays503WhileDraining) {
  const std::string health = "http://127.0.0.1:" + std::to_string(server.httpPort()) + "/health";
  HttpClient http;
  ASSERT_EQ(http.get(health).status, 200);
  auto alice = client("alice", "phone");
  const auto start = std::chrono::steady_clock::now();
  int exitStatus = -2;
  std::thread stopper([&] { exitStatus = server.stop(); });
  HttpResponse h;
  for (int i = 0; i < 50; ++i) {
    h = http.get(health);
    if (h.status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(h.status, 503) << h.error;
  EXPECT_EQ(h.body, "shutting down\n");
  // Still serving XMPP meanwhile: a ping round trip.
  alice->send("<iq type='get' id='still-up' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  EXPECT_TRUE(alice->expect(isIq().type("result").id("still-up")));
  stopper.join();
  EXPECT_EQ(exitStatus, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// Plain HTTP on a public address without a TLS-terminating proxy is a configuration error.
TEST(HttpConfigTest, PlainHttpOnlyOnLoopbackOrBehindProxy) {
  TestServer server;
  std::ofstream(server.dir() + "/bad.toml")
      << "[[hosts]]\ndomain = \"localhost\"\ntls_cert = \"x\"\ntls_key = \"x\"\n"
      << "[[http.listeners]]\naddress = \"0.0.0.0\"\nport = 0\ntls = false\n";
  auto [status, out] = runProgram({PARLEYCTL_PATH, "--config", server.dir() + "/bad.toml", "check"});
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("plain HTTP is only allowed on a loopback address"), std::string::npos) << out;
}

}  // namespace
}  // namespace parley::test
