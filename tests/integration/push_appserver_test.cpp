// The built-in XEP-0357 app server (push.localhost) against local stand-ins for Google's OAuth2 token
// endpoint, FCM HTTP v1 and APNs: push_fake_server.py, a real HTTP/2 server over TLS (python3-h2, ALPN
// h2) that verifies the JWTs with the public keys (RS256 for the service account, ES256 for the .p8
// key), records every request and answers like the real services, errors included.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "integration/module_helpers.h"
#include "push/jwt.h"

namespace parley::test {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kCommands = "http://jabber.org/protocol/commands";
constexpr const char* kForms = "jabber:x:data";

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto [status, out] = runProgram(argv);
  ASSERT_EQ(status, 0) << out;
}

// Keys and certificate for one test: the TLS certificate of the fake services (localhost and
// 127.0.0.1), a Google-style service account (RSA) and an APNs .p8 key (EC P-256).
struct Credentials {
  std::string dir, cert, certKey, serviceAccount, saPublic, p8, p8Public;
  void make(const std::string& base) {
    dir = base + "/push-creds";
    fs::create_directories(dir);
    cert = dir + "/fake.crt";
    certKey = dir + "/fake.key";
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             certKey, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1"});
    const std::string saKey = dir + "/sa.pem";
    openssl({"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", saKey});
    saPublic = dir + "/sa.pub";
    openssl({"pkey", "-in", saKey, "-pubout", "-out", saPublic});
    p8 = dir + "/AuthKey_KEYID12345.p8";
    openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p8});
    p8Public = dir + "/p8.pub";
    openssl({"pkey", "-in", p8, "-pubout", "-out", p8Public});
    serviceAccount = dir + "/service-account.json";
    json sa = {{"type", "service_account"},
               {"project_id", "parley-test"},
               {"private_key_id", "kid-1"},
               {"private_key", readFile(saKey)},
               {"client_email", "push@parley-test.iam.gserviceaccount.com"},
               {"token_uri", "https://oauth2.googleapis.com/token"}};  // overridden by fcm_token_uri
    std::ofstream(serviceAccount) << sa.dump(2);
  }
};

