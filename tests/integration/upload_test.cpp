// XEP-0363 HTTP File Upload through a real parleyd: slots requested over XMPP (libstrophe), files PUT
// and fetched over HTTPS with libcurl.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "integration/module_helpers.h"
#include "support/http_client.h"

// GCC 12's -Wmissing-field-initializers flags designated initializers that leave class-type members
// to their default member initializers (HttpRequest{.method = …, .url = …}); that is the intent here.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace parley::test {
namespace {

constexpr const char* kUploadNs = "urn:xmpp:http:upload:0";
constexpr std::int64_t kMiB = 1 << 20;

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

struct Slot {
  std::string put, get;
};

// Regular files under the upload directory (finished and partial).
std::size_t storedFiles(const TestServer& server) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(server.dir() + "/uploads", ec))
    if (e.is_regular_file()) ++n;
  return n;
}

class UploadTest : public ModuleTest {
 protected:
  UploadTest()
      : ModuleTest(
            "[http]\n"
            "cors_origins = [\"https://app.example\"]\n"
            "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\n"
            "[modules.upload]\n"
            "max_file_size = 16777216\n"   // 16 MiB
            "quota = 25165824\n"           // 24 MiB
            "cleanup_interval = 1\n") {}

  xml::ElementPtr requestSlot(XmppClient& c, const std::string& filename, std::int64_t size,
                              const std::string& type) {
    static int n = 0;
    const std::string id = "slot" + std::to_string(++n);
    return c.request("<iq type='get' id='" + id + "' to='upload.localhost'><request xmlns='" +
                         std::string(kUploadNs) + "' filename='" + filename + "' size='" + std::to_string(size) +
                         "'" + (type.empty() ? std::string() : " content-type='" + type + "'") + "/></iq>",
                     id);
  }
  Slot slot(XmppClient& c, const std::string& filename, std::int64_t size, const std::string& type) {
    auto reply = requestSlot(c, filename, size, type);
    Slot s;
    EXPECT_TRUE(isResult(reply)) << (reply ? reply->attr("type") : "no reply");
    if (!isResult(reply)) return s;
    const auto* slotEl = reply->child("slot", kUploadNs);
    EXPECT_TRUE(slotEl);
    if (!slotEl) return s;
    s.put = std::string(slotEl->child("put", kUploadNs)->attr("url"));
    s.get = std::string(slotEl->child("get", kUploadNs)->attr("url"));
    return s;
  }
  HttpResponse put(const std::string& url, const std::string& body, const std::string& type) {
    HttpClient http;
    return http.request({.method = "PUT", .url = url, .body = body, .headers = {"Content-Type: " + type},
                         .sendBody = true});
  }
  std::string base() const { return "https://localhost:" + std::to_string(server.httpPort()); }
};

// XEP-0363 §3: the server lists the service; its disco#info has the feature and max-file-size.
TEST_F(UploadTest, ServiceIsDiscoveredWithMaxFileSize) {
  auto alice = client("alice", "phone");
  auto items = alice->request(
      "<iq type='get' id='i1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>", "i1");
  ASSERT_TRUE(isResult(items));
  bool listed = false;
  for (const auto& it : items->child("query", "http://jabber.org/protocol/disco#items")
                            ->childrenNamed("item", "http://jabber.org/protocol/disco#items"))
    listed |= it->attr("jid") == "upload.localhost";
  EXPECT_TRUE(listed);

  auto info = alice->request(
      "<iq type='get' id='i2' to='upload.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
      "i2");
  ASSERT_TRUE(isResult(info));
  const auto* q = info->child("query", "http://jabber.org/protocol/disco#info");
  bool feature = false;
  for (const auto& f : q->childrenNamed("feature", "http://jabber.org/protocol/disco#info"))
    feature |= f->attr("var") == kUploadNs;
  EXPECT_TRUE(feature);
  const auto* x = q->child("x", "jabber:x:data");
  ASSERT_TRUE(x);
  std::string formType, max;
  for (const auto& f : x->childrenNamed("field", "jabber:x:data")) {
    if (f->attr("var") == "FORM_TYPE") formType = f->childText("value", "jabber:x:data");
    if (f->attr("var") == "max-file-size") max = f->childText("value", "jabber:x:data");
  }
  EXPECT_EQ(formType, kUploadNs);
  EXPECT_EQ(max, "16777216");
}

