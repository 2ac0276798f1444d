// XEP-0160 offline messages through real clients: what is kept for an account with no available
// resource, when and how it is handed over (in order, with XEP-0203 <delay/>), the per-account cap,
// what is not worth keeping, and that stored messages survive a restart of the server.
#include <thread>

#include "integration/im_helpers.h"
#include "storage/database.h"
#include "xep/offline/offline_store.h"

namespace parley::test {
namespace {

// Waits until `user` has exactly `n` messages in offline storage. The server stores a message on its
// blocking pool some time after reading it, so a test that must know it is stored (before a restart,
// say) watches the database parleyd writes; at most 5 s.
bool waitForStored(const TestServer& server, const std::string& user, std::int64_t n) {
  storage::StorageConfig sc = server.storageConfig();
  auto db = storage::openDatabase(sc);
  xep::offline::OfflineStore store(*db);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (store.count(server.domain(), user) != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

void sendChat(XmppClient& from, const std::string& to, const std::string& id, const std::string& body,
              const std::string& type = "chat") {
  from.send("<message to='" + to + "'" + (type.empty() ? "" : " type='" + type + "'") + " id='" + id +
            "'><body>" + body + "</body></message>");
}

class OfflineTest : public ImTest {};

// XEP-0160 §2, XEP-0203: messages for an account with no available resource are kept and handed, in
// the order they arrived and each with <delay from='localhost' stamp='…'/>, to the first resource that
// sends available presence with non-negative priority; merely connecting is not enough. Delivered
// messages are gone from storage.
TEST_F(OfflineTest, StoredMessagesArriveInOrderWithDelayAfterInitialPresence) {
  auto alice = client("alice", "a");
  sendChat(*alice, "bob@localhost", "o1", "first");
  sendChat(*alice, "bob@localhost", "o2", "second", "");
  sendChat(*alice, "bob@localhost", "o3", "third", "normal");
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error"), 300ms));
  ASSERT_TRUE(waitForStored(server, "bob", 3));

  auto bob = client("bob", "b");
  ASSERT_TRUE(isResult(rosterGet(*bob, "r")));
  EXPECT_TRUE(bob->expectNothing(isMessage(), 500ms)) << "delivered before initial presence";
  bob->send("<presence/>");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"first", "chat"}, {"second", ""}, {"third", "normal"}};
  for (const auto& [body, type] : expected) {
    auto m = bob->expect(isMessage().from(alice->jid()));  // the oldest one not taken yet
    ASSERT_TRUE(m) << "missing: " << body;
    EXPECT_EQ(m->childText("body", "jabber:client"), body) << "out of order";
    EXPECT_EQ(m->attr("type"), type);
    const auto* delay = m->child("delay", "urn:xmpp:delay");
    ASSERT_TRUE(delay) << body;
    EXPECT_EQ(delay->attr("from"), "localhost");
    EXPECT_FALSE(delay->attr("stamp").empty());
  }
  EXPECT_TRUE(waitForStored(server, "bob", 0));

  bob->disconnect();
  auto again = login("bob", "b2");
  EXPECT_TRUE(again->expectNothing(isMessage()));
}

// XEP-0160 §2: available presence with negative priority does not take the messages; the resource's
// next presence with non-negative priority does. RFC 6121 §8.5.2.1.1: meanwhile new messages to the
// bare JID are kept too.
TEST_F(OfflineTest, NegativePriorityWaitsForNonNegativePresence) {
  auto alice = client("alice", "a");
  sendChat(*alice, "bob@localhost", "n1", "stored before");
  ASSERT_TRUE(waitForStored(server, "bob", 1));

  auto bob = client("bob", "b");
  bob->becomeAvailable("<priority>-1</priority>");
  EXPECT_TRUE(bob->expectNothing(isMessage(), 800ms));
  sendChat(*alice, "bob@localhost", "n2", "stored while negative");
  ASSERT_TRUE(waitForStored(server, "bob", 2));
  EXPECT_TRUE(bob->expectNothing(isMessage(), 200ms));

  bob->becomeAvailable("<priority>1</priority>");
  auto m1 = bob->expect(isMessage().from(alice->jid()));
  auto m2 = bob->expect(isMessage().from(alice->jid()));
  ASSERT_TRUE(m1 && m2) << "XEP-0160 §2: the next non-negative presence takes the messages";
  EXPECT_EQ(m1->childText("body", "jabber:client"), "stored before");
  EXPECT_EQ(m2->childText("body", "jabber:client"), "stored while negative");
  EXPECT_TRUE(waitForStored(server, "bob", 0));
}

// XEP-0160 §2: a resource that went unavailable and comes back takes what was kept meanwhile.
TEST_F(OfflineTest, AvailableAgainAfterUnavailableTakesTheMessages) {
  auto alice = client("alice", "a");
  auto bob = login("bob", "b");
  bob->send("<presence type='unavailable'/>");
  ASSERT_TRUE(isResult(rosterGet(*bob, "sync")));  // a session's stanzas are handled in order
  sendChat(*alice, "bob@localhost", "u1", "while unavailable");
  ASSERT_TRUE(waitForStored(server, "bob", 1));
  EXPECT_TRUE(bob->expectNothing(isMessage(), 200ms));

  bob->becomeAvailable();
  EXPECT_TRUE(bob->expect(messageWithBody("while unavailable")));
}

// XEP-0160 §3 with XEP-0085 §5.6 and XEP-0334: a message with nothing but a chat state is not worth
// keeping: it is dropped without an error to the sender.
TEST_F(OfflineTest, ChatStatesAreNeitherStoredNorBounced) {
  auto alice = client("alice", "a");
  alice->send(
      "<message to='bob@localhost' type='chat' id='cs1'>"
      "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>");
  alice->send(
      "<message to='bob@localhost' type='chat' id='cs2'><body>with a body</body>"
      "<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error")));
  ASSERT_TRUE(waitForStored(server, "bob", 1));