// push_fake_server.py as a child process: stdin scripts answers, stdout lines are the requests.
class FakePushServer {
 public:
  void start(const Credentials& c) {
    int in[2], out[2];
    ASSERT_EQ(pipe(in), 0);
    ASSERT_EQ(pipe(out), 0);
    const std::string script = std::string(PARLEY_INTEGRATION_DIR) + "/push_fake_server.py";
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      execl("/usr/bin/python3", "python3", script.c_str(), "--cert", c.cert.c_str(), "--key",
            c.certKey.c_str(), "--fcm-public-key", c.saPublic.c_str(), "--apns-public-key",
            c.p8Public.c_str(), "--apns-kid", "KEYID12345", "--apns-team", "TEAM123456",
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    control_ = in[1];
    reader_ = std::thread([this, fd = out[0]] {
      std::string buf;
      char chunk[4096];
      ssize_t n;
      while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        buf.append(chunk, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          auto j = json::parse(buf.substr(0, nl), nullptr, false);
          buf.erase(0, nl + 1);
          if (j.is_discarded()) continue;
          std::lock_guard lock(mu_);
          if (j.contains("ready"))
            port_ = j["ready"];
          else if (j.contains("scripted"))
            ++scripted_;
          else
            requests_.push_back(j);
          cv_.notify_all();
        }
      }
      close(fd);
    });
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, 20s, [&] { return port_ != 0; })) << "fake push server did not start";
  }
  ~FakePushServer() {
    if (control_ >= 0) close(control_);  // EOF on stdin: the server exits
    if (pid_ > 0) {
      for (int i = 0; i < 50 && waitpid(pid_, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(20ms);
      if (waitpid(pid_, nullptr, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
    if (reader_.joinable()) reader_.join();
  }
  std::uint16_t port() const { return port_; }
  void script(const json& j) {
    const std::string line = j.dump() + "\n";
    ASSERT_EQ(write(control_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    std::unique_lock lock(mu_);
    const int want = ++scriptsSent_;
    ASSERT_TRUE(cv_.wait_for(lock, 5s, [&] { return scripted_ >= want; }));
  }
  // Requests of a kind ("fcm", "apns", "token") received so far.
  std::vector<json> requests(const std::string& kind) {
    std::lock_guard lock(mu_);
    std::vector<json> out;
    for (const auto& r : requests_)
      if (r["kind"] == kind) out.push_back(r);
    return out;
  }
  // Waits until at least `n` requests of that kind arrived.
  std::vector<json> waitFor(const std::string& kind, std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] {
      std::size_t c = 0;
      for (const auto& r : requests_)
        if (r["kind"] == kind) ++c;
      return c >= n;
    });
    lock.unlock();
    return requests(kind);
  }

 private:
  pid_t pid_ = -1;
  int control_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint16_t port_ = 0;
  int scripted_ = 0, scriptsSent_ = 0;
  std::vector<json> requests_;
};

// JWT header and claims (not verified here: the fake server verified the signature, status 200 says so).
json jwtPart(const std::string& token, int part) {
  std::size_t a = token.find('.'), b = token.find('.', a + 1);
  auto decoded = push::base64UrlDecode(part == 0 ? token.substr(0, a) : token.substr(a + 1, b - a - 1));
  return json::parse(decoded.value_or(""), nullptr, false);
}

class PushAppServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/parley-push-XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    dir_ = tmpl;
    creds.make(dir_);
    fake.start(creds);
    const std::string base = "https://127.0.0.1:" + std::to_string(fake.port());
    TestServerOptions o;
    o.extra =
        "[modules]\nenabled = [\"disco\", \"ping\", \"offline\", \"sm\", \"carbons\", \"csi\", \"muc\", "
        "\"push\", \"adhoc\", \"push_appserver\"]\n"
        "[modules.push]\nmin_interval_ms = 0\ninclude_body = true\n"
        "[modules.push_appserver]\nca_file = \"" +
        creds.cert +
        "\"\n"
        "forward_sender = true\nforward_body = true\nbackoff_base_ms = 200\nmax_attempts = "
        "4\npublishes_per_minute = 100000\n"
        "fcm_service_account = \"" +
        creds.serviceAccount +
        "\"\n"
        "fcm_endpoint = \"" +
        base + "\"\nfcm_token_uri = \"" + base +
        "/token\"\n"
        "apns_key_file = \"" +
        creds.p8 +
        "\"\napns_key_id = \"KEYID12345\"\napns_team_id = \"TEAM123456\"\n"
        "apns_topic = \"org.parley.app\"\napns_endpoint = \"" +
        base +
        "\"\n"
        "apns_sandbox_endpoint = \"https://localhost:" +
        std::to_string(fake.port()) + "\"\n";
    server = std::make_unique<TestServer>(o);
    for (const char* u : {"alice", "bob", "carol"}) server->addUser(u, std::string(u) + "-secret");
    server->start();
  }
  void TearDown() override {
    server.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::unique_ptr<XmppClient> client(const std::string& user, const std::string& resource) {
    auto c =
        std::make_unique<XmppClient>(server->jid(user) + "/" + resource, user + "-secret", server->c2sPort());
    EXPECT_TRUE(c->connect()) << c->error();
    return c;
  }

  // XEP-0050 register command on push.localhost (one stage, as Conversations sends it): node, secret.
  std::pair<std::string, std::string> registerDevice(XmppClient& c, const std::string& command,
                                                     const std::string& fields) {
    auto r =
        c.request("<iq type='set' id='reg' to='push.localhost'><command xmlns='" + std::string(kCommands) +
                      "' node='" + command + "' action='execute'><x xmlns='jabber:x:data' type='submit'>" +
                      fields + "</x></command></iq>",
                  "reg");
    EXPECT_TRUE(isResult(r)) << "registration " << command << " failed";
    if (!isResult(r)) return {};
    const auto* cmd = r->child("command", kCommands);
    EXPECT_EQ(cmd->attr("status"), "completed");
    std::string node, secret;
    if (const auto* x = cmd->child("x", kForms))
      for (const auto& f : x->childrenNamed("field", kForms)) {
        if (f->attr("var") == "node") node = f->childText("value", kForms);
        if (f->attr("var") == "secret") secret = f->childText("value", kForms);
      }
    EXPECT_FALSE(node.empty());
    EXPECT_FALSE(secret.empty());
    return {node, secret};
  }

  void enable(XmppClient& c, const std::string& node, const std::string& secret) {
    ASSERT_TRUE(isResult(
        c.request("<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='" +
                      node + "'><x xmlns='jabber:x:data' type='submit'>" +
                      field("FORM_TYPE", "http://jabber.org/protocol/pubsub#publish-options") +
                      field("secret", secret) + "</x></enable></iq>",
                  "en")));
  }

  void chat(XmppClient& from, const std::string& to, const std::string& body) {
    from.send("<message type='chat' to='" + to + "'><body>" + body + "</body></message>");
  }

  std::string dir_;
  Credentials creds;
  FakePushServer fake;
  std::unique_ptr<TestServer> server;
};

// XEP-0357 §4: the app server is a pubsub/push service offering the registration commands.
TEST_F(PushAppServerTest, DiscoveryAndRegistration) {
  auto alice = client("alice", "phone");
  auto info = alice->request(
      "<iq type='get' id='i' to='push.localhost'><query "
      "xmlns='http://jabber.org/protocol/disco#info'/></iq>",
      "i");
  ASSERT_TRUE(isResult(info));
  const auto* id = info->child("query", "http://jabber.org/protocol/disco#info")
                       ->child("identity", "http://jabber.org/protocol/disco#info");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->attr("category"), "pubsub");
  EXPECT_EQ(id->attr("type"), "push");
  auto [node, secret] =
      registerDevice(*alice, "register-push-fcm", field("token", "tok-A") + field("android-id", "dev1"));
  // The same device again (new token): the same node and secret.
  auto again =
      registerDevice(*alice, "register-push-fcm", field("token", "tok-B") + field("android-id", "dev1"));
  EXPECT_EQ(again.first, node);
  EXPECT_EQ(again.second, secret);
  auto other =
      registerDevice(*alice, "register-push-apns", field("token", "aa11") + field("device-id", "ios1"));
  EXPECT_NE(other.first, node);
  // A missing required field is a bad payload (XEP-0050 §6).
  auto bad = alice->request(
      "<iq type='set' id='b' to='push.localhost'><command xmlns='" + std::string(kCommands) +
          "' node='register-push-fcm' action='execute'><x xmlns='jabber:x:data' type='submit'>" +
          field("token", "t") + "</x></command></iq>",
      "b");
  EXPECT_TRUE(isError(bad, "bad-request"));
}

// FCM: the OAuth2 exchange (RS256 assertion verified by the fake token endpoint), the access token
// cached for the next send, the v1 message with data payload and Android priority.
TEST_F(PushAppServerTest, FcmDeliveryWithOAuth2Token) {
  {
    auto alice = client("alice", "phone");
    auto [node, secret] = registerDevice(*alice, "register-push-fcm",
                                         field("token", "fcm-token-1") + field("android-id", "a1"));
    enable(*alice, node, secret);
  }
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "hello fcm");
  auto sends = fake.waitFor("fcm", 1);
  ASSERT_EQ(sends.size(), 1u);
  auto tokens = fake.requests("token");
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0]["status"], 200) << tokens[0].dump();
  const auto& s = sends[0];
  EXPECT_EQ(s["status"], 200) << s.dump();
  EXPECT_EQ(s["path"], "/v1/projects/parley-test/messages:send");
  EXPECT_EQ(s["headers"][":method"], "POST");
  EXPECT_TRUE(std::string(s["headers"]["authorization"]).starts_with("Bearer ya29.fake-"));
  auto body = json::parse(std::string(s["body"]));
  EXPECT_EQ(body["message"]["token"], "fcm-token-1");
  EXPECT_EQ(body["message"]["android"]["priority"], "HIGH");
  EXPECT_EQ(body["message"]["data"]["type"], "message");
  EXPECT_EQ(body["message"]["data"]["count"], "1");
  EXPECT_EQ(body["message"]["data"]["sender"], "carol@localhost/desk");
  EXPECT_EQ(body["message"]["data"]["body"], "hello fcm");
  // The assertion's claims, as Google wants them.
  std::string form = tokens[0]["body"];
  auto pos = form.find("assertion=");
  ASSERT_NE(pos, std::string::npos);
  auto claims = jwtPart(form.substr(pos + 10), 1);
  EXPECT_EQ(claims["iss"], "push@parley-test.iam.gserviceaccount.com");
  EXPECT_EQ(claims["scope"], "https://www.googleapis.com/auth/firebase.messaging");
  EXPECT_EQ(jwtPart(form.substr(pos + 10), 0)["kid"], "kid-1");
  chat(*carol, "alice@localhost", "again");
  ASSERT_EQ(fake.waitFor("fcm", 2).size(), 2u);
  EXPECT_EQ(fake.requests("token").size(), 1u) << "the access token is cached";
}

