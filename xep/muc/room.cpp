#include "xep/muc/room.h"

#include <algorithm>
#include <charconv>

#include "server/log/log.h"
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "server/xml/writer.h"

namespace parley::xep::muc {

using xmpp::Jid;
using xmpp::Stanza;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

namespace {

constexpr std::string_view kClient = xml::ns::kClient;
constexpr std::string_view kMuc = xml::ns::kMuc;
constexpr std::string_view kMucUser = xml::ns::kMucUser;
constexpr std::string_view kMucAdmin = xml::ns::kMucAdmin;
constexpr std::string_view kMucOwner = xml::ns::kMucOwner;
constexpr std::string_view kForms = xml::ns::kDataForms;
constexpr std::string_view kDiscoInfo = xml::ns::kDiscoInfo;
constexpr std::string_view kDiscoItems = xml::ns::kDiscoItems;
constexpr std::string_view kRoomInfoType = "http://jabber.org/protocol/muc#roominfo";
constexpr std::size_t kMaxPendingIqs = 256;
constexpr std::string_view kOccupantId = "urn:xmpp:occupant-id:0";  // XEP-0421

xml::ElementPtr occupantIdElement(const std::string& id) {
  auto e = xml::make("occupant-id", std::string(kOccupantId));
  e->setAttr("id", id);
  return e;
}

std::optional<std::int64_t> intAttr(const xml::Element& e, std::string_view name) {
  auto v = e.findAttr(name);
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < 0) return std::nullopt;
  return n;
}

xml::MutableElementPtr statusElement(int code) {
  auto s = xml::make("status", std::string(kMucUser));
  s->setAttr("code", std::to_string(code));
  return s;
}

}  // namespace

std::string_view affiliationName(Affiliation a) {
  switch (a) {
    case Affiliation::Outcast:
      return "outcast";
    case Affiliation::None:
      return "none";
    case Affiliation::Member:
      return "member";
    case Affiliation::Admin:
      return "admin";
    case Affiliation::Owner:
      return "owner";
  }
  return "none";
}

std::optional<Affiliation> parseAffiliation(std::string_view s) {
  for (auto a :
       {Affiliation::Outcast, Affiliation::None, Affiliation::Member, Affiliation::Admin, Affiliation::Owner})
    if (affiliationName(a) == s) return a;
  return std::nullopt;
}

std::string_view roleName(Role r) {
  switch (r) {
    case Role::None:
      return "none";
    case Role::Visitor:
      return "visitor";
    case Role::Participant:
      return "participant";
    case Role::Moderator:
      return "moderator";
  }
  return "none";
}

std::optional<Role> parseRole(std::string_view s) {
  for (auto r : {Role::None, Role::Visitor, Role::Participant, Role::Moderator})
    if (roleName(r) == s) return r;
  return std::nullopt;
}

Room::Room(RoomHost& host, Jid jid, RoomConfig config)
    : host_(host), jid_(std::move(jid)), config_(std::move(config)), createdAt_(util::unixNow()) {}

std::unique_ptr<Room> Room::fromStored(RoomHost& host, const Jid& jid, const StoredRoom& s,
                                       const ServiceSettings& settings) {
  RoomConfig c;
  c.name = s.name;
  c.description = s.description;
  c.persistent = true;
  c.isPublic = s.isPublic;
  c.membersOnly = s.membersOnly;
  c.moderated = s.moderated;
  c.password = s.password;
  c.maxOccupants = std::clamp<std::int64_t>(s.maxOccupants, 1, settings.maxOccupantsLimit);
  c.whois = parseWhois(s.whois).value_or(Whois::Moderators);
  c.historyLength = std::clamp<std::int64_t>(s.historyLength, 0, settings.maxHistoryLength);
  c.allowInvites = s.allowInvites;
  c.allowPm = parseAllowPm(s.allowPm).value_or(AllowPm::Anyone);
  c.changeSubject = s.changeSubject;
  c.archiving = s.archiving;
  auto room = std::make_unique<Room>(host, jid, std::move(c));
  room->createdAt_ = s.createdAt;
  room->everPersistent_ = true;
  room->avatarHash_ = s.avatarHash;
  room->subject_ = s.subject;
  room->subjectNick_ = s.subjectNick;
  for (const auto& a : s.affiliations) {
    auto aff = parseAffiliation(a.affiliation);
    auto j = Jid::parse(a.jid);
    if (aff && j && *aff != Affiliation::None) room->affiliations_[j->bareStr()] = *aff;
  }
  return room;
}

