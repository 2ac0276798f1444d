// XEP-0313 on the room's JID ("MUC MAM"): what a room archives, the XEP-0359 ids it stamps, who may
// query the archive and what they see of the senders.
//
// - Archived (§5.1.3 "MUC archives"): every groupchat message the room accepted and broadcast with a
//   body, a subject or another payload (not chat states or markers alone, not XEP-0334 no-store), once
//   per message; never private messages. Only while the room's archive is in use (archiving on and the
//   room persistent, archiveActive()).
// - The stored copy is the message as broadcast (from the occupant JID, no 'to', with the room's
//   <stanza-id/> and <occupant-id/>), stripped of any muc#user <x/> a client put in (§9 "MUC message
//   spoofing"); the sender's real JID is kept beside it, and added to results as
//   <x xmlns='…muc#user'><item jid='…'/></x> only for those allowed to see it now: everyone in a
//   non-anonymous room, else owners, admins and moderators.
// - Access (§5.1.3): not outcasts; in a members-only room only members, admins and owners; in a
//   password-protected room only occupants or members and above; a locked room does not exist yet.
// - Ids come from the service's archive clock on the room's thread, so a room's ids follow its
//   broadcast order; writes are queued in that order (RoomHost::archive) and queries run after them.
#include <algorithm>

#include "server/log/log.h"
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "xep/mam/archive_id.h"
#include "xep/mam/mam_query.h"
#include "xep/muc/room.h"

