// XEP-0198 stream management against a real parleyd. Bob is a raw client (so the test can cut his TCP
// connection at an exact moment, as a phone losing its network does); Alice is a libstrophe client.
// What must hold: acks count every stanza, an ack means durable, a resumed session gets exactly the
// stanzas it did not acknowledge (no loss, no duplicate), and a session that is never resumed hands its
// unacknowledged messages to offline storage.
#include <thread>

#include "integration/im_helpers.h"
#include "storage/database.h"
#include "support/raw_client.h"
#include "xep/offline/offline_store.h"

namespace parley::test {
namespace {

// The value of attribute `name` in the first <element …> of `xml` (the server writes single quotes).
std::string attrOf(const std::string& xml, std::string_view element, std::string_view name) {
  auto start = xml.find("<" + std::string(element));
  if (start == std::string::npos) return {};
  auto end = xml.find('>', start);
  auto key = " " + std::string(name) + "='";
  auto pos = xml.find(key, start);
  if (pos == std::string::npos || pos > end) return {};
  pos += key.size();
  return xml.substr(pos, xml.find('\'', pos) - pos);
}

std::size_t stanzasIn(const RawClient& c) {
  return c.count("<message") + c.count("<presence") + c.count("<iq");
}

std::string body(const std::string& text) {
  return "<body>" + text + "</body>";
}

class SmTest : public ImTest {
 protected:
  explicit SmTest(std::string extra = {}) : ImTest(std::move(extra)) {}

  // Bob logs in on a raw connection, enables resumable stream management and becomes available.
  // Returns the SM-ID; the buffer holds what came after <enabled/>.
  std::string bobWithSm(RawClient& bob) {
    EXPECT_TRUE(bob.login("bob", "bob-secret"));
    bob.consume();
    bob.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    EXPECT_TRUE(bob.waitFor("<enabled"));
    const std::string id = attrOf(bob.received(), "enabled", "id");
    EXPECT_EQ(attrOf(bob.received(), "enabled", "resume"), "true");
    EXPECT_FALSE(id.empty());
    bob.consume();
    bob.send("<presence/>");
    EXPECT_TRUE(bob.waitFor("<presence"));  // his own presence comes back (RFC 6121 §4.2.2)
    return id;
  }

  // A new connection that authenticates as Bob and asks to resume `id` having handled `h` stanzas.
  std::unique_ptr<RawClient> resumeBob(const std::string& id, std::size_t h,
                                       const std::string& user = "bob") {
    auto c = std::make_unique<RawClient>(server.c2sPort());
    c->openStream();
    EXPECT_TRUE(c->startTls());
    c->openStream();
    EXPECT_TRUE(c->authenticate(user, user + "-secret", "SCRAM-SHA-256"));
    c->openStream();
    c->consume();
    c->send("<resume xmlns='urn:xmpp:sm:3' previd='" + id + "' h='" + std::to_string(h) + "'/>");
    return c;
  }

  void chat(XmppClient& from, const std::string& to, const std::string& text) {
    from.send("<message to='" + to + "' type='chat' id='" + text + "'>" + body(text) + "</message>");
  }