StoredRoom Room::snapshot() const {
  StoredRoom s;
  s.domain = jid_.domain();
  s.room = jid_.local();
  s.name = config_.name;
  s.description = config_.description;
  s.isPublic = config_.isPublic;
  s.membersOnly = config_.membersOnly;
  s.moderated = config_.moderated;
  s.password = config_.password;
  s.maxOccupants = config_.maxOccupants;
  s.whois = std::string(whoisName(config_.whois));
  s.historyLength = config_.historyLength;
  s.allowInvites = config_.allowInvites;
  s.allowPm = std::string(allowPmName(config_.allowPm));
  s.changeSubject = config_.changeSubject;
  s.subject = subject_;
  s.subjectNick = subjectNick_;
  s.createdAt = createdAt_;
  s.archiving = config_.archiving;
  s.avatarHash = avatarHash_;
  for (const auto& [j, a] : affiliations_) s.affiliations.push_back({j, std::string(affiliationName(a))});
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Helpers

Affiliation Room::affiliationOf(const Jid& bare) const {
  auto it = affiliations_.find(bare.bareStr());
  return it == affiliations_.end() ? Affiliation::None : it->second;
}

void Room::setAffiliation(const Jid& bare, Affiliation a) {
  if (a == Affiliation::None)
    affiliations_.erase(bare.bareStr());
  else
    affiliations_[bare.bareStr()] = a;
}

// XEP-0045 §5.1.2 default roles.
Role Room::defaultRole(Affiliation a) const {
  switch (a) {
    case Affiliation::Owner:
    case Affiliation::Admin:
      return Role::Moderator;
    case Affiliation::Member:
      return Role::Participant;
    case Affiliation::None:
      return config_.moderated ? Role::Visitor : Role::Participant;
    case Affiliation::Outcast:
      return Role::None;
  }
  return Role::None;
}

Room::Occupant* Room::occupantOf(const Jid& device) {
  auto it = nickOf_.find(device.str());
  if (it == nickOf_.end()) return nullptr;
  return occupantByNick(it->second);
}

Room::Occupant* Room::occupantByNick(std::string_view nick) {
  auto it = occupants_.find(std::string(nick));
  return it == occupants_.end() ? nullptr : &it->second;
}

// §7.2.3/§7.2.4: in a non-anonymous room everyone sees real JIDs, in a semi-anonymous one moderators.
bool Room::seesJids(const Occupant& viewer) const {
  return config_.whois == Whois::Anyone || viewer.role == Role::Moderator;
}

void Room::error(const StanzaPtr& original, StanzaError e, std::string_view text, xml::ElementPtr extra) {
  if (original->isError()) return;  // RFC 6120 §8.3.1
  if (original->isPresence()) {
    // The payload (possibly a room password) is not echoed; the <x/> says which protocol failed.
    auto p = xml::make("presence", std::string(kClient));
    if (!original->id().empty()) p->setAttr("id", original->id());
    p->setAttr("type", "error");
    p->addChild(xml::make("x", std::string(kMuc)));
    p->addChild(xmpp::makeErrorElement(e, text, std::move(extra)));
    send(Stanza::make(std::move(p), original->to(), original->from()));
    return;
  }
  send(xmpp::makeErrorReply(*original, e, text, std::move(extra)));
}

void Room::result(const StanzaPtr& request, xml::ElementPtr payload) {
  send(xmpp::makeIqResult(*request, std::move(payload)));
}

// ---------------------------------------------------------------------------------------------------
// Presence

void Room::create(const StanzaPtr& presence) {
  // §10.1.1: with the MUC <x/> the room stays locked until the owner configures it (or accepts the
  // defaults, an instant room); a groupchat 1.0 client (no <x/>) gets an instant room at once.
  locked_ = presence->element().child("x", kMuc) != nullptr;
  setAffiliation(presence->from().bare(), Affiliation::Owner);
  join(presence, true);
}

void Room::onPresence(const StanzaPtr& s) {
  const Jid& from = s->from();
  const std::string_view type = s->type();
  if (type == "error") {
    // §7.2.? a presence error from an occupant's client: the device is gone.
    if (occupantOf(from)) leave(from, nullptr);
    return;
  }
  if (s->to().isBare()) {
    // §7.2.1: a nick is required to enter.
    if (type.empty()) error(s, StanzaError::JidMalformed, "a room nickname is required");
    return;
  }
  Occupant* o = occupantOf(from);
  if (type == "unavailable") {
    if (o) leave(from, &s->element());
    return;
  }
  if (!type.empty()) return;  // subscriptions and probes mean nothing to a room
  if (!o) {
    join(s, false);
    return;
  }
  if (o->nick == s->to().resource()) {
    updatePresence(*o, s);
  } else {
    changeNick(*o, s);
  }
}

void Room::join(const StanzaPtr& s, bool created) {
  const Jid& device = s->from();
  const Jid bare = device.bare();
  const std::string nick = s->to().resource();
  const xml::Element* x = s->element().child("x", kMuc);
  const Affiliation aff = affiliationOf(bare);

  // §7.2.11: a locked room admits only its owner.
  if (locked_ && aff != Affiliation::Owner) {
    error(s, StanzaError::ItemNotFound, "the room is being configured");
    return;
  }
  // §7.2.8
  if (aff == Affiliation::Outcast) {
    error(s, StanzaError::Forbidden, "you are banned from this room");
    return;
  }
  // §7.2.7
  if (config_.membersOnly && aff < Affiliation::Member) {
    error(s, StanzaError::RegistrationRequired, "this room is for members only");
    return;
  }
  Occupant* existing = occupantByNick(nick);
  // §7.2.9: the nick belongs to someone else. The same user from another device shares it.
  if (existing && existing->bare != bare) {
    error(s, StanzaError::Conflict, "that nickname is taken");
    return;
  }
  // §7.2.6
  if (!config_.password.empty() && (!x || x->childText("password", kMuc) != config_.password)) {
    error(s, StanzaError::NotAuthorized, "a password is required");
    return;
  }
  // §7.2.10: owners and admins may always enter.
  if (!existing && aff < Affiliation::Admin &&
      static_cast<std::int64_t>(occupants_.size()) >= config_.maxOccupants) {
    error(s, StanzaError::ServiceUnavailable, "the room is full");
    return;
  }

  auto payload = s->element().clone();
  payload->removeChildren("x", kMuc);
  payload->removeChildren("occupant-id", kOccupantId);
  payload->removeAttr("id");
  payload->removeAttr("from");
  payload->removeAttr("to");
  xml::ElementPtr presence = std::move(payload);

  const bool firstDevice = existing == nullptr;
  if (firstDevice) {
    Occupant o;
    o.nick = nick;
    o.bare = bare;
    o.role = defaultRole(aff);
    o.presence = presence;
    o.occupantId = host_.occupantId(jid_, bare);
    existing = &occupants_.emplace(nick, std::move(o)).first->second;
  } else {
    existing->presence = presence;
  }
  existing->devices.push_back(device);
  nickOf_[device.str()] = nick;
  host_.deviceJoined(device, *this);
  Occupant& me = *existing;

  // §7.2.2 order: everyone else's presence, then the new occupant's to the others, then self-presence.
  const bool withJid = seesJids(me);
  for (const auto& [n, other] : occupants_) {
    if (n == nick) continue;
    send(presenceOf(other, withJid)->withTo(device));
  }
  std::vector<int> selfCodes{110};
  if (config_.whois == Whois::Anyone) selfCodes.push_back(100);  // §7.2.3
  if (created) selfCodes.push_back(201);                         // §10.1.1
  // §7.2.5 (210): the service changed the nick (e.g. stringprep folded case).
  std::string_view rawTo = s->element().attr("to");
  if (auto slash = rawTo.find('/'); slash != std::string_view::npos && rawTo.substr(slash + 1) != nick)
    selfCodes.push_back(210);
  if (firstDevice) {
    // The others learn about the new occupant; the device itself gets self-presence below.
    StanzaPtr plain, withJidVariant;
    for (const auto& [n, other] : occupants_) {
      if (n == nick) continue;
      const bool sees = seesJids(other);
      StanzaPtr& variant = sees ? withJidVariant : plain;
      if (!variant) variant = presenceOf(me, sees);
      for (const auto& d : other.devices) send(variant->withTo(d));
    }
  }
  {
    // Self-presence carries the id of the joining presence so the client can match it.
    auto e = xml::make("presence", std::string(kClient));
    for (const auto& n : me.presence->nodes()) {
      if (auto* c = std::get_if<xml::ElementPtr>(&n)) e->addChild(*c);
    }
    if (!s->id().empty()) e->setAttr("id", s->id());
    auto xu = xml::make("x", std::string(kMucUser));
    auto item = xml::make("item", std::string(kMucUser));
    item->setAttr("affiliation", affiliationName(aff));
    item->setAttr("role", roleName(me.role));
    item->setAttr("jid", device.str());
    xu->addChild(item);
    for (int c : selfCodes) xu->addChild(statusElement(c));
    e->addChild(xu);
    e->addChild(occupantIdElement(me.occupantId));
    send(Stanza::make(std::move(e), occupantJid(nick), device));
  }
  if (!locked_) {
    sendHistory(device, x ? x->child("history", kMuc) : nullptr);
    sendSubject(device);  // §7.2.15: always, even when empty
  }
  log::debug("muc.join", "room={} nick={} device={} created={}", jid_.bareStr(), nick, device.str(), created);
}

void Room::updatePresence(Occupant& o, const StanzaPtr& s) {
  auto payload = s->element().clone();
  payload->removeChildren("x", kMuc);
  payload->removeChildren("occupant-id", kOccupantId);
  payload->removeAttr("id");
  payload->removeAttr("from");
  payload->removeAttr("to");
  o.presence = std::move(payload);
  broadcastPresence(o, {110});
}

// §7.6: unavailable with 303 and the new nick from the old occupant JID, then available from the new.
void Room::changeNick(Occupant& o, const StanzaPtr& s) {
  const std::string newNick = s->to().resource();
  if (occupantByNick(newNick)) {
    error(s, StanzaError::Conflict, "that nickname is taken");
    return;
  }
  const std::string oldNick = o.nick;
  broadcastPresence(o, {303, 110}, {303}, "unavailable", newNick);
  Occupant moved = std::move(o);
  occupants_.erase(oldNick);
  moved.nick = newNick;
  auto payload = s->element().clone();
  payload->removeChildren("x", kMuc);
  payload->removeChildren("occupant-id", kOccupantId);
  payload->removeAttr("id");
  payload->removeAttr("from");
  payload->removeAttr("to");
  moved.presence = std::move(payload);
  for (const auto& d : moved.devices) nickOf_[d.str()] = newNick;
  Occupant& now = occupants_.emplace(newNick, std::move(moved)).first->second;
  broadcastPresence(now, {110});
  if (subjectNick_ == oldNick) subjectNick_.clear();
}

void Room::leave(const Jid& device, const xml::Element* presence) {
  auto it = nickOf_.find(device.str());
  if (it == nickOf_.end()) return;
  const std::string nick = it->second;
  nickOf_.erase(it);
  host_.deviceLeft(device, *this);
  Occupant* o = occupantByNick(nick);
  if (!o) return;
  std::erase(o->devices, device);
  // The status text of the unavailable presence goes to the others (§7.14).
  std::string status = presence ? presence->childText("status", kClient) : std::string();
  if (!o->devices.empty()) {
    // Another device of the same user stays: only this device learns it left.
    auto e = xml::make("presence", std::string(kClient));
    e->setAttr("type", "unavailable");
    auto xu = xml::make("x", std::string(kMucUser));
    auto item = xml::make("item", std::string(kMucUser));
    item->setAttr("affiliation", affiliationName(affiliationOf(o->bare)));
    item->setAttr("role", "none");
    item->setAttr("jid", device.str());
    xu->addChild(item);
    xu->addChild(statusElement(110));
    e->addChild(xu);
    send(Stanza::make(std::move(e), occupantJid(nick), device));
    return;
  }
  o->role = Role::None;
  auto e = xml::make("presence", std::string(kClient));
  if (!status.empty()) e->addTextChild("status", kClient, status);
  o->presence = std::move(e);
  o->devices.push_back(device);  // so the leaving device gets its self-presence
  broadcastPresence(*o, {110}, {}, "unavailable");
  occupants_.erase(nick);
  afterLeave();
}

void Room::afterLeave() {
  // §10.? a temporary room ends with its last occupant; so does a room nobody finished configuring.
  if (occupants_.empty() && (!config_.persistent || locked_)) {
    destroyed_ = true;
    host_.destroyed(*this);
  }
}

void Room::removeDevice(const Jid& device) {
  if (nickOf_.count(device.str())) leave(device, nullptr);
}

void Room::removeOccupant(const std::string& nick, const std::vector<int>& codes,
                          const std::string& actorNick, const std::string& reason) {
  Occupant* o = occupantByNick(nick);
  if (!o) return;
  o->role = Role::None;
  o->presence = xml::make("presence", std::string(kClient));
  std::vector<int> self = codes;
  self.push_back(110);
  broadcastPresence(*o, self, codes, "unavailable", {}, actorNick, reason);
  for (const auto& d : o->devices) {
    nickOf_.erase(d.str());
    host_.deviceLeft(d, *this);
  }
  occupants_.erase(nick);
  afterLeave();
}

StanzaPtr Room::presenceOf(const Occupant& o, bool withJid) {
  auto e = o.presence ? o.presence->clone() : xml::make("presence", std::string(kClient));
  auto xu = xml::make("x", std::string(kMucUser));
  auto item = xml::make("item", std::string(kMucUser));
  item->setAttr("affiliation", affiliationName(affiliationOf(o.bare)));
  item->setAttr("role", roleName(o.role));
  if (withJid && !o.devices.empty()) item->setAttr("jid", o.devices.front().str());
  xu->addChild(item);
  e->addChild(xu);
  e->addChild(occupantIdElement(o.occupantId));
  return Stanza::make(std::move(e), occupantJid(o.nick), Jid());
}

// One stanza per variant (others without the real JID, others with it, the occupant's own devices),
// readdressed per device.
void Room::broadcastPresence(const Occupant& o, std::vector<int> selfCodes, std::vector<int> otherCodes,
                             std::string_view type, const std::string& newNick, const std::string& actorNick,
                             const std::string& reason, xml::ElementPtr destroyEl) {
  const Jid from = occupantJid(o.nick);
  auto build = [&](bool withJid, const std::vector<int>& codes, const Jid* device) {
    auto e = o.presence ? o.presence->clone() : xml::make("presence", std::string(kClient));
    if (!type.empty()) e->setAttr("type", type);
    auto xu = xml::make("x", std::string(kMucUser));
    auto item = xml::make("item", std::string(kMucUser));
    item->setAttr("affiliation", affiliationName(affiliationOf(o.bare)));
    item->setAttr("role", roleName(o.role));
    if (withJid && (device || !o.devices.empty()))
      item->setAttr("jid", (device ? *device : o.devices.front()).str());
    if (!newNick.empty()) item->setAttr("nick", newNick);
    if (!actorNick.empty()) {
      auto actor = xml::make("actor", std::string(kMucUser));
      actor->setAttr("nick", actorNick);
      item->addChild(actor);
    }
    if (!reason.empty()) item->addTextChild("reason", kMucUser, reason);
    xu->addChild(item);
    if (destroyEl) xu->addChild(destroyEl);
    for (int c : codes) xu->addChild(statusElement(c));
    e->addChild(xu);
    e->addChild(occupantIdElement(o.occupantId));
    return Stanza::make(std::move(e), from, Jid());
  };
  StanzaPtr plain, withJid;
  for (const auto& [n, other] : occupants_) {
    if (n == o.nick) continue;
    StanzaPtr& variant = seesJids(other) ? withJid : plain;
    if (!variant) variant = build(seesJids(other), otherCodes, nullptr);
    for (const auto& d : other.devices) send(variant->withTo(d));
  }
  for (const auto& d : o.devices) send(build(true, selfCodes, &d)->withTo(d));
}

void Room::sendHistory(const Jid& to, const xml::Element* h) {
  if (history_.empty()) return;
  std::int64_t maxStanzas = config_.historyLength;
  std::optional<std::int64_t> maxChars, seconds, since;
  if (h) {
    if (auto v = intAttr(*h, "maxstanzas")) maxStanzas = std::min(maxStanzas, *v);
    maxChars = intAttr(*h, "maxchars");
    seconds = intAttr(*h, "seconds");
    if (auto v = h->findAttr("since")) since = util::parseIso8601(*v);
  }
  const std::int64_t now = util::unixNow();
  // §7.2.14: the most recent messages satisfying every limit, sent oldest first.
  std::size_t take = 0;
  std::int64_t chars = 0;
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (static_cast<std::int64_t>(take) >= maxStanzas) break;
    if (seconds && it->stamp < now - *seconds) break;
    if (since && it->stamp < *since) break;
    if (maxChars && chars + static_cast<std::int64_t>(it->chars) > *maxChars) break;
    chars += static_cast<std::int64_t>(it->chars);
    ++take;
  }
  for (auto it = history_.end() - static_cast<std::ptrdiff_t>(take); it != history_.end(); ++it)
    send(it->delayed->withTo(to));
}