// The end-to-end path on a phone that lost its connection: stream management keeps the session
// hibernated, exactly one APNs notification goes out for the message, and after resumption nothing is
// lost. Headers and the ES256 provider token as APNs requires them.
TEST_F(PushAppServerTest, HibernatedSessionGetsExactlyOneApnsPushAndLosesNothing) {
  XmppClient alice(server->jid("alice") + "/iphone", "alice-secret", server->c2sPort());
  alice.useStreamManagement();
  ASSERT_TRUE(alice.connect()) << alice.error();
  alice.becomeAvailable();
  ASSERT_TRUE(server->waitForLog("sm.enabled"));
  auto [node, secret] = registerDevice(alice, "register-push-apns",
                                       field("token", "0a1b2c3d4e") + field("device-id", "iphone-1"));
  enable(alice, node, secret);
  auto bob = client("bob", "laptop");
  chat(*bob, "alice@localhost", "while connected");
  ASSERT_TRUE(alice.expect(isMessage().body("while connected")));
  alice.cutConnection();
  ASSERT_TRUE(server->waitForLog("c2s.hibernated"));
  chat(*bob, "alice@localhost", "wake up");
  auto pushes = fake.waitFor("apns", 1);
  ASSERT_EQ(pushes.size(), 1u);
  std::this_thread::sleep_for(700ms);
  pushes = fake.requests("apns");
  ASSERT_EQ(pushes.size(), 1u) << "exactly one notification for one message";
  const auto& p = pushes[0];
  EXPECT_EQ(p["status"], 200) << p.dump();  // the fake APNs verified the ES256 token with the public key
  EXPECT_EQ(p["path"], "/3/device/0a1b2c3d4e");
  const auto& h = p["headers"];
  EXPECT_EQ(h["apns-topic"], "org.parley.app");
  EXPECT_EQ(h["apns-push-type"], "alert");
  EXPECT_EQ(h["apns-priority"], "10");
  EXPECT_GT(std::stoll(std::string(h["apns-expiration"])), static_cast<long long>(time(nullptr)));
  EXPECT_FALSE(std::string(h["apns-collapse-id"]).empty());
  const std::string bearer = h["authorization"];
  ASSERT_TRUE(bearer.starts_with("bearer "));
  EXPECT_EQ(jwtPart(bearer.substr(7), 0)["kid"], "KEYID12345");
  EXPECT_EQ(jwtPart(bearer.substr(7), 1)["iss"], "TEAM123456");
  auto payload = json::parse(std::string(p["body"]));
  EXPECT_EQ(payload["aps"]["alert"]["body"], "wake up");
  EXPECT_EQ(payload["aps"]["badge"], 1);
  ASSERT_TRUE(alice.reconnectResuming()) << alice.error();
  EXPECT_TRUE(alice.expect(isMessage().body("wake up")));
  chat(*bob, "alice@localhost", "after resume");
  EXPECT_TRUE(alice.expect(isMessage().body("after resume")));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake.requests("apns").size(), 1u) << "an active device is not pushed";
}

