// XEP-0280 message carbons: Alice uses a phone and a laptop; both see both sides of her conversation
// with Bob, whichever device took part.
#include "integration/im_helpers.h"

namespace parley::test {
namespace {

constexpr const char* kCarbons = "urn:xmpp:carbons:2";
constexpr const char* kForward = "urn:xmpp:forward:0";

// The message inside a carbon copy: <message from=alice@localhost><sent|received><forwarded><message/>.
const xml::Element* forwardedIn(const xml::ElementPtr& carbon, const std::string& direction) {
  if (!carbon) return nullptr;
  const auto* wrapper = carbon->child(direction, kCarbons);
  const auto* fwd = wrapper ? wrapper->child("forwarded", kForward) : nullptr;
  return fwd ? fwd->child("message", "jabber:client") : nullptr;
}

// A carbon (<sent/> or <received/>) whose forwarded message has that body.
Is carbonWithBody(const std::string& direction, const std::string& body) {
  Is is = isMessage();
  is.from("alice@localhost").where([direction, body](const xml::Element& e) {
    const auto* w = e.child(direction, kCarbons);
    const auto* f = w ? w->child("forwarded", kForward) : nullptr;
    const auto* m = f ? f->child("message", "jabber:client") : nullptr;
    return m && m->childText("body", "jabber:client") == body;
  });
  return is;
}

Is anyCarbon() {
  Is is = isMessage();
  is.where([](const xml::Element& e) {
    return e.child("sent", kCarbons) != nullptr || e.child("received", kCarbons) != nullptr;
  });
  return is;
}

Is messageWithBodyFrom(const std::string& from, const std::string& body) {
  Is is = isMessage();
  is.from(from).body(body);
  return is;
}

bool enable(XmppClient& c, bool on, const std::string& id) {
  return isResult(c.request(
      "<iq type='set' id='" + id + "'><" + (on ? "enable" : "disable") + " xmlns='urn:xmpp:carbons:2'/></iq>",
      id));
}

class CarbonsTest : public ModuleTest {
 protected:
  void SetUp() override {
    ModuleTest::SetUp();
    phone = client("alice", "phone");
    laptop = client("alice", "laptop");
    bob = client("bob", "pc");
    phone->becomeAvailable();
    laptop->becomeAvailable();
    bob->becomeAvailable();
  }
  std::unique_ptr<XmppClient> phone, laptop, bob;
};

TEST_F(CarbonsTest, SecondDeviceSeesBothDirections) {
  EXPECT_TRUE(serverHasFeature(*phone, kCarbons));
  ASSERT_TRUE(enable(*phone, true, "e1"));
  ASSERT_TRUE(enable(*laptop, true, "e2"));
  ASSERT_TRUE(enable(*laptop, true, "e3")) << "enabling twice is not an error (§10.1)";

  // Bob writes to the phone's full JID: the laptop gets a <received/> copy from Alice's bare JID.
  bob->send("<message to='" + phone->jid() + "' type='chat' id='in1'><body>hi phone</body></message>");
  ASSERT_TRUE(phone->expect(isMessage().from(bob->jid()).body("hi phone")));
  auto received = laptop->expect(carbonWithBody("received", "hi phone"));
  ASSERT_TRUE(received);
  EXPECT_EQ(received->attr("to"), laptop->jid());
  EXPECT_EQ(received->attr("type"), "chat");
  const auto* original = forwardedIn(received, "received");
  ASSERT_TRUE(original);
  EXPECT_EQ(original->attr("from"), bob->jid());
  EXPECT_EQ(original->attr("to"), phone->jid());
  EXPECT_EQ(original->attr("id"), "in1");
  // The copy is made after XEP-0313 stamped the message: it carries Alice's archive id.
  const auto* sid = original->child("stanza-id", "urn:xmpp:sid:0");
  ASSERT_TRUE(sid) << "no <stanza-id/> in the forwarded message";
  EXPECT_EQ(sid->attr("by"), "alice@localhost");
  EXPECT_TRUE(phone->expectNothing(anyCarbon(), 300ms)) << "the recipient gets the original only";

  // The phone answers: Bob gets it, the laptop gets a <sent/> copy, the phone nothing more.
  phone->send("<message to='bob@localhost' type='chat' id='out1'><body>hi bob</body></message>");
  ASSERT_TRUE(bob->expect(isMessage().from(phone->jid()).body("hi bob")));
  auto sent = laptop->expect(carbonWithBody("sent", "hi bob"));
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->attr("to"), laptop->jid());
  const auto* out = forwardedIn(sent, "sent");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->attr("from"), phone->jid());
  EXPECT_EQ(out->attr("to"), "bob@localhost");
  EXPECT_TRUE(phone->expectNothing(anyCarbon(), 300ms)) << "never a copy to the sending device";