// The whole round: slot, PUT of 10 MiB, GET byte-identical, a Range of it, HEAD.
TEST_F(UploadTest, TenMebibytesRoundTripWithRange) {
  auto alice = client("alice", "phone");
  const std::string data = randomBytes(10 * kMiB, 1);
  Slot s = slot(*alice, "holiday video.bin", static_cast<std::int64_t>(data.size()), "application/octet-stream");
  ASSERT_FALSE(s.put.empty());
  EXPECT_EQ(s.get.rfind(base() + "/upload/", 0), 0u) << s.get;
  EXPECT_NE(s.get.find("/holiday%20video.bin"), std::string::npos) << s.get;
  EXPECT_NE(s.put.find("?e="), std::string::npos);

  auto r = put(s.put, data, "application/octet-stream");
  ASSERT_EQ(r.status, 201) << r.error << r.body;

  HttpClient http;
  auto g = http.get(s.get);
  ASSERT_EQ(g.status, 200) << g.error;
  EXPECT_EQ(g.body.size(), data.size());
  EXPECT_TRUE(g.body == data) << "downloaded bytes differ";
  EXPECT_EQ(g.header("content-type"), "application/octet-stream");
  EXPECT_EQ(g.header("content-disposition").rfind("attachment; filename=\"holiday video.bin\"", 0), 0u)
      << g.header("content-disposition");
  EXPECT_EQ(g.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(g.header("accept-ranges"), "bytes");

  // RFC 9110 §14: one range -> 206 with Content-Range; the same connection is reused (keep-alive).
  auto part = http.get(s.get, {"Range: bytes=1000000-1999999"});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.header("content-range"), "bytes 1000000-1999999/" + std::to_string(data.size()));
  EXPECT_TRUE(part.body == data.substr(1000000, 1000000));
  EXPECT_EQ(part.newConnections, 0) << "the kept-alive connection was not reused";
  auto tail = http.get(s.get, {"Range: bytes=-10"});
  ASSERT_EQ(tail.status, 206);
  EXPECT_TRUE(tail.body == data.substr(data.size() - 10));
  // Beyond the end: 416 with the size.
  auto beyond = http.get(s.get, {"Range: bytes=20000000-"});
  EXPECT_EQ(beyond.status, 416);
  EXPECT_EQ(beyond.header("content-range"), "bytes */" + std::to_string(data.size()));

  auto head = http.request({.method = "HEAD", .url = s.get});
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(data.size()));
  EXPECT_TRUE(head.body.empty());

  // The same slot cannot be used twice.
  auto again = put(s.put, data, "application/octet-stream");
  EXPECT_EQ(again.status, 409);
}

// Images are shown inline, everything else is an attachment; non-ASCII names are percent-encoded.
TEST_F(UploadTest, ImagesInlineWithEncodedName) {
  auto alice = client("alice", "phone");
  const std::string data = randomBytes(1000, 2);
  Slot s = slot(*alice, "tr\xc3\xa8s cool.jpg", 1000, "image/jpeg");
  ASSERT_FALSE(s.put.empty());
  EXPECT_NE(s.get.find("/tr%C3%A8s%20cool.jpg"), std::string::npos) << s.get;
  ASSERT_EQ(put(s.put, data, "image/jpeg").status, 201);
  HttpClient http;
  auto g = http.get(s.get);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.header("content-type"), "image/jpeg");
  EXPECT_EQ(g.header("content-disposition").rfind("inline;", 0), 0u);
  EXPECT_NE(g.header("content-disposition").find("filename*=UTF-8''tr%C3%A8s%20cool.jpg"), std::string::npos);
  EXPECT_TRUE(g.body == data);
}