// 429 with Retry-After is retried no sooner than asked; 503 is retried with growing backoff.
TEST_F(PushAppServerTest, RetriesHonourRetryAfterAndBackOff) {
  {
    auto alice = client("alice", "phone");
    auto [node, secret] =
        registerDevice(*alice, "register-push-apns", field("token", "feed01") + field("device-id", "i1"));
    enable(*alice, node, secret);
  }
  fake.script({{"kind", "apns"},
               {"status", 429},
               {"body", {{"reason", "TooManyRequests"}}},
               {"headers", {{"retry-after", "1"}}}});
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "r1");
  auto reqs = fake.waitFor("apns", 2, 8s);
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0]["status"], 429);
  EXPECT_EQ(reqs[1]["status"], 200);
  EXPECT_GE(double(reqs[1]["t"]) - double(reqs[0]["t"]), 0.95) << "Retry-After: 1 was not honoured";
  fake.script(
      {{"kind", "apns"}, {"status", 503}, {"body", {{"reason", "ServiceUnavailable"}}}, {"times", 2}});
  chat(*carol, "alice@localhost", "r2");
  reqs = fake.waitFor("apns", 5, 8s);
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[2]["status"], 503);
  EXPECT_EQ(reqs[3]["status"], 503);
  EXPECT_EQ(reqs[4]["status"], 200);
  const double gap1 = double(reqs[3]["t"]) - double(reqs[2]["t"]);
  const double gap2 = double(reqs[4]["t"]) - double(reqs[3]["t"]);
  EXPECT_GE(gap1, 0.09);  // base 200 ms, jitter down to half
  EXPECT_GE(gap2, 0.19);  // doubled
}