void Room::sendSubject(const Jid& to) {
  auto m = xml::make("message", std::string(kClient));
  m->setAttr("type", "groupchat");
  m->addTextChild("subject", kClient, subject_);
  Jid from = subjectNick_.empty() ? jid_ : occupantJid(subjectNick_);
  send(Stanza::make(std::move(m), from, to));
}

// ---------------------------------------------------------------------------------------------------
// Messages

void Room::onMessage(const StanzaPtr& s) {
  if (s->isError()) return;  // an occupant's client refused something: nothing to answer
  if (s->to().isFull()) {
    privateMessage(s);
    return;
  }
  if (s->type() == "groupchat") {
    groupchat(s);
    return;
  }
  if (const auto* x = s->element().child("x", kMucUser)) {
    if (x->child("invite", kMucUser) || x->child("decline", kMucUser)) {
      invite(s, *x);
      return;
    }
  }
  if (voiceForm(s)) return;
  error(s, StanzaError::BadRequest, "messages to the room are of type groupchat");
}

void Room::groupchat(const StanzaPtr& s) {
  Occupant* o = occupantOf(s->from());
  if (!o) {
    error(s, StanzaError::NotAcceptable, "only occupants may send messages to the room");  // §7.4
    return;
  }
  if (o->role == Role::Visitor) {
    error(s, StanzaError::Forbidden, "visitors have no voice in this room");  // §7.4
    return;
  }
  const xml::Element& m = s->element();
  const bool hasBody = m.child("body", kClient) != nullptr;
  if (const auto* subj = m.child("subject", kClient); subj && !hasBody) {
    // §8.1: moderators, and participants if the room allows it.
    if (!(o->role == Role::Moderator || (config_.changeSubject && o->role == Role::Participant))) {
      error(s, StanzaError::Forbidden, "you may not change the subject");
      return;
    }
    subject_ = subj->text();
    subjectNick_ = o->nick;
    if (config_.persistent) host_.persist(*this);
  }
  auto e = m.clone();
  e->removeAttr("from");
  e->removeAttr("to");
  e->removeChildren("occupant-id", kOccupantId);  // XEP-0421 §4: only the room says who it is
  e->addChild(occupantIdElement(o->occupantId));
  auto [message, archiveId] = archiveMessage(std::move(e), occupantJid(o->nick), o);
  broadcastMessage(message);
  if (hasBody)
    host_.groupchatSent(message, [this] {
      RoomHost::MemberList members;
      std::unordered_map<std::string_view, std::size_t> index;
      for (const auto& [bare, a] : affiliations_) {
        if (a < Affiliation::Member) continue;
        auto jid = Jid::parse(bare);
        if (!jid) continue;
        index.emplace(bare, members.size());
        members.push_back({*jid, {}, {}});
      }
      for (const auto& [nick, o] : occupants_)
        if (auto it = index.find(o.bare.bareStr()); it != index.end()) {
          members[it->second].nick = nick;
          members[it->second].devices = o.devices;
        }
      return members;
    });
  // History: messages with a body, and whatever else the archive keeps (as after a restart, when the
  // history comes from the archive), but not subject changes (the subject follows the history).
  if ((hasBody || archiveId != 0) && !(m.child("subject", kClient) && !hasBody)) remember(message, archiveId);
}

