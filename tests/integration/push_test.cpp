// XEP-0357 push notifications on the user's server, through real clients. The app server here is a
// libstrophe client's full JID (XEP-0357 §5 allows any XMPP address), so the test sees exactly what the
// server publishes and chooses the answer. The built-in app server and FCM/APNs are in
// push_appserver_test.cpp.
#include <chrono>
#include <string>

#include "integration/module_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kPush = "urn:xmpp:push:0";
constexpr const char* kPubsub = "http://jabber.org/protocol/pubsub";
constexpr const char* kForms = "jabber:x:data";
constexpr const char* kRules = "urn:parley:push:rules:0";
constexpr const char* kMuc = "http://jabber.org/protocol/muc";
constexpr const char* kMucOwner = "http://jabber.org/protocol/muc#owner";
constexpr const char* kMucAdmin = "http://jabber.org/protocol/muc#admin";

std::string enableXml(const std::string& service, const std::string& node, const std::string& secret,
                      const std::string& id = "en") {
  return "<iq type='set' id='" + id + "'><enable xmlns='" + kPush + "' jid='" + service + "' node='" + node +
         "'><x xmlns='" + kForms + "' type='submit'><field var='FORM_TYPE'><value>"
         "http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>" +
         secret + "</value></field></x></enable></iq>";
}

// The value of a field of the form with that FORM_TYPE under `parent`.
std::string formField(const xml::Element* parent, const std::string& formType, const std::string& var,
                      bool* present = nullptr) {
  if (present) *present = false;
  if (!parent) return {};
  for (const auto& x : parent->childrenNamed("x", kForms)) {
    std::string type;
    for (const auto& f : x->childrenNamed("field", kForms))
      if (f->attr("var") == "FORM_TYPE") type = f->childText("value", kForms);
    if (type != formType) continue;
    for (const auto& f : x->childrenNamed("field", kForms))
      if (f->attr("var") == var) {
        if (present) *present = true;
        return f->childText("value", kForms);
      }
  }
  return {};
}

// A publish to `node` (XEP-0357 §7).
Match publishTo(const std::string& node) {
  return [node](const xml::Element& e) {
    if (e.name() != "iq" || e.attr("type") != "set") return false;
    const auto* ps = e.child("pubsub", kPubsub);
    const auto* pub = ps ? ps->child("publish", kPubsub) : nullptr;
    return pub && pub->attr("node") == node;
  };
}

const xml::Element* notificationOf(const xml::Element& iq) {
  const auto* pub = iq.child("pubsub", kPubsub)->child("publish", kPubsub);
  const auto* item = pub->child("item", kPubsub);
  return item ? item->child("notification", kPush) : nullptr;
}

void answer(XmppClient& appServer, const xml::Element& iq, const std::string& errorType = {},
            const std::string& condition = "item-not-found") {
  if (errorType.empty()) {
    appServer.send("<iq type='result' id='" + std::string(iq.attr("id")) + "' to='" + std::string(iq.attr("from")) +
                   "'/>");
  } else {
    appServer.send("<iq type='error' id='" + std::string(iq.attr("id")) + "' to='" + std::string(iq.attr("from")) +
                   "'><error type='" + errorType + "'><" + condition + " xmlns='" + kStanzasNs +
                   "'/></error></iq>");
  }
}

class PushTest : public ModuleTest {
 protected:
  explicit PushTest(std::string extra = "[modules.push]\nmin_interval_ms = 0\n") : ModuleTest(std::move(extra)) {}
  std::string chat(XmppClient& from, const std::string& to, const std::string& body) {
    from.send("<message type='chat' to='" + to + "'><body>" + body + "</body></message>");
    return body;
  }
};

// §4: the feature on the account; §5: enable needs a JID; only the account itself may enable.
TEST_F(PushTest, DiscoveryAndEnableValidation) {
  auto alice = client("alice", "phone");
  auto info = alice->request("<iq type='get' id='d1' to='alice@localhost'><query "
                             "xmlns='http://jabber.org/protocol/disco#info'/></iq>",
                             "d1");
  ASSERT_TRUE(isResult(info));
  bool found = false;
  for (const auto& f : info->child("query", "http://jabber.org/protocol/disco#info")
                           ->childrenNamed("feature", "http://jabber.org/protocol/disco#info"))
    found = found || f->attr("var") == kPush;
  EXPECT_TRUE(found);
  EXPECT_TRUE(isError(alice->request("<iq type='set' id='e1'><enable xmlns='urn:xmpp:push:0' node='n'/></iq>", "e1"),
                      "bad-request"));
  EXPECT_TRUE(isError(alice->request("<iq type='set' id='e2'><enable xmlns='urn:xmpp:push:0' jid='push.example' "
                                     "node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
                                     "<value>urn:other</value></field></x></enable></iq>",
                                     "e2"),
                      "bad-request"));
  auto bob = client("bob", "laptop");
  EXPECT_TRUE(isError(bob->request("<iq type='set' id='e3' to='alice@localhost'><enable xmlns='urn:xmpp:push:0' "
                                   "jid='push.example' node='n'/></iq>",
                                   "e3"),
                      "forbidden"));
  EXPECT_TRUE(isResult(alice->request(enableXml("push.example", "n1", "s1"), "en")));
  EXPECT_TRUE(isResult(alice->request("<iq type='set' id='d'><disable xmlns='urn:xmpp:push:0' jid='push.example'/></iq>", "d")));
}