// Dead tokens: FCM UNREGISTERED and APNs 410 remove the device; the next publish is refused
// (item-not-found) and the user's server disables the registration (XEP-0357 §7).
TEST_F(PushAppServerTest, DeadTokensAreRemovedAndRegistrationsDisabled) {
  {
    auto alice = client("alice", "phone");
    auto fcm =
        registerDevice(*alice, "register-push-fcm", field("token", "dead-fcm") + field("android-id", "a"));
    enable(*alice, fcm.first, fcm.second);
    auto bob = client("bob", "phone");
    auto apns =
        registerDevice(*bob, "register-push-apns", field("token", "deadbeef") + field("device-id", "b"));
    enable(*bob, apns.first, apns.second);
  }
  fake.script({{"kind", "fcm"},
               {"status", 404},
               {"body",
                {{"error",
                  {{"code", 404},
                   {"status", "NOT_FOUND"},
                   {"message", "Requested entity was not found."},
                   {"details",
                    {{{"@type", "type.googleapis.com/google.firebase.fcm.v1.FcmError"},
                      {"errorCode", "UNREGISTERED"}}}}}}}}});
  fake.script({{"kind", "apns"}, {"status", 410}, {"body", {{"reason", "Unregistered"}, {"timestamp", 1}}}});
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "to a dead phone");
  chat(*carol, "bob@localhost", "to a dead iphone");
  ASSERT_EQ(fake.waitFor("fcm", 1).size(), 1u);
  ASSERT_EQ(fake.waitFor("apns", 1).size(), 1u);
  ASSERT_TRUE(server->waitForLog("push.token_dead provider=fcm"));
  ASSERT_TRUE(server->waitForLog("push.token_dead provider=apns"));
  const auto mark = server->logs().size();
  chat(*carol, "alice@localhost", "again");
  chat(*carol, "bob@localhost", "again");
  ASSERT_TRUE(server->waitForLog("push.registration.disabled user=alice@localhost", 5s, mark));
  ASSERT_TRUE(server->waitForLog("push.registration.disabled user=bob@localhost", 5s, mark));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fake.requests("fcm").size(), 1u);
  EXPECT_EQ(fake.requests("apns").size(), 1u);
}

// A call invitation (XEP-0353 propose) is a VoIP push to the PushKit token: topic <bundle>.voip.
TEST_F(PushAppServerTest, CallInvitationIsAVoipPush) {
  {
    auto alice = client("alice", "phone");
    auto [node, secret] =
        registerDevice(*alice, "register-push-apns",
                       field("token", "a1a1") + field("device-id", "i") + field("voip-token", "b2b2"));
    enable(*alice, node, secret);
  }
  auto carol = client("carol", "desk");
  carol->send(
      "<message type='chat' to='alice@localhost'><propose xmlns='urn:xmpp:jingle-message:0' id='call1'>"
      "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose></message>");
  auto reqs = fake.waitFor("apns", 1);
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0]["path"], "/3/device/b2b2");
  EXPECT_EQ(reqs[0]["headers"]["apns-push-type"], "voip");
  EXPECT_EQ(reqs[0]["headers"]["apns-topic"], "org.parley.app.voip");
  EXPECT_EQ(reqs[0]["headers"]["apns-priority"], "10");
  EXPECT_EQ(reqs[0]["status"], 200);
}

// One multiplexed HTTP/2 connection per APNs environment: two production devices share one
// connection, the sandbox device uses another.
TEST_F(PushAppServerTest, OneConnectionPerApnsEnvironment) {
  {
    auto alice = client("alice", "phone");
    auto a = registerDevice(*alice, "register-push-apns", field("token", "0001") + field("device-id", "d1"));
    enable(*alice, a.first, a.second);
    auto b = registerDevice(*alice, "register-push-apns", field("token", "0002") + field("device-id", "d2"));
    enable(*alice, b.first, b.second);
    auto c = registerDevice(*alice, "register-push-apns",
                            field("token", "0003") + field("device-id", "d3") + field("sandbox", "true"));
    enable(*alice, c.first, c.second);
  }
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "m1");
  auto reqs = fake.waitFor("apns", 3);
  ASSERT_EQ(reqs.size(), 3u);
  chat(*carol, "alice@localhost", "m2");
  reqs = fake.waitFor("apns", 6);
  ASSERT_EQ(reqs.size(), 6u);
  std::map<std::string, std::set<int>> conns;
  for (const auto& r : reqs) conns[r["path"]].insert(int(r["conn"]));
  std::set<int> prod, sandbox;
  for (auto t : {"0001", "0002"})
    prod.insert(conns[std::string("/3/device/") + t].begin(), conns[std::string("/3/device/") + t].end());
  sandbox = conns["/3/device/0003"];
  EXPECT_EQ(prod.size(), 1u);
  EXPECT_EQ(sandbox.size(), 1u);
  EXPECT_NE(*prod.begin(), *sandbox.begin());
}

