// The XEP-0191 block list of an account as the blocking module keeps it (UserDataStore store
// "blocklist", one row per normalised JID), and the matching rule. Other modules that act in an
// account's name read it here to honour the account's blocks: PEP does not notify a contact the owner
// blocked (XEP-0163 §4.3.3). Blocking: BlockListStore runs on the blocking pool only.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "server/xmpp/jid.h"
#include "storage/database.h"

namespace parley::xep::blocking {

inline constexpr std::string_view kBlockListStore = "blocklist";

using BlockList = std::set<std::string>;  // normalised JIDs

// §4 (the XEP-0016 §2.1 rules): an item matches the full JID, the bare JID (any resource), or the whole
// domain.
bool matches(const BlockList& list, const xmpp::Jid& jid);

class BlockListStore {
 public:
  explicit BlockListStore(storage::Database& db) : db_(db) {}
  BlockList load(const xmpp::Jid& user);

 private:
  storage::Database& db_;
};

}  // namespace parley::xep::blocking
