#include "server/session/session_manager.h"

#include <algorithm>
#include <functional>

namespace parley::session {

SessionManager::Shard& SessionManager::shardFor(const std::string& bare) const {
  return shards_[std::hash<std::string>{}(bare) % kShards];
}

SessionManager::BindResult SessionManager::bind(const SessionPtr& session, ConflictPolicy policy,
                                                std::size_t maxResources) {
  const std::string bare = session->jid().bareStr();
  Shard& shard = shardFor(bare);
  std::lock_guard lock(shard.mu);
  Account& account = shard.accounts[bare];
  BindResult result;
  auto same = std::find_if(account.resources.begin(), account.resources.end(), [&](const Resource& r) {
    return r.session->jid().resource() == session->jid().resource();
  });
  if (same != account.resources.end()) {
    if (policy == ConflictPolicy::RefuseNew) {
      result.outcome = BindOutcome::Conflict;
      return result;
    }
    // RFC 6120 §7.7.2.2: the new session wins; the old one is closed with <conflict/>.
    result.replaced = same->session;
    account.resources.erase(same);
  } else if (account.resources.size() >= maxResources) {
    result.outcome = BindOutcome::TooManyResources;
    if (account.resources.empty()) shard.accounts.erase(bare);
    return result;
  }
  Resource r;
  r.session = session;
  account.resources.push_back(std::move(r));
  return result;
}

bool SessionManager::unbind(const Session& session) {
  const std::string bare = session.jid().bareStr();
  Shard& shard = shardFor(bare);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(bare);
  if (it == shard.accounts.end()) return true;
  auto& rs = it->second.resources;
  std::erase_if(rs, [&](const Resource& r) { return r.session.get() == &session; });
  if (rs.empty()) {
    shard.accounts.erase(it);
    return true;
  }
  return false;
}

bool SessionManager::replace(const Session& old, const SessionPtr& now) {
  const std::string bare = old.jid().bareStr();
  Shard& shard = shardFor(bare);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(bare);
  if (it == shard.accounts.end()) return false;
  for (auto& r : it->second.resources) {
    if (r.session.get() == &old) {
      r.session = now;
      return true;
    }
  }
  return false;
}

std::vector<Resource> SessionManager::resources(const xmpp::Jid& bare) const {
  const std::string key = bare.bareStr();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(key);
  if (it == shard.accounts.end()) return {};
  return it->second.resources;
}

// Per delivery (a room's fan-out looks up every occupant): the key is built in a per-thread buffer, so
// no allocation once it has grown.
template <class Fn>
auto SessionManager::withResource(const xmpp::Jid& full, Fn&& fn) const {
  thread_local std::string key;
  key.clear();
  if (!full.local().empty()) {
    key += full.local();
    key += '@';
  }
  key += full.domain();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  const Resource* found = nullptr;
  if (auto it = shard.accounts.find(key); it != shard.accounts.end())
    for (const auto& r : it->second.resources)
      if (r.session->jid().resource() == full.resource()) {
        found = &r;
        break;
      }
  return fn(found);
}

std::optional<Resource> SessionManager::resource(const xmpp::Jid& full) const {
  return withResource(full, [](const Resource* r) { return r ? std::optional<Resource>(*r) : std::nullopt; });
}

// One reference taken, not a copy of the whole Resource.
SessionPtr SessionManager::find(const xmpp::Jid& full) const {
  return withResource(full, [](const Resource* r) { return r ? r->session : nullptr; });
}

bool SessionManager::hasSessions(const xmpp::Jid& bare) const {
  const std::string key = bare.bareStr();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  return shard.accounts.count(key) > 0;
}

void SessionManager::setPresence(const Session& session, bool available, int priority,
                                 xml::ElementPtr presence) {
  const std::string key = session.jid().bareStr();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(key);
  if (it == shard.accounts.end()) return;
  for (auto& r : it->second.resources) {
    if (r.session.get() != &session) continue;
    r.available = available;
    r.priority = priority;
    r.presence = available ? std::move(presence) : nullptr;
  }
}

void SessionManager::setInterested(const Session& session, bool interested) {
  const std::string key = session.jid().bareStr();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(key);
  if (it == shard.accounts.end()) return;
  for (auto& r : it->second.resources)
    if (r.session.get() == &session) r.interested = interested;
}

roster::RosterPtr SessionManager::roster(const xmpp::Jid& bare) const {
  const std::string key = bare.bareStr();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(key);
  return it == shard.accounts.end() ? nullptr : it->second.roster;
}

void SessionManager::setRoster(const xmpp::Jid& bare, roster::RosterPtr roster) {
  const std::string key = bare.bareStr();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(key);
  if (it != shard.accounts.end()) it->second.roster = std::move(roster);
}

roster::RosterPtr SessionManager::setRosterIfAbsent(const xmpp::Jid& bare, roster::RosterPtr roster) {
  const std::string key = bare.bareStr();
  Shard& shard = shardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.accounts.find(key);
  if (it == shard.accounts.end()) return roster;
  if (!it->second.roster) it->second.roster = std::move(roster);
  return it->second.roster;
}

std::size_t SessionManager::sessionCount() const {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto& [k, a] : s.accounts) n += a.resources.size();
  }
  return n;
}

std::vector<SessionPtr> SessionManager::allSessions() const {
  std::vector<SessionPtr> out;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto& [k, a] : s.accounts)
      for (auto& r : a.resources) out.push_back(r.session);
  }
  return out;
}

std::vector<std::string> SessionManager::onlineAccounts(std::string_view domain) const {
  std::vector<std::string> out;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mu);
    for (auto& [k, a] : s.accounts) {
      auto at = k.find('@');
      if (at != std::string::npos && std::string_view(k).substr(at + 1) == domain) out.push_back(k);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace parley::session
