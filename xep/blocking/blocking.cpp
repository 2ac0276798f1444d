// XEP-0191 blocking command: an account keeps a list of JIDs (accounts, resources or whole domains) it
// exchanges nothing with.
//
// DESIGN: the list is stored in UserDataStore store "blocklist", one row per normalised JID (value
// unused). While an account is online its list is cached in memory (loaded in the roster job of the
// first resource's bind, AccountBinding, so it is in place before the session can receive anything;
// dropped when the last one closes) so the stanza hooks filter without storage.
// Every change runs on the pool under the account's key and installs the new list in the cache from
// that same job, so the cache always follows the order of the writes.
// Filtering (§3.5, §3.6), both on the session's executor:
//   StanzaToClient    from a JID the recipient blocked: message and IQ get/set bounce with
//                     <service-unavailable/>, anything else is dropped silently. Also: presence from a
//                     local account that blocked the recipient is dropped (presence broadcasts and probe
//                     answers are routed by the core, not through StanzaFromClient), except the
//                     unavailable presence that tells a newly blocked contact the user went away.
//   StanzaFromClient  to a JID the sender blocked: message and IQ get/set get <not-acceptable/> with
//                     <blocked xmlns='urn:xmpp:blocking:errors'/>, anything else is dropped.
#include <array>
#include <atomic>
#include <mutex>
#include <set>
#include <unordered_map>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/presence/presence_service.h"
#include "server/xml/namespaces.h"
#include "storage/user_data_store.h"
#include "xep/blocking/block_list_store.h"