  std::int64_t storedFor(const std::string& user) {
    storage::StorageConfig sc = server.storageConfig();
    auto db = storage::openDatabase(sc);
    return xep::offline::OfflineStore(*db).count(server.domain(), user);
  }
};

TEST_F(SmTest, FeatureIsOfferedAfterAuthentication) {
  RawClient c(server.c2sPort());
  c.openStream();
  ASSERT_TRUE(c.startTls());
  EXPECT_EQ(c.openStream().find("urn:xmpp:sm:3"), std::string::npos) << "offered before authentication";
  ASSERT_TRUE(c.authenticate("bob", "bob-secret", "SCRAM-SHA-256"));
  EXPECT_NE(c.openStream().find("<sm xmlns='urn:xmpp:sm:3'/>"), std::string::npos);
}

// XEP-0198 §3: <enable/> only after binding, and only once.
TEST_F(SmTest, EnableBeforeBindingOrTwiceFails) {
  RawClient c(server.c2sPort());
  c.openStream();
  ASSERT_TRUE(c.startTls());
  c.openStream();
  ASSERT_TRUE(c.authenticate("bob", "bob-secret", "SCRAM-SHA-256"));
  c.openStream();
  c.consume();
  c.send("<enable xmlns='urn:xmpp:sm:3'/>");
  ASSERT_TRUE(c.waitFor("</failed>"));
  EXPECT_NE(c.received().find("<unexpected-request"), std::string::npos);
  c.consume();
  c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  ASSERT_TRUE(c.waitFor("</jid>"));
  c.consume();
  c.send("<enable xmlns='urn:xmpp:sm:3'/>");
  ASSERT_TRUE(c.waitFor("<enabled"));
  EXPECT_EQ(attrOf(c.received(), "enabled", "resume"), "") << "resumption was not asked for";
  c.consume();
  c.send("<enable xmlns='urn:xmpp:sm:3'/>");
  ASSERT_TRUE(c.waitFor("</failed>"));
  EXPECT_FALSE(c.closed());
}

// XEP-0198 §4: the server's h counts every stanza it handled, including ones it refused with an
// error; its own <r/> follows what it sent, and our <a/> empties its queue.
TEST_F(SmTest, AcksCountStanzasInBothDirections) {
  RawClient bob(server.c2sPort());
  bobWithSm(bob);  // 1 stanza sent (presence), 1 received (own presence)
  bob.consume();
  bob.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
  bob.send("<iq type='get' id='bad'><unknown xmlns='urn:example:nothing'/></iq>");  // service-unavailable
  bob.send("<message to='alice@localhost' type='chat' id='x'><body>hi</body></message>");  // stored offline
  bob.send("<r xmlns='urn:xmpp:sm:3'/>");
  ASSERT_TRUE(bob.waitFor("<a xmlns='urn:xmpp:sm:3' h='4'/>")) << bob.received();
  ASSERT_TRUE(bob.waitFor("<r xmlns='urn:xmpp:sm:3'/>")) << "the server asks for acks of what it sends";
  ASSERT_TRUE(bob.waitFor("id='bad'"));
  const auto handled = stanzasIn(bob) + 1;  // + own presence before consume()
  bob.send("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(handled) + "'/>");
  bob.consume();
  bob.send("<r xmlns='urn:xmpp:sm:3'/>");
  EXPECT_TRUE(bob.waitFor("<a xmlns='urn:xmpp:sm:3' h='4'/>")) << "<a/> and <r/> are not stanzas";
  EXPECT_FALSE(bob.closed());
}

// XEP-0198 §4: acknowledging more than was sent is an error.
TEST_F(SmTest, HandledCountTooHighIsAStreamError) {
  RawClient bob(server.c2sPort());
  bobWithSm(bob);
  bob.send("<a xmlns='urn:xmpp:sm:3' h='7'/>");
  ASSERT_TRUE(bob.waitClosed());
  EXPECT_NE(bob.received().find("<undefined-condition"), std::string::npos) << bob.received();
}

// ARCHITECTURE.md durability rule: once <a/> covers a message, it is stored (no waiting needed).
TEST_F(SmTest, AckComesOnlyAfterTheMessageIsStored) {
  RawClient bob(server.c2sPort());
  bobWithSm(bob);
  bob.consume();
  for (int i = 0; i < 20; ++i)
    bob.send("<message to='carol@localhost' type='chat' id='d" + std::to_string(i) + "'>" + body("hello") +
             "</message>");
  bob.send("<r xmlns='urn:xmpp:sm:3'/>");
  ASSERT_TRUE(bob.waitFor("<a xmlns='urn:xmpp:sm:3' h='21'/>")) << bob.received();
  EXPECT_EQ(storedFor("carol"), 20);
}

// XEP-0198 §5: the connection drops; messages keep coming into the hibernated session; a new
// connection resumes and receives exactly what was not acknowledged, then live traffic.
TEST_F(SmTest, ResumeReplaysExactlyTheUnacknowledgedStanzas) {
  auto alice = login("alice", "laptop");
  RawClient bob(server.c2sPort());
  const std::string id = bobWithSm(bob);
  chat(*alice, "bob@localhost", "m1");
  ASSERT_TRUE(bob.waitFor(body("m1")));
  const std::size_t handled = stanzasIn(bob);  // own presence + m1
  bob.send("<a xmlns='urn:xmpp:sm:3' h='" + std::to_string(handled) + "'/>");
  chat(*alice, "bob@localhost", "m2");
  chat(*alice, "bob@localhost", "m3");
  ASSERT_TRUE(bob.waitFor(body("m3")));
  bob.drop();
  ASSERT_TRUE(server.waitForLog("c2s.hibernated"));
  chat(*alice, "bob@localhost", "m4");
  chat(*alice, "bob@localhost", "m5");
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error"), 300ms)) << "the hibernated session takes them";

  auto again = resumeBob(id, handled);
  ASSERT_TRUE(again->waitFor("<resumed")) << again->received();
  EXPECT_EQ(attrOf(again->received(), "resumed", "h"), "1") << "Bob sent one stanza (his presence)";
  EXPECT_EQ(attrOf(again->received(), "resumed", "previd"), id);
  ASSERT_TRUE(again->waitFor(body("m5")));
  chat(*alice, "bob@localhost", "m6");
  ASSERT_TRUE(again->waitFor(body("m6"))) << "live traffic after resumption";
  EXPECT_EQ(again->count(body("m1")), 0u) << "acknowledged before the drop";
  for (const char* m : {"m2", "m3", "m4", "m5", "m6"}) EXPECT_EQ(again->count(body(m)), 1u) << m;
  // The resumed stream is a normal one: stanzas work, and its counters continue.
  again->send("<r xmlns='urn:xmpp:sm:3'/>");
  EXPECT_TRUE(again->waitFor("<a xmlns='urn:xmpp:sm:3' h='1'/>"));
  EXPECT_EQ(storedFor("bob"), 0);
}

// XEP-0198 §5: a resumption while the old connection still looks alive closes the old one and moves
// its queue over.
TEST_F(SmTest, ResumeWhileTheOldConnectionIsOpenReplacesIt) {
  auto alice = login("alice", "laptop");
  RawClient bob(server.c2sPort());
  const std::string id = bobWithSm(bob);
  chat(*alice, "bob@localhost", "k1");
  ASSERT_TRUE(bob.waitFor(body("k1")));
  auto again = resumeBob(id, 1);  // handled: own presence only
  ASSERT_TRUE(again->waitFor("<resumed"));
  ASSERT_TRUE(again->waitFor(body("k1")));
  ASSERT_TRUE(bob.waitClosed());
  EXPECT_NE(bob.received().find("<conflict"), std::string::npos);
  chat(*alice, "bob@localhost", "k2");
  EXPECT_TRUE(again->waitFor(body("k2")));
  EXPECT_EQ(again->count(body("k1")), 1u);
}

// A session may only be resumed by its own account (no hijacking with a leaked SM-ID).
TEST_F(SmTest, AnotherAccountCannotResume) {
  auto alice = login("alice", "laptop");
  RawClient bob(server.c2sPort());
  const std::string id = bobWithSm(bob);
  auto carol = resumeBob(id, 0, "carol");
  ASSERT_TRUE(carol->waitFor("</failed>"));
  EXPECT_NE(carol->received().find("<item-not-found"), std::string::npos);
  chat(*alice, "bob@localhost", "still-mine");
  EXPECT_TRUE(bob.waitFor(body("still-mine")));
  EXPECT_FALSE(bob.closed());
}

TEST_F(SmTest, UnknownSessionCannotBeResumedButTheStreamGoesOn) {
  auto c = resumeBob("no-such-session", 0);
  ASSERT_TRUE(c->waitFor("</failed>"));
  EXPECT_NE(c->received().find("<item-not-found"), std::string::npos);
  c->consume();
  c->send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  EXPECT_TRUE(c->waitFor("</jid>")) << "after a failed resumption the client binds a new session";
}

// A clean </stream:stream> ends the session for good (XEP-0198 §5): nothing to resume, and what was
// not acknowledged goes to offline storage rather than being lost.
TEST_F(SmTest, CleanCloseIsNotResumableAndUnackedMessagesAreKept) {
  auto alice = login("alice", "laptop");
  RawClient bob(server.c2sPort());
  const std::string id = bobWithSm(bob);
  chat(*alice, "bob@localhost", "c1");
  ASSERT_TRUE(bob.waitFor(body("c1")));
  bob.send("</stream:stream>");
  ASSERT_TRUE(bob.waitClosed());
  ASSERT_TRUE(server.waitForLog("sm.unacked_rerouted")) << server.logs();
  auto again = resumeBob(id, 0);
  ASSERT_TRUE(again->waitFor("</failed>"));
  auto fresh = login("bob", "phone");
  auto m = fresh->expect(isMessage().body("c1"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->child("delay", "urn:xmpp:delay")) << "came from offline storage";
  EXPECT_TRUE(fresh->expectNothing(isMessage().body("c1")));
}

// ARCHITECTURE.md: SIGTERM flushes queues to storage. A hibernated session's unacknowledged messages
// are in offline storage after a restart.
TEST_F(SmTest, ShutdownKeepsWhatAHibernatedSessionHeld) {
  auto alice = login("alice", "laptop");
  RawClient bob(server.c2sPort());
  bobWithSm(bob);
  chat(*alice, "bob@localhost", "s1");
  ASSERT_TRUE(bob.waitFor(body("s1")));
  bob.drop();
  ASSERT_TRUE(server.waitForLog("c2s.hibernated"));
  chat(*alice, "bob@localhost", "s2");
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error"), 300ms));
  alice.reset();
  ASSERT_EQ(server.stop(), 0);
  server.start();
  auto fresh = login("bob", "phone");
  ASSERT_TRUE(fresh->expect(isMessage().body("s1")));
  ASSERT_TRUE(fresh->expect(isMessage().body("s2")));
  EXPECT_TRUE(fresh->expectNothing(isMessage().body("s1")));
}

// The same with a real client library's own XEP-0198 implementation: libstrophe enables stream
// management, loses its TCP connection, and a new libstrophe connection resumes with its saved state.
TEST_F(SmTest, LibstropheResumesAfterItsConnectionIsCut) {
  auto alice = login("alice", "laptop");
  XmppClient bob(server.jid("bob") + "/phone", "bob-secret", server.c2sPort());
  bob.useStreamManagement();
  ASSERT_TRUE(bob.connect()) << bob.error();
  bob.becomeAvailable();  // libstrophe sends <enable/> from its event loop, after binding
  ASSERT_TRUE(server.waitForLog("sm.enabled"));
  chat(*alice, "bob@localhost/phone", "l1");
  ASSERT_TRUE(bob.expect(isMessage().body("l1")));
  bob.cutConnection();
  ASSERT_FALSE(bob.connected()) << "libstrophe did not notice";
  ASSERT_TRUE(server.waitForLog("c2s.hibernated"));
  chat(*alice, "bob@localhost/phone", "l2");
  ASSERT_TRUE(bob.reconnectResuming()) << bob.error();
  ASSERT_TRUE(server.waitForLog("sm.resumed"));
  EXPECT_TRUE(bob.expect(isMessage().body("l2")));
  chat(*alice, "bob@localhost/phone", "l3");
  EXPECT_TRUE(bob.expect(isMessage().body("l3")));
  EXPECT_TRUE(alice->expectNothing(isMessage().type("error"), 200ms));
}

class SmTimeoutTest : public SmTest {
 protected:
  SmTimeoutTest() : SmTest("[modules.sm]\nresume_timeout = 2\n") {}
};

// Nobody resumes: when the timeout expires the session ends (unavailable presence) and every
// unacknowledged message — delivered before the drop or queued while hibernated — is stored offline
// and arrives, once, at the next login.
TEST_F(SmTimeoutTest, ExpiredSessionHandsUnackedMessagesToOfflineStorage) {
  auto alice = login("alice", "laptop");
  RawClient bob(server.c2sPort());
  const std::string id = bobWithSm(bob);
  chat(*alice, "bob@localhost", "t1");
  ASSERT_TRUE(bob.waitFor(body("t1")));
  bob.drop();
  ASSERT_TRUE(server.waitForLog("c2s.hibernated"));
  chat(*alice, "bob@localhost", "t2");
  ASSERT_TRUE(server.waitForLog("resumption timeout", 5s));
  ASSERT_TRUE(server.waitForLog("sm.unacked_rerouted"));
  auto late = resumeBob(id, 0);
  ASSERT_TRUE(late->waitFor("</failed>"));
  EXPECT_EQ(attrOf(late->received(), "failed", "h"), "1") << "XEP-0198 §5: what the ended session handled";
  auto fresh = login("bob", "phone");
  ASSERT_TRUE(fresh->expect(isMessage().body("t1")));
  ASSERT_TRUE(fresh->expect(isMessage().body("t2")));
  EXPECT_TRUE(fresh->expectNothing(isMessage().body("t1")));
  EXPECT_TRUE(fresh->expectNothing(isMessage().body("t2"), 100ms));
}

TEST_F(SmTimeoutTest, ClientMayAskForAShorterResumptionTime) {
  RawClient c(server.c2sPort());
  ASSERT_TRUE(c.login("bob", "bob-secret"));
  c.consume();
  c.send("<enable xmlns='urn:xmpp:sm:3' resume='true' max='1'/>");
  ASSERT_TRUE(c.waitFor("<enabled"));
  EXPECT_EQ(attrOf(c.received(), "enabled", "max"), "1");
  RawClient d(server.c2sPort());
  ASSERT_TRUE(d.login("carol", "carol-secret"));
  d.consume();
  d.send("<enable xmlns='urn:xmpp:sm:3' resume='true' max='3600'/>");
  ASSERT_TRUE(d.waitFor("<enabled"));
  EXPECT_EQ(attrOf(d.received(), "enabled", "max"), "2") << "capped by resume_timeout";
}

}  // namespace
}  // namespace parley::test
