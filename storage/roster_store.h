// Rosters (RFC 6121 §2) with the subscription state of each contact (RFC 6121 §3, Appendix A).
// Blocking: blocking pool only. Every change bumps the roster version (XEP-0237) in the same
// transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace parley::storage {

enum class Subscription { None, To, From, Both };
std::string_view subscriptionName(Subscription s);  // "none", "to", "from", "both"

struct RosterItem {
  std::string contact;  // bare JID, normalised
  std::string name;
  std::vector<std::string> groups;
  Subscription subscription = Subscription::None;
  bool askOut = false;          // we sent subscribe, no answer yet (pending out)
  bool pendingIn = false;       // the contact asked to subscribe to us, not yet answered (pending in)
  std::string pendingInStanza;  // the contact's subscribe presence as XML, redelivered at login
  bool approved = false;        // pre-approval (RFC 6121 §3.4)
  bool visible = true;          // false: only a stored pending-in request, not an item the user sees

  friend bool operator==(const RosterItem&, const RosterItem&) = default;
};

class RosterStore {
 public:
  explicit RosterStore(Database& db) : db_(db) {}

  std::vector<RosterItem> load(std::string_view domain, std::string_view user);
  std::optional<RosterItem> get(std::string_view domain, std::string_view user, std::string_view contact);
  // Inserts or replaces the item; returns the new roster version.
  std::uint64_t put(std::string_view domain, std::string_view user, const RosterItem& item);
  // Deletes the item; returns the new roster version (unchanged if there was no item).
  std::uint64_t remove(std::string_view domain, std::string_view user, std::string_view contact);
  std::uint64_t version(std::string_view domain, std::string_view user);

 private:
  Database& db_;
};

}  // namespace parley::storage