// XEP-0363 §5: too large -> not-acceptable with <file-too-large><max-file-size/>.
TEST_F(UploadTest, FileTooLargeNamesTheMaximum) {
  auto alice = client("alice", "phone");
  auto reply = requestSlot(*alice, "big.bin", 16 * kMiB + 1, "application/octet-stream");
  ASSERT_TRUE(isError(reply, "not-acceptable"));
  const auto* err = reply->child("error", "jabber:client");
  EXPECT_EQ(err->attr("type"), "modify");
  const auto* tooLarge = err->child("file-too-large", kUploadNs);
  ASSERT_TRUE(tooLarge);
  EXPECT_EQ(tooLarge->childText("max-file-size", kUploadNs), "16777216");
  // Missing size or filename: bad-request.
  EXPECT_TRUE(isError(alice->request("<iq type='get' id='b1' to='upload.localhost'><request xmlns='" +
                                         std::string(kUploadNs) + "' filename='x'/></iq>",
                                     "b1"),
                      "bad-request"));
}

// Every way a PUT can be wrong is refused with its status, and nothing is stored.
TEST_F(UploadTest, BadPutsAreRefusedAndNothingIsStored) {
  auto alice = client("alice", "phone");
  const std::string data = randomBytes(100000, 3);
  Slot s = slot(*alice, "a.png", static_cast<std::int64_t>(data.size()), "image/png");
  ASSERT_FALSE(s.put.empty());

  // Signature changed in one character.
  std::string forged = s.put;
  char& last = forged.back();
  last = last == '0' ? '1' : '0';
  EXPECT_EQ(put(forged, data, "image/png").status, 403);
  // Expiry moved (the signature covers it).
  std::string later = s.put;
  auto e = later.find("?e=");
  later.replace(e + 3, 1, "9");
  EXPECT_EQ(put(later, data, "image/png").status, 403);
  // No signature at all.
  EXPECT_EQ(put(s.get, data, "image/png").status, 403);
  // More bytes than the slot: 413; fewer: 400.
  EXPECT_EQ(put(s.put, data + "x", "image/png").status, 413);
  EXPECT_EQ(put(s.put, data.substr(1), "image/png").status, 400);
  // Another Content-Type than the slot's (XEP-0363 §6).
  EXPECT_EQ(put(s.put, data, "text/html").status, 415);
  // Another filename in the path than the slot's.
  std::string renamed = s.put;
  renamed.replace(renamed.find("/a.png"), 6, "/b.png");
  EXPECT_EQ(put(renamed, data, "image/png").status, 404);

  HttpClient http;
  EXPECT_EQ(http.get(s.get).status, 404);
  EXPECT_EQ(storedFiles(server), 0u);
  // The slot is still good for the right upload.
  EXPECT_EQ(put(s.put, data, "image/png").status, 201);
  EXPECT_EQ(http.get(s.get).status, 200);
  EXPECT_EQ(storedFiles(server), 1u);
}

// The quota counts finished files: two slots may be handed out, but the PUT that would exceed the
// quota is refused (507) and not stored; the next slot request gets resource-constraint.
TEST_F(UploadTest, QuotaIsEnforcedOverXmppAndHttp) {
  auto bob = client("bob", "phone");
  const std::string data = randomBytes(static_cast<std::size_t>(13 * kMiB), 4);
  Slot a = slot(*bob, "a.bin", static_cast<std::int64_t>(data.size()), "application/octet-stream");
  Slot b = slot(*bob, "b.bin", static_cast<std::int64_t>(data.size()), "application/octet-stream");
  ASSERT_FALSE(a.put.empty());
  ASSERT_FALSE(b.put.empty());
  ASSERT_EQ(put(a.put, data, "application/octet-stream").status, 201);
  auto over = put(b.put, data, "application/octet-stream");
  EXPECT_EQ(over.status, 507) << over.body;
  HttpClient http;
  EXPECT_EQ(http.get(b.get).status, 404);
  EXPECT_EQ(storedFiles(server), 1u);

  auto reply = requestSlot(*bob, "c.bin", 12 * kMiB, "application/octet-stream");
  ASSERT_TRUE(isError(reply, "resource-constraint"));
  const auto* err = reply->child("error", "jabber:client");
  EXPECT_EQ(err->attr("type"), "wait");
  EXPECT_NE(err->childText("text", kStanzasNs).find("Quota exceeded"), std::string::npos);
  // Another user has their own quota.
  auto carol = client("carol", "phone");
  EXPECT_TRUE(isResult(requestSlot(*carol, "c.bin", 12 * kMiB, "application/octet-stream")));
}

