#include "xep/muc/room_config.h"

#include <charconv>

#include "server/xml/namespaces.h"

namespace parley::xep::muc {

namespace {

constexpr std::string_view kForms = xml::ns::kDataForms;
constexpr std::string_view kRoomConfigType = "http://jabber.org/protocol/muc#roomconfig";

xml::MutableElementPtr field(std::string_view var, std::string_view type, std::string_view label) {
  auto f = xml::make("field", std::string(kForms));
  f->setAttr("var", var);
  if (!type.empty()) f->setAttr("type", type);
  if (!label.empty()) f->setAttr("label", label);
  return f;
}

void addValue(xml::Element& f, std::string_view v) {
  f.addTextChild("value", kForms, v);
}

void addOption(xml::Element& f, std::string_view label, std::string_view value) {
  auto o = xml::make("option", std::string(kForms));
  o->setAttr("label", label);
  o->addTextChild("value", kForms, value);
  f.addChild(o);
}

std::optional<bool> parseBool(std::string_view v) {
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  return std::nullopt;
}

std::optional<std::int64_t> parseInt(std::string_view v) {
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}

}  // namespace

std::string_view whoisName(Whois w) {
  return w == Whois::Anyone ? "anyone" : "moderators";
}

std::optional<Whois> parseWhois(std::string_view s) {
  if (s == "anyone") return Whois::Anyone;
  if (s == "moderators") return Whois::Moderators;
  return std::nullopt;
}

std::string_view allowPmName(AllowPm a) {
  switch (a) {
    case AllowPm::Anyone:
      return "anyone";
    case AllowPm::Participants:
      return "participants";
    case AllowPm::Moderators:
      return "moderators";
    case AllowPm::None:
      return "none";
  }
  return "anyone";
}

std::optional<AllowPm> parseAllowPm(std::string_view s) {
  for (auto a : {AllowPm::Anyone, AllowPm::Participants, AllowPm::Moderators, AllowPm::None})
    if (allowPmName(a) == s) return a;
  return std::nullopt;
}

std::optional<std::string> formValue(const xml::Element& form, std::string_view var) {
  for (const auto& f : form.childrenNamed("field", kForms)) {
    if (f->attr("var") != var) continue;
    return f->childText("value", kForms);
  }
  return std::nullopt;
}

std::string formType(const xml::Element& form) {
  return formValue(form, "FORM_TYPE").value_or("");
}

xml::ElementPtr configForm(const RoomConfig& c, const ServiceSettings& settings) {
  auto x = xml::make("x", std::string(kForms));
  x->setAttr("type", "form");
  x->addTextChild("title", kForms, "Room configuration");
  auto ft = field("FORM_TYPE", "hidden", "");
  addValue(*ft, kRoomConfigType);
  x->addChild(ft);
  auto text = [&](std::string_view var, std::string_view label, std::string_view value,
                  std::string_view type = "text-single") {
    auto f = field(var, type, label);
    addValue(*f, value);
    x->addChild(f);
  };
  auto boolean = [&](std::string_view var, std::string_view label, bool value) {
    auto f = field(var, "boolean", label);
    addValue(*f, value ? "1" : "0");
    x->addChild(f);
  };
  text("muc#roomconfig_roomname", "Name", c.name);
  text("muc#roomconfig_roomdesc", "Description", c.description);
  boolean("muc#roomconfig_persistentroom", "Persistent (kept when empty)", c.persistent);
  boolean("muc#roomconfig_publicroom", "Listed in the directory of rooms", c.isPublic);
  boolean("muc#roomconfig_membersonly", "Members only", c.membersOnly);
  boolean("muc#roomconfig_moderatedroom", "Moderated (only participants may speak)", c.moderated);
  boolean("muc#roomconfig_passwordprotectedroom", "Password required to enter", !c.password.empty());
  text("muc#roomconfig_roomsecret", "Password", c.password, "text-private");
  {
    auto f = field("muc#roomconfig_maxusers", "list-single", "Maximum number of occupants");
    addValue(*f, std::to_string(c.maxOccupants));
    for (std::int64_t n : {10, 20, 30, 50, 100, 200, 500, 1000})
      if (n <= settings.maxOccupantsLimit) addOption(*f, std::to_string(n), std::to_string(n));
    x->addChild(f);
  }
  {
    auto f = field("muc#roomconfig_whois", "list-single", "Who may see occupants' real addresses");
    addValue(*f, whoisName(c.whois));
    addOption(*f, "Moderators only", "moderators");
    addOption(*f, "Anyone", "anyone");
    x->addChild(f);
  }
  text("muc#maxhistoryfetch", "Messages of history sent to new occupants", std::to_string(c.historyLength));
  boolean("muc#roomconfig_allowinvites", "Occupants may invite others", c.allowInvites);
  {
    auto f = field("muc#roomconfig_allowpm", "list-single", "Who may send private messages");
    addValue(*f, allowPmName(c.allowPm));
    addOption(*f, "Anyone", "anyone");
    addOption(*f, "Participants", "participants");
    addOption(*f, "Moderators", "moderators");
    addOption(*f, "Nobody", "none");
    x->addChild(f);
  }
  boolean("muc#roomconfig_changesubject", "Participants may change the subject", c.changeSubject);
  boolean("muc#roomconfig_enablearchiving", "Archive messages (persistent rooms; XEP-0313)", c.archiving);
  return x;
}

std::optional<std::string> applyConfigForm(const xml::Element& form, RoomConfig& config,
                                           const ServiceSettings& settings) {
  if (auto t = formValue(form, "FORM_TYPE"); t && *t != kRoomConfigType) return "unknown FORM_TYPE";
  RoomConfig c = config;
  std::optional<bool> passwordProtected;
  for (const auto& f : form.childrenNamed("field", kForms)) {
    const std::string_view var = f->attr("var");
    const std::string v = f->childText("value", kForms);
    auto setBool = [&](bool& target) -> std::optional<std::string> {
      auto b = parseBool(v);
      if (!b) return std::string(var) + ": not a boolean";
      target = *b;
      return std::nullopt;
    };
    std::optional<std::string> err;
    if (var == "FORM_TYPE") {
      continue;
    } else if (var == "muc#roomconfig_roomname") {
      if (v.size() > 256) return "room name too long";
      c.name = v;
    } else if (var == "muc#roomconfig_roomdesc") {
      if (v.size() > 2048) return "description too long";
      c.description = v;
    } else if (var == "muc#roomconfig_persistentroom") {
      err = setBool(c.persistent);
    } else if (var == "muc#roomconfig_publicroom") {
      err = setBool(c.isPublic);
    } else if (var == "muc#roomconfig_membersonly") {
      err = setBool(c.membersOnly);
    } else if (var == "muc#roomconfig_moderatedroom") {
      err = setBool(c.moderated);
    } else if (var == "muc#roomconfig_passwordprotectedroom") {
      bool b = false;
      err = setBool(b);
      passwordProtected = b;
    } else if (var == "muc#roomconfig_roomsecret") {
      if (v.size() > 256) return "password too long";
      c.password = v;
    } else if (var == "muc#roomconfig_maxusers") {
      if (v == "none" || v.empty()) {
        c.maxOccupants = settings.maxOccupantsLimit;
      } else {
        auto n = parseInt(v);
        if (!n || *n < 1 || *n > settings.maxOccupantsLimit)
          return "maxusers must be 1.." + std::to_string(settings.maxOccupantsLimit);
        c.maxOccupants = *n;
      }
    } else if (var == "muc#roomconfig_whois") {
      auto w = parseWhois(v);
      if (!w) return "whois must be moderators or anyone";
      c.whois = *w;
    } else if (var == "muc#maxhistoryfetch" || var == "muc#roomconfig_historylength") {
      auto n = parseInt(v);
      if (!n || *n < 0 || *n > settings.maxHistoryLength)
        return std::string(var) + " must be 0.." + std::to_string(settings.maxHistoryLength);
      c.historyLength = *n;
    } else if (var == "muc#roomconfig_allowinvites") {
      err = setBool(c.allowInvites);
    } else if (var == "muc#roomconfig_allowpm") {
      auto a = parseAllowPm(v);
      if (!a) return "allowpm must be anyone, participants, moderators or none";
      c.allowPm = *a;
    } else if (var == "muc#roomconfig_changesubject") {
      err = setBool(c.changeSubject);
    } else if (var == "muc#roomconfig_enablearchiving") {
      err = setBool(c.archiving);
    }
    // Other fields (ones other servers offer) are ignored: XEP-0004 §3.2 lets a form carry more.
    if (err) return err;
  }
  if (passwordProtected.has_value()) {
    if (*passwordProtected && c.password.empty()) return "a password-protected room needs a password";
    if (!*passwordProtected) c.password.clear();
  }
  config = std::move(c);
  return std::nullopt;
}

std::vector<std::string> roomFeatures(const RoomConfig& c, bool passwordProtected) {
  return {
      std::string(xml::ns::kMuc),
      c.isPublic ? "muc_public" : "muc_hidden",
      c.persistent ? "muc_persistent" : "muc_temporary",
      c.membersOnly ? "muc_membersonly" : "muc_open",
      c.moderated ? "muc_moderated" : "muc_unmoderated",
      passwordProtected ? "muc_passwordprotected" : "muc_unsecured",
      c.whois == Whois::Anyone ? "muc_nonanonymous" : "muc_semianonymous",
  };
}

}  // namespace parley::xep::muc
