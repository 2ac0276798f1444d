// Shared bits of the RFC 6121 integration tests (roster_test, presence_test, offline_test): roster
// gets, sets and pushes, presence matchers, and subscriptions set up the way real clients do them.
// Every helper waits for what it expects, so no stanza of the exchange is left in flight when it
// returns.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "integration/module_helpers.h"

namespace parley::test {

inline constexpr const char* kRosterNs = "jabber:iq:roster";

inline std::string bareOf(const std::string& jid) {
  return jid.substr(0, jid.find('/'));
}

// Available presence (no 'type') from exactly `from`.
inline Is availableFrom(const std::string& from) {
  Is is = isPresence();
  is.from(from).where([](const xml::Element& e) { return !e.hasAttr("type"); });
  return is;
}

inline Is unavailableFrom(const std::string& from) {
  Is is = isPresence();
  is.from(from).type("unavailable");
  return is;
}

// A message with that body, from anyone.
inline Is messageWithBody(const std::string& body) {
  Is is = isMessage();
  is.body(body);
  return is;
}

inline const xml::Element* rosterQuery(const xml::ElementPtr& iq) {
  return iq ? iq->child("query", kRosterNs) : nullptr;
}

// The <item/> for `contact` in a roster result or push, or nullptr.
inline const xml::Element* rosterItem(const xml::ElementPtr& iq, const std::string& contact) {
  const auto* query = rosterQuery(iq);
  if (!query) return nullptr;
  for (const auto& item : query->childrenNamed("item", kRosterNs))
    if (item->attr("jid") == contact) return item.get();
  return nullptr;
}

inline std::vector<std::string> groupsOf(const xml::Element& item) {
  std::vector<std::string> groups;
  for (const auto& g : item.childrenNamed("group", kRosterNs)) groups.push_back(g->text());
  return groups;
}

// A roster push (RFC 6121 §2.1.6) about `contact`, optionally with that 'subscription' value.
inline Is isRosterPush(const std::string& contact, const std::string& subscription = {}) {
  Is is = isIq();
  is.type("set").where([contact, subscription](const xml::Element& e) {
    const auto* query = e.child("query", kRosterNs);
    if (!query || query->childCount() != 1) return false;
    const auto* item = query->firstChild();
    return item->attr("jid") == contact &&
           (subscription.empty() || item->attr("subscription") == subscription);
  });
  return is;
}

// The pushed <item/>; nullptr (and a test failure) if no push came.
inline xml::ElementPtr expectPush(XmppClient& c, const std::string& contact,
                                  const std::string& subscription = {}) {
  auto push = c.expect(isRosterPush(contact, subscription));
  EXPECT_TRUE(push) << c.jid() << ": no roster push for " << contact
                    << (subscription.empty() ? "" : " with subscription='" + subscription + "'");
  if (push) {
    // RFC 6121 §2.1.6: a push comes from the account itself (or has no 'from') and is acknowledged.
    const std::string from(push->attr("from"));
    EXPECT_TRUE(from.empty() || from == bareOf(c.jid())) << "push from " << from;
    c.send("<iq type='result' id='" + std::string(push->attr("id")) + "'/>");
  }
  return push;
}

inline const xml::Element* pushedItem(const xml::ElementPtr& push) {
  const auto* query = rosterQuery(push);
  return query ? query->firstChild() : nullptr;
}

// An item's subscription state in one word: "none", "to", "from", "both" or "remove", then "+ask"
// for ask='subscribe' and "+approved" for approved='true'; "(no item)" for nullptr.
inline std::string stateOf(const xml::Element* item) {
  if (!item) return "(no item)";
  std::string s(item->attr("subscription"));
  if (item->attr("ask") == "subscribe") s += "+ask";
  if (item->attr("approved") == "true") s += "+approved";
  return s;
}

// Roster get (RFC 6121 §2.1.3); with `ver` it asks for a versioned result (RFC 6121 §2.6).
inline xml::ElementPtr rosterGet(XmppClient& c, const std::string& id, std::optional<std::string> ver = {}) {
  std::string query = "<query xmlns='jabber:iq:roster'";
  if (ver) query += " ver='" + *ver + "'";
  return c.request("<iq type='get' id='" + id + "'>" + query + "/></iq>", id);
}

// The state (as stateOf) of `contact` in `c`'s roster, fetched now.
inline std::string rosterState(XmppClient& c, const std::string& contact) {
  auto r = rosterGet(c, "state-" + contact);
  EXPECT_TRUE(isResult(r)) << c.jid();
  return stateOf(rosterItem(r, contact));
}

inline xml::ElementPtr rosterSet(XmppClient& c, const std::string& id, const std::string& items) {
  return c.request(
      "<iq type='set' id='" + id + "'><query xmlns='jabber:iq:roster'>" + items + "</query></iq>", id);
}

// Fixture for the IM tests: alice, bob and carol, clients that log in as them, and subscriptions.
class ImTest : public ModuleTest {
 protected:
  explicit ImTest(std::string extraConfig = {}) : ModuleTest(std::move(extraConfig)) {}

  // A client that requested the roster (an "interested" resource, RFC 6121 §2.2) and, unless told
  // otherwise, sent initial presence (an "available" resource, RFC 6121 §4.2).
  std::unique_ptr<XmppClient> login(const std::string& user, const std::string& resource,
                                    bool available = true, const std::string& presence = {}) {
    auto c = client(user, resource);
    EXPECT_TRUE(isResult(rosterGet(*c, "login-roster"))) << c->jid();
    if (available) c->becomeAvailable(presence);
    return c;
  }

  // `user` asks for `contact`'s presence and `contact` approves (RFC 6121 §3.1). Both are interested
  // and available resources, each the only one of its account; every stanza the exchange produces for
  // them is consumed.
  void subscribe(XmppClient& user, XmppClient& contact) {
    const std::string userBare = bareOf(user.jid()), contactBare = bareOf(contact.jid());
    user.send("<presence to='" + contactBare + "' type='subscribe'/>");
    ASSERT_TRUE(expectPush(user, contactBare));
    ASSERT_TRUE(contact.expect(isPresence().from(userBare).type("subscribe")));
    contact.send("<presence to='" + userBare + "' type='subscribed'/>");
    ASSERT_TRUE(expectPush(contact, userBare));
    ASSERT_TRUE(user.expect(isPresence().from(contactBare).type("subscribed")));
    ASSERT_TRUE(expectPush(user, contactBare));
    ASSERT_TRUE(user.expect(availableFrom(contact.jid())));
  }

  void subscribeBothWays(XmppClient& a, XmppClient& b) {
    subscribe(a, b);
    subscribe(b, a);
  }
};

}  // namespace parley::test
