#include "server/xmpp/stanza.h"

#include <gtest/gtest.h>

#include "server/xml/namespaces.h"
#include "server/xml/writer.h"

namespace parley::xmpp {
namespace {

Jid jid(std::string_view s) {
  return *Jid::parse(s);
}

xml::ElementPtr roomMessage() {
  auto m = xml::make("message", std::string(xml::ns::kClient));
  m->setAttr("type", "groupchat").setAttr("id", "m1");
  auto body = xml::make("body", std::string(xml::ns::kClient));
  body->addText("a < b & 'c'");
  m->addChild(body);
  auto sid = xml::make("stanza-id", "urn:xmpp:sid:0");
  sid->setAttr("by", "room@muc.example.org").setAttr("id", "X1");
  m->addChild(sid);
  return m;
}

// A readdressed copy (the fan-out of a room message) reuses the serialised children of the stanza it
// came from; its bytes must equal a full serialisation of its own element.
TEST(StanzaTest, ReaddressedCopiesSerialiseLikeTheirElement) {
  auto original = Stanza::make(roomMessage(), jid("room@muc.example.org/alice"), Jid());
  ASSERT_TRUE(original);
  const std::string& first = original->serialized();
  EXPECT_EQ(first, xml::toString(original->element(), xml::ns::kClient));
  for (std::string_view to : {"bob@example.org/phone", "carol@example.org/laptop", "dave@example.org"}) {
    auto copy = original->withTo(jid(to));
    EXPECT_EQ(copy->to().str(), to);
    EXPECT_EQ(copy->serialized(), xml::toString(copy->element(), xml::ns::kClient));
    EXPECT_NE(copy->serialized().find(std::string("to='") + std::string(to) + "'"), std::string::npos);
    EXPECT_NE(copy->serialized().find("<body>a &lt; b &amp; 'c'</body>"), std::string::npos);
  }
  // The original's own bytes are unchanged by its copies.
  EXPECT_EQ(original->serialized(), first);
}

TEST(StanzaTest, ChildlessStanzaAndACopyMadeBeforeTheOriginalIsSerialised) {
  auto p = xml::make("presence", std::string(xml::ns::kClient));
  auto presence = Stanza::make(p, jid("alice@example.org/a"), Jid());
  auto copy = presence->withAddresses(jid("alice@example.org/a"), jid("bob@example.org"));
  EXPECT_EQ(copy->serialized(), "<presence from='alice@example.org/a' to='bob@example.org'/>");
  EXPECT_EQ(presence->serialized(), "<presence from='alice@example.org/a'/>");

  auto message = Stanza::make(roomMessage(), jid("room@muc.example.org/alice"), Jid());
  auto early = message->withTo(jid("bob@example.org"));  // serialised before the original
  EXPECT_EQ(early->serialized(), xml::toString(early->element(), xml::ns::kClient));
  EXPECT_EQ(message->serialized(), xml::toString(message->element(), xml::ns::kClient));
}

// make() with a new element (an edit: a child added) must not reuse the old children's bytes.
TEST(StanzaTest, EditedCopyIsSerialisedAfresh) {
  auto original = Stanza::make(roomMessage(), jid("room@muc.example.org/alice"), Jid());
  (void)original->serialized();
  auto edited = original->element().clone();
  edited->addChild(xml::make("delay", "urn:xmpp:delay"));
  auto delayed = Stanza::make(edited, original->from(), jid("bob@example.org"));
  EXPECT_NE(delayed->serialized().find("<delay xmlns='urn:xmpp:delay'/>"), std::string::npos);
}

}  // namespace
}  // namespace parley::xmpp