void Room::remember(const StanzaPtr& message, std::int64_t archiveId) {
  if (config_.historyLength <= 0) return;
  const std::int64_t now = util::unixNow();
  auto d = message->element().clone();
  auto delay = xml::make("delay", std::string(xml::ns::kDelay));
  delay->setAttr("from", jid_.bareStr());
  delay->setAttr("stamp", util::iso8601(now));
  d->addChild(delay);
  auto delayed = Stanza::make(std::move(d), message->from(), Jid());
  history_.push_back({delayed, now, delayed->serialized().size(), archiveId});
  while (static_cast<std::int64_t>(history_.size()) > config_.historyLength) history_.pop_front();
}

// The fan-out: one immutable stanza, readdressed per device (children shared, never copied).
void Room::broadcastMessage(const StanzaPtr& message) {
  for (const auto& [n, o] : occupants_)
    for (const auto& d : o.devices) send(message->withTo(d));
}

void Room::privateMessage(const StanzaPtr& s) {
  Occupant* sender = occupantOf(s->from());
  if (!sender) {
    error(s, StanzaError::NotAcceptable, "only occupants may send private messages");
    return;
  }
  if (s->type() == "groupchat") {
    error(s, StanzaError::BadRequest, "private messages are not of type groupchat");  // §7.5
    return;
  }
  bool allowed = false;
  switch (config_.allowPm) {
    case AllowPm::Anyone:
      allowed = true;
      break;
    case AllowPm::Participants:
      allowed = sender->role >= Role::Participant;
      break;
    case AllowPm::Moderators:
      allowed = sender->role == Role::Moderator;
      break;
    case AllowPm::None:
      break;
  }
  if (!allowed) {
    error(s, StanzaError::Forbidden, "private messages are not allowed in this room");
    return;
  }
  Occupant* target = occupantByNick(s->to().resource());
  if (!target) {
    error(s, StanzaError::ItemNotFound, "no such occupant");
    return;
  }
  auto e = s->element().clone();
  e->removeAttr("from");
  e->removeAttr("to");
  // §7.5: marked as coming through the room (also tells carbons it is a MUC PM).
  if (!e->child("x", kMucUser)) e->addChild(xml::make("x", std::string(kMucUser)));
  e->removeChildren("occupant-id", kOccupantId);
  e->addChild(occupantIdElement(sender->occupantId));
  auto message = Stanza::make(std::move(e), occupantJid(sender->nick), Jid());
  for (const auto& d : target->devices) send(message->withTo(d));
}