namespace parley::xep::blocking {

namespace {

using xmpp::Jid;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

constexpr std::string_view kStore = kBlockListStore;
const std::string kNs(xml::ns::kBlocking);

using BlockListPtr = std::shared_ptr<const BlockList>;

// The error this module sends to the user itself (addressed from the blocked JID) must not be filtered
// by the user's own block list on the way out. Such replies are delivered synchronously on the
// session's executor, so a thread-local marker is exact.
thread_local const xmpp::Stanza* tUnfiltered = nullptr;

struct Change {
  std::vector<std::string> changed;  // items that were added (block) or removed (unblock)
  bool full = false;                 // block: the list would exceed max_items
};

class BlockingModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    maxItems_ = section.getInt("max_items", 1000, 1, 1000000);
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    ctx.feature(module::DiscoScope::Server, kNs);
    ctx.iq(router::IqScope::Account, "get", kNs, "blocklist",
           [this](const router::IqRequest& r) { getList(r); });
    ctx.iq(router::IqScope::Account, "set", kNs, "block",
           [this](const router::IqRequest& r) { change(r, true); });
    ctx.iq(router::IqScope::Account, "set", kNs, "unblock",
           [this](const router::IqRequest& r) { change(r, false); });
    ctx.hook<hooks::AccountBinding>([this](hooks::AccountBinding::Context& c) {
      try {
        binding(c.account);
      } catch (const std::exception& e) {
        // Fails the bind: the session must not go online unfiltered.
        log::error("blocking.load.failed", "user={} error=\"{}\"", c.account.bareStr(), e.what());
        c.failed = true;
      }
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionClosed>([this](hooks::SessionClosed::Context& c) {
      closed(c.session, c.lastResource);
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionResumed>([this](hooks::SessionResumed::Context& c) {
      resumed(c.session, c.previousId);
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::AccountRemoved>([this](hooks::AccountRemoved::Context& c) {
      std::lock_guard lock(mu_);
      if (auto it = accounts_.find(c.user.bareStr()); it != accounts_.end()) erase(it);
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::StanzaToClient>([this](hooks::StanzaToClient::Context& c) { return inbound(c); },
                                    hooks::priority::kFirst);
    ctx.hook<hooks::StanzaFromClient>([this](hooks::StanzaFromClient::Context& c) { return outbound(c); },
                                      hooks::priority::kFirst);
    // §3.5: a blocked entity cannot query the account through the server either (vCard, last activity,
    // disco). Checked against the cached list, i.e. while the account is online.
    ctx.hook<hooks::IqForAccount>(
        [this](hooks::IqForAccount::Context& c) {
          if (noneBlocking() || exempt(c.account, c.stanza->from())) return hooks::Action::Continue;
          auto list = cached(c.account.bareStr());
          if (!list || !matches(*list, c.stanza->from())) return hooks::Action::Continue;
          server_->router().bounce(*c.stanza, StanzaError::ServiceUnavailable);
          return hooks::Action::Stop;
        },
        hooks::priority::kFirst);
  }

 private:
  struct Account {
    BlockListPtr list = std::make_shared<const BlockList>();
    std::set<std::uint64_t> interested;  // sessions that retrieved the list get pushes (§3.3)
  };

  // --- Cache ----------------------------------------------------------------------------------------

  BlockListPtr cached(const std::string& bare) const {
    std::lock_guard lock(mu_);
    auto it = accounts_.find(bare);
    return it == accounts_.end() ? nullptr : it->second.list;
  }

  // Pool thread: installs the stored list if the account is still cached.
  void install(const std::string& bare, BlockList list) {
    auto ptr = std::make_shared<const BlockList>(std::move(list));
    std::lock_guard lock(mu_);
    if (auto it = accounts_.find(bare); it != accounts_.end()) setList(it->second, std::move(ptr));
  }

  // No online account blocks anyone: the filters have nothing to look up (the usual case on most
  // servers, and then each delivery skips a locked lookup). Read without mu_: a stanza racing a
  // block command may pass, as it may with the lock (it could have been routed a moment earlier).
  bool noneBlocking() const { return blocking_.load(std::memory_order_acquire) == 0; }
  // Under mu_: every change of a cached list goes through here or erase(), which keep blocking_.
  void setList(Account& a, BlockListPtr list) {
    const bool before = !a.list->empty(), after = !list->empty();
    a.list = std::move(list);
    if (before != after) blocking_.fetch_add(after ? 1 : -1, std::memory_order_release);
  }
  void erase(std::unordered_map<std::string, Account>::iterator it) {
    if (!it->second.list->empty()) blocking_.fetch_sub(1, std::memory_order_release);
    accounts_.erase(it);
  }

  BlockList load(const Jid& user) { return BlockListStore(server_->db()).load(user); }

  // Pool thread, in the bind's roster job: the list is cached before the session can receive anything.
  void binding(const Jid& user) {
    const std::string bare = user.bareStr();
    {
      std::lock_guard lock(mu_);
      if (accounts_.contains(bare)) return;  // another session is online: the cache is current
    }
    auto list = std::make_shared<const BlockList>(load(user));
    std::lock_guard lock(mu_);
    if (auto [it, added] = accounts_.try_emplace(bare); added) setList(it->second, std::move(list));
  }

  // XEP-0198: the same resource continues under a new session id.
  void resumed(session::Session& session, std::uint64_t previousId) {
    std::lock_guard lock(mu_);
    auto it = accounts_.find(session.jid().bare().bareStr());
    if (it != accounts_.end() && it->second.interested.erase(previousId))
      it->second.interested.insert(session.id());
  }

  void closed(session::Session& session, bool last) {
    const auto user = session.jid().bare();
    std::lock_guard lock(mu_);
    auto it = accounts_.find(user.bareStr());
    if (it == accounts_.end()) return;
    // A session binding on another thread registered before its AccountBinding job, which takes mu_:
    // checked under mu_, it either sees this erase or is seen here.
    if (last && !server_->sessions().hasSessions(user))
      erase(it);
    else
      it->second.interested.erase(session.id());
  }

  // --- Filtering ------------------------------------------------------------------------------------

  // Stanzas between the user's own resources and from the server itself are never filtered.
  bool exempt(const Jid& user, const Jid& other) const {
    return other.empty() || other.bare() == user ||
           (other.isDomain() && server_->router().isLocalDomain(other.domain()));
  }

  hooks::Action inbound(hooks::StanzaToClient::Context& c) {
    const StanzaPtr& stanza = c.stanza;
    if (stanza.get() == tUnfiltered || noneBlocking()) return hooks::Action::Continue;
    const Jid user = c.session.jid().bare();
    const Jid& from = stanza->from();
    if (exempt(user, from)) return hooks::Action::Continue;
    if (auto list = cached(user.bareStr()); list && matches(*list, from)) {
      // §3.5: the user appears offline to the blocked entity.
      const auto type = stanza->type();
      const bool request = stanza->isIq() ? (type == "get" || type == "set") : stanza->isMessage();
      if (request && !stanza->isError() && firstSighting(stanza))
        server_->router().bounce(*stanza, StanzaError::ServiceUnavailable);
      return hooks::Action::Stop;
    }
    // §3.3: nothing of the user's presence reaches a contact they blocked.
    if (stanza->isPresence() && stanza->type() != "unavailable" && !from.local().empty() &&
        server_->router().isLocalDomain(from.domain())) {
      if (auto theirs = cached(from.bareStr()); theirs && matches(*theirs, c.session.jid()))
        return hooks::Action::Stop;
    }
    return hooks::Action::Continue;
  }

  hooks::Action outbound(hooks::StanzaFromClient::Context& c) {
    if (noneBlocking()) return hooks::Action::Continue;
    const StanzaPtr& stanza = c.stanza;
    const Jid user = c.session.jid().bare();
    const Jid& to = stanza->to();
    if (exempt(user, to)) return hooks::Action::Continue;
    auto list = cached(user.bareStr());
    if (!list || !matches(*list, to)) return hooks::Action::Continue;
    // §3.6: the user is told why; presence and replies are just not sent.
    const auto type = stanza->type();
    const bool request = stanza->isIq() ? (type == "get" || type == "set") : stanza->isMessage();
    if (request && !stanza->isError()) {
      auto reply = xmpp::makeErrorReply(*stanza, StanzaError::NotAcceptable, {},
                                        xml::make("blocked", std::string(xml::ns::kBlockingErrors)));
      deliverUnfiltered(c.session, reply);
    }
    return hooks::Action::Stop;
  }

  static void deliverUnfiltered(session::Session& session, const StanzaPtr& stanza) {
    const auto* previous = tUnfiltered;
    tUnfiltered = stanza.get();
    session.deliver(stanza);
    tUnfiltered = previous;
  }

  // A message to a bare JID is delivered to every resource at the top priority as the same shared
  // stanza: bounce it once, not once per resource.
  bool firstSighting(const StanzaPtr& stanza) {
    std::lock_guard lock(bouncedMu_);
    for (const auto& w : bounced_)
      if (auto s = w.lock(); s && s == stanza) return false;
    bounced_[nextBounced_++ % bounced_.size()] = stanza;
    return true;
  }

  // --- IQ handlers ----------------------------------------------------------------------------------

  void getList(const router::IqRequest& req) {
    if (!req.fromSelf()) {
      req.error(StanzaError::Forbidden);
      return;
    }
    const auto user = req.target;
    if (req.session) {
      std::lock_guard lock(mu_);
      if (auto it = accounts_.find(user.bareStr()); it != accounts_.end())
        it->second.interested.insert(req.session->id());
    }
    // Read through the pool (after any change still queued for this account), not from the cache.
    runtime::offload(
        server_->pool(), runtime::Executor::current(), user.bareStr(), [this, user] { return load(user); },
        [req](runtime::Outcome<BlockList> out) {
          if (!out.ok()) {
            log::warn("blocking.get.failed", "user={} error=\"{}\"", req.target.bareStr(), out.error);
            req.error(StanzaError::InternalServerError);
            return;
          }
          auto q = xml::make("blocklist", kNs);  // §3.2
          for (const auto& jid : *out.value) q->addChild(item(jid));
          req.result(q);
        });
  }

  void change(const router::IqRequest& req, bool block) {
    if (!req.fromSelf()) {
      req.error(StanzaError::Forbidden);
      return;
    }
    std::vector<std::string> jids;
    for (const auto& e : req.payload().childrenNamed("item", kNs)) {
      auto j = Jid::parse(e->attr("jid"));
      if (!j) {
        req.error(StanzaError::JidMalformed);  // §3.3
        return;
      }
      jids.push_back(j->str());
    }
    if (block && jids.empty()) {
      req.error(StanzaError::BadRequest, "nothing to block");  // §3.3
      return;
    }
    const auto user = req.target;
    const auto max = static_cast<std::size_t>(maxItems_);
    runtime::offload(
        server_->pool(), runtime::Executor::current(), user.bareStr(),
        [this, user, jids, block, max] {
          storage::UserDataStore store(server_->db());
          BlockList list = load(user);
          Change ch;
          if (block) {
            for (const auto& j : jids)
              if (!list.count(j)) ch.changed.push_back(j);
            if (list.size() + ch.changed.size() > max) {
              ch.full = true;
              ch.changed.clear();
              return ch;
            }
            for (const auto& j : ch.changed) {
              store.set(user.domain(), user.local(), kStore, j, "");
              list.insert(j);
            }
          } else if (jids.empty()) {
            ch.changed.assign(list.begin(), list.end());  // §3.5: unblock all
            store.clear(user.domain(), user.local(), kStore);
            list.clear();
          } else {
            for (const auto& j : jids)
              if (list.erase(j)) {
                store.remove(user.domain(), user.local(), kStore, j);
                ch.changed.push_back(j);
              }
          }
          install(user.bareStr(), std::move(list));
          return ch;
        },
        [this, req, user, jids, block](runtime::Outcome<Change> out) {
          if (!out.ok()) {
            log::warn("blocking.change.failed", "user={} error=\"{}\"", user.bareStr(), out.error);
            req.error(StanzaError::InternalServerError);
            return;
          }
          if (out.value->full) {
            req.error(StanzaError::NotAcceptable, "the block list is full");
            return;
          }
          req.result();
          announce(user, out.value->changed, block);
          push(user, jids, block);
        });
  }

  // §3.3: a newly blocked contact that could see the user's presence gets unavailable presence;
  // §3.4: an unblocked one gets the current presence.
  void announce(const Jid& user, const std::vector<std::string>& changed, bool block) {
    if (changed.empty()) return;
    auto roster = server_->sessions().roster(user);
    if (!roster) return;
    BlockList items(changed.begin(), changed.end());
    auto& presence = server_->presence();
    for (const auto& [contact, entry] : roster->items) {
      if (!roster->contactSubscribedToUs(contact)) continue;
      auto c = Jid::parse(contact);
      if (!c) continue;
      std::vector<Jid> targets;
      if (matches(items, *c)) targets.push_back(*c);
      // A blocked resource of a contact: only that resource.
      for (const auto& i : items)
        if (auto j = Jid::parse(i); j && j->isFull() && j->bare() == *c && !matches(items, *c))
          targets.push_back(*j);
      for (const auto& t : targets) {
        if (block)
          presence.sendUnavailable(user, t);
        else
          presence.sendCurrentPresence(user, t);
      }
    }
  }

  // §3.3, §3.4: the change is pushed to every resource that retrieved the block list.
  void push(const Jid& user, const std::vector<std::string>& jids, bool block) {
    std::set<std::uint64_t> interested;
    {
      std::lock_guard lock(mu_);
      if (auto it = accounts_.find(user.bareStr()); it != accounts_.end()) interested = it->second.interested;
    }
    if (interested.empty()) return;
    auto payload = xml::make(block ? "block" : "unblock", kNs);
    for (const auto& j : jids) payload->addChild(item(j));
    for (const auto& r : server_->sessions().resources(user)) {
      if (!interested.count(r.session->id())) continue;
      auto iq = xml::make("iq", std::string(xml::ns::kClient));
      iq->setAttr("type", "set");
      iq->setAttr("id", "block-push-" + std::to_string(nextPush_.fetch_add(1) + 1));
      iq->addChild(payload);
      r.session->deliver(xmpp::Stanza::make(std::move(iq), user, r.session->jid()));
    }
  }

  static xml::ElementPtr item(const std::string& jid) {
    auto i = xml::make("item", kNs);
    i->setAttr("jid", jid);
    return i;
  }

  core::Server* server_ = nullptr;
  std::int64_t maxItems_ = 1000;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Account> accounts_;  // online accounts, by bare JID
  std::atomic<long> blocking_{0};                      // of them, those whose list is not empty
  std::mutex bouncedMu_;
  std::array<std::weak_ptr<const xmpp::Stanza>, 64> bounced_;
  std::size_t nextBounced_ = 0;
  std::atomic<std::uint64_t> nextPush_{0};
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"blocking", "XEP-0191 blocking command", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new BlockingModule);
                                 }};

}  // namespace parley::xep::blocking
