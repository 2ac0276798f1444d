#include "xep/blocking/block_list_store.h"

#include "storage/user_data_store.h"

namespace parley::xep::blocking {

bool matches(const BlockList& list, const xmpp::Jid& jid) {
  return list.count(jid.str()) || list.count(jid.bareStr()) || list.count(jid.domain());
}

BlockList BlockListStore::load(const xmpp::Jid& user) {
  BlockList list;
  for (auto& [jid, value] : storage::UserDataStore(db_).list(user.domain(), user.local(), kBlockListStore))
    list.insert(std::move(jid));
  return list;
}

}  // namespace parley::xep::blocking