// §7.8.2 mediated invitations and §7.8.? declines.
void Room::invite(const StanzaPtr& s, const xml::Element& x) {
  if (const auto* decline = x.child("decline", kMucUser)) {
    auto to = Jid::parse(decline->attr("to"));
    if (!to) {
      error(s, StanzaError::JidMalformed);
      return;
    }
    auto m = xml::make("message", std::string(kClient));
    auto xu = xml::make("x", std::string(kMucUser));
    auto d = xml::make("decline", std::string(kMucUser));
    d->setAttr("from", s->from().bareStr());
    if (auto r = decline->childText("reason", kMucUser); !r.empty()) d->addTextChild("reason", kMucUser, r);
    xu->addChild(d);
    m->addChild(xu);
    send(Stanza::make(std::move(m), jid_, *to));
    return;
  }
  Occupant* o = occupantOf(s->from());
  if (!o) {
    error(s, StanzaError::NotAcceptable, "only occupants may invite");
    return;
  }
  const Affiliation aff = affiliationOf(o->bare);
  // muc#roomconfig_allowinvites: otherwise only admins and owners (and moderators in open rooms).
  const bool mayInvite = config_.allowInvites || aff >= Affiliation::Admin ||
                         (!config_.membersOnly && o->role == Role::Moderator);
  if (!mayInvite) {
    error(s, StanzaError::Forbidden, "you may not invite others to this room");
    return;
  }
  for (const auto& inv : x.childrenNamed("invite", kMucUser)) {
    auto to = Jid::parse(inv->attr("to"));
    if (!to) {
      error(s, StanzaError::JidMalformed, "invalid invitee");
      return;
    }
    // §7.8.2: in a members-only room an invitation by an admin may make the invitee a member; §9.5: when
    // the room lets members invite, "any invitation sent SHOULD automatically trigger the addition of the
    // invitee to the member list" (otherwise the invitee could not enter).
    if (config_.membersOnly && (aff >= Affiliation::Admin || config_.allowInvites) &&
        affiliationOf(to->bare()) == Affiliation::None) {
      setAffiliation(to->bare(), Affiliation::Member);
      if (config_.persistent) host_.persist(*this);
    }
    auto m = xml::make("message", std::string(kClient));
    auto xu = xml::make("x", std::string(kMucUser));
    auto i = xml::make("invite", std::string(kMucUser));
    i->setAttr("from", s->from().bareStr());
    if (auto r = inv->childText("reason", kMucUser); !r.empty()) i->addTextChild("reason", kMucUser, r);
    xu->addChild(i);
    if (!config_.password.empty()) xu->addTextChild("password", kMucUser, config_.password);
    m->addChild(xu);
    m->addTextChild("body", kClient, s->from().bareStr() + " invites you to the room " + jid_.bareStr());
    send(Stanza::make(std::move(m), jid_, *to));
  }
}

// §10.2.1: config change notifications to every occupant.
void Room::statusMessage(const std::vector<int>& codes) {
  if (codes.empty() || occupants_.empty()) return;
  auto m = xml::make("message", std::string(kClient));
  m->setAttr("type", "groupchat");
  auto xu = xml::make("x", std::string(kMucUser));
  for (int c : codes) xu->addChild(statusElement(c));
  m->addChild(xu);
  broadcastMessage(Stanza::make(std::move(m), jid_, Jid()));
}

// ---------------------------------------------------------------------------------------------------
// IQs

void Room::onIq(const StanzaPtr& s) {
  const std::string_view type = s->type();
  const bool request = type == "get" || type == "set";
  const xml::Element* payload = s->element().firstChild();
  if (s->to().isFull()) {
    // To an occupant. XEP-0410: the service answers self-pings itself.
    Occupant* sender = occupantOf(s->from());
    if (!request) {
      relayIq(s, sender);
      return;
    }
    if (!sender) {
      error(s, StanzaError::NotAcceptable, "you are not an occupant of this room");
      return;
    }
    Occupant* target = occupantByNick(s->to().resource());
    if (!target) {
      error(s, StanzaError::ItemNotFound);
      return;
    }
    if (payload && payload->is("ping", xml::ns::kPing) && target == sender) {
      result(s);
      return;
    }
    relayIq(s, sender);
    return;
  }
  if (!request) return;
  if (!payload) {
    error(s, StanzaError::BadRequest);
    return;
  }
  const std::string& ns = payload->xmlns();
  const bool get = type == "get";
  if (ns == kDiscoInfo && get) {
    discoInfo(s);
  } else if (ns == kDiscoItems && get) {
    // §6.5: occupants are not listed (their presence is for occupants only).
    auto q = xml::make("query", std::string(kDiscoItems));
    result(s, q);
  } else if (ns == kMucAdmin && payload->name() == "query") {
    get ? adminGet(s, *payload) : adminSet(s, *payload);
  } else if (ns == kMucOwner && payload->name() == "query") {
    get ? ownerGet(s) : ownerSet(s, *payload);
  } else if (ns == xml::ns::kMam) {
    mamIq(s, *payload);
  } else if (ns == "urn:xmpp:message-moderate:1") {
    moderate(s, *payload);
  } else if (ns == xml::ns::kPing && get) {
    result(s);
  } else if (ns == xml::ns::kVcard) {
    vcardIq(s, *payload);
  } else {
    error(s, StanzaError::ServiceUnavailable);
  }
}