// The whole path for an offline device: what is published (§7: summary form, stored publish-options,
// from the account's bare JID), no body by default (§9), the message itself still stored offline.
TEST_F(PushTest, OfflineDeviceGetsOneNotificationWithSummaryAndOptions) {
  auto app = client("bob", "appserver");
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "node-1", "s3cret"), "en")));
    alice->disconnect();
  }
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "first");
  auto iq = app->expect(publishTo("node-1"));
  ASSERT_TRUE(iq);
  EXPECT_EQ(iq->attr("from"), "alice@localhost");
  const auto* n = notificationOf(*iq);
  ASSERT_TRUE(n);
  EXPECT_EQ(formField(n, "urn:xmpp:push:summary", "message-count"), "1");
  EXPECT_EQ(formField(n, "urn:xmpp:push:summary", "last-message-sender"), "carol@localhost/desk");
  bool hasBody = true;
  formField(n, "urn:xmpp:push:summary", "last-message-body", &hasBody);
  EXPECT_FALSE(hasBody) << "the body must not leave the server unless configured";
  const auto* opts = iq->child("pubsub", kPubsub)->child("publish-options", kPubsub);
  EXPECT_EQ(formField(opts, "http://jabber.org/protocol/pubsub#publish-options", "secret"), "s3cret");
  answer(*app, *iq);
  // Chat states alone are not worth a push.
  carol->send("<message type='chat' to='alice@localhost'><composing "
              "xmlns='http://jabber.org/protocol/chatstates'/></message>");
  EXPECT_TRUE(app->expectNothing(publishTo("node-1"), 400ms));
  // Delivery is unchanged: the message waits in offline storage.
  auto alice = client("alice", "phone");
  alice->becomeAvailable();
  EXPECT_TRUE(alice->expect(isMessage().body("first")));
}

// An active device gets no push; XEP-0352 <inactive/> makes it away; <active/> again stops pushes.
TEST_F(PushTest, ActiveDeviceIsNotPushedButAnInactiveOneIs) {
  auto app = client("bob", "appserver");
  auto alice = client("alice", "phone");
  alice->becomeAvailable();
  ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "n-csi", "x"), "en")));
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "hello");
  ASSERT_TRUE(alice->expect(isMessage().body("hello")));
  EXPECT_TRUE(app->expectNothing(publishTo("n-csi"), 400ms));
  alice->send("<inactive xmlns='urn:xmpp:csi:0'/>");
  alice->pump(100ms);
  chat(*carol, "alice@localhost", "while inactive");
  auto iq = app->expect(publishTo("n-csi"));
  ASSERT_TRUE(iq);
  answer(*app, *iq);
  alice->send("<active xmlns='urn:xmpp:csi:0'/>");
  alice->pump(100ms);
  chat(*carol, "alice@localhost", "active again");
  EXPECT_TRUE(alice->expect(isMessage().body("active again")));
  EXPECT_TRUE(app->expectNothing(publishTo("n-csi"), 400ms));
}

// §7: an error of type cancel disables the registration at once; type wait is transient.
TEST_F(PushTest, PermanentErrorDisablesTransientKeeps) {
  auto app = client("bob", "appserver");
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "n-wait", "x", "a"), "a")));
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "n-gone", "x", "b"), "b")));
  }
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "m1");
  auto w = app->expect(publishTo("n-wait"));
  auto g = app->expect(publishTo("n-gone"));
  ASSERT_TRUE(w && g);
  answer(*app, *w, "wait", "resource-constraint");
  answer(*app, *g, "cancel", "item-not-found");
  ASSERT_TRUE(server.waitForLog("push.registration.disabled"));
  chat(*carol, "alice@localhost", "m2");
  auto w2 = app->expect(publishTo("n-wait"));
  ASSERT_TRUE(w2) << "a transient error keeps the registration";
  EXPECT_EQ(formField(notificationOf(*w2), "urn:xmpp:push:summary", "message-count"), "2");
  answer(*app, *w2);
  EXPECT_TRUE(app->expectNothing(publishTo("n-gone"), 400ms)) << "the node that failed permanently is disabled";
}

