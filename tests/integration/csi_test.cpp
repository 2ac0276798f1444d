// XEP-0352 client state indication: Alice's phone goes to the background (<inactive/>). Bob's presence
// changes and typing notifications wait; his message arrives at once, after what waited; IQs are never
// held; <active/> brings everything. The savings are counted and readable by an admin.
#include <algorithm>
#include <iterator>

#include "integration/im_helpers.h"
#include "support/raw_client.h"

namespace parley::test {
namespace {

constexpr const char* kInactive = "<inactive xmlns='urn:xmpp:csi:0'/>";
constexpr const char* kActive = "<active xmlns='urn:xmpp:csi:0'/>";
constexpr const char* kComposing =
    "<message to='alice@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>"
    "</message>";

// Waits until a stanza matching `m` has arrived; returns everything received so far in arrival order
// (and empties the inbox). Empty on timeout.
std::vector<xml::ElementPtr> receivedUpTo(XmppClient& c, const Match& m,
                                          std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto& inbox = c.inbox();
    if (std::any_of(inbox.begin(), inbox.end(), [&](const xml::ElementPtr& e) { return m(*e); })) {
      std::vector<xml::ElementPtr> all(inbox.begin(), inbox.end());
      inbox.clear();
      return all;
    }
    if (std::chrono::steady_clock::now() >= deadline) return {};
    c.pump(10ms);
  }
}

// Position of the first element matching `m`, or -1.
int indexOf(const std::vector<xml::ElementPtr>& v, const Match& m) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (m(*v[i])) return static_cast<int>(i);
  return -1;
}

Is presenceWithShow(const std::string& from, const std::string& show) {
  Is is = isPresence();
  is.from(from).where([show](const xml::Element& e) {
    return !e.hasAttr("type") && e.childText("show", "jabber:client") == show;
  });
  return is;
}

Is chatState(const std::string& from, const std::string& state) {
  Is is = isMessage();
  is.from(from).child(state, "http://jabber.org/protocol/chatstates");
  return is;
}

// The client's state change has been processed: nonzas get no answer, but the server handles a
// client's input in order, so the answer to a later ping proves it.
void sync(XmppClient& c, const std::string& id) {
  ASSERT_TRUE(isResult(
      c.request("<iq type='get' id='" + id + "' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", id)));
}

class CsiTest : public ImTest {
 protected:
  explicit CsiTest(std::string extra = "[modules.csi]\nmax_held = 5\n") : ImTest(std::move(extra)) {}
  void SetUp() override {
    ImTest::SetUp();
    alice = login("alice", "phone");
    bob = login("bob", "pc");
    subscribeBothWays(*alice, *bob);
  }
  void goInactive() {
    alice->send(kInactive);
    sync(*alice, "sync-inactive");
  }
  // Bob's own presence comes back to him once the server broadcast it.
  void bobShows(const std::string& show) {
    bob->send("<presence><show>" + show + "</show></presence>");
    ASSERT_TRUE(bob->expect(presenceWithShow(bob->jid(), show)));
  }
  std::unique_ptr<XmppClient> alice, bob;
};

TEST_F(CsiTest, StreamFeatureAfterAuthentication) {
  RawClient raw(server.c2sPort());
  auto before = raw.openStream();
  EXPECT_EQ(before.find("urn:xmpp:csi:0"), std::string::npos) << "not before authentication";
  ASSERT_TRUE(raw.startTls());
  raw.openStream();
  ASSERT_TRUE(raw.authenticate("carol", "carol-secret", "SCRAM-SHA-256"));
  EXPECT_NE(raw.openStream().find("<csi xmlns='urn:xmpp:csi:0'/>"), std::string::npos);
}

TEST_F(CsiTest, InactiveHoldsPresenceAndActiveDeliversOnlyTheLatest) {
  goInactive();
  bobShows("away");
  bobShows("xa");
  bobShows("dnd");
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid()), 500ms)) << "held while inactive";

  alice->send(kActive);
  auto got = alice->expect(isPresence().from(bob->jid()));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->childText("show", "jabber:client"), "dnd") << "only the latest presence";
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid()), 400ms)) << "the older ones were dropped";

  // Active again: presence flows at once.
  bobShows("chat");
  EXPECT_TRUE(alice->expect(presenceWithShow(bob->jid(), "chat"), 2s));
}