  // Chat states travel as chat messages and are copied too (§10.2).
  phone->send(
      "<message to='bob@localhost' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>"
      "</message>");
  EXPECT_TRUE(laptop->expect(anyCarbon()));
}

TEST_F(CarbonsTest, BareJidMessageCopiedOnlyToResourcesThatMissedIt) {
  ASSERT_TRUE(enable(*phone, true, "e1"));
  ASSERT_TRUE(enable(*laptop, true, "e2"));
  // Same priority: both get the original (RFC 6121 §8.5.2.1.1), so nobody gets a copy.
  bob->send("<message to='alice@localhost' type='chat'><body>to both</body></message>");
  EXPECT_TRUE(phone->expect(messageWithBodyFrom(bob->jid(), "to both")));
  EXPECT_TRUE(laptop->expect(messageWithBodyFrom(bob->jid(), "to both")));
  EXPECT_TRUE(phone->expectNothing(anyCarbon(), 300ms));
  EXPECT_TRUE(laptop->expectNothing(anyCarbon(), 100ms));

  // The phone raises its priority: only it gets the original, the laptop a <received/> copy.
  phone->send("<presence><priority>5</priority></presence>");
  // That presence, not the phone's initial one (which may still be unread): routing uses 5 from now on.
  ASSERT_TRUE(laptop->expect(isPresence().from(phone->jid()).where([](const xml::Element& e) {
    return e.childText("priority", "jabber:client") == "5";
  })));
  bob->send("<message to='alice@localhost' type='chat'><body>to the top</body></message>");
  EXPECT_TRUE(phone->expect(messageWithBodyFrom(bob->jid(), "to the top")));
  EXPECT_TRUE(laptop->expect(carbonWithBody("received", "to the top")));
  EXPECT_TRUE(laptop->expectNothing(messageWithBodyFrom(bob->jid(), "to the top"), 300ms));
}

TEST_F(CarbonsTest, DisableStopsCopiesAndOthersNeverGetAny) {
  auto tablet = client("alice", "tablet");  // never enables carbons
  tablet->becomeAvailable();
  ASSERT_TRUE(enable(*laptop, true, "e1"));
  phone->send("<message to='bob@localhost' type='chat'><body>one</body></message>");
  ASSERT_TRUE(laptop->expect(carbonWithBody("sent", "one")));
  // The phone did not enable carbons: it gets no copy of what the laptop sends (§8 copies to
  // carbons-enabled resources only), and neither does the tablet.
  laptop->send("<message to='bob@localhost' type='chat'><body>two</body></message>");
  ASSERT_TRUE(bob->expect(messageWithBody("two")));
  EXPECT_TRUE(phone->expectNothing(anyCarbon(), 300ms));
  EXPECT_TRUE(tablet->expectNothing(anyCarbon(), 100ms));

  ASSERT_TRUE(enable(*laptop, false, "d1"));
  ASSERT_TRUE(enable(*laptop, false, "d2")) << "disabling twice is not an error (§10.1)";
  phone->send("<message to='bob@localhost' type='chat'><body>three</body></message>");
  bob->send("<message to='" + phone->jid() + "' type='chat'><body>four</body></message>");
  ASSERT_TRUE(bob->expect(messageWithBody("three")));
  ASSERT_TRUE(phone->expect(messageWithBody("four")));
  EXPECT_TRUE(laptop->expectNothing(anyCarbon(), 400ms));
}