// §7.? IQs between occupants (vCard avatars, version, pings of others) go to one device of the
// target under a room-chosen id; the answer comes back under the requester's own id, from the
// target's occupant JID, so neither learns the other's real JID.
void Room::relayIq(const StanzaPtr& s, Occupant* sender) {
  const std::string_view type = s->type();
  if (type == "get" || type == "set") {
    Occupant* target = occupantByNick(s->to().resource());
    if (!sender || !target || target->devices.empty()) return;
    const std::string id = "muc-iq-" + std::to_string(++nextIqId_);
    auto e = s->element().clone();
    e->setAttr("id", id);
    pendingIqs_[id] = PendingIq{s->from(), std::string(s->id()), target->devices.front()};
    pendingOrder_.push_back(id);
    while (pendingOrder_.size() > kMaxPendingIqs) {
      pendingIqs_.erase(pendingOrder_.front());
      pendingOrder_.pop_front();
    }
    send(Stanza::make(std::move(e), occupantJid(sender->nick), target->devices.front()));
    return;
  }
  // A result or error for a relayed request.
  auto it = pendingIqs_.find(std::string(s->id()));
  if (it == pendingIqs_.end() || it->second.target != s->from()) return;
  PendingIq p = std::move(it->second);
  pendingIqs_.erase(it);
  std::erase(pendingOrder_, std::string(s->id()));
  auto nick = nickOf_.find(s->from().str());
  if (nick == nickOf_.end()) return;
  auto e = s->element().clone();
  e->setAttr("id", p.id);
  send(Stanza::make(std::move(e), occupantJid(nick->second), p.requester));
}

// §6.4 room information with the muc#roominfo form.
void Room::discoInfo(const StanzaPtr& s) {
  if (!s->element().firstChild()->attr("node").empty()) {
    error(s, StanzaError::ItemNotFound);
    return;
  }
  auto q = xml::make("query", std::string(kDiscoInfo));
  auto id = xml::make("identity", std::string(kDiscoInfo));
  id->setAttr("category", "conference");
  id->setAttr("type", "text");
  id->setAttr("name", config_.name.empty() ? jid_.local() : config_.name);
  q->addChild(id);
  std::vector<std::string> features = roomFeatures(config_, !config_.password.empty());
  features.emplace_back(kDiscoInfo);
  features.emplace_back(xml::ns::kPing);
  features.emplace_back("http://jabber.org/protocol/muc#stable_id");
  features.emplace_back("jabber:x:conference");
  features.emplace_back(kOccupantId);
  features.emplace_back(xml::ns::kVcard);  // XEP-0486 §3.1
  if (archiveActive(config_)) {
    // XEP-0313 §6 on the room's JID, with XEP-0359 ids on the messages.
    features.emplace_back(xml::ns::kMam);
    features.emplace_back("urn:xmpp:mam:2#extended");
    features.emplace_back(xml::ns::kStanzaId);
    features.emplace_back("urn:xmpp:message-moderate:1");  // XEP-0425 §2: retraction needs the archive
  }
  std::sort(features.begin(), features.end());
  for (const auto& f : features) {
    auto fe = xml::make("feature", std::string(kDiscoInfo));
    fe->setAttr("var", f);
    q->addChild(fe);
  }
  auto x = xml::make("x", std::string(kForms));
  x->setAttr("type", "result");
  auto field = [&](std::string_view var, std::string_view value, std::string_view label) {
    auto f = xml::make("field", std::string(kForms));
    f->setAttr("var", var);
    if (!label.empty()) f->setAttr("label", label);
    f->addTextChild("value", kForms, value);
    x->addChild(f);
  };
  auto ft = xml::make("field", std::string(kForms));
  ft->setAttr("var", "FORM_TYPE");
  ft->setAttr("type", "hidden");
  ft->addTextChild("value", kForms, kRoomInfoType);
  x->addChild(ft);
  field("muc#roominfo_description", config_.description, "Description");
  field("muc#roominfo_occupants", std::to_string(occupants_.size()), "Number of occupants");
  field("muc#roominfo_subject", subject_, "Subject");
  field("muc#roomconfig_roomname", config_.name, "Name");
  field("muc#roominfo_changesubject", config_.changeSubject ? "1" : "0",
        "Participants may change the subject");
  if (!avatarHash_.empty()) {
    // XEP-0486 §3.3: one value per PHOTO of the room's vCard; absent without an avatar (§5).
    auto f = xml::make("field", std::string(kForms));
    f->setAttr("var", "muc#roominfo_avatarhash");
    f->setAttr("type", "text-multi");
    f->setAttr("label", "Avatar hash");
    std::string_view rest = avatarHash_;
    while (!rest.empty()) {
      const auto sp = rest.find(' ');
      f->addTextChild("value", kForms, rest.substr(0, sp));
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    }
    x->addChild(f);
  }
  q->addChild(x);
  result(s, q);
}

// §9.5, §9.8, §10.5, §10.8: lists by affiliation; §8.5, §9.? lists by role.
void Room::adminGet(const StanzaPtr& s, const xml::Element& query) {
  Occupant* requester = occupantOf(s->from());
  const Affiliation reqAff = affiliationOf(s->from().bare());
  const auto* item = query.child("item", kMucAdmin);
  if (!item) {
    error(s, StanzaError::BadRequest);
    return;
  }
  auto q = xml::make("query", std::string(kMucAdmin));
  if (item->hasAttr("affiliation")) {
    auto aff = parseAffiliation(item->attr("affiliation"));
    if (!aff || *aff == Affiliation::None) {
      error(s, StanzaError::BadRequest, "unknown affiliation");
      return;
    }
    bool allowed = false;
    switch (*aff) {
      case Affiliation::Owner:
      case Affiliation::Admin:
        // §10.5, §10.8: the owner and admin lists are for owners (MUST in semi-anonymous rooms; Parley
        // keeps them to owners in every room).
        allowed = reqAff == Affiliation::Owner;
        break;
      case Affiliation::Member:
        // §9.5 and §5.2.1 (note ***): admins and owners; members too, but only in a non-anonymous room
        // (the list holds real JIDs a semi-anonymous room hides).
        allowed =
            reqAff >= Affiliation::Admin || (reqAff == Affiliation::Member && config_.whois == Whois::Anyone);
        break;
      case Affiliation::Outcast:
      case Affiliation::None:
        allowed = reqAff >= Affiliation::Admin;  // §9.2
        break;
    }
    if (!allowed) {
      error(s, StanzaError::Forbidden);
      return;
    }
    for (const auto& [j, a] : affiliations_) {
      if (a != *aff) continue;
      auto i = xml::make("item", std::string(kMucAdmin));
      i->setAttr("affiliation", affiliationName(a));
      i->setAttr("jid", j);
      q->addChild(i);
    }
    result(s, q);
    return;
  }
  auto role = parseRole(item->attr("role"));
  if (!role || *role == Role::None) {
    error(s, StanzaError::BadRequest, "an item needs a valid affiliation or role");
    return;
  }
  // §9.8: the moderator list is for admins and owners (in the room or not); §8.5: the voice (and
  // visitor) lists for moderators.
  const bool allowed = *role == Role::Moderator ? reqAff >= Affiliation::Admin
                                                : requester && requester->role == Role::Moderator;
  if (!allowed) {
    error(s, StanzaError::Forbidden);
    return;
  }
  const bool showJids = requester ? seesJids(*requester) : true;  // admins and owners see real JIDs
  for (const auto& [n, o] : occupants_) {
    if (o.role != *role) continue;
    auto i = xml::make("item", std::string(kMucAdmin));
    i->setAttr("affiliation", affiliationName(affiliationOf(o.bare)));
    i->setAttr("role", roleName(o.role));
    i->setAttr("nick", n);
    if (showJids && !o.devices.empty()) i->setAttr("jid", o.devices.front().str());
    q->addChild(i);
  }
  result(s, q);
}