namespace parley::xep::muc {

namespace {

using xmpp::Jid;
using xmpp::Stanza;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kClient = xml::ns::kClient;
constexpr std::string_view kMucUser = xml::ns::kMucUser;
constexpr std::string_view kSid = xml::ns::kStanzaId;

// Payloads that describe a conversation's state rather than say anything: alone, not archived.
bool isNoise(const xml::Element& child) {
  const auto& ns = child.xmlns();
  return ns == xml::ns::kChatStates || ns == xml::ns::kReceipts || ns == "urn:xmpp:chat-markers:0" ||
         ns == xml::ns::kHints || ns == kSid || ns == xml::ns::kDelay || ns == "urn:xmpp:occupant-id:0" ||
         ns == kMucUser || (ns == kClient && child.name() == "thread");
}

// XEP-0313 §5.1.3 and XEP-0334.
bool worthArchiving(const xml::Element& m) {
  if (m.child("no-store", xml::ns::kHints) || m.child("no-permanent-store", xml::ns::kHints)) return false;
  if (m.child("store", xml::ns::kHints)) return true;
  if (m.child("body", kClient) || m.child("subject", kClient)) return true;
  for (const auto& c : m.children())
    if (!isNoise(*c)) return true;
  return false;
}

}  // namespace

std::pair<StanzaPtr, std::int64_t> Room::archiveMessage(xml::MutableElementPtr e, const Jid& from,
                                                        const Occupant* sender) {
  // XEP-0359 §7: only the room may claim an id by the room; XEP-0313 §9: no client-made muc#user <x/>.
  const std::string room = jid_.bareStr();
  std::vector<xml::ElementPtr> forged;
  for (const auto& sid : e->childrenNamed("stanza-id", kSid))
    if (sid->attr("by") == room) forged.push_back(sid);
  if (!forged.empty()) {
    auto kept = e->clone();
    kept->clearNodes();
    for (const auto& node : e->nodes()) {
      if (const auto* child = std::get_if<xml::ElementPtr>(&node)) {
        if (std::find(forged.begin(), forged.end(), *child) != forged.end()) continue;
        kept->addChild(*child);
      } else {
        kept->addText(std::get<std::string>(node));
      }
    }
    e = std::move(kept);
  }
  if (!archiveActive(config_) || !worthArchiving(*e)) return {Stanza::make(std::move(e), from, Jid()), 0};
  e->removeChildren("x", kMucUser);
  std::int64_t stamp = 0;
  const std::int64_t id = host_.nextArchiveId(stamp);
  auto sid = xml::make("stanza-id", std::string(kSid));
  sid->setAttr("id", host_.encodeArchiveId(*this, id));
  sid->setAttr("by", room);
  e->addChild(std::move(sid));
  auto message = Stanza::make(std::move(e), from, Jid());
  RoomArchiveWrite w;
  w.row.id = id;
  w.row.domain = jid_.domain();
  w.row.room = jid_.local();
  w.row.stamp = stamp;
  if (sender) {
    w.row.nick = sender->nick;
    w.row.senderJid = sender->bare.bareStr();
    // The device that sent it (the first one if the room itself speaks for the occupant).
    w.row.senderResource = sender->devices.empty() ? std::string() : sender->devices.front().resource();
  }
  host_.archive(std::move(w), message);
  return {message, id};
}

void Room::restoreHistory(const std::vector<mam::ArchivedMessage>& messages) {
  for (const auto& m : messages) {
    auto e = xml::parseElement(m.xml);
    if (!e) {
      log::warn("muc.archive.corrupt", "room={} id={}", jid_.bareStr(), m.id);
      continue;
    }
    if (e->child("subject", kClient) && !e->child("body", kClient)) continue;  // as remember() does
    auto from = Jid::parse(e->attr("from"));
    if (!from) continue;
    auto d = e->clone();
    d->removeAttr("to");
    auto delay = xml::make("delay", std::string(xml::ns::kDelay));
    delay->setAttr("from", jid_.bareStr());
    delay->setAttr("stamp", util::iso8601(m.stamp / 1'000'000));
    d->addChild(delay);
    auto delayed = Stanza::make(std::move(d), *from, Jid());
    history_.push_back({delayed, m.stamp / 1'000'000, delayed->serialized().size(), m.id});
  }
  while (static_cast<std::int64_t>(history_.size()) > config_.historyLength) history_.pop_front();
}

std::optional<StanzaError> Room::archiveRefusal(const Jid& requester) const {
  const Affiliation aff = affiliationOf(requester.bare());
  if (aff == Affiliation::Outcast) return StanzaError::Forbidden;
  if (config_.membersOnly && aff < Affiliation::Member) return StanzaError::Forbidden;
  if (!config_.password.empty() && aff < Affiliation::Member && !nickOf_.count(requester.str()))
    return StanzaError::Forbidden;
  return std::nullopt;
}

// XEP-0313 §5.1.3: the real JID "if the recipient of the MUC archive has the right to access the sender
// real JID at the time of the query".
bool Room::seesJidsInArchive(const Jid& requester) {
  if (config_.whois == Whois::Anyone) return true;
  if (affiliationOf(requester.bare()) >= Affiliation::Admin) return true;
  const Occupant* o = occupantOf(requester);
  return o && o->role == Role::Moderator;
}

void Room::mamIq(const StanzaPtr& s, const xml::Element& payload) {
  const bool get = s->type() == "get";
  if (locked_) {
    error(s, StanzaError::ItemNotFound, "the room is being configured");
    return;
  }
  if (!archiveActive(config_)) {
    error(s, StanzaError::ServiceUnavailable, "this room keeps no archive");
    return;
  }
  if (auto refusal = archiveRefusal(s->from())) {
    error(s, *refusal, "you may not read this room's archive");
    return;
  }
  if (get && payload.name() == "query") {
    result(s, mam::queryForm());
    return;
  }
  if (get && payload.name() == "metadata") {
    // XEP-0313 §5.
    using Bounds = std::optional<std::pair<mam::ArchivedMessage, mam::ArchivedMessage>>;
    auto bounds = std::make_shared<Bounds>();
    host_.archiveJob(
        *this,
        [bounds, domain = jid_.domain(), local = jid_.local()](MucArchiveStore& store) {
          *bounds = store.bounds(domain, local);
        },
        [s, bounds](Room* self, bool ok) {
          if (!self) return;
          if (!ok) {
            self->error(s, StanzaError::InternalServerError);
            return;
          }
          self->result(s, mam::metadataElement(*bounds, [self](std::int64_t id) {
                         return self->host_.encodeArchiveId(*self, id);
                       }));
        });
    return;
  }
  if (get || payload.name() != "query") {
    error(s, StanzaError::ServiceUnavailable);
    return;
  }
  auto parsed =
      mam::parseQuery(payload,
                      mam::QueryLimits{host_.settings().archivePageSize, host_.settings().archiveMaxPageSize,
                                       mam::RsmCount::FirstPage},
                      [this](std::string_view text) { return host_.decodeArchiveId(*this, text); });
  if (auto* err = std::get_if<mam::QueryError>(&parsed)) {
    error(s, err->condition, err->text);
    return;
  }
  auto p = std::make_shared<mam::ParsedQuery>(std::get<mam::ParsedQuery>(std::move(parsed)));
  p->query.domain = jid_.domain();
  p->query.user = jid_.local();
  const bool revealJids = seesJidsInArchive(s->from());
  const mam::ArchiveTable* table = &kRoomArchive;
  if (p->with) {
    if (p->with->bare() == jid_) {
      // An occupant JID: the messages sent under that nick (the room's own with no resource).
      p->query.with = p->with->resource();
      table = &kRoomArchiveByNick;
    } else {
      // XEP-0313 §4.1.1: by publisher only for those who may know who published.
      if (!revealJids) {
        error(s, StanzaError::Forbidden, "the senders' addresses are hidden from you in this room");
        return;
      }
      p->query.with = p->with->bareStr();
      if (p->with->isFull()) p->query.withResource = p->with->resource();
    }
  }
  struct Outcome {
    bool notFound = false;
    mam::ArchivePage page;
  };
  auto out = std::make_shared<Outcome>();
  host_.archiveJob(
      *this,
      [p, out, table](MucArchiveStore& store) {
        for (auto id : p->mustExist)
          if (!store.contains(p->query.domain, p->query.user, id)) {
            out->notFound = true;
            return;
          }
        out->page = store.query(*table, p->query);
      },
      [s, p, out, revealJids](Room* self, bool ok) {
        if (!self) return;  // the room went away meanwhile: nobody left to answer for it
        if (!ok) {
          self->error(s, StanzaError::InternalServerError);
          return;
        }
        if (out->notFound) {
          self->error(s, StanzaError::ItemNotFound, "no message with that id in this archive");
          return;
        }
        auto answer = mam::buildAnswer(
            *p, out->page, [self](std::int64_t id) { return self->host_.encodeArchiveId(*self, id); },
            [self, revealJids](const mam::ArchivedMessage& m) -> xml::ElementPtr {
              auto stored = xml::parseElement(m.xml);
              if (!stored) {
                log::warn("muc.archive.corrupt", "room={} id={}", self->jid_.bareStr(), m.id);
                return nullptr;
              }
              if (!revealJids || m.with.empty()) return stored;
              auto e = stored->clone();
              auto x = xml::make("x", std::string(kMucUser));
              auto item = xml::make("item", std::string(kMucUser));
              item->setAttr("jid", m.withResource.empty() ? m.with : m.with + "/" + m.withResource);
              x->addChild(std::move(item));
              e->addChild(std::move(x));
              return e;
            });
        for (auto& r : answer.results) self->send(Stanza::make(std::move(r), self->jid_, s->from()));
        self->result(s, std::move(answer.fin));
      });
}

}  // namespace parley::xep::muc
