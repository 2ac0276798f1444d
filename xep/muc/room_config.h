// A room's configuration (XEP-0045 §10.2, the muc#roomconfig form), the service-wide settings from
// [modules.muc], and the data forms built from them (muc#roomconfig for owners, muc#roominfo in
// disco#info, §6.4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/xml/element.h"

namespace parley::xep::muc {

enum class Whois { Moderators, Anyone };
enum class AllowPm { Anyone, Participants, Moderators, None };

struct RoomConfig {
  std::string name;
  std::string description;
  bool persistent = false;
  bool isPublic = true;
  bool membersOnly = false;
  bool moderated = false;
  std::string password;  // non-empty: password-protected
  std::int64_t maxOccupants = 100;
  Whois whois = Whois::Moderators;
  std::int64_t historyLength = 20;
  bool allowInvites = false;
  AllowPm allowPm = AllowPm::Anyone;
  bool changeSubject = false;
  // muc#roomconfig_enablearchiving: a persistent room keeps its groupchat messages in its XEP-0313
  // archive (temporary rooms only keep the in-memory history).
  bool archiving = true;
};

std::string_view whoisName(Whois w);
std::optional<Whois> parseWhois(std::string_view s);
std::string_view allowPmName(AllowPm a);
std::optional<AllowPm> parseAllowPm(std::string_view s);

// [modules.muc]
struct ServiceSettings {
  std::string hostPattern = "muc.{domain}";
  std::string name = "Chatrooms";
  bool adminsOnlyCreate = false;  // create_rooms = "admins"
  std::int64_t maxOccupantsLimit = 1000;
  std::int64_t maxHistoryLength = 100;
  RoomConfig defaults;  // a new room's configuration
  // Room archives (XEP-0313 on the room's JID): page sizes and <count/> policy, as [modules.mam].
  std::int64_t archivePageSize = 50;
  std::int64_t archiveMaxPageSize = 250;
  std::int64_t maxVcardSize = 131072;  // bytes of a room's vCard-temp (XEP-0486 avatars)
};

// The owner's configuration form (type='form') with the room's current values.
xml::ElementPtr configForm(const RoomConfig& config, const ServiceSettings& settings);

// Applies a submitted form (type='submit') onto `config`. Fields the form leaves out keep their values.
// Returns an error text when the form is not acceptable (wrong FORM_TYPE, a value out of range…).
std::optional<std::string> applyConfigForm(const xml::Element& form, RoomConfig& config,
                                           const ServiceSettings& settings);

// The room's archive is in use: archiving on and the room persistent.
inline bool archiveActive(const RoomConfig& c) {
  return c.archiving && c.persistent;
}

// XEP-0045 §6.4 disco#info features of a room (muc_public/muc_hidden, …).
std::vector<std::string> roomFeatures(const RoomConfig& config, bool passwordProtected);

// Reads a data-form field value (first <value/>), or nullopt when the field is absent.
std::optional<std::string> formValue(const xml::Element& form, std::string_view var);
// The form's FORM_TYPE, or "".
std::string formType(const xml::Element& form);

}  // namespace parley::xep::muc