void Room::adminSet(const StanzaPtr& s, const xml::Element& query) {
  Occupant* requester = occupantOf(s->from());
  const Affiliation reqAff = affiliationOf(s->from().bare());
  const std::string actorNick = requester ? requester->nick : std::string();
  struct Change {
    bool isRole = false;
    std::string nick;  // role changes (and affiliation changes by nick)
    Jid bare;          // affiliation changes
    Role role = Role::None;
    Affiliation aff = Affiliation::None;
    std::string reason;
  };
  std::vector<Change> changes;
  auto items = query.childrenNamed("item", kMucAdmin);
  if (items.empty()) {
    error(s, StanzaError::BadRequest);
    return;
  }
  // Every item is checked before any is applied: the request succeeds or fails as a whole.
  for (const auto& item : items) {
    Change c;
    c.reason = item->childText("reason", kMucAdmin);
    if (item->hasAttr("role") && !item->hasAttr("affiliation")) {
      auto role = parseRole(item->attr("role"));
      if (!role) {
        error(s, StanzaError::BadRequest, "unknown role");
        return;
      }
      Occupant* target = occupantByNick(item->attr("nick"));
      if (!target) {
        error(s, StanzaError::ItemNotFound, "no occupant with that nick");  // §8.2
        return;
      }
      if (!requester || requester->role != Role::Moderator) {
        error(s, StanzaError::Forbidden);  // §8.2, §8.3
        return;
      }
      const Affiliation targetAff = affiliationOf(target->bare);
      // Granting or taking away moderator status (also by kicking or silencing a moderator).
      const bool moderatorChange = *role == Role::Moderator || target->role == Role::Moderator;
      if (*role == Role::None) {
        // §8.2: "A user cannot be kicked by a moderator with a lower affiliation" (so owners kick admins
        // and owners, admins kick admins); §5.1.3: a moderator is kicked only by an admin or owner.
        if (targetAff > reqAff) {
          error(s, StanzaError::NotAllowed, "that occupant's affiliation is above yours");
          return;
        }
        if (moderatorChange && reqAff < Affiliation::Admin) {
          error(s, StanzaError::Forbidden, "only admins and owners remove a moderator");
          return;
        }
      } else if (*role == Role::Visitor) {
        // §8.4: nobody removes the voice of an admin or owner; §8.5: nor of anyone with a higher
        // affiliation than the moderator. §9.7: silencing a moderator takes its moderator status.
        if (targetAff >= Affiliation::Admin || targetAff > reqAff) {
          error(s, StanzaError::NotAllowed, "you may not revoke that occupant's voice");
          return;
        }
        if (moderatorChange && reqAff < Affiliation::Admin) {
          error(s, StanzaError::Forbidden, "only admins and owners revoke moderator status");
          return;
        }
      } else if (moderatorChange) {
        // §9.6/§9.7: granting or revoking moderator status is for admins and owners (§9: forbidden).
        if (reqAff < Affiliation::Admin) {
          error(s, StanzaError::Forbidden, "only admins and owners grant or revoke moderator status");
          return;
        }
        // §9.7, §9.8: "moderator status cannot be revoked from a room owner or room admin".
        if (*role != Role::Moderator && targetAff >= Affiliation::Admin) {
          error(s, StanzaError::NotAllowed, "an admin's or owner's moderator status cannot be revoked");
          return;
        }
      }
      // §8.3: any moderator grants voice to a visitor, whatever the visitor's affiliation.
      c.isRole = true;
      c.nick = target->nick;
      c.role = *role;
    } else if (item->hasAttr("affiliation")) {
      auto aff = parseAffiliation(item->attr("affiliation"));
      if (!aff) {
        error(s, StanzaError::BadRequest, "unknown affiliation");
        return;
      }
      std::optional<Jid> target;
      if (item->hasAttr("jid")) {
        target = Jid::parse(item->attr("jid"));
        if (!target) {
          error(s, StanzaError::JidMalformed);
          return;
        }
      } else if (Occupant* o = occupantByNick(item->attr("nick"))) {
        target = o->bare;
      } else {
        error(s, StanzaError::BadRequest, "an affiliation change needs a jid");
        return;
      }
      const Jid bare = target->bare();
      const Affiliation current = affiliationOf(bare);
      if (reqAff < Affiliation::Admin) {
        error(s, StanzaError::Forbidden);  // §9 and §10: admins and owners only
        return;
      }
      // §9.1: "If an admin or owner attempts to ban himself, the service MUST deny the request and return
      // a <conflict/> error".
      if (*aff == Affiliation::Outcast && bare == s->from().bare()) {
        error(s, StanzaError::Conflict, "you cannot ban yourself");
        return;
      }
      if (reqAff != Affiliation::Owner) {
        // §10.3, §10.6: only owners grant admin or owner status.
        if (*aff >= Affiliation::Admin) {
          error(s, StanzaError::Forbidden, "only owners grant admin or owner status");
          return;
        }
        if (current >= Affiliation::Admin) {
          // §9.1/§9.2: an admin cannot ban an admin or owner (<not-allowed/>); §10.4, §10.7: revoking
          // admin or owner status is for owners (<forbidden/>).
          if (*aff == Affiliation::Outcast)
            error(s, StanzaError::NotAllowed, "an admin cannot ban an admin or owner");
          else
            error(s, StanzaError::Forbidden, "only owners revoke admin or owner status");
          return;
        }
      }
      c.bare = bare;
      c.aff = *aff;
    } else {
      error(s, StanzaError::BadRequest, "an item needs a role or an affiliation");
      return;
    }
    changes.push_back(std::move(c));
  }
  // §10.4, §10.5: a room is never left without an owner (<conflict/>).
  {
    auto after = affiliations_;
    for (const auto& c : changes) {
      if (c.isRole) continue;
      if (c.aff == Affiliation::None)
        after.erase(c.bare.bareStr());
      else
        after[c.bare.bareStr()] = c.aff;
    }
    if (std::none_of(after.begin(), after.end(),
                     [](const auto& p) { return p.second == Affiliation::Owner; })) {
      error(s, StanzaError::Conflict, "the room must keep an owner");
      return;
    }
  }
  result(s);
  bool affiliationsChanged = false;
  for (const auto& c : changes) {
    if (c.isRole) {
      Occupant* o = occupantByNick(c.nick);
      if (!o) continue;
      if (c.role == Role::None) {
        removeOccupant(c.nick, {307}, actorNick, c.reason);  // §8.2 kick
      } else if (o->role != c.role) {
        o->role = c.role;
        broadcastPresence(*o, {110}, {}, {}, {}, actorNick, c.reason);
      }
      continue;
    }
    affiliationsChanged = true;
    setAffiliation(c.bare, c.aff);
    // Occupants of that user see the consequence.
    std::vector<std::string> nicks;
    for (const auto& [n, o] : occupants_)
      if (o.bare == c.bare) nicks.push_back(n);
    for (const auto& n : nicks) {
      if (c.aff == Affiliation::Outcast) {
        removeOccupant(n, {301}, actorNick, c.reason);  // §9.1 ban
      } else if (config_.membersOnly && c.aff < Affiliation::Member) {
        removeOccupant(n, {321}, actorNick, c.reason);  // §9.4
      } else if (Occupant* o = occupantByNick(n)) {
        o->role = defaultRole(c.aff);
        broadcastPresence(*o, {110}, {}, {}, {}, actorNick, c.reason);
      }
    }
  }
  if (affiliationsChanged && config_.persistent && !destroyed_) host_.persist(*this);
}