TEST_F(CsiTest, ChatMessageArrivesAtOnceAfterWhatWasHeld) {
  goInactive();
  bobShows("away");
  bob->send(kComposing);
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid()), 400ms));
  EXPECT_TRUE(alice->expectNothing(chatState(bob->jid(), "composing"), 100ms));

  bob->send("<message to='alice@localhost' type='chat' id='m1'><body>are you there?</body></message>");
  auto got = receivedUpTo(*alice, isMessage().id("m1"), 2s);
  ASSERT_FALSE(got.empty()) << "a message with a body is not held";
  const int presence = indexOf(got, presenceWithShow(bob->jid(), "away"));
  const int composing = indexOf(got, chatState(bob->jid(), "composing"));
  const int body = indexOf(got, isMessage().id("m1"));
  ASSERT_GE(presence, 0) << "what was held comes with it";
  ASSERT_GE(composing, 0);
  EXPECT_LT(presence, composing) << "in the order it arrived";
  EXPECT_LT(composing, body) << "held stanzas first";

  // Still inactive: the next chat state waits again.
  bob->send(kComposing);
  EXPECT_TRUE(alice->expectNothing(chatState(bob->jid(), "composing"), 400ms));
  alice->send(kActive);
  EXPECT_TRUE(alice->expect(chatState(bob->jid(), "composing")));
}

TEST_F(CsiTest, IqsAndSubscriptionRequestsAreNeverHeld) {
  goInactive();
  bob->send("<iq type='get' id='v1' to='" + alice->jid() + "'><query xmlns='jabber:iq:version'/></iq>");
  auto iq = alice->expect(isIq().type("get").id("v1"), 2s);
  ASSERT_TRUE(iq) << "an IQ reaches an inactive client at once";
  alice->send("<iq type='result' id='v1' to='" + bob->jid() + "'/>");
  EXPECT_TRUE(bob->expect(isIq().id("v1").type("result")));
  // The client's own requests are answered while inactive (the reply is an IQ too).
  sync(*alice, "ping-inactive");

  auto carol = login("carol", "pc");
  carol->send("<presence to='alice@localhost' type='subscribe'/>");
  EXPECT_TRUE(alice->expect(isPresence().from("carol@localhost").type("subscribe"), 2s))
      << "a subscription request asks the user something: not held";
}

TEST_F(CsiTest, AFullQueueIsFlushed) {
  goInactive();
  for (int i = 0; i < 5; ++i) {
    bob->send(std::string("<message to='alice@localhost' type='chat' id='s") + std::to_string(i) +
              "'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>");
  }
  EXPECT_TRUE(alice->expectNothing(isMessage(), 500ms)) << "max_held = 5: all five held";
  bob->send(kComposing);  // the sixth
  auto all = receivedUpTo(*alice, chatState(bob->jid(), "composing"), 2s);
  std::vector<xml::ElementPtr> got;  // Bob's messages (leave out what the subscriptions left behind)
  std::copy_if(all.begin(), all.end(), std::back_inserter(got), [&](const xml::ElementPtr& e) {
    return e->name() == "message" && e->attr("from") == bob->jid();
  });
  ASSERT_EQ(got.size(), 6u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i]->attr("id"), "s" + std::to_string(i));
}

TEST_F(CsiTest, ClosingAnInactiveSessionWithHeldStanzasIsClean) {
  goInactive();
  bobShows("away");
  bob->send(kComposing);
  EXPECT_TRUE(alice->expectNothing(isMessage(), 300ms));
  alice->disconnect();
  // The server goes on as usual; Alice's next session starts active.
  alice = login("alice", "phone");
  bobShows("dnd");
  EXPECT_TRUE(alice->expect(presenceWithShow(bob->jid(), "dnd")));
}