  auto bob = login("bob", "b");
  auto m = bob->expect(messageWithBody("with a body"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->child("active", "http://jabber.org/protocol/chatstates"));
  EXPECT_TRUE(bob->expectNothing(isMessage().child("composing", "http://jabber.org/protocol/chatstates")));
}

// XEP-0160: offline storage is storage; stopping and starting the server loses nothing.
TEST_F(OfflineTest, MessagesSurviveARestart) {
  auto alice = client("alice", "a");
  sendChat(*alice, "bob@localhost", "r1", "before the restart 1");
  sendChat(*alice, "bob@localhost", "r2", "before the restart 2");
  ASSERT_TRUE(waitForStored(server, "bob", 2));
  const std::string aliceJid = alice->jid();
  alice->disconnect();
  alice.reset();

  ASSERT_EQ(server.stop(), 0);
  server.start();

  auto bob = login("bob", "b");
  auto m1 = bob->expect(isMessage().from(aliceJid));
  auto m2 = bob->expect(isMessage().from(aliceJid));
  ASSERT_TRUE(m1 && m2);
  EXPECT_EQ(m1->childText("body", "jabber:client"), "before the restart 1");
  EXPECT_EQ(m2->childText("body", "jabber:client"), "before the restart 2");
  EXPECT_TRUE(m1->child("delay", "urn:xmpp:delay"));
}

// RFC 6121 §8.5.1: a message for an account that does not exist is answered with
// <service-unavailable/> (to the bare JID and to a full JID alike), and nothing is stored.
TEST_F(OfflineTest, MessageToAnUnknownAccountIsServiceUnavailable) {
  auto alice = client("alice", "a");
  sendChat(*alice, "nobody@localhost", "x1", "hello?");
  EXPECT_TRUE(isError(alice->expect(isMessage().type("error").id("x1")), "service-unavailable"));
  sendChat(*alice, "nobody@localhost/desk", "x2", "hello?");
  EXPECT_TRUE(isError(alice->expect(isMessage().type("error").id("x2")), "service-unavailable"));
  EXPECT_TRUE(waitForStored(server, "nobody", 0));
}

class OfflineCapTest : public ImTest {
 protected:
  OfflineCapTest() : ImTest("[modules.offline]\nmax_per_user = 3\n") {}
};

// XEP-0160 with [modules.offline] max_per_user = 3: the fourth message is refused with
// <resource-constraint/> (RFC 6120 §8.3.3.18) and the three kept ones are delivered; once they are,
// there is room again.
TEST_F(OfflineCapTest, TheMessageOverTheCapIsRefused) {
  auto alice = client("alice", "a");
  for (int i = 1; i <= 3; ++i)
    sendChat(*alice, "bob@localhost", "c" + std::to_string(i), "kept " + std::to_string(i));
  ASSERT_TRUE(waitForStored(server, "bob", 3));
  sendChat(*alice, "bob@localhost", "c4", "one too many");
  auto err = alice->expect(isMessage().type("error").id("c4"));
  EXPECT_TRUE(isError(err, "resource-constraint"));
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error"), 100ms)) << "only the fourth is refused";

  auto bob = login("bob", "b");
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(bob->expect(messageWithBody("kept " + std::to_string(i))));
  EXPECT_TRUE(bob->expectNothing(messageWithBody("one too many")));
  ASSERT_TRUE(waitForStored(server, "bob", 0));
  bob->disconnect();

  sendChat(*alice, "bob@localhost", "c5", "room again");
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error")));
  EXPECT_TRUE(waitForStored(server, "bob", 1));
}

}  // namespace
}  // namespace parley::test