void Room::ownerGet(const StanzaPtr& s) {
  if (affiliationOf(s->from().bare()) != Affiliation::Owner) {
    error(s, StanzaError::Forbidden, "only owners may configure the room");  // §10.2
    return;
  }
  auto q = xml::make("query", std::string(kMucOwner));
  q->addChild(configForm(config_, host_.settings()));
  result(s, q);
}

void Room::ownerSet(const StanzaPtr& s, const xml::Element& query) {
  if (affiliationOf(s->from().bare()) != Affiliation::Owner) {
    error(s, StanzaError::Forbidden, "only owners may configure or destroy the room");
    return;
  }
  if (const auto* d = query.child("destroy", kMucOwner)) {
    if (d->hasAttr("jid") && !Jid::parse(d->attr("jid"))) {
      error(s, StanzaError::JidMalformed, "invalid alternate venue");
      return;
    }
    result(s);
    destroy(d);
    return;
  }
  const auto* x = query.child("x", kForms);
  if (!x) {
    error(s, StanzaError::BadRequest, "expected a data form or <destroy/>");
    return;
  }
  const std::string_view formType = x->attr("type");
  if (formType == "cancel") {
    result(s);
    // §10.1.3: cancelling the initial configuration destroys the room.
    if (locked_) destroy(nullptr);
    return;
  }
  if (formType != "submit") {
    error(s, StanzaError::BadRequest, "the form must be submitted");
    return;
  }
  RoomConfig next = config_;
  if (auto err = applyConfigForm(*x, next, host_.settings())) {
    error(s, StanzaError::NotAcceptable, *err);
    return;
  }
  result(s);
  applyConfig(std::move(next));
}

void Room::applyConfig(RoomConfig next) {
  const RoomConfig before = config_;
  const bool wasLocked = locked_;
  config_ = std::move(next);
  locked_ = false;
  if (config_.persistent) everPersistent_ = true;
  while (static_cast<std::int64_t>(history_.size()) > config_.historyLength) history_.pop_front();
  host_.persist(*this);  // stores a persistent room, deletes one made temporary
  if (wasLocked) {
    // §10.1.2: the room opens; the owner now gets what a joining occupant gets.
    for (const auto& [n, o] : occupants_)
      for (const auto& d : o.devices) sendSubject(d);
    return;
  }
  // §10.2.1 notifications (104: a non-privacy change; 172/173: anonymity changed).
  std::vector<int> codes{104};
  if (before.whois != config_.whois) codes.push_back(config_.whois == Whois::Anyone ? 172 : 173);
  statusMessage(codes);
  // Roles follow a change of moderation (§8.? participants of a newly moderated room keep their voice:
  // only new occupants become visitors); jids follow whois in the next presence.
  if (config_.membersOnly && !before.membersOnly) {
    // §9.? 322: non-members leave a room that became members-only.
    std::vector<std::string> out;
    for (const auto& [n, o] : occupants_)
      if (affiliationOf(o.bare) < Affiliation::Member) out.push_back(n);
    for (const auto& n : out) removeOccupant(n, {322}, {}, {});
  }
  if (!destroyed_ && occupants_.empty() && !config_.persistent) {
    destroyed_ = true;
    host_.destroyed(*this);
  }
}

// §10.9: everyone leaves with the <destroy/> (alternate venue, reason); the room and its stored state go.
void Room::destroy(const xml::Element* d) {
  xml::ElementPtr destroyEl;
  if (d) {
    auto e = xml::make("destroy", std::string(kMucUser));
    if (d->hasAttr("jid")) e->setAttr("jid", d->attr("jid"));
    if (auto r = d->childText("reason", kMucOwner); !r.empty()) e->addTextChild("reason", kMucUser, r);
    if (auto p = d->childText("password", kMucOwner); !p.empty()) e->addTextChild("password", kMucUser, p);
    destroyEl = std::move(e);
  }
  std::vector<std::string> nicks;
  for (const auto& [n, o] : occupants_) nicks.push_back(n);
  for (const auto& n : nicks) {
    Occupant* o = occupantByNick(n);
    if (!o) continue;
    o->role = Role::None;
    o->presence = xml::make("presence", std::string(kClient));
    // Each occupant learns only about itself (the others are leaving at the same moment).
    for (const auto& dev : o->devices) {
      auto e = xml::make("presence", std::string(kClient));
      e->setAttr("type", "unavailable");
      auto xu = xml::make("x", std::string(kMucUser));
      auto item = xml::make("item", std::string(kMucUser));
      item->setAttr("affiliation", "none");
      item->setAttr("role", "none");
      xu->addChild(item);
      if (destroyEl) xu->addChild(destroyEl);
      xu->addChild(statusElement(110));
      e->addChild(xu);
      send(Stanza::make(std::move(e), occupantJid(n), dev));
      nickOf_.erase(dev.str());
      host_.deviceLeft(dev, *this);
    }
  }
  occupants_.clear();
  destroyed_ = true;
  host_.destroyed(*this);
}

}  // namespace parley::xep::muc