// XEP-0357 §8: a publish needs the node's secret; a wrong one is refused (auth) and the user's server
// disables the registration.
TEST_F(PushAppServerTest, WrongSecretIsRefused) {
  {
    auto alice = client("alice", "phone");
    auto [node, secret] =
        registerDevice(*alice, "register-push-fcm", field("token", "t") + field("android-id", "x"));
    enable(*alice, node, secret + "-wrong");
  }
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "hi");
  ASSERT_TRUE(server->waitForLog("push.registration.disabled user=alice@localhost"));
  EXPECT_TRUE(fake.requests("fcm").empty());
}

}  // namespace
}  // namespace parley::test

namespace parley::test {
namespace {

// Throughput of the app server to the local fake FCM/APNs (not run by default):
//   PARLEY_TEST_PARLEYD=build-push-rel/parleyd PUSH_BENCH_MESSAGES=500 PUSH_BENCH_DEVICES=20
//     parley_integration_tests --gtest_also_run_disabled_tests --gtest_filter='*DISABLED_Throughput*'
// One account with D registered devices (half FCM, half APNs) is offline; M messages arrive, each is
// published to the D devices' nodes and delivered: M*D notifications. Prints notifications per second
// (first message sent -> last provider request received) and parleyd's resident memory.
TEST_F(PushAppServerTest, DISABLED_Throughput) {
  const int messages =
      std::getenv("PUSH_BENCH_MESSAGES") ? std::atoi(std::getenv("PUSH_BENCH_MESSAGES")) : 500;
  const int devices = std::getenv("PUSH_BENCH_DEVICES") ? std::atoi(std::getenv("PUSH_BENCH_DEVICES")) : 20;
  {
    auto alice = client("alice", "phone");
    for (int d = 0; d < devices; ++d) {
      const bool fcm = d % 2 == 0;
      auto [node, secret] = fcm ? registerDevice(*alice, "register-push-fcm",
                                                 field("token", "f" + std::to_string(d)) +
                                                     field("android-id", "d" + std::to_string(d)))
                                : registerDevice(*alice, "register-push-apns",
                                                 field("token", "a0" + std::to_string(d)) +
                                                     field("device-id", "d" + std::to_string(d)));
      enable(*alice, node, secret);
    }
  }
  auto rss = [&] {
    std::ifstream st("/proc/" + std::to_string(server->pid()) + "/status");
    std::string line, out;
    while (std::getline(st, line))
      if (line.starts_with("VmRSS") || line.starts_with("VmHWM")) out += line + "  ";
    return out;
  };
  std::printf("before: %s\n", rss().c_str());
  auto carol = client("carol", "desk");
  const auto t0 = std::chrono::steady_clock::now();
  for (int m = 0; m < messages; ++m) {
    chat(*carol, "alice@localhost", "bench " + std::to_string(m));
    if (m % 50 == 49) carol->pump(1ms);
  }
  const std::size_t total = static_cast<std::size_t>(messages) * devices;
  std::size_t got = 0;
  for (int i = 0; i < 600 && got < total; ++i) {
    got = fake.waitFor("fcm", total, 100ms).size() + fake.requests("apns").size();
    if (i % 20 == 0) std::printf("progress: %zu/%zu  %s\n", got, total, rss().c_str());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("notifications: %zu of %zu in %.2f s = %.0f/s; after: %s\n", got, total, secs, got / secs,
              rss().c_str());
  std::size_t ok = 0;
  for (const auto& kind : {"fcm", "apns"})
    for (const auto& r : fake.requests(kind)) ok += r["status"] == 200;
  std::printf("answered 200: %zu, token requests: %zu\n", ok, fake.requests("token").size());
  EXPECT_EQ(got, total);
}

}  // namespace
}  // namespace parley::test
