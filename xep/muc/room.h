// DESIGN: one multi-user chat room (XEP-0045). A Room lives on exactly one network thread (its
// shard's executor, chosen by a hash of the room's JID) and every stanza for it is posted there, so
// its state needs no locks and no call here blocks: storage writes go through the RoomHost, which
// offloads them to the blocking pool keyed by the room's JID (so they apply in order).
//
// Occupants are keyed by nick. One occupant may have several devices (full JIDs of the same bare
// JID, "multi-session nicks"): each device receives the room's traffic, everyone else sees the
// occupant once. A broadcast builds one immutable stanza per distinct payload (at most two presence
// variants: with and without the real JID) and only readdresses it per device (Stanza::withTo).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/hooks/hooks.h"
#include "server/xml/element.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/jid.h"
#include "server/xmpp/stanza.h"
#include "xep/mam/archive_store.h"
#include "xep/muc/muc_archive_store.h"
#include "xep/muc/muc_store.h"
#include "xep/muc/room_config.h"

namespace parley::xep::muc {

enum class Affiliation { Outcast, None, Member, Admin, Owner };  // ordered by privilege
enum class Role { None, Visitor, Participant, Moderator };

std::string_view affiliationName(Affiliation a);
std::optional<Affiliation> parseAffiliation(std::string_view s);
std::string_view roleName(Role r);
std::optional<Role> parseRole(std::string_view s);

class Room;

// What a room needs from its surroundings. Implemented by the shard that owns the room; called only
// on the room's executor.
class RoomHost {
 public:
  virtual ~RoomHost() = default;
  virtual void send(xmpp::StanzaPtr stanza) = 0;
  // Writes the room (if persistent) or removes it from the store (if it is not).
  virtual void persist(const Room& room) = 0;
  // The room is gone (destroyed, or a temporary room emptied): forget it, and delete it from storage.
  virtual void destroyed(const Room& room) = 0;
  // A device entered or left the room (so the end of a session can remove it everywhere).
  virtual void deviceJoined(const xmpp::Jid& device, const Room& room) = 0;
  virtual void deviceLeft(const xmpp::Jid& device, const Room& room) = 0;
  virtual const ServiceSettings& settings() const = 0;
  virtual bool isServerAdmin(const xmpp::Jid& bare) const = 0;
  // XEP-0421: a stable, opaque id for a user in a room (the same across nick changes and restarts).
  virtual std::string occupantId(const xmpp::Jid& room, const xmpp::Jid& bare) const = 0;
  // A groupchat message with a body went to every occupant (hooks::GroupchatBroadcast, for XEP-0357
  // push to members who are away). `members` builds the affiliated-member list, only if someone listens.
  using MemberList = std::vector<hooks::GroupchatBroadcast::Member>;
  virtual void groupchatSent(const xmpp::StanzaPtr& /*message*/, const std::function<MemberList()>& /*members*/) {}

  // XEP-0313 room archive (room_archive.cpp). Ids increase across the service and are never reused;
  // `stamp` receives the time the id stands for (unix microseconds).
  virtual std::int64_t nextArchiveId(std::int64_t& stamp) = 0;
  // The client's opaque id (XEP-0359 <stanza-id by='room'/>) and back; nullopt: not this room's id.
  virtual std::string encodeArchiveId(const Room& room, std::int64_t id) const = 0;
  virtual std::optional<std::int64_t> decodeArchiveId(const Room& room, std::string_view text) const = 0;
  // Queues a write of the room's archive: writes apply in the order they are queued, batched in one
  // transaction on the blocking pool. `stanza`, when set, is serialised into write.row.xml there.
  virtual void archive(RoomArchiveWrite write, xmpp::StanzaPtr stanza) = 0;
  // Runs `work` on the blocking pool after every archive write queued before, then `done` on the
  // room's thread with the room (nullptr when it went away meanwhile) and whether `work` succeeded.
  using ArchiveWork = std::function<void(MucArchiveStore&)>;
  using ArchiveDone = std::function<void(Room*, bool ok)>;
  virtual void archiveJob(const Room& room, ArchiveWork work, ArchiveDone done) = 0;
};

class Room {
 public:
  // A new room (locked until configured unless `instant`), owned by `creator`.
  Room(RoomHost& host, xmpp::Jid jid, RoomConfig config);
  // A persistent room read from storage.
  static std::unique_ptr<Room> fromStored(RoomHost& host, const xmpp::Jid& jid, const StoredRoom& stored,
                                          const ServiceSettings& settings);
  // The newest archived messages (oldest first), read at start: the history newcomers get (§7.2.14).
  void restoreHistory(const std::vector<mam::ArchivedMessage>& messages);

