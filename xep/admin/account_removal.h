// Account deletion, the same for every path: XEP-0133 delete-user, XEP-0077 <remove/>, and `parleyctl
// user del` (which works on storage directly and leaves a row in `account_removals` that the admin
// module reads; see AccountRemovalJournal).
//
// DESIGN. What "deleted" means, in order:
//   1. (blocking pool, key = the bare JID) every row keyed by the account goes in one transaction
//      (AccountStore::remove wipes schema::kUserTables);
//   2. (network thread) the AccountRemoved hook runs (modules drop in-memory state), every session of the
//      account is closed with the stream error <not-authorized/> and the text "account deleted" (RFC 6120
//      §4.9.3.12: the entity is no longer authorized; a client must not reconnect with the same
//      credentials), and every local account that had the deleted JID in its roster removes it through
//      the roster service as if it had sent <item subscription='remove'/> itself (RFC 6121 §2.5), so its
//      online clients get the roster push;
//   3. once everything those closes queued has run (Server::afterQueuedWork: unacknowledged stanzas
//      rerouted to offline storage, last-logout writes), the account's rows are wiped once more if the
//      account still does not exist, so nothing a closing session wrote is left behind.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/runtime/executor.h"
#include "server/xmpp/errors.h"
#include "server/xmpp/jid.h"
#include "storage/database.h"

namespace parley::core {
class Server;
}

namespace parley::xep::admin {

namespace blocking {
// Local accounts (bare JIDs) that have `jid` in their roster.
std::vector<xmpp::Jid> rosterHolders(storage::Database& db, const xmpp::Jid& jid);
// Deletes every row of the account if the account does not exist (any more).
void purgeLeftovers(storage::Database& db, const xmpp::Jid& bare);
// `parleyctl user del`: AccountStore::remove and a journal row for parleyd. False if absent.
bool removeAndJournal(storage::Database& db, const xmpp::Jid& bare);
}  // namespace blocking

// Deletes the account (steps 1-3 above); `done(found, error)` runs on `exec`. `error` is non-empty when
// storage failed.
void removeAccount(core::Server& server, runtime::Executor exec, const xmpp::Jid& bare,
                   std::function<void(bool found, const std::string& error)> done);

// Steps 2-3 for an account whose rows are already gone. Call on a network thread.
void afterAccountRemoved(core::Server& server, const xmpp::Jid& bare, std::vector<xmpp::Jid> rosterHolders);

// Closes every session of the account with `error` (posted to each session's thread).
void closeSessions(core::Server& server, const xmpp::Jid& bare, xmpp::StreamError error, std::string text);

}  // namespace parley::xep::admin