// Nothing but the random id and the slot's filename ever names a file: traversal attempts find nothing.
TEST_F(UploadTest, PathTraversalFindsNothing) {
  auto alice = client("alice", "phone");
  Slot s = slot(*alice, "x.txt", 5, "text/plain");
  ASSERT_FALSE(s.put.empty());
  ASSERT_EQ(put(s.put, "hello", "text/plain").status, 201);
  const std::string id = s.get.substr(s.get.find("/upload/") + 8, 32);
  HttpClient http;
  for (const std::string& path : std::vector<std::string>{
           "/upload/../parley.toml", "/upload/%2e%2e/%2e%2e/parley.toml", "/upload/" + id + "/../../parley.toml",
        "/upload/" + id + "/..%2f..%2fparley.toml", "/upload/" + id + "/%2e%2e%2fscram-secret",
        "/upload/../../../../etc/passwd", "/upload/" + id, "/upload/" + id + "/", "/upload/..%2fparley.db/x",
        "/upload/" + id.substr(0, 31) + "./x.txt", "/upload/%00/x.txt", "/upload/" + id + "/x.txt%00.png"}) {
    auto r = http.get(base() + path);
    EXPECT_TRUE(r.status == 404 || r.status == 400) << path << " -> " << r.status;
    EXPECT_EQ(r.body.find("[[hosts]]"), std::string::npos) << path;
    auto p = http.request({.method = "PUT", .url = base() + path + "?e=99999999999&s=00", .body = "x"});
    EXPECT_TRUE(p.status == 404 || p.status == 400 || p.status == 403) << path << " -> " << p.status;
  }
  EXPECT_EQ(http.get(s.get).body, "hello");
  EXPECT_EQ(storedFiles(server), 1u);
}

// Deleting the account (here with parleyctl, from outside parleyd) deletes its files: the rows go at
// once, the bytes with the next sweep.
TEST_F(UploadTest, FilesAreDeletedWithTheAccount) {
  auto carol = client("carol", "phone");
  Slot s = slot(*carol, "c.txt", 4, "text/plain");
  ASSERT_FALSE(s.put.empty());
  ASSERT_EQ(put(s.put, "data", "text/plain").status, 201);
  ASSERT_EQ(storedFiles(server), 1u);
  carol.reset();
  auto [status, out] = runProgram({PARLEYCTL_PATH, "--config", server.configPath(), "user", "del", "carol@localhost"});
  ASSERT_EQ(status, 0) << out;
  HttpClient http;
  EXPECT_EQ(http.get(s.get).status, 404);
  ASSERT_TRUE(server.waitForLog("upload.cleanup removed=1", std::chrono::seconds(10)));
  EXPECT_EQ(storedFiles(server), 0u);
}

// Browsers: a CORS preflight for the PUT is answered for a configured origin, not for others.
TEST_F(UploadTest, CorsPreflight) {
  HttpClient http;
  auto ok = http.request({.method = "OPTIONS",
                          .url = base() + "/upload/0123456789abcdef0123456789abcdef/x.png",
                          .headers = {"Origin: https://app.example", "Access-Control-Request-Method: PUT",
                                      "Access-Control-Request-Headers: content-type"}});
  EXPECT_EQ(ok.status, 204);
  EXPECT_EQ(ok.header("access-control-allow-origin"), "https://app.example");
  EXPECT_NE(ok.header("access-control-allow-methods").find("PUT"), std::string::npos);
  EXPECT_EQ(ok.header("access-control-allow-headers"), "content-type");
  auto other = http.request({.method = "OPTIONS",
                             .url = base() + "/upload/0123456789abcdef0123456789abcdef/x.png",
                             .headers = {"Origin: https://evil.example", "Access-Control-Request-Method: PUT"}});
  EXPECT_EQ(other.header("access-control-allow-origin"), "");
  // A simple GET from the allowed origin carries the header too.
  auto get = http.get(base() + "/upload/0123456789abcdef0123456789abcdef/x.png", {"Origin: https://app.example"});
  EXPECT_EQ(get.status, 404);
  EXPECT_EQ(get.header("access-control-allow-origin"), "https://app.example");
}