// Several registrations per account, and disable with and without a node (§6).
TEST_F(PushTest, SeveralRegistrationsAndDisable) {
  auto app = client("bob", "appserver");
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "a1", "x", "a"), "a")));
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "a2", "x", "b"), "b")));
    ASSERT_TRUE(isResult(alice->request(enableXml("carol@localhost/appserver", "c1", "x", "c"), "c")));
    ASSERT_TRUE(isResult(alice->request(
        "<iq type='set' id='d'><disable xmlns='urn:xmpp:push:0' jid='bob@localhost/appserver' node='a1'/></iq>", "d")));
  }
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "x");
  auto a2 = app->expect(publishTo("a2"));
  ASSERT_TRUE(a2);
  answer(*app, *a2);
  EXPECT_TRUE(app->expectNothing(publishTo("a1"), 300ms));
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request(
        "<iq type='set' id='d'><disable xmlns='urn:xmpp:push:0' jid='bob@localhost/appserver'/></iq>", "d")));
  }
  chat(*carol, "alice@localhost", "y");
  EXPECT_TRUE(app->expectNothing(publishTo("a2"), 400ms));
}

class PushBurstTest : public PushTest {
 protected:
  PushBurstTest() : PushTest("[modules.push]\nmin_interval_ms = 1500\n") {}
};

// A burst is folded: the first message is pushed at once, the rest in one publish at the end of the
// interval with the count and the last sender; every message is still stored.
TEST_F(PushBurstTest, BurstIsCoalescedNothingLost) {
  auto app = client("bob", "appserver");
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "nb", "x"), "en")));
  }
  auto carol = client("carol", "desk");
  for (int i = 1; i <= 5; ++i) chat(*carol, "alice@localhost", "b" + std::to_string(i));
  auto first = app->expect(publishTo("nb"));
  ASSERT_TRUE(first);
  EXPECT_EQ(formField(notificationOf(*first), "urn:xmpp:push:summary", "message-count"), "1");
  answer(*app, *first);
  auto second = app->expect(publishTo("nb"), 4s);
  ASSERT_TRUE(second);
  EXPECT_EQ(formField(notificationOf(*second), "urn:xmpp:push:summary", "message-count"), "5");
  answer(*app, *second);
  EXPECT_TRUE(app->expectNothing(publishTo("nb"), 2s));
  auto alice = client("alice", "phone");
  alice->becomeAvailable();
  for (int i = 1; i <= 5; ++i) EXPECT_TRUE(alice->expect(isMessage().body("b" + std::to_string(i))));
}

// Registrations are stored: after a restart of parleyd an offline device is still pushed.
TEST_F(PushTest, RegistrationsSurviveRestart) {
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "durable", "kept"), "en")));
  }
  ASSERT_EQ(server.stop(), 0);
  server.start();
  auto app = client("bob", "appserver");
  auto carol = client("carol", "desk");
  chat(*carol, "alice@localhost", "after restart");
  auto iq = app->expect(publishTo("durable"));
  ASSERT_TRUE(iq);
  const auto* opts = iq->child("pubsub", kPubsub)->child("publish-options", kPubsub);
  EXPECT_EQ(formField(opts, "http://jabber.org/protocol/pubsub#publish-options", "secret"), "kept");
  answer(*app, *iq);
}

