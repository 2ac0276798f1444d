// An account's roster as kept in memory while the account has sessions: an immutable snapshot,
// replaced whole after each committed change, so presence broadcasts read it without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "storage/roster_store.h"

namespace parley::roster {

struct RosterSnapshot {
  std::uint64_t version = 0;
  std::unordered_map<std::string, storage::RosterItem> items;  // by contact bare JID

  const storage::RosterItem* find(const std::string& contact) const {
    auto it = items.find(contact);
    return it == items.end() ? nullptr : &it->second;
  }
  // The contact may see our presence (RFC 6121 §4.2.2: subscription from or both).
  bool contactSubscribedToUs(const std::string& contact) const {
    auto* i = find(contact);
    return i &&
           (i->subscription == storage::Subscription::From || i->subscription == storage::Subscription::Both);
  }
  // We may see the contact's presence (subscription to or both).
  bool weSubscribedToContact(const std::string& contact) const {
    auto* i = find(contact);
    return i &&
           (i->subscription == storage::Subscription::To || i->subscription == storage::Subscription::Both);
  }
};
using RosterPtr = std::shared_ptr<const RosterSnapshot>;

}  // namespace parley::roster
