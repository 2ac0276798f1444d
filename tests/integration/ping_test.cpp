// XEP-0199 through a real client: the server answers pings, and pings (then drops) silent clients.
#include "integration/module_helpers.h"

namespace parley::test {
namespace {

class PingTest : public ModuleTest {};

TEST_F(PingTest, ServerAnswersPings) {
  auto alice = client("alice", "a");
  EXPECT_TRUE(serverHasFeature(*alice, "urn:xmpp:ping"));
  // To the server (§4.3) and without 'to' (handled for the account).
  EXPECT_TRUE(isResult(
      alice->request("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "p1")));
  EXPECT_TRUE(isResult(alice->request("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>", "p2")));
  // Another account's bare JID is not answered for it.
  EXPECT_TRUE(isError(
      alice->request("<iq type='get' id='p3' to='bob@localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "p3"),
      "service-unavailable"));
}

class PingSilentClientsTest : public ModuleTest {
 protected:
  PingSilentClientsTest() : ModuleTest("[modules.ping]\ninterval = 1\ntimeout = 1\n") {}
};

TEST_F(PingSilentClientsTest, SilentClientIsPingedThenDisconnected) {
  auto alice = client("alice", "quiet");
  // §4.2: the server pings a client that said nothing for `interval` seconds…
  auto ping = alice->expect(isIq().type("get").from("localhost").child("ping", "urn:xmpp:ping"), 6s);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->attr("to"), alice->jid());
  // …and, when it stays silent, closes the stream.
  ASSERT_TRUE(alice->waitDisconnected(8s));
  EXPECT_EQ(alice->error(), "connection-timeout");
  EXPECT_TRUE(server.waitForLog("ping.timeout"));
}

TEST_F(PingSilentClientsTest, ClientThatAnswersStaysConnected) {
  auto alice = client("alice", "lively");
  int answered = 0;
  auto until = std::chrono::steady_clock::now() + 6s;
  while (std::chrono::steady_clock::now() < until) {
    auto ping = alice->expect(isIq().type("get").child("ping", "urn:xmpp:ping"), 500ms);
    if (!ping) continue;
    alice->send("<iq type='result' to='localhost' id='" + std::string(ping->attr("id")) + "'/>");
    ++answered;
  }
  EXPECT_GE(answered, 2);
  EXPECT_TRUE(alice->connected()) << alice->error();
}

}  // namespace
}  // namespace parley::test