  const xmpp::Jid& jid() const { return jid_; }
  const RoomConfig& config() const { return config_; }
  bool locked() const { return locked_; }
  bool empty() const { return occupants_.empty(); }
  // Destroyed (by its owner, or a temporary room that emptied): the shard drops it after the call.
  bool isDestroyed() const { return destroyed_; }
  std::size_t occupantCount() const { return occupants_.size(); }
  StoredRoom snapshot() const;
  // Storage may hold the room's archive or vCard (it was persistent at some point, or has a vCard).
  bool mayHaveStoredData() const { return everPersistent_ || vcardStored_; }

  // The first presence that creates the room (XEP-0045 §10.1.1): the creator becomes its owner.
  void create(const xmpp::StanzaPtr& presence);

  void onPresence(const xmpp::StanzaPtr& stanza);
  void onMessage(const xmpp::StanzaPtr& stanza);
  void onIq(const xmpp::StanzaPtr& stanza);
  // A device's session ended without unavailable presence reaching the room.
  void removeDevice(const xmpp::Jid& device);
  // disco#items entry of the service: visible in the directory.
  bool listed() const { return !locked_ && config_.isPublic; }

 private:
  struct Occupant {
    std::string nick;
    xmpp::Jid bare;
    std::vector<xmpp::Jid> devices;  // full JIDs, oldest first
    Role role = Role::None;
    xml::ElementPtr presence;  // last presence a device sent (payload shown to others)
    std::string occupantId;    // XEP-0421
    std::int64_t lastVoiceRequest = 0;  // unix seconds of its last voice request (§7.13), 0: none
  };
  // An IQ relayed from one occupant to another, until its answer comes back.
  struct PendingIq {
    xmpp::Jid requester;  // full JID of the asking device
    std::string id;       // the id it used
    xmpp::Jid target;     // the device the request went to
  };
  struct HistoryItem {
    xmpp::StanzaPtr delayed;  // the broadcast message with <delay/>, without 'to'
    std::int64_t stamp = 0;
    std::size_t chars = 0;
    std::int64_t archiveId = 0;  // 0: not archived
  };

  // Presence handling (XEP-0045 §7.2, §7.6, §7.14).
  void join(const xmpp::StanzaPtr& stanza, bool created);
  void changeNick(Occupant& occupant, const xmpp::StanzaPtr& stanza);
  void updatePresence(Occupant& occupant, const xmpp::StanzaPtr& stanza);
  void leave(const xmpp::Jid& device, const xml::Element* presence);
  // Removes an occupant with all devices, telling everyone why (kick 307, ban 301, 321, 322…).
  void removeOccupant(const std::string& nick, const std::vector<int>& codes, const std::string& actorNick,
                      const std::string& reason);
  // The occupant's presence as others see it, without 'to' (readdressed per device).
  xmpp::StanzaPtr presenceOf(const Occupant& o, bool withJid);
  void relayIq(const xmpp::StanzaPtr& stanza, Occupant* sender);
  void broadcastPresence(const Occupant& o, std::vector<int> selfCodes, std::vector<int> otherCodes = {},
                         std::string_view type = {}, const std::string& newNick = {},
                         const std::string& actorNick = {}, const std::string& reason = {},
                         xml::ElementPtr destroy = nullptr);
  void sendHistory(const xmpp::Jid& to, const xml::Element* history);
  void sendSubject(const xmpp::Jid& to);

