#include <string>

#include <gtest/gtest.h>

#include "server/xml/parse_fragment.h"
#include "xep/csi/urgency.h"

namespace parley::xep::csi {
namespace {

Urgency classify(const std::string& xml, const Classifier& c = Classifier()) {
  auto e = xml::parseElement(xml);
  EXPECT_TRUE(e) << xml;
  auto s = xmpp::Stanza::make(e);
  EXPECT_TRUE(s) << xml;
  return c.classify(*s);
}

constexpr const char* kFrom = " from='bob@localhost/phone' to='alice@localhost/tab'";

std::string message(const std::string& attrs, const std::string& inner) {
  return std::string("<message") + kFrom + attrs + ">" + inner + "</message>";
}

TEST(CsiUrgencyTest, IqsAreAlwaysUrgent) {
  for (const char* type : {"get", "set", "result", "error"})
    EXPECT_EQ(classify(std::string("<iq") + kFrom + " id='1' type='" + type +
                       "'><ping xmlns='urn:xmpp:ping'/></iq>"),
              Urgency::Urgent)
        << type;
}

TEST(CsiUrgencyTest, PresenceUpdatesAreSupersededSubscriptionsAreUrgent) {
  EXPECT_EQ(classify(std::string("<presence") + kFrom + "/>"), Urgency::Supersede);
  EXPECT_EQ(classify(std::string("<presence") + kFrom + "><show>away</show></presence>"), Urgency::Supersede);
  EXPECT_EQ(classify(std::string("<presence") + kFrom + " type='unavailable'/>"), Urgency::Supersede);
  EXPECT_EQ(classify(std::string("<presence") + kFrom + " type='error'/>"), Urgency::Hold);
  for (const char* type : {"subscribe", "subscribed", "unsubscribe", "unsubscribed"})
    EXPECT_EQ(classify(std::string("<presence") + kFrom + " type='" + type + "'/>"), Urgency::Urgent) << type;
}

TEST(CsiUrgencyTest, MessagesWithSomethingToReadAreUrgent) {
  EXPECT_EQ(classify(message(" type='chat'", "<body>hi</body>")), Urgency::Urgent);
  EXPECT_EQ(classify(message("", "<body>hi</body>")), Urgency::Urgent);
  EXPECT_EQ(classify(message(" type='groupchat'", "<subject>topic</subject>")), Urgency::Urgent);
  EXPECT_EQ(classify(message(" type='headline'", "<body>server notice</body>")), Urgency::Urgent);
  EXPECT_EQ(classify(message(" type='error'", "<error type='cancel'/>")), Urgency::Urgent);
  // End-to-end encrypted without a fallback body.
  EXPECT_EQ(classify(message(" type='chat'", "<encrypted xmlns='eu.siacs.conversations.axolotl'/>")),
            Urgency::Urgent);
  EXPECT_EQ(classify(message(" type='chat'", "<encrypted xmlns='urn:xmpp:omemo:2'/>")), Urgency::Urgent);
  EXPECT_EQ(classify(message(" type='chat'", "<openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp>")),
            Urgency::Urgent);
  // Invitations and calls.
  EXPECT_EQ(classify(message("", "<x xmlns='jabber:x:conference' jid='room@muc.localhost'/>")),
            Urgency::Urgent);
  EXPECT_EQ(classify(message("", "<x xmlns='http://jabber.org/protocol/muc#user'><invite from='c@x'/></x>")),
            Urgency::Urgent);
  EXPECT_EQ(classify(message(" type='chat'", "<propose xmlns='urn:xmpp:jingle-message:0' id='c1'/>")),
            Urgency::Urgent);
  // Archive results the client asked for.
  EXPECT_EQ(classify(message("", "<result xmlns='urn:xmpp:mam:2' queryid='q' id='1'/>")), Urgency::Urgent);
}

TEST(CsiUrgencyTest, NoiseIsHeld) {
  EXPECT_EQ(classify(message(" type='chat'", "<composing xmlns='http://jabber.org/protocol/chatstates'/>")),
            Urgency::Hold);
  EXPECT_EQ(classify(message(" type='chat'", "<active xmlns='http://jabber.org/protocol/chatstates'/>")),
            Urgency::Hold);
  EXPECT_EQ(classify(message(" type='chat'", "<received xmlns='urn:xmpp:receipts' id='m1'/>")),
            Urgency::Hold);
  EXPECT_EQ(classify(message(" type='chat'", "<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>")),
            Urgency::Hold);
  EXPECT_EQ(classify(message(" type='headline'",
                             "<event xmlns='http://jabber.org/protocol/pubsub#event'>"
                             "<items node='urn:xmpp:avatar:metadata'><item id='a'/></items></event>")),
            Urgency::Hold);
  EXPECT_EQ(classify(message("", "<unknown xmlns='urn:example:thing'/>")), Urgency::Hold);
  // A private message from a room occupant without a body (a chat state) is noise too.
  EXPECT_EQ(classify(message(" type='chat'",
                             "<x xmlns='http://jabber.org/protocol/muc#user'/>"
                             "<paused xmlns='http://jabber.org/protocol/chatstates'/>")),
            Urgency::Hold);
}

TEST(CsiUrgencyTest, CarbonsAreJudgedByWhatTheyCarry) {
  auto carbon = [](const std::string& dir, const std::string& inner) {
    return std::string("<message from='alice@localhost' to='alice@localhost/tab' type='chat'><") + dir +
           " xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>"
           "<message xmlns='jabber:client' from='bob@localhost/phone' to='alice@localhost/pc' type='chat'>" +
           inner + "</message></forwarded></" + dir + "></message>";
  };
  EXPECT_EQ(classify(carbon("received", "<body>hi</body>")), Urgency::Urgent);
  EXPECT_EQ(classify(carbon("sent", "<body>hi</body>")), Urgency::Urgent);
  EXPECT_EQ(classify(carbon("received", "<composing xmlns='http://jabber.org/protocol/chatstates'/>")),
            Urgency::Hold);
  EXPECT_EQ(classify(carbon("sent", "<displayed xmlns='urn:xmpp:chat-markers:0' id='x'/>")), Urgency::Hold);
}

TEST(CsiUrgencyTest, ConfiguredNamespacesAndNodesAreUrgent) {
  Classifier c({"urn:xmpp:reactions:0"}, {"urn:xmpp:bookmarks:1"});
  EXPECT_EQ(classify(message(" type='chat'", "<reactions xmlns='urn:xmpp:reactions:0' id='m'/>"), c),
            Urgency::Urgent);
  EXPECT_EQ(classify(message(" type='chat'", "<reactions xmlns='urn:xmpp:reactions:0' id='m'/>")),
            Urgency::Hold);
  const auto event = [](const std::string& node) {
    return message(" type='headline'",
                   "<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='" + node +
                       "'><item id='a'/></items></event>");
  };
  EXPECT_EQ(classify(event("urn:xmpp:bookmarks:1"), c), Urgency::Urgent);
  EXPECT_EQ(classify(event("urn:xmpp:avatar:metadata"), c), Urgency::Hold);
}

}  // namespace
}  // namespace parley::xep::csi
