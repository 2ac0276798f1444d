#include <string>

#include <gtest/gtest.h>

#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "xep/carbons/eligibility.h"

namespace parley::xep::carbons {
namespace {

bool ok(const std::string& xml, Direction d = Direction::Received) {
  auto e = xml::parseElement(xml);
  EXPECT_TRUE(e) << xml;
  return eligible(*e, d);
}

TEST(CarbonsEligibilityTest, ChatAndNormalWithBody) {
  EXPECT_TRUE(ok("<message type='chat'><body>hi</body></message>"));
  EXPECT_TRUE(ok("<message type='chat'/>"));  // §6.1: type chat, whatever it carries
  EXPECT_TRUE(ok("<message><body>hi</body></message>"));
  EXPECT_TRUE(ok("<message type='normal'><body>hi</body></message>"));
  EXPECT_FALSE(ok("<message type='normal'/>"));
  EXPECT_FALSE(ok("<message type='headline'><body>news</body></message>"));
}

TEST(CarbonsEligibilityTest, InstantMessagingPayloads) {
  EXPECT_TRUE(ok("<message><received xmlns='urn:xmpp:receipts' id='1'/></message>"));
  EXPECT_TRUE(ok("<message><displayed xmlns='urn:xmpp:chat-markers:0' id='1'/></message>"));
  EXPECT_TRUE(ok("<message><gone xmlns='http://jabber.org/protocol/chatstates'/></message>"));
  EXPECT_FALSE(
      ok("<message type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>"));
}

TEST(CarbonsEligibilityTest, PrivateNoCopyAndCarbonsAreNeverCopied) {
  EXPECT_FALSE(ok("<message type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>"));
  EXPECT_FALSE(ok("<message type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>"));
  EXPECT_FALSE(ok("<message type='chat'><sent xmlns='urn:xmpp:carbons:2'/></message>", Direction::Sent));
  EXPECT_FALSE(ok("<message type='chat'><received xmlns='urn:xmpp:carbons:2'/></message>"));
}

TEST(CarbonsEligibilityTest, ErrorsAndMucRules) {
  EXPECT_FALSE(ok("<message type='error'><body>x</body></message>"));
  EXPECT_FALSE(ok("<message type='groupchat'><body>x</body></message>"));
  // Private messages: copied when the user sends one, not when an occupant sends one to the user.
  const std::string pm =
      "<message type='chat'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>";
  EXPECT_TRUE(ok(pm, Direction::Sent));
  EXPECT_FALSE(ok(pm, Direction::Received));
  // Invitations are copied.
  EXPECT_TRUE(
      ok("<message><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>"));
  EXPECT_TRUE(ok("<message><x xmlns='jabber:x:conference' jid='room@muc.example'/></message>"));
}

TEST(CarbonsEligibilityTest, WrapKeepsTypeAndOriginal) {
  auto original =
      xml::parseElement("<message from='a@x/1' to='b@x' type='chat' id='m1'><body>hi</body></message>");
  ASSERT_TRUE(original);
  auto wrapped = wrap(original, Direction::Sent);
  EXPECT_EQ(
      xml::toString(*wrapped, "jabber:client"),
      "<message type='chat'><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
      "<message xmlns='jabber:client' from='a@x/1' to='b@x' type='chat' id='m1'><body>hi</body></message>"
      "</forwarded></sent></message>");
  EXPECT_TRUE(wrap(original, Direction::Received)->child("received", "urn:xmpp:carbons:2"));
}

}  // namespace
}  // namespace parley::xep::carbons