  // Messages (§7.4, §7.5, §7.8, §8.1).
  void groupchat(const xmpp::StanzaPtr& stanza);
  void privateMessage(const xmpp::StanzaPtr& stanza);
  void invite(const xmpp::StanzaPtr& stanza, const xml::Element& x);
  void broadcastMessage(const xmpp::StanzaPtr& message);
  // A message the room is about to broadcast from `sender` (nullptr: the room itself): when the archive
  // is in use and the message is worth keeping, stamps it with the room's <stanza-id/> and queues its
  // archive write. Returns the message to broadcast and its archive id (0: not archived).
  std::pair<xmpp::StanzaPtr, std::int64_t> archiveMessage(xml::MutableElementPtr message,
                                                          const xmpp::Jid& from, const Occupant* sender);
  void remember(const xmpp::StanzaPtr& message, std::int64_t archiveId);
  void statusMessage(const std::vector<int>& codes);
  // Voice requests (§7.13) and their approval by a moderator (§8.6): room_voice.cpp. Returns false when
  // the message carries no muc#request form.
  bool voiceForm(const xmpp::StanzaPtr& stanza);
  void requestVoice(const xmpp::StanzaPtr& stanza, Occupant& requester);
  void decideVoice(const xmpp::StanzaPtr& stanza, Occupant& moderator, const xml::Element& form);

  // XEP-0313 queries on the room's archive (room_archive.cpp).
  void mamIq(const xmpp::StanzaPtr& stanza, const xml::Element& payload);
  // Why `bare` may not read the archive (nullopt: it may).
  std::optional<xmpp::StanzaError> archiveRefusal(const xmpp::Jid& requester) const;
  bool seesJidsInArchive(const xmpp::Jid& requester);
  // XEP-0425 moderation (room_moderation.cpp): checks, then looks the message up in the archive.
  void moderate(const xmpp::StanzaPtr& stanza, const xml::Element& payload);
  // Broadcasts and archives the retraction of `archived` and replaces it with a tombstone.
  void retract(const mam::ArchivedMessage& archived, const xml::Element& original,
               const std::string& stanzaId, const std::string& by, const std::string& moderatorId,
               const std::string& reason);

  // vCard-temp of the room and XEP-0486 avatar hash (room_vcard.cpp).
  void vcardIq(const xmpp::StanzaPtr& stanza, const xml::Element& payload);
  bool mayReadVcard(const xmpp::Jid& requester) const;

  // IQs (§9, §10, disco §6).
  void discoInfo(const xmpp::StanzaPtr& stanza);
  void adminGet(const xmpp::StanzaPtr& stanza, const xml::Element& query);
  void adminSet(const xmpp::StanzaPtr& stanza, const xml::Element& query);
  void ownerGet(const xmpp::StanzaPtr& stanza);
  void ownerSet(const xmpp::StanzaPtr& stanza, const xml::Element& query);
  void applyConfig(RoomConfig next);
  void destroy(const xml::Element* destroyElement);

  Affiliation affiliationOf(const xmpp::Jid& bare) const;
  void setAffiliation(const xmpp::Jid& bare, Affiliation a);
  Role defaultRole(Affiliation a) const;
  Occupant* occupantOf(const xmpp::Jid& device);
  Occupant* occupantByNick(std::string_view nick);
  bool seesJids(const Occupant& viewer) const;
  xmpp::Jid occupantJid(const std::string& nick) const { return jid_.withResource(nick); }
  void error(const xmpp::StanzaPtr& original, xmpp::StanzaError e, std::string_view text = {},
             xml::ElementPtr extra = nullptr);
  void result(const xmpp::StanzaPtr& request, xml::ElementPtr payload = nullptr);
  void send(xmpp::StanzaPtr s) { host_.send(std::move(s)); }
  void afterLeave();

  RoomHost& host_;
  xmpp::Jid jid_;
  RoomConfig config_;
  bool locked_ = false;
  bool destroyed_ = false;
  bool everPersistent_ = false;
  bool vcardStored_ = false;
  std::int64_t createdAt_ = 0;
  std::string avatarHash_;  // XEP-0486, space-separated SHA-1 hex of the vCard's PHOTOs
  std::map<std::string, Affiliation> affiliations_;      // bare JID -> affiliation (never None)
  std::map<std::string, Occupant> occupants_;            // by nick
  std::unordered_map<std::string, std::string> nickOf_;  // device full JID -> nick
  std::deque<HistoryItem> history_;
  std::string subject_;
  std::string subjectNick_;
  std::map<std::string, PendingIq> pendingIqs_;  // by the id the room gave the relayed request
  std::deque<std::string> pendingOrder_;         // oldest first, to bound pendingIqs_
  std::uint64_t nextIqId_ = 0;
};

}  // namespace parley::xep::muc
