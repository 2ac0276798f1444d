// Shared bits of the XEP-0163 integration tests (pep_test, authz_pep_test): XEP-0115 capabilities a
// client advertises and answers (so the server filters notifications by "+notify"), publish/items/owner
// requests, and matchers for events.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "integration/im_helpers.h"
#include "server/util/crypto.h"

namespace parley::test {

inline constexpr const char* kPubsub = "http://jabber.org/protocol/pubsub";
inline constexpr const char* kOwner = "http://jabber.org/protocol/pubsub#owner";
inline constexpr const char* kEvent = "http://jabber.org/protocol/pubsub#event";
inline constexpr const char* kErrors = "http://jabber.org/protocol/pubsub#errors";
inline constexpr const char* kInfo = "http://jabber.org/protocol/disco#info";
inline constexpr const char* kCapsNode = "https://parley.test/client";
inline constexpr const char* kDevices = "urn:xmpp:omemo:2:devices";
inline constexpr const char* kNick = "http://jabber.org/protocol/nick";
inline constexpr const char* kMeta = "urn:xmpp:avatar:metadata";
inline constexpr const char* kData = "urn:xmpp:avatar:data";
inline constexpr const char* kBookmarks = "urn:xmpp:bookmarks:1";

// A client's XEP-0115 capabilities: the disco#info it answers and the 'ver' of it (§5.1, computed here
// independently of the server's code).
struct Caps {
  std::string ver;
  std::string info;  // children of <query/>
};

inline Caps makeCaps(std::vector<std::string> features) {
  features.push_back("http://jabber.org/protocol/caps");
  features.push_back(kInfo);
  std::sort(features.begin(), features.end());
  std::string s = "client/phone//Parley test<";
  Caps caps;
  caps.info = "<identity category='client' type='phone' name='Parley test'/>";
  for (const auto& f : features) {
    s += f + "<";
    caps.info += "<feature var='" + f + "'/>";
  }
  caps.ver = util::base64Encode(util::hash(util::HashAlg::Sha1, s));
  return caps;
}

inline std::string capsElement(const Caps& caps) {
  return std::string("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='") + kCapsNode +
         "' ver='" + caps.ver + "'/>";
}

// Initial presence with caps; when the server does not know the 'ver' yet it asks (XEP-0115 §6.3)
// and the client answers, as a real client does.
inline void availableWithCaps(XmppClient& c, const Caps& caps, bool serverAsks = true) {
  c.becomeAvailable(capsElement(caps));
  if (!serverAsks) return;
  auto q = c.expect(isIq().type("get").from("localhost").child("query", kInfo));
  ASSERT_TRUE(q) << c.jid() << ": the server did not ask for the capabilities";
  const auto* query = q->child("query", kInfo);
  EXPECT_EQ(query->attr("node"), std::string(kCapsNode) + "#" + caps.ver);
  c.send("<iq type='result' to='localhost' id='" + std::string(q->attr("id")) + "'><query xmlns='" + kInfo +
         "' node='" + std::string(query->attr("node")) + "'>" + caps.info + "</query></iq>");
}

inline std::string publishOptions(const std::string& fields) {
  return "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
         "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>" +
         fields + "</x></publish-options>";
}

inline int gPepRequestId = 0;
inline std::string nextId() {
  return "p" + std::to_string(++gPepRequestId);
}

inline xml::ElementPtr publish(XmppClient& c, const std::string& node, const std::string& itemId,
                               const std::string& payload, const std::string& options = {},
                               const std::string& to = {}) {
  std::string id = nextId();
  return c.request("<iq type='set' id='" + id + "'" + (to.empty() ? "" : " to='" + to + "'") +
                       "><pubsub xmlns='" + kPubsub + "'><publish node='" + node + "'><item" +
                       (itemId.empty() ? "" : " id='" + itemId + "'") + ">" + payload + "</item></publish>" +
                       options + "</pubsub></iq>",
                   id);
}

inline xml::ElementPtr items(XmppClient& c, const std::string& owner, const std::string& node,
                             const std::string& extra = {}, const std::string& children = {}) {
  std::string id = nextId();
  return c.request("<iq type='get' id='" + id + "'" + (owner.empty() ? "" : " to='" + owner + "'") +
                       "><pubsub xmlns='" + kPubsub + "'><items node='" + node + "'" + extra + ">" +
                       children + "</items></pubsub></iq>",
                   id);
}

inline xml::ElementPtr owner(XmppClient& c, const std::string& inner) {
  std::string id = nextId();
  return c.request(
      "<iq type='set' id='" + id + "'><pubsub xmlns='" + kOwner + "'>" + inner + "</pubsub></iq>", id);
}

// The ids of the items in a retrieval result, in order.
inline std::vector<std::string> itemIds(const xml::ElementPtr& reply) {
  std::vector<std::string> ids;
  if (!reply) return ids;
  const auto* ps = reply->child("pubsub", kPubsub);
  const auto* its = ps ? ps->child("items", kPubsub) : nullptr;
  if (!its) return ids;
  for (const auto& i : its->childrenNamed("item", kPubsub)) ids.emplace_back(i->attr("id"));
  return ids;
}

// The payload of the first item of a retrieval result.
inline const xml::Element* firstPayload(const xml::ElementPtr& reply) {
  const auto* ps = reply ? reply->child("pubsub", kPubsub) : nullptr;
  const auto* its = ps ? ps->child("items", kPubsub) : nullptr;
  const auto* item = its ? its->child("item", kPubsub) : nullptr;
  return item ? item->firstChild() : nullptr;
}

inline bool hasPubsubError(const xml::ElementPtr& reply, const std::string& condition) {
  const auto* err = reply ? reply->child("error", "jabber:client") : nullptr;
  return err && err->child(condition, kErrors);
}

// A headline event from `from` whose <event/> holds <what node='node'> (items, purge, delete).
inline Is isEvent(const std::string& from, const std::string& node, const std::string& what = "items") {
  Is is = isMessage();
  is.from(from).where([node, what](const xml::Element& m) {
    const auto* ev = m.child("event", kEvent);
    const auto* w = ev ? ev->child(what, kEvent) : nullptr;
    return w && w->attr("node") == node;
  });
  return is;
}

// An items event carrying the item `id` (published), or retracting it.
inline Is isItemEvent(const std::string& from, const std::string& node, const std::string& id,
                      bool retract = false) {
  Is is = isEvent(from, node);
  is.where([id, retract](const xml::Element& m) {
    const auto* its = m.child("event", kEvent)->child("items", kEvent);
    for (const auto& i : its->childrenNamed(retract ? "retract" : "item", kEvent))
      if (i->attr("id") == id) return true;
    return false;
  });
  return is;
}

}  // namespace parley::test
