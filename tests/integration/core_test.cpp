// The XMPP core through a real client library (libstrophe) against a real parleyd: login over STARTTLS
// and direct TLS, subscriptions and presence, message routing, offline delivery, roster pushes.
#include <gtest/gtest.h>

#include "support/test_server.h"
#include "support/xmpp_client.h"

namespace parley::test {
namespace {

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server.addUser("alice", "alice-secret");
    server.addUser("bob", "bob-secret");
    server.start();
  }
  std::unique_ptr<XmppClient> client(const std::string& user, const std::string& resource,
                                     XmppClient::Transport t = XmppClient::Transport::StartTls) {
    auto c = std::make_unique<XmppClient>(
        server.jid(user) + "/" + resource, user + "-secret",
        t == XmppClient::Transport::StartTls ? server.c2sPort() : server.tlsPort(), t);
    EXPECT_TRUE(c->connect()) << user << ": " << c->error();
    return c;
  }
  TestServer server;
};

TEST_F(CoreTest, StartTlsLoginBindsTheRequestedResource) {
  auto alice = client("alice", "laptop");
  EXPECT_EQ(alice->jid(), "alice@localhost/laptop");
  EXPECT_TRUE(server.waitForLog("c2s.bound"));
}

TEST_F(CoreTest, DirectTlsLogin) {
  auto alice = client("alice", "phone", XmppClient::Transport::DirectTls);
  EXPECT_EQ(alice->jid(), "alice@localhost/phone");
}

TEST_F(CoreTest, WrongPasswordIsRefused) {
  XmppClient mallory(server.jid("alice") + "/x", "wrong", server.c2sPort());
  EXPECT_FALSE(mallory.connect());
  EXPECT_TRUE(server.waitForLog("c2s.auth.failed"));
}

TEST_F(CoreTest, SubscriptionBothWaysThenPresenceAndChat) {
  auto alice = client("alice", "a");
  auto bob = client("bob", "b");
  alice->becomeAvailable();
  bob->becomeAvailable();

  // Alice asks; Bob receives the request and approves (RFC 6121 §3.1).
  alice->send("<presence to='bob@localhost' type='subscribe'/>");
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribe")));
  bob->send("<presence to='alice@localhost' type='subscribed'/>");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribed")));
  // Approval makes Bob's current presence flow to Alice.
  ASSERT_TRUE(alice->expect(isPresence().from(bob->jid()).where([](auto& e) { return !e.hasAttr("type"); })));

  // And the other way round.
  bob->send("<presence to='alice@localhost' type='subscribe'/>");
  ASSERT_TRUE(alice->expect(isPresence().from("bob@localhost").type("subscribe")));
  alice->send("<presence to='bob@localhost' type='subscribed'/>");
  ASSERT_TRUE(bob->expect(isPresence().from("alice@localhost").type("subscribed")));
  ASSERT_TRUE(bob->expect(isPresence().from(alice->jid())));

  // Both rosters now say "both".
  auto roster = alice->request("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "r1");
  ASSERT_TRUE(roster);
  auto item = roster->child("query", "jabber:iq:roster")->child("item", "jabber:iq:roster");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->attr("jid"), "bob@localhost");
  EXPECT_EQ(item->attr("subscription"), "both");

  // Presence changes are broadcast to subscribers.
  alice->send("<presence><show>away</show><status>lunch</status></presence>");
  auto p = bob->expect(isPresence().from(alice->jid()).where([](auto& e) {
    return e.childText("show", "jabber:client") == "away";
  }));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->childText("status", "jabber:client"), "lunch");

  // Messages to the bare JID and to the full JID.
  alice->send("<message to='bob@localhost' type='chat' id='m1'><body>to your bare JID</body></message>");
  auto m = bob->expect(isMessage().from(alice->jid()).body("to your bare JID"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->attr("type"), "chat");
  bob->send("<message to='" + alice->jid() + "' type='chat'><body>to your full JID</body></message>");
  ASSERT_TRUE(alice->expect(isMessage().from(bob->jid()).body("to your full JID")));

  // Leaving: unavailable reaches the contact.
  bob->disconnect();
  ASSERT_TRUE(alice->expect(isPresence().from(bob->jid()).type("unavailable")));
}