TEST_F(CarbonsTest, PrivateAndNoCopyAreHonoured) {
  ASSERT_TRUE(enable(*phone, true, "e1"));
  ASSERT_TRUE(enable(*laptop, true, "e2"));
  phone->send(
      "<message to='bob@localhost' type='chat' id='p1'><body>secret</body>"
      "<private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>");
  auto atBob = bob->expect(messageWithBody("secret"));
  ASSERT_TRUE(atBob) << "a private message is still delivered";
  phone->send(
      "<message to='bob@localhost' type='chat' id='p2'><body>hint only</body><no-copy "
      "xmlns='urn:xmpp:hints'/>"
      "</message>");
  ASSERT_TRUE(bob->expect(messageWithBody("hint only")));
  bob->send("<message to='" + phone->jid() +
            "' type='chat'><body>for the phone only</body>"
            "<private xmlns='urn:xmpp:carbons:2'/></message>");
  ASSERT_TRUE(phone->expect(messageWithBody("for the phone only")));
  EXPECT_TRUE(laptop->expectNothing(anyCarbon(), 500ms));

  // Groupchat and headline messages are not copied; a client cannot make the server copy a carbon.
  bob->send("<message to='" + phone->jid() + "' type='headline'><body>news</body></message>");
  bob->send("<message to='" + phone->jid() +
            "' type='chat'><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
            "<message xmlns='jabber:client' from='eve@localhost' type='chat'><body>fake</body></message>"
            "</forwarded></received></message>");
  ASSERT_TRUE(phone->expect(isMessage().type("headline")));
  ASSERT_TRUE(phone->expect(isMessage().from(bob->jid()).child("received", kCarbons)));
  EXPECT_TRUE(laptop->expectNothing(anyCarbon(), 400ms));
}

TEST_F(CarbonsTest, MessagesBetweenOwnDevicesAreNotDuplicated) {
  auto tablet = client("alice", "tablet");
  tablet->becomeAvailable();
  for (auto* c : {phone.get(), laptop.get(), tablet.get()}) ASSERT_TRUE(enable(*c, true, "e"));
  phone->send("<message to='" + laptop->jid() + "' type='chat'><body>note to self</body></message>");
  ASSERT_TRUE(laptop->expect(messageWithBody("note to self")));
  // The tablet took no part: one copy; the sender and the recipient none.
  EXPECT_TRUE(tablet->expect(carbonWithBody("received", "note to self")));
  EXPECT_TRUE(tablet->expectNothing(anyCarbon(), 300ms));
  EXPECT_TRUE(phone->expectNothing(anyCarbon(), 100ms));
  EXPECT_TRUE(laptop->expectNothing(anyCarbon(), 100ms));
}

TEST_F(CarbonsTest, OnlyTheUserCanEnable) {
  auto reply = bob->request(
      "<iq type='set' id='x1' to='alice@localhost'><enable xmlns='urn:xmpp:carbons:2'/></iq>", "x1");
  EXPECT_TRUE(isError(reply, "not-allowed"));
  phone->send("<message to='bob@localhost' type='chat'><body>still private</body></message>");
  ASSERT_TRUE(bob->expect(messageWithBody("still private")));
  EXPECT_TRUE(bob->expectNothing(anyCarbon(), 300ms));
}

TEST_F(CarbonsTest, ANewSessionOnTheSameResourceStartsDisabled) {
  ASSERT_TRUE(enable(*laptop, true, "e1"));
  laptop->disconnect();
  laptop = client("alice", "laptop");
  laptop->becomeAvailable();
  phone->send("<message to='bob@localhost' type='chat'><body>after reconnect</body></message>");
  ASSERT_TRUE(bob->expect(messageWithBody("after reconnect")));
  EXPECT_TRUE(laptop->expectNothing(anyCarbon(), 400ms));
  ASSERT_TRUE(enable(*laptop, true, "e2"));
  phone->send("<message to='bob@localhost' type='chat'><body>enabled again</body></message>");
  EXPECT_TRUE(laptop->expect(carbonWithBody("sent", "enabled again")));
}

TEST_F(CarbonsTest, KickedSessionsCloseDoesNotDisableItsReplacement) {
  // resource_conflict = kick_old: the new laptop session binds before the old one's SessionClosed.
  ASSERT_TRUE(enable(*laptop, true, "e1"));
  auto replacement = client("alice", "laptop");
  ASSERT_TRUE(enable(*replacement, true, "e2"));
  EXPECT_TRUE(laptop->waitDisconnected());
  replacement->becomeAvailable();
  phone->send("<message to='bob@localhost' type='chat'><body>to the new laptop</body></message>");
  EXPECT_TRUE(replacement->expect(carbonWithBody("sent", "to the new laptop")));
}

}  // namespace
}  // namespace parley::test
