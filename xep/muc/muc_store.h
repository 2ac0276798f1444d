// Persistent multi-user chat rooms (XEP-0045 §10.2 muc#roomconfig_persistentroom): their configuration,
// subject and affiliation lists. Temporary rooms never reach the store. Blocking: blocking pool only
// (and once at start, to load the rooms of a service before any stanza arrives).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace parley::xep::muc {

struct StoredAffiliation {
  std::string jid;          // bare JID
  std::string affiliation;  // "owner", "admin", "member" or "outcast"
  friend bool operator==(const StoredAffiliation&, const StoredAffiliation&) = default;
};

struct StoredRoom {
  std::string domain;  // the MUC service, e.g. muc.example.org
  std::string room;    // the room's localpart
  std::string name;
  std::string description;
  bool isPublic = true;
  bool membersOnly = false;
  bool moderated = false;
  std::string password;  // empty: not password-protected
  std::int64_t maxOccupants = 0;
  std::string whois = "moderators";  // "moderators" or "anyone"
  std::int64_t historyLength = 0;
  bool allowInvites = false;
  std::string allowPm = "anyone";  // "anyone", "participants", "moderators", "none"
  bool changeSubject = false;
  std::string subject;
  std::string subjectNick;
  std::int64_t createdAt = 0;  // unix seconds
  bool archiving = true;       // muc#roomconfig_enablearchiving (XEP-0313 room archive)
  std::string avatarHash;      // XEP-0486: SHA-1 hex of each PHOTO of the room's vCard, space-separated
  std::vector<StoredAffiliation> affiliations;
};

class MucStore {
 public:
  explicit MucStore(storage::Database& db) : db_(db) {}

  // Inserts or replaces the room, its configuration and its whole affiliation list.
  void save(const StoredRoom& room);
  // Removes the room and its affiliations (room destroyed, or made temporary).
  void remove(std::string_view domain, std::string_view room);
  // Every stored room of a service, affiliations included.
  std::vector<StoredRoom> loadAll(std::string_view domain);

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::muc