TEST_F(CoreTest, MessageToOfflineUserIsDeliveredAtLogin) {
  auto alice = client("alice", "a");
  alice->send("<message to='bob@localhost' type='chat' id='off1'><body>while you were away</body></message>");
  // Accepted: no error comes back.
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error"), std::chrono::milliseconds(300)));

  auto bob = client("bob", "b");
  EXPECT_TRUE(bob->expectNothing(isMessage(), std::chrono::milliseconds(300)))
      << "offline messages wait for initial presence (XEP-0160)";
  bob->send("<presence/>");
  auto m = bob->expect(isMessage().from(alice->jid()).body("while you were away"));
  ASSERT_TRUE(m);
  auto delay = m->child("delay", "urn:xmpp:delay");
  ASSERT_TRUE(delay) << "stored messages carry XEP-0203 <delay/>";
  EXPECT_EQ(delay->attr("from"), "localhost");

  // Delivered once: a second login gets nothing.
  bob->disconnect();
  auto bob2 = client("bob", "b2");
  bob2->send("<presence/>");
  EXPECT_TRUE(bob2->expectNothing(isMessage().body("while you were away"), std::chrono::milliseconds(800)));
}

TEST_F(CoreTest, MessageToUnknownUserBouncesServiceUnavailable) {
  auto alice = client("alice", "a");
  alice->send("<message to='nobody@localhost' type='chat' id='x1'><body>hello?</body></message>");
  auto err = alice->expect(isMessage().type("error").id("x1"));
  ASSERT_TRUE(err);
  EXPECT_TRUE(err->child("error", "jabber:client")
                  ->child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
}

TEST_F(CoreTest, UnhandledIqGetsServiceUnavailableWithTheSameId) {
  auto alice = client("alice", "a");
  auto reply =
      alice->request("<iq type='get' id='q1' to='localhost'><query xmlns='urn:example:unknown'/></iq>", "q1");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->attr("type"), "error");
  EXPECT_TRUE(reply->child("error", "jabber:client")
                  ->child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
}

TEST_F(CoreTest, RosterPushReachesEveryResource) {
  auto phone = client("alice", "phone");
  auto laptop = client("alice", "laptop");
  for (auto* c : {phone.get(), laptop.get()})
    ASSERT_TRUE(c->request("<iq type='get' id='r0'><query xmlns='jabber:iq:roster'/></iq>", "r0"));

  auto result = phone->request(
      "<iq type='set' id='set1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'>"
      "<group>Friends</group></item></query></iq>",
      "set1");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->attr("type"), "result");
  for (auto* c : {phone.get(), laptop.get()}) {
    auto push = c->expect(isIq().type("set").child("query", "jabber:iq:roster"));
    ASSERT_TRUE(push) << "roster push (RFC 6121 §2.1.6)";
    auto item = push->child("query", "jabber:iq:roster")->child("item", "jabber:iq:roster");
    EXPECT_EQ(item->attr("jid"), "bob@localhost");
    EXPECT_EQ(item->attr("name"), "Bob");
    EXPECT_EQ(item->childText("group", "jabber:iq:roster"), "Friends");
    EXPECT_FALSE(push->child("query", "jabber:iq:roster")->attr("ver").empty());
  }
}

// With release_parser = "when_idle", an idle session gives its XML parser back (housekeeping runs
// every 5 s); the next stanza rebuilds it in the stream's namespace context and nothing is lost. (The
// default, "after_read", does the same after every read: every other test runs that way.)
TEST(CoreIdleTest, IdleSessionsReleaseTheirParserAndKeepWorking) {
  TestServerOptions options;
  options.logLevel = "trace";
  options.extra = "[c2s]\nrelease_parser = \"when_idle\"\n";
  TestServer server(options);
  server.addUser("alice", "alice-secret");
  server.addUser("bob", "bob-secret");
  server.start();
  XmppClient alice(server.jid("alice") + "/a", "alice-secret", server.c2sPort());
  XmppClient bob(server.jid("bob") + "/b", "bob-secret", server.c2sPort());
  ASSERT_TRUE(alice.connect());
  ASSERT_TRUE(bob.connect());
  alice.becomeAvailable();
  bob.becomeAvailable();
  ASSERT_TRUE(server.waitForLog("c2s.idle.parser_released", std::chrono::seconds(12)));
  alice.send("<message to='bob@localhost' type='chat'><body>after a nap</body></message>");
  ASSERT_TRUE(bob.expect(isMessage().from(alice.jid()).body("after a nap")));
  auto roster = alice.request("<iq type='get' id='r9'><query xmlns='jabber:iq:roster'/></iq>", "r9");
  ASSERT_TRUE(roster);
  EXPECT_EQ(roster->attr("type"), "result");
}

}  // namespace
}  // namespace parley::test
