// Shared bits of the multi-user chat integration tests (muc_test.cpp, muc_mam_test.cpp): addresses on
// muc.localhost, matchers for MUC presence and errors, and a fixture that creates, configures and enters
// rooms through real clients.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "integration/module_helpers.h"

namespace parley::test {

inline constexpr const char* kMuc = "http://jabber.org/protocol/muc";
inline constexpr const char* kMucUser = "http://jabber.org/protocol/muc#user";
inline constexpr const char* kMucAdmin = "http://jabber.org/protocol/muc#admin";
inline constexpr const char* kMucOwner = "http://jabber.org/protocol/muc#owner";
inline constexpr const char* kForms = "jabber:x:data";
inline constexpr const char* kDiscoInfo = "http://jabber.org/protocol/disco#info";
inline constexpr const char* kDiscoItems = "http://jabber.org/protocol/disco#items";
inline constexpr const char* kService = "muc.localhost";

inline std::string roomJid(const std::string& room) {
  return room + "@" + kService;
}

inline bool hasStatus(const xml::Element& e, int code) {
  const auto* x = e.child("x", kMucUser);
  if (!x) return false;
  for (const auto& s : x->childrenNamed("status", kMucUser))
    if (s->attr("code") == std::to_string(code)) return true;
  return false;
}

inline const xml::Element* mucItem(const xml::Element& e) {
  const auto* x = e.child("x", kMucUser);
  return x ? x->child("item", kMucUser) : nullptr;
}

// Presence from `from` carrying status `code`.
inline Is presenceWithStatus(const std::string& from, int code) {
  Is is = isPresence();
  is.from(from).where([code](const xml::Element& e) { return hasStatus(e, code); });
  return is;
}

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

inline Is errorWith(Is is, const std::string& condition) {
  is.type("error").where([condition](const xml::Element& e) {
    const auto* err = e.child("error", "jabber:client");
    return err && err->child(condition, kStanzasNs);
  });
  return is;
}

inline Is subjectMessage(const std::string& room) {
  Is is = isMessage();
  is.type("groupchat").where([room](const xml::Element& e) {
    return e.child("subject", "jabber:client") && !e.child("body", "jabber:client") &&
           e.attr("from").rfind(room, 0) == 0;
  });
  return is;
}

class MucTestBase : public ModuleTest {
 protected:
  explicit MucTestBase(std::string extraConfig = {}) : ModuleTest(std::move(extraConfig)) {}

  // A logged-in client that sent initial presence.
  std::unique_ptr<XmppClient> user(const std::string& name, const std::string& resource) {
    auto c = client(name, resource);
    c->becomeAvailable();
    return c;
  }

  // Enters `room` as `nick` and waits for the self-presence (status 110); returns it.
  xml::ElementPtr join(XmppClient& c, const std::string& room, const std::string& nick,
                       const std::string& xExtra = {}, bool expectSubject = true) {
    const std::string occupant = roomJid(room) + "/" + nick;
    c.send("<presence to='" + occupant + "' id='join'><x xmlns='" + kMuc + "'>" + xExtra + "</x></presence>");
    auto self = c.expect(presenceWithStatus(occupant, 110));
    EXPECT_TRUE(self) << c.jid() << " could not enter " << occupant;
    if (self && expectSubject) {
      EXPECT_TRUE(c.expect(subjectMessage(roomJid(room))));
    }
    return self;
  }

  // The presence error a refused entry gets.
  bool joinRefused(XmppClient& c, const std::string& room, const std::string& nick,
                   const std::string& condition, const std::string& xExtra = {}) {
    const std::string occupant = roomJid(room) + "/" + nick;
    c.send("<presence to='" + occupant + "'><x xmlns='" + kMuc + "'>" + xExtra + "</x></presence>");
    return c.expect(errorWith(isPresence().from(occupant), condition)) != nullptr;
  }

  // §10.1.2: creates a room and accepts the default configuration (an instant room).
  void createInstant(XmppClient& owner, const std::string& room, const std::string& nick) {
    auto self = join(owner, room, nick, {}, false);
    ASSERT_TRUE(self);
    ASSERT_TRUE(hasStatus(*self, 201)) << "the room existed already";
    auto r = owner.request("<iq type='set' id='inst' to='" + roomJid(room) + "'><query xmlns='" + kMucOwner +
                               "'><x xmlns='" + kForms + "' type='submit'/></query></iq>",
                           "inst");
    ASSERT_TRUE(isResult(r));
    ASSERT_TRUE(owner.expect(subjectMessage(roomJid(room))));
  }

  xml::ElementPtr configure(XmppClient& owner, const std::string& room, const std::string& fields) {
    return owner.request("<iq type='set' id='cfg' to='" + roomJid(room) + "'><query xmlns='" + kMucOwner +
                             "'><x xmlns='" + kForms + "' type='submit'>" +
                             field("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig") + fields +
                             "</x></query></iq>",
                         "cfg");
  }

  xml::ElementPtr admin(XmppClient& c, const std::string& room, const std::string& item) {
    return c.request("<iq type='set' id='adm' to='" + roomJid(room) + "'><query xmlns='" + kMucAdmin + "'>" +
                         item + "</query></iq>",
                     "adm");
  }

  std::vector<std::string> roomFeatures(XmppClient& c, const std::string& room) {
    auto info = c.request(
        "<iq type='get' id='ri' to='" + roomJid(room) + "'><query xmlns='" + kDiscoInfo + "'/></iq>", "ri");
    std::vector<std::string> out;
    if (!isResult(info)) return out;
    for (const auto& f : info->child("query", kDiscoInfo)->childrenNamed("feature", kDiscoInfo))
      out.emplace_back(f->attr("var"));
    return out;
  }

  static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
};

}  // namespace parley::test
