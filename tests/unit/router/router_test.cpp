// Delivery rules of RFC 6121 §8.5, checked against the Router with recording sessions.
#include "server/router/router.h"

#include <gtest/gtest.h>

#include "server/hooks/hooks.h"
#include "server/xml/parse_fragment.h"

namespace parley::router {
namespace {

using xmpp::Jid;
using xmpp::StanzaPtr;

class RecordingSession : public session::Session {
 public:
  explicit RecordingSession(const std::string& jid) : Session(session::nextSessionId(), runtime::Executor()) {
    setJid(*Jid::parse(jid));
  }
  std::string_view remoteAddress() const override { return "test"; }
  void deliver(StanzaPtr s) override { received.push_back(std::move(s)); }
  void write(StanzaPtr s) override { received.push_back(std::move(s)); }
  void writeElement(const xml::Element&) override {}
  void close(xmpp::StreamError, std::string) override { closed = true; }
  std::chrono::steady_clock::time_point lastActivity() const override { return {}; }
  std::vector<StanzaPtr> received;
  bool closed = false;
};

class RecordingPresence : public InboundPresenceHandler {
 public:
  void inboundPresence(StanzaPtr s) override { received.push_back(std::move(s)); }
  std::vector<StanzaPtr> received;
};

StanzaPtr stanza(const std::string& xml) {
  auto s = xmpp::Stanza::make(xml::parseElement(xml));
  EXPECT_TRUE(s) << xml;
  return s;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : router(sessions, hooks, iq) {
    router.addLocalDomain("example.org");
    router.setPresenceHandler(&presence);
  }

  // Binds a resource; available with `priority` unless `available` is false.
  std::shared_ptr<RecordingSession> online(const std::string& jid, int priority = 0, bool available = true) {
    auto s = std::make_shared<RecordingSession>(jid);
    EXPECT_EQ(sessions.bind(s, session::ConflictPolicy::KickOld, 10).outcome,
              session::SessionManager::BindOutcome::Ok);
    if (available) sessions.setPresence(*s, true, priority, xml::make("presence", "jabber:client"));
    return s;
  }

  session::SessionManager sessions;
  hooks::HookRegistry hooks;
  IqRouter iq;
  Router router;
  RecordingPresence presence;
  std::shared_ptr<RecordingSession> sender = online("alice@example.org/phone");
};

TEST_F(RouterTest, ChatToBareJidGoesToHighestPriorityResources) {
  auto low = online("bob@example.org/low", 1);
  auto high1 = online("bob@example.org/high1", 5);
  auto high2 = online("bob@example.org/high2", 5);
  router.route(stanza(
      "<message from='alice@example.org/phone' to='bob@example.org' type='chat'><body>x</body></message>"));
  EXPECT_TRUE(low->received.empty());
  EXPECT_EQ(high1->received.size(), 1u);  // RFC 6121 §8.5.2.1.1: ties may all receive it
  EXPECT_EQ(high2->received.size(), 1u);
}

TEST_F(RouterTest, NegativePriorityResourcesGetNoBareMessages) {
  auto shy = online("bob@example.org/shy", -1);
  int undeliverable = 0;
  auto h = hooks.add<hooks::UndeliverableMessage>([&](auto&) {
    ++undeliverable;
    return hooks::Action::Stop;
  });
  router.route(stanza(
      "<message from='alice@example.org/phone' to='bob@example.org' type='chat'><body>x</body></message>"));
  EXPECT_TRUE(shy->received.empty());
  EXPECT_EQ(undeliverable, 1);  // treated as offline (RFC 6121 §8.5.2.2)
}

TEST_F(RouterTest, UnavailableResourcesDoNotCountAsOnline) {
  auto bound = online("bob@example.org/bound", 0, false);
  int undeliverable = 0;
  auto h = hooks.add<hooks::UndeliverableMessage>([&](auto&) {
    ++undeliverable;
    return hooks::Action::Stop;
  });
  router.route(stanza(
      "<message from='alice@example.org/phone' to='bob@example.org' type='chat'><body>x</body></message>"));
  EXPECT_EQ(undeliverable, 1);
  EXPECT_TRUE(bound->received.empty());
}

TEST_F(RouterTest, HeadlineGoesToAllNonNegativeResourcesAndIsDroppedWhenNone) {
  auto a = online("bob@example.org/a", 0);
  auto b = online("bob@example.org/b", 3);
  auto c = online("bob@example.org/c", -2);
  router.route(
      stanza("<message from='alice@example.org/phone' to='bob@example.org' "
             "type='headline'><body>x</body></message>"));
  EXPECT_EQ(a->received.size(), 1u);
  EXPECT_EQ(b->received.size(), 1u);
  EXPECT_TRUE(c->received.empty());
  // No resource: silently ignored (RFC 6121 §8.5.2.2.1), no error to the sender.
  router.route(
      stanza("<message from='alice@example.org/phone' to='carol@example.org' "
             "type='headline'><body>x</body></message>"));
  EXPECT_TRUE(sender->received.empty());
}

TEST_F(RouterTest, GroupchatToBareJidBouncesServiceUnavailable) {
  online("bob@example.org/a", 0);
  router.route(
      stanza("<message id='g1' from='alice@example.org/phone' to='bob@example.org' "
             "type='groupchat'><body>x</body></message>"));
  ASSERT_EQ(sender->received.size(), 1u);
  const auto& err = sender->received.front();
  EXPECT_EQ(err->type(), "error");
  EXPECT_EQ(err->id(), "g1");
  EXPECT_TRUE(err->element()
                  .child("error", "jabber:client")
                  ->child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
}

TEST_F(RouterTest, UndeliverableWithoutOfflineStorageBouncesAndErrorsAreNeverAnswered) {
  router.route(
      stanza("<message id='m1' from='alice@example.org/phone' to='bob@example.org' "
             "type='chat'><body>x</body></message>"));
  ASSERT_EQ(sender->received.size(), 1u);
  EXPECT_EQ(sender->received.front()->type(), "error");
  sender->received.clear();
  // An error to an unavailable user is dropped, never answered with an error (RFC 6120 §8.3.1).
  router.route(stanza("<message id='m2' from='alice@example.org/phone' to='bob@example.org' type='error'/>"));
  EXPECT_TRUE(sender->received.empty());
}

TEST_F(RouterTest, FullJidDeliversToThatResourceOnly) {
  auto a = online("bob@example.org/a", 0);
  auto b = online("bob@example.org/b", 9);
  router.route(stanza(
      "<message from='alice@example.org/phone' to='bob@example.org/a' type='chat'><body>x</body></message>"));
  EXPECT_EQ(a->received.size(), 1u);
  EXPECT_TRUE(b->received.empty());
}

TEST_F(RouterTest, ChatToGoneResourceFallsBackToBareJid) {
  auto b = online("bob@example.org/b", 0);
  router.route(
      stanza("<message from='alice@example.org/phone' to='bob@example.org/gone' "
             "type='chat'><body>x</body></message>"));
  ASSERT_EQ(b->received.size(), 1u);  // RFC 6121 §8.5.3.2.1
}

TEST_F(RouterTest, NormalMessageToGoneResourceBounces) {
  auto b = online("bob@example.org/b", 0);
  router.route(stanza(
      "<message id='n1' from='alice@example.org/phone' to='bob@example.org/gone'><body>x</body></message>"));
  EXPECT_TRUE(b->received.empty());  // RFC 6121 §8.5.3.2.1: only chat falls back to the bare JID
  ASSERT_EQ(sender->received.size(), 1u);
  EXPECT_EQ(sender->received.front()->type(), "error");
}

TEST_F(RouterTest, IqToGoneResourceBouncesAndResultsAreDropped) {
  router.route(
      stanza("<iq id='q1' type='get' from='alice@example.org/phone' to='bob@example.org/gone'><ping "
             "xmlns='urn:xmpp:ping'/></iq>"));
  ASSERT_EQ(sender->received.size(), 1u);
  EXPECT_EQ(sender->received.front()->type(), "error");
  EXPECT_EQ(sender->received.front()->id(), "q1");
  sender->received.clear();
  router.route(
      stanza("<iq id='q2' type='result' from='alice@example.org/phone' to='bob@example.org/gone'/>"));
  EXPECT_TRUE(sender->received.empty());
}

TEST_F(RouterTest, IqToBareAccountIsAnsweredByTheServer) {
  bool handled = false;
  auto h = iq.add(IqScope::Account, "get", "urn:example", "q", [&](const IqRequest& r) {
    handled = true;
    EXPECT_EQ(r.target.bareStr(), "bob@example.org");
    r.result();
  });
  auto bob = online("bob@example.org/b", 0);
  router.route(
      stanza("<iq id='q1' type='get' from='alice@example.org/phone' to='bob@example.org'><q "
             "xmlns='urn:example'/></iq>"));
  EXPECT_TRUE(handled);
  EXPECT_TRUE(bob->received.empty());  // RFC 6121 §8.5.2.1.3: not delivered to a resource
  ASSERT_EQ(sender->received.size(), 1u);
  EXPECT_EQ(sender->received.front()->type(), "result");
  EXPECT_EQ(sender->received.front()->from().bareStr(), "bob@example.org");
}

TEST_F(RouterTest, UnhandledIqGetsServiceUnavailableAndEmptyIqBadRequest) {
  router.route(stanza(
      "<iq id='q1' type='get' from='alice@example.org/phone' to='example.org'><q xmlns='urn:nobody'/></iq>"));
  ASSERT_EQ(sender->received.size(), 1u);
  EXPECT_TRUE(sender->received.front()
                  ->element()
                  .child("error", "jabber:client")
                  ->child("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
  sender->received.clear();
  router.route(stanza("<iq id='q2' type='get' from='alice@example.org/phone' to='example.org'/>"));
  ASSERT_EQ(sender->received.size(), 1u);
  EXPECT_TRUE(sender->received.front()
                  ->element()
                  .child("error", "jabber:client")
                  ->child("bad-request", "urn:ietf:params:xml:ns:xmpp-stanzas"));
}

TEST_F(RouterTest, RemoteDomainsAreNotReachableYet) {
  router.route(
      stanza("<message id='r1' from='alice@example.org/phone' to='someone@elsewhere.net' "
             "type='chat'><body>x</body></message>"));
  ASSERT_EQ(sender->received.size(), 1u);
  EXPECT_TRUE(sender->received.front()
                  ->element()
                  .child("error", "jabber:client")
                  ->child("remote-server-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas"));
}

TEST_F(RouterTest, PresenceToLocalAccountsGoesToThePresenceService) {
  router.route(stanza("<presence from='alice@example.org/phone' to='bob@example.org' type='subscribe'/>"));
  router.route(stanza("<presence from='alice@example.org/phone' to='bob@example.org/x'/>"));
  EXPECT_EQ(presence.received.size(), 2u);
}

TEST_F(RouterTest, ComponentsReceiveStanzasForTheirDomain) {
  std::vector<StanzaPtr> got;
  auto h = router.addComponent("muc.example.org", [&](StanzaPtr s) { got.push_back(std::move(s)); });
  router.route(stanza("<presence from='alice@example.org/phone' to='room@muc.example.org/nick'/>"));
  EXPECT_EQ(got.size(), 1u);
  h.reset();
  router.route(
      stanza("<message id='c1' from='alice@example.org/phone' to='room@muc.example.org' type='groupchat'/>"));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(sender->received.size(), 1u);  // gone: remote-server-not-found
}

}  // namespace
}  // namespace parley::router