// Group chats: alice is a member of the room but not in it. The default rule pushes mentions only;
// the per-room rule (urn:parley:push:rules:0) switches to always or never.
TEST_F(PushTest, GroupchatMembersAwayArePushedByRule) {
  auto app = client("bob", "appserver");
  auto carol = client("carol", "desk");
  const std::string room = "club@muc.localhost";
  carol->send("<presence to='" + room + "/carol'><x xmlns='" + std::string(kMuc) + "'/></presence>");
  ASSERT_TRUE(carol->expect(isPresence().from(room + "/carol")));
  ASSERT_TRUE(isResult(carol->request("<iq type='set' id='inst' to='" + room + "'><query xmlns='" + kMucOwner +
                                          "'><x xmlns='jabber:x:data' type='submit'/></query></iq>",
                                      "inst")));
  ASSERT_TRUE(isResult(carol->request("<iq type='set' id='adm' to='" + room + "'><query xmlns='" + kMucAdmin +
                                          "'><item affiliation='member' jid='alice@localhost'/></query></iq>",
                                      "adm")));
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request(enableXml("bob@localhost/appserver", "gc", "x"), "en")));
    auto rules = alice->request("<iq type='get' id='r'><rules xmlns='" + std::string(kRules) + "'/></iq>", "r");
    ASSERT_TRUE(isResult(rules));
    EXPECT_EQ(rules->child("rules", kRules)->attr("default"), "mentions");
  }
  auto say = [&](const std::string& body) {
    carol->send("<message type='groupchat' to='" + room + "'><body>" + body + "</body></message>");
    ASSERT_TRUE(carol->expect(isMessage().from(room + "/carol").body(body)));
  };
  say("nobody in particular");
  EXPECT_TRUE(app->expectNothing(publishTo("gc"), 400ms)) << "default rule: mentions only";
  say("hey alice@localhost, look");
  auto iq = app->expect(publishTo("gc"));
  ASSERT_TRUE(iq);
  EXPECT_EQ(formField(notificationOf(*iq), "urn:xmpp:push:summary", "last-message-sender"), room + "/carol");
  answer(*app, *iq);
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request("<iq type='set' id='r'><rules xmlns='" + std::string(kRules) + "'><room jid='" +
                                            room + "' mode='always'/></rules></iq>",
                                        "r")));
    EXPECT_TRUE(isError(alice->request("<iq type='set' id='r2'><rules xmlns='" + std::string(kRules) +
                                           "'><room jid='" + room + "' mode='sometimes'/></rules></iq>",
                                       "r2"),
                        "bad-request"));
  }
  say("anything");
  iq = app->expect(publishTo("gc"));
  ASSERT_TRUE(iq);
  answer(*app, *iq);
  {
    auto alice = client("alice", "phone");
    ASSERT_TRUE(isResult(alice->request("<iq type='set' id='r'><rules xmlns='" + std::string(kRules) + "'><room jid='" +
                                            room + "' mode='never'/></rules></iq>",
                                        "r")));
  }
  say("alice@localhost are you there");
  EXPECT_TRUE(app->expectNothing(publishTo("gc"), 400ms)) << "rule never";
  // A non-member is never pushed for the room (bob is not affiliated).
}

// A member whose joined device is active gets nothing; the same device hibernated (XEP-0198) gets the
// push for a mention of its nick.
TEST_F(PushTest, GroupchatJoinedButHibernatedDeviceIsPushed) {
  auto app = client("bob", "appserver");
  auto carol = client("carol", "desk");
  const std::string room = "den@muc.localhost";
  carol->send("<presence to='" + room + "/carol'><x xmlns='" + std::string(kMuc) + "'/></presence>");
  ASSERT_TRUE(carol->expect(isPresence().from(room + "/carol")));
  ASSERT_TRUE(isResult(carol->request("<iq type='set' id='inst' to='" + room + "'><query xmlns='" + kMucOwner +
                                          "'><x xmlns='jabber:x:data' type='submit'/></query></iq>",
                                      "inst")));
  ASSERT_TRUE(isResult(carol->request("<iq type='set' id='adm' to='" + room + "'><query xmlns='" + kMucAdmin +
                                          "'><item affiliation='member' jid='alice@localhost'/></query></iq>",
                                      "adm")));
  XmppClient alice(server.jid("alice") + "/phone", "alice-secret", server.c2sPort());
  alice.useStreamManagement();
  ASSERT_TRUE(alice.connect()) << alice.error();
  alice.becomeAvailable();
  ASSERT_TRUE(server.waitForLog("sm.enabled"));
  ASSERT_TRUE(isResult(alice.request(enableXml("bob@localhost/appserver", "gh", "x"), "en")));
  alice.send("<presence to='" + room + "/Ally'><x xmlns='" + std::string(kMuc) + "'/></presence>");
  ASSERT_TRUE(alice.expect(isPresence().from(room + "/Ally")));
  carol->send("<message type='groupchat' to='" + room + "'><body>Ally: awake?</body></message>");
  ASSERT_TRUE(alice.expect(isMessage().body("Ally: awake?")));
  EXPECT_TRUE(app->expectNothing(publishTo("gh"), 400ms));
  alice.cutConnection();
  ASSERT_TRUE(server.waitForLog("c2s.hibernated"));
  carol->send("<message type='groupchat' to='" + room + "'><body>no mention</body></message>");
  EXPECT_TRUE(app->expectNothing(publishTo("gh"), 400ms));
  carol->send("<message type='groupchat' to='" + room + "'><body>ally, ping</body></message>");
  auto iq = app->expect(publishTo("gh"));
  ASSERT_TRUE(iq);
  answer(*app, *iq);
  ASSERT_TRUE(alice.reconnectResuming()) << alice.error();
  EXPECT_TRUE(alice.expect(isMessage().body("no mention")));
  EXPECT_TRUE(alice.expect(isMessage().body("ally, ping")));
}

}  // namespace
}  // namespace parley::test
