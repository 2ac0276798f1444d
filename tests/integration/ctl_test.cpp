// The command-line contract, through real processes: parleyctl manages accounts (also while parleyd
// runs, and parleyd sees the change at the next login); `parleyctl check` and parleyd refuse a bad
// configuration with "file:line: message"; parleyd stops cleanly on SIGTERM, telling every client
// <system-shutdown/> and keeping what it had accepted.
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "support/raw_client.h"
#include "support/test_server.h"
#include "support/xmpp_client.h"

namespace parley::test {
namespace {

using Result = std::pair<int, std::string>;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// parleyctl --config <the test server's config> args…
Result parleyctl(const TestServer& server, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {PARLEYCTL_PATH, "--config", server.configPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return runProgram(argv);
}

// A configuration file in the test server's directory (next to its certificate) with `lineUnderTest`
// in the [limits] table. Returns the path and the line number of `lineUnderTest`.
struct ConfigFile {
  std::string path;
  int line = 0;
};
ConfigFile writeConfig(const TestServer& server, const std::string& name, const std::string& lineUnderTest,
                       const std::string& tlsCert = "cert.pem") {
  const std::vector<std::string> before = {
      "# written by ctl_test",
      "[server]",
      "data_dir = \".\"",
      "",
      "[[hosts]]",
      "domain = \"localhost\"",
      "tls_cert = \"" + tlsCert + "\"",
      "tls_key = \"key.pem\"",
      "",
      "[[listeners]]",
      "type = \"c2s\"",
      "address = \"127.0.0.1\"",
      "port = 0",
      "",
      "[storage]",
      "path = \"parley.db\"",
      "",
      "[limits]",
      "stanza_size = 262144",
  };
  ConfigFile file{server.dir() + "/" + name, static_cast<int>(before.size()) + 1};
  std::ofstream out(file.path);
  for (const auto& l : before) out << l << "\n";
  out << lineUnderTest << "\n";
  out << "max_depth = 48\n";
  return file;
}

class CtlTest : public ::testing::Test {
 protected:
  // A fresh account, created by parleyctl; fails the test if it cannot be.
  void addWithCtl(const std::string& jid, const std::string& password) {
    auto [status, output] = parleyctl(server, {"user", "add", jid, password});
    ASSERT_EQ(status, 0) << output;
  }
  // A libstrophe login as `local`; true if it succeeded.
  bool logsIn(const std::string& local, const std::string& password) {
    XmppClient c(server.jid(local) + "/ctl", password, server.c2sPort());
    return c.connect();
  }
  TestServer server;
};

// --- Accounts -------------------------------------------------------------------------------------

TEST_F(CtlTest, UserAddListPasswdDelRoundTrip) {
  auto [status, output] = parleyctl(server, {"user", "add", "alice@localhost", "first-secret"});
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(contains(output, "created alice@localhost")) << output;
  addWithCtl("bob@localhost", "bob-secret");

  std::tie(status, output) = parleyctl(server, {"user", "list"});
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(contains(output, "alice@localhost\n")) << output;
  EXPECT_TRUE(contains(output, "bob@localhost\n")) << output;

  std::tie(status, output) = parleyctl(server, {"user", "passwd", "alice@localhost", "second-secret"});
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(contains(output, "password changed for alice@localhost")) << output;

  std::tie(status, output) = parleyctl(server, {"user", "del", "bob@localhost"});
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(contains(output, "deleted bob@localhost")) << output;

  std::tie(status, output) = parleyctl(server, {"user", "list"});
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "alice@localhost\n");

  // Deleting or changing an account that does not exist is an error.
  std::tie(status, output) = parleyctl(server, {"user", "del", "bob@localhost"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(contains(output, "bob@localhost does not exist")) << output;
  std::tie(status, output) = parleyctl(server, {"user", "passwd", "bob@localhost", "x"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(contains(output, "bob@localhost does not exist")) << output;
}

TEST_F(CtlTest, AddingAnExistingUserFails) {
  addWithCtl("alice@localhost", "secret");
  auto [status, output] = parleyctl(server, {"user", "add", "alice@localhost", "other"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(contains(output, "alice@localhost already exists")) << output;
}

TEST_F(CtlTest, InvalidJidIsRefused) {
  for (const std::string jid : {"jul iet@localhost", "localhost", "alice@localhost/phone"}) {
    auto [status, output] = parleyctl(server, {"user", "add", jid, "secret"});
    EXPECT_NE(status, 0) << jid;
    EXPECT_TRUE(contains(output, "\"" + jid + "\" is not a valid user@domain address")) << output;
  }
  auto [status, output] = parleyctl(server, {"user", "list"});
  EXPECT_EQ(status, 0);
  EXPECT_EQ(output, "") << "nothing was created";
}

TEST_F(CtlTest, DomainNotServedIsRefused) {
  auto [status, output] = parleyctl(server, {"user", "add", "alice@example.org", "secret"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(contains(output, "example.org is not a host of this server")) << output;
}

TEST_F(CtlTest, UserAddedWhileTheServerRunsCanLogIn) {
  server.start();
  addWithCtl("carol@localhost", "carol-secret");
  XmppClient carol(server.jid("carol") + "/phone", "carol-secret", server.c2sPort());
  EXPECT_TRUE(carol.connect()) << carol.error();
  EXPECT_EQ(carol.jid(), "carol@localhost/phone");
}

TEST_F(CtlTest, PasswdTakesEffectAtTheNextLogin) {
  server.start();
  addWithCtl("carol@localhost", "old-secret");
  EXPECT_TRUE(logsIn("carol", "old-secret"));
  auto [status, output] = parleyctl(server, {"user", "passwd", "carol@localhost", "new-secret"});
  ASSERT_EQ(status, 0) << output;
  EXPECT_FALSE(logsIn("carol", "old-secret"));
  EXPECT_TRUE(logsIn("carol", "new-secret"));
}

TEST_F(CtlTest, DelRemovesTheAccount) {
  server.start();
  addWithCtl("carol@localhost", "carol-secret");
  EXPECT_TRUE(logsIn("carol", "carol-secret"));
  auto [status, output] = parleyctl(server, {"user", "del", "carol@localhost"});
  ASSERT_EQ(status, 0) << output;
  EXPECT_FALSE(logsIn("carol", "carol-secret"));
}

// --- Configuration checks -------------------------------------------------------------------------

TEST_F(CtlTest, CheckAcceptsAGoodConfig) {
  auto [status, output] = parleyctl(server, {"check"});
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(contains(output, "configuration OK")) << output;
  auto file = writeConfig(server, "good.toml", "max_children = 10000");
  std::tie(status, output) = runProgram({PARLEYCTL_PATH, "--config", file.path, "check"});
  EXPECT_EQ(status, 0) << output;
  EXPECT_TRUE(contains(output, file.path + ": configuration OK")) << output;
}

TEST_F(CtlTest, CheckReportsAnUnknownKeyAtItsLine) {
  auto file = writeConfig(server, "typo.toml", "stanza_sise = 1000");
  auto [status, output] = runProgram({PARLEYCTL_PATH, "--config", file.path, "check"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(output.starts_with(file.path + ":" + std::to_string(file.line) + ":")) << output;
  EXPECT_TRUE(contains(output, "unknown key \"limits.stanza_sise\"")) << output;
}

TEST_F(CtlTest, CheckReportsABadValueAtItsLine) {
  auto range = writeConfig(server, "range.toml", "preauth_timeout = 0");
  auto [status, output] = runProgram({PARLEYCTL_PATH, "--config", range.path, "check"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(output.starts_with(range.path + ":" + std::to_string(range.line) + ":")) << output;
  EXPECT_TRUE(contains(output, "limits.preauth_timeout: must be between 1 and 3600")) << output;

  auto type = writeConfig(server, "type.toml", "connections_per_ip = \"many\"");
  std::tie(status, output) = runProgram({PARLEYCTL_PATH, "--config", type.path, "check"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(output.starts_with(type.path + ":" + std::to_string(type.line) + ":")) << output;
  EXPECT_TRUE(contains(output, "limits.connections_per_ip: expected an integer")) << output;
}

TEST_F(CtlTest, CheckReportsATomlSyntaxErrorAtItsLine) {
  auto file = writeConfig(server, "syntax.toml", "max_children = = 5");
  auto [status, output] = runProgram({PARLEYCTL_PATH, "--config", file.path, "check"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(output.starts_with(file.path + ":" + std::to_string(file.line) + ":")) << output;
}

TEST_F(CtlTest, ParleydRefusesABadConfigWithFileAndLine) {
  auto file = writeConfig(server, "typo.toml", "stanza_sise = 1000");
  auto [status, output] = runProgram({PARLEYD_PATH, "--config", file.path}, std::chrono::seconds(15));
  EXPECT_NE(status, 0);
  EXPECT_NE(status, -1) << "parleyd did not exit: " << output;
  EXPECT_TRUE(output.starts_with(file.path + ":" + std::to_string(file.line) + ": ")) << output;
  EXPECT_TRUE(contains(output, "limits.stanza_sise")) << output;
}

TEST_F(CtlTest, ParleydWithAMissingCertificateNamesTheFile) {
  auto file = writeConfig(server, "nocert.toml", "max_children = 10000", "missing-cert.pem");
  auto [status, output] = runProgram({PARLEYD_PATH, "--config", file.path}, std::chrono::seconds(15));
  EXPECT_NE(status, 0);
  EXPECT_NE(status, -1) << "parleyd did not exit: " << output;
  EXPECT_TRUE(contains(output, server.dir() + "/missing-cert.pem")) << output;
  // parleyctl check says the same.
  std::tie(status, output) = runProgram({PARLEYCTL_PATH, "--config", file.path, "check"});
  EXPECT_NE(status, 0);
  EXPECT_TRUE(contains(output, "missing-cert.pem")) << output;
}

// --- Shutdown -------------------------------------------------------------------------------------

TEST_F(CtlTest, SigtermEndsEverySessionWithSystemShutdownAndKeepsOfflineMessages) {
  server.addUser("alice", "alice-secret");
  server.addUser("bob", "bob-secret");
  server.addUser("carol", "carol-secret");
  server.start();
  XmppClient alice(server.jid("alice") + "/laptop", "alice-secret", server.c2sPort());
  ASSERT_TRUE(alice.connect()) << alice.error();
  RawClient carol(server.c2sPort());
  ASSERT_TRUE(carol.login("carol", "carol-secret")) << carol.received();

  // Alice writes to Bob, who is offline. The ping answer proves the server has taken the message
  // (stanzas of one session are handled in order); then the server is stopped at once.
  alice.send(
      "<message to='bob@localhost' type='chat' id='late'><body>just before the shutdown</body></message>");
  auto pong =
      alice.request("<iq type='get' to='localhost' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>", "sync");
  ASSERT_TRUE(pong && pong->attr("type") == "result");

  EXPECT_EQ(server.stop(), 0) << server.logs();
  EXPECT_TRUE(carol.waitFor("<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"))
      << carol.received();
  EXPECT_TRUE(carol.waitFor("</stream:stream>"));
  EXPECT_TRUE(carol.waitClosed());
  EXPECT_TRUE(alice.waitDisconnected());
  EXPECT_EQ(alice.error(), "system-shutdown");
  EXPECT_TRUE(contains(server.logs(), "server.stopped")) << server.logs();

  // Restarted on the same directory, the server still has the message for Bob.
  server.start();
  XmppClient bob(server.jid("bob") + "/phone", "bob-secret", server.c2sPort());
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.send("<presence/>");
  auto m = bob.expect(isMessage().id("late").body("just before the shutdown"));
  ASSERT_TRUE(m) << "the offline message was lost in the shutdown";
  EXPECT_EQ(m->attr("from"), alice.jid());
}

TEST_F(CtlTest, SigtermAlsoEndsStreamsThatAreNotLoggedInYet) {
  server.addUser("alice", "alice-secret");
  server.start();
  // One client has only opened its stream, one has authenticated but not bound a resource.
  RawClient fresh(server.c2sPort());
  fresh.openStream();
  RawClient unbound(server.c2sPort());
  unbound.openStream();
  ASSERT_TRUE(unbound.startTls());
  unbound.openStream();
  ASSERT_TRUE(unbound.authenticate("alice", "alice-secret", "SCRAM-SHA-256"));

  EXPECT_EQ(server.stop(), 0) << server.logs();
  // RFC 6120 §4.9.3.18: "all active streams are being closed".
  for (RawClient* c : {&fresh, &unbound}) {
    EXPECT_TRUE(c->waitFor("<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"))
        << c->received();
    EXPECT_TRUE(c->waitClosed());
  }
}

}  // namespace
}  // namespace parley::test
