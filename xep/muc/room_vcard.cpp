// A room's vCard-temp (XEP-0054 on the room's bare JID) and its avatar (XEP-0486): anyone who may see the
// room reads it, only owners (and server administrators) set it, an empty <vCard/> removes it. The
// vCard is stored (muc_vcards, through the room's archive queue on the blocking pool, so reads see
// earlier writes) with a size limit ([modules.muc] max_vcard_size); the SHA-1 of each PHOTO (XEP-0153
// method: of the decoded BINVAL) is kept with the room and shown as muc#roominfo_avatarhash in its
// disco#info, and occupants are told of a change with status code 104 (XEP-0486 §3.2: "the room should
// then broadcast a notification that the configuration changed").
#include <algorithm>

#include "server/log/log.h"
#include "server/util/crypto.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "xep/muc/room.h"

namespace parley::xep::muc {

namespace {

using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kVcard = xml::ns::kVcard;
constexpr std::size_t kMaxPhotos = 8;

}  // namespace

bool Room::mayReadVcard(const xmpp::Jid& requester) const {
  const Affiliation aff = affiliationOf(requester.bare());
  if (aff == Affiliation::Outcast) return false;
  // A hidden members-only room is nobody else's business; a listed one shows its face in the directory.
  return config_.isPublic || !config_.membersOnly || aff >= Affiliation::Member ||
         host_.isServerAdmin(requester.bare());
}

void Room::vcardIq(const StanzaPtr& s, const xml::Element& payload) {
  const bool get = s->type() == "get";
  const Affiliation aff = affiliationOf(s->from().bare());
  if (payload.name() != "vCard") {
    error(s, StanzaError::BadRequest);
    return;
  }
  if (locked_ && aff != Affiliation::Owner) {
    error(s, StanzaError::ItemNotFound, "the room is being configured");
    return;
  }
  if (get) {
    if (!mayReadVcard(s->from())) {
      error(s, StanzaError::Forbidden, "you may not see this room");
      return;
    }
    auto stored = std::make_shared<std::optional<std::string>>();
    host_.archiveJob(
        *this,
        [stored, domain = jid_.domain(), local = jid_.local()](MucArchiveStore& store) {
          *stored = store.vcard(domain, local);
        },
        [s, stored](Room* self, bool ok) {
          if (!self) return;
          if (!ok) {
            self->error(s, StanzaError::InternalServerError);
            return;
          }
          xml::ElementPtr v = *stored ? xml::parseElement(**stored) : nullptr;
          self->result(s, v ? v : xml::make("vCard", std::string(kVcard)));
        });
    return;
  }
  // XEP-0486 §3.2 and §7: only owners (and the service's administrators).
  if (aff != Affiliation::Owner && !host_.isServerAdmin(s->from().bare())) {
    error(s, StanzaError::Forbidden, "only owners may set the room's vCard");
    return;
  }
  std::string xml;
  std::vector<std::string> hashes;
  if (payload.firstChild()) {
    xml = xml::toString(payload);
    if (static_cast<std::int64_t>(xml.size()) > host_.settings().maxVcardSize) {
      error(s, StanzaError::NotAcceptable,
            "the vCard exceeds " + std::to_string(host_.settings().maxVcardSize) + " bytes");
      return;
    }
    auto photos = payload.childrenNamed("PHOTO", kVcard);
    if (photos.size() > kMaxPhotos) {
      error(s, StanzaError::NotAcceptable, "too many photos");
      return;
    }
    for (const auto& photo : photos) {
      std::string b64 = photo->childText("BINVAL", kVcard);
      std::erase_if(b64, [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; });
      if (b64.empty()) continue;  // an EXTVAL photo: nothing to hash
      auto bytes = util::base64Decode(b64);
      if (!bytes) {
        error(s, StanzaError::BadRequest, "a PHOTO's BINVAL is not base64");
        return;
      }
      hashes.push_back(util::hexEncode(util::hash(util::HashAlg::Sha1, *bytes)));
    }
  }
  std::string avatarHash;
  for (const auto& h : hashes) avatarHash += (avatarHash.empty() ? "" : " ") + h;
  vcardStored_ = true;  // even a removal: the row may exist from before
  host_.archiveJob(
      *this,
      [xml, domain = jid_.domain(), local = jid_.local()](MucArchiveStore& store) {
        store.setVcard(domain, local, xml);
      },
      [s, avatarHash](Room* self, bool ok) {
        if (!self) return;
        if (!ok) {
          self->error(s, StanzaError::InternalServerError);
          return;
        }
        self->avatarHash_ = avatarHash;
        if (self->config_.persistent) self->host_.persist(*self);  // the hash, for disco#info after a restart
        self->result(s);
        self->statusMessage({104});
        log::info("muc.vcard.set", "room={} photos={}", self->jid_.bareStr(),
                  std::count(avatarHash.begin(), avatarHash.end(), ' ') + !avatarHash.empty());
      });
}

}  // namespace parley::xep::muc
