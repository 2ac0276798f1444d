// DESIGN: the directory of bound sessions, by account. Sharded by bare JID (one mutex per shard, held
// only for map operations, never across I/O); readers get snapshots (vectors of shared pointers)
// and then work without locks. Per account it also holds what every resource shares: the roster
// snapshot and each resource's availability, priority and last presence (RFC 6121 §4, §8.5).
// In a cluster this is the piece that becomes a shared directory; routing finds sessions only here.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/roster/roster.h"
#include "server/session/session.h"
#include "server/xml/element.h"
#include "server/xmpp/jid.h"

namespace parley::session {

enum class ConflictPolicy { KickOld, RefuseNew };

struct Resource {
  SessionPtr session;
  int priority = 0;
  bool available = false;    // sent available presence and not unavailable since (RFC 6121 §4.2)
  bool interested = false;   // requested the roster (RFC 6121 §2.1.6)
  xml::ElementPtr presence;  // last available presence broadcast, for probes
};

class SessionManager {
 public:
  enum class BindOutcome { Ok, Conflict, TooManyResources };
  struct BindResult {
    BindOutcome outcome = BindOutcome::Ok;
    SessionPtr replaced;  // the session that held the resource (KickOld): the caller closes it
  };

  // Registers the session under `full` (its jid() must already be `full`).
  BindResult bind(const SessionPtr& session, ConflictPolicy policy, std::size_t maxResources);
  // Removes the session if it is registered. Returns true if the account has no session left.
  bool unbind(const Session& session);
  // Puts `now` in the place of `old` (same full JID), keeping availability, priority and presence
  // (XEP-0198 resumption). False if `old` is no longer registered.
  bool replace(const Session& old, const SessionPtr& now);

  std::vector<Resource> resources(const xmpp::Jid& bare) const;
  std::optional<Resource> resource(const xmpp::Jid& full) const;
  SessionPtr find(const xmpp::Jid& full) const;
  bool hasSessions(const xmpp::Jid& bare) const;

  void setPresence(const Session& session, bool available, int priority, xml::ElementPtr presence);
  void setInterested(const Session& session, bool interested);

  roster::RosterPtr roster(const xmpp::Jid& bare) const;
  // Installs a new snapshot if the account is online (otherwise there is nothing to cache).
  void setRoster(const xmpp::Jid& bare, roster::RosterPtr roster);
  // Installs `roster` only if none is cached yet; returns the cached one.
  roster::RosterPtr setRosterIfAbsent(const xmpp::Jid& bare, roster::RosterPtr roster);

  std::size_t sessionCount() const;
  std::vector<SessionPtr> allSessions() const;
  std::vector<std::string> onlineAccounts(std::string_view domain) const;  // bare JIDs

 private:
  struct Account {
    std::vector<Resource> resources;
    roster::RosterPtr roster;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Account> accounts;  // by bare JID
  };
  static constexpr std::size_t kShards = 64;
  Shard& shardFor(const std::string& bare) const;
  // Runs fn(const Resource* or null) for `full` under its shard's lock.
  template <class Fn>
  auto withResource(const xmpp::Jid& full, Fn&& fn) const;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace parley::session