TEST_F(CsiTest, AResumedStreamStartsActiveWithWhatWasHeld) {
  // XEP-0352 §5.2: stream resumption (XEP-0198) does not restore the inactive state.
  auto tablet =
      std::make_unique<XmppClient>(server.jid("alice") + "/tablet", "alice-secret", server.c2sPort());
  tablet->useStreamManagement();
  ASSERT_TRUE(tablet->connect()) << tablet->error();
  tablet->becomeAvailable();
  tablet->send(kInactive);
  sync(*tablet, "sync-tablet");
  bob->send("<message to='" + tablet->jid() +
            "' type='chat' id='held1'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
  EXPECT_TRUE(tablet->expectNothing(isMessage().id("held1"), 500ms));
  tablet->cutConnection();
  ASSERT_TRUE(tablet->reconnectResuming()) << tablet->error();
  EXPECT_TRUE(tablet->expect(isMessage().id("held1"))) << "what was held is sent after the resumption";
  // Active now: the next one comes at once.
  bob->send("<message to='" + tablet->jid() +
            "' type='chat' id='held2'><paused xmlns='http://jabber.org/protocol/chatstates'/></message>");
  EXPECT_TRUE(tablet->expect(isMessage().id("held2"), 2s));
}

// Metrics are readable by an admin through the server's metrics IQ.
class CsiMetricsTest : public ::testing::Test {
 protected:
  CsiMetricsTest()
      : server([] {
          TestServerOptions o;
          o.serverSection = "admins = [\"carol@localhost\"]\n";
          return o;
        }()) {}
  void SetUp() override {
    for (const char* u : {"alice", "bob", "carol"}) server.addUser(u, std::string(u) + "-secret");
    server.start();
  }
  std::unique_ptr<XmppClient> client(const std::string& user, const std::string& resource) {
    auto c =
        std::make_unique<XmppClient>(server.jid(user) + "/" + resource, user + "-secret", server.c2sPort());
    EXPECT_TRUE(c->connect()) << c->error();
    return c;
  }
  std::string metrics(XmppClient& c) {
    auto r =
        c.request("<iq type='get' id='m' to='localhost'><metrics xmlns='urn:parley:metrics:0'/></iq>", "m");
    if (!isResult(r)) return {};
    const auto* m = r->child("metrics", "urn:parley:metrics:0");
    return m ? m->text() : std::string();
  }
  TestServer server;
};

TEST_F(CsiMetricsTest, SavingsAreCounted) {
  auto alice = client("alice", "phone");
  auto bob = client("bob", "pc");
  auto carol = client("carol", "admin");
  // Alice sees Bob's presence (a directed presence is enough and needs no roster).
  alice->becomeAvailable();
  bob->becomeAvailable();
  alice->send(kInactive);
  sync(*alice, "s1");
  for (const char* show : {"away", "xa", "dnd"}) {
    bob->send(std::string("<presence to='") + alice->jid() + "'><show>" + show + "</show></presence>");
  }
  bob->send(kComposing);
  EXPECT_TRUE(alice->expectNothing(isPresence().from(bob->jid()), 500ms));
  alice->send(kActive);
  ASSERT_TRUE(alice->expect(presenceWithShow(bob->jid(), "dnd")));
  ASSERT_TRUE(alice->expect(chatState(bob->jid(), "composing")));

  // Not for everyone.
  EXPECT_TRUE(isError(
      bob->request("<iq type='get' id='x' to='localhost'><metrics xmlns='urn:parley:metrics:0'/></iq>", "x"),
      "forbidden"));
  const std::string text = metrics(*carol);
  ASSERT_FALSE(text.empty());
  EXPECT_NE(text.find("# TYPE parley_csi_held_total counter\n"), std::string::npos) << text;
  // Held: three presences and a chat state; two presences superseded (never sent); one flush of two.
  EXPECT_NE(text.find("\nparley_csi_held_total 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nparley_csi_dropped_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nparley_csi_flushes_total{reason=\"active\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nparley_csi_wakeups_saved_total 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nparley_csi_inactive_sessions 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nparley_csi_queued_stanzas 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nparley_sessions 3\n"), std::string::npos) << text;
  const auto bytes = text.find("\nparley_csi_bytes_saved_total ");
  ASSERT_NE(bytes, std::string::npos);
  EXPECT_GT(std::stoll(text.substr(bytes + 30)), 100) << "two presence stanzas' worth";

  // At shutdown the same numbers go to the log.
  EXPECT_EQ(server.stop(), 0);
  EXPECT_TRUE(server.waitForLog("metrics.final"));
  EXPECT_NE(server.logs().find("parley_csi_dropped_total=2"), std::string::npos);
}

}  // namespace
}  // namespace parley::test
