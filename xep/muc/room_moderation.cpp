// XEP-0425 message moderation (urn:xmpp:message-moderate:1) with XEP-0424 retraction
// (urn:xmpp:message-retract:1): a moderator asks the room to retract an archived message by the id the
// room gave it (<stanza-id by='room'/>). The room looks the message up in its archive (blocking pool,
// after every queued write), then on its own thread:
// - broadcasts the retraction to every occupant, from the room's bare JID (§3.1: only retractions from
//   the room itself are legitimate), and archives it like any message (XEP-0424 §5: the retraction MUST
//   be stored, so devices that were away learn of it while catching up);
// - replaces the archived message with a tombstone (XEP-0425 §4, XEP-0424 §4): the message's envelope,
//   its <occupant-id/> and <stanza-id/>, and <retracted stamp id><moderated/><reason/></retracted>
//   instead of the body and every other payload; the history newcomers get holds the tombstone too.
// Only moderators (and owners and admins, whose role would be moderator) may do it (<forbidden/>);
// an id that is not one of this room's archived messages is <item-not-found/>.
#include "server/log/log.h"
#include "server/util/crypto.h"
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "xep/mam/archive_id.h"
#include "xep/muc/room.h"

namespace parley::xep::muc {

namespace {

using xmpp::Jid;
using xmpp::Stanza;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kModerate = "urn:xmpp:message-moderate:1";
constexpr std::string_view kRetract = "urn:xmpp:message-retract:1";
constexpr std::string_view kOccupantId = "urn:xmpp:occupant-id:0";
constexpr std::size_t kMaxReason = 1024;

xml::MutableElementPtr moderatedElement(const std::string& by, const std::string& moderatorOccupantId) {
  auto m = xml::make("moderated", std::string(kModerate));
  if (!by.empty()) m->setAttr("by", by);
  auto oid = xml::make("occupant-id", std::string(kOccupantId));
  oid->setAttr("id", moderatorOccupantId);
  m->addChild(std::move(oid));
  return m;
}

bool isTombstone(const xml::Element& m) {
  return m.child("retracted", kRetract) != nullptr;
}

}  // namespace

void Room::moderate(const StanzaPtr& s, const xml::Element& payload) {
  if (s->type() != "set" || payload.name() != "moderate") {
    error(s, StanzaError::BadRequest, "moderation is an IQ set with <moderate/>");
    return;
  }
  const Occupant* moderator = occupantOf(s->from());
  const Affiliation aff = affiliationOf(s->from().bare());
  if (!((moderator && moderator->role == Role::Moderator) || aff >= Affiliation::Admin)) {
    error(s, StanzaError::Forbidden, "only moderators may moderate messages");
    return;
  }
  if (!payload.child("retract", kRetract)) {
    error(s, StanzaError::FeatureNotImplemented, "the only moderation action is <retract/>");
    return;
  }
  const std::string reason = payload.childText("reason", kModerate);
  if (reason.size() > kMaxReason) {
    error(s, StanzaError::NotAcceptable, "reason too long");
    return;
  }
  const std::string idText(payload.attr("id"));
  auto id = archiveActive(config_) ? host_.decodeArchiveId(*this, idText) : std::nullopt;
  if (!id) {
    error(s, StanzaError::ItemNotFound, "no message with that id in this room's archive");
    return;
  }
  // Who moderated, as occupants may know it: the occupant JID and XEP-0421 id, never the real JID.
  const std::string by = moderator ? occupantJid(moderator->nick).str() : jid_.bareStr();
  const std::string moderatorId = host_.occupantId(jid_, s->from().bare());
  auto found = std::make_shared<std::optional<mam::ArchivedMessage>>();
  host_.archiveJob(
      *this,
      [found, domain = jid_.domain(), local = jid_.local(), id = *id](MucArchiveStore& store) {
        *found = store.get(domain, local, id);
      },
      [s, found, idText, by, moderatorId, reason](Room* self, bool ok) {
        if (!self) return;
        if (!ok) {
          self->error(s, StanzaError::InternalServerError);
          return;
        }
        auto original = *found ? xml::parseElement((*found)->xml) : nullptr;
        if (!original) {
          self->error(s, StanzaError::ItemNotFound, "no message with that id in this room's archive");
          return;
        }
        if (isTombstone(*original)) {  // retracted already: nothing more to do
          self->result(s);
          return;
        }
        self->retract(**found, *original, idText, by, moderatorId, reason);
        self->result(s);
      });
}

void Room::retract(const mam::ArchivedMessage& archived, const xml::Element& original,
                   const std::string& stanzaId, const std::string& by, const std::string& moderatorId,
                   const std::string& reason) {
  // The announcement (XEP-0425 §3.1), archived and kept in the history like any message.
  const std::string announcementId = "retract-" + util::randomToken(16);
  auto m = xml::make("message", std::string(xml::ns::kClient));
  m->setAttr("type", "groupchat");
  m->setAttr("id", announcementId);
  auto r = xml::make("retract", std::string(kRetract));
  r->setAttr("id", stanzaId);
  r->addChild(moderatedElement(by, moderatorId));
  if (!reason.empty()) r->addTextChild("reason", kRetract, reason);
  m->addChild(std::move(r));
  auto [announcement, announcementArchiveId] = archiveMessage(std::move(m), jid_, nullptr);
  broadcastMessage(announcement);
  remember(announcement, announcementArchiveId);

  // The tombstone (XEP-0425 §4): the envelope, who sent it (occupant-id) and its id, nothing it said.
  auto t = xml::make("message", std::string(xml::ns::kClient));
  for (const auto& [name, value] : original.attributes())
    if (name == "type" || name == "from" || name == "id") t->setAttr(name, value);
  if (const auto* oid = original.child("occupant-id", kOccupantId)) t->addChild(oid->clone());
  for (const auto& sid : original.childrenNamed("stanza-id", xml::ns::kStanzaId))
    if (sid->attr("by") == jid_.bareStr()) t->addChild(sid);
  auto retracted = xml::make("retracted", std::string(kRetract));
  retracted->setAttr("stamp", mam::formatMicros(mam::unixMicros()));
  retracted->setAttr("id", announcementId);
  retracted->addChild(moderatedElement(by, moderatorId));
  if (!reason.empty()) retracted->addTextChild("reason", kRetract, reason);
  t->addChild(std::move(retracted));
  auto from = Jid::parse(original.attr("from"));
  auto tombstone = Stanza::make(t, from ? *from : jid_, Jid());
  RoomArchiveWrite w;
  w.replace = true;
  w.row.id = archived.id;
  w.row.domain = jid_.domain();
  w.row.room = jid_.local();
  host_.archive(std::move(w), tombstone);

  // §4 (XEP-0424 §6: "not replaying the message to new occupants"): the history shows the tombstone.
  for (auto& item : history_) {
    if (item.archiveId != archived.id) continue;
    auto d = t->clone();
    if (const auto* delay = item.delayed->element().child("delay", xml::ns::kDelay))
      d->addChild(delay->clone());
    item.delayed = Stanza::make(std::move(d), tombstone->from(), Jid());
    item.chars = item.delayed->serialized().size();
  }
  log::info("muc.moderated", "room={} id={}", jid_.bareStr(), archived.id);
}

}  // namespace parley::xep::muc