class UploadExpiryTest : public ModuleTest {
 protected:
  UploadExpiryTest()
      : ModuleTest(
            "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\n"
            "[modules.upload]\nslot_lifetime = 1\n") {}
};

// A PUT URL used after its expiry is refused (and the file not stored).
TEST_F(UploadExpiryTest, ExpiredUrlIsRefused) {
  auto alice = client("alice", "phone");
  auto reply = alice->request("<iq type='get' id='e1' to='upload.localhost'><request xmlns='" +
                                  std::string(kUploadNs) + "' filename='late.txt' size='4' content-type='text/plain'/></iq>",
                              "e1");
  ASSERT_TRUE(isResult(reply));
  const std::string putUrl(reply->child("slot", kUploadNs)->child("put", kUploadNs)->attr("url"));
  const std::string getUrl(reply->child("slot", kUploadNs)->child("get", kUploadNs)->attr("url"));
  // The URL is valid until e (unix seconds) inclusive; wait until the clock has passed it.
  const auto e = std::stoll(putUrl.substr(putUrl.find("?e=") + 3));
  while (std::chrono::system_clock::now() <= std::chrono::system_clock::time_point(std::chrono::seconds(e + 1)))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  HttpClient http;
  auto r = http.request({.method = "PUT", .url = putUrl, .body = "late", .headers = {"Content-Type: text/plain"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("expired"), std::string::npos);
  EXPECT_EQ(http.get(getUrl).status, 404);
}

// A measurement, not a check (DISABLED_ unless asked for): a 100 MiB file PUT and GET over HTTPS, the
// throughput of each and parleyd's peak RSS (VmHWM) after them. Run against a release build:
//   PARLEY_TEST_PARLEYD=build-http-rel/parleyd build-http/tests/parley_integration_tests
//     --gtest_also_run_disabled_tests --gtest_filter='UploadBench.*'   (one command line)
long vmHwmKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

TEST(UploadBench, DISABLED_HundredMebibytes) {
  TestServerOptions o;
  o.logLevel = "info";
  o.extra = "[[http.listeners]]\naddress = \"127.0.0.1\"\nport = 0\n[modules.upload]\nmax_file_size = 209715200\n";
  TestServer server(o);
  server.addUser("alice", "alice-secret");
  server.start();
  XmppClient alice(server.jid("alice") + "/bench", "alice-secret", server.c2sPort());
  ASSERT_TRUE(alice.connect());
  const long before = vmHwmKiB(server.pid());
  const std::size_t size = 100u << 20;
  const std::string data = randomBytes(size, 9);
  auto reply = alice.request("<iq type='get' id='b1' to='upload.localhost'><request xmlns='" + std::string(kUploadNs) +
                                 "' filename='big.bin' size='" + std::to_string(size) +
                                 "' content-type='application/octet-stream'/></iq>",
                             "b1");
  ASSERT_TRUE(isResult(reply));
  const std::string putUrl(reply->child("slot", kUploadNs)->child("put", kUploadNs)->attr("url"));
  const std::string getUrl(reply->child("slot", kUploadNs)->child("get", kUploadNs)->attr("url"));
  HttpClient http;
  auto t0 = std::chrono::steady_clock::now();
  auto p = http.request({.method = "PUT", .url = putUrl, .body = data,
                         .headers = {"Content-Type: application/octet-stream"}, .timeoutSeconds = 300});
  const double putSecs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(p.status, 201) << p.error;
  const long afterPut = vmHwmKiB(server.pid());
  t0 = std::chrono::steady_clock::now();
  auto g = http.request({.method = "GET", .url = getUrl, .timeoutSeconds = 300});
  const double getSecs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(g.status, 200) << g.error;
  ASSERT_TRUE(g.body == data);
  const long afterGet = vmHwmKiB(server.pid());
  std::printf("upload.bench size=%zu put_s=%.3f put_MiBps=%.1f get_s=%.3f get_MiBps=%.1f "
              "vmhwm_kib_before=%ld after_put=%ld after_get=%ld\n",
              size, putSecs, 100 / putSecs, getSecs, 100 / getSecs, before, afterPut, afterGet);
}

}  // namespace
}  // namespace parley::test
