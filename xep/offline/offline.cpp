// XEP-0160 offline messages: a chat or normal message for an account with no available resource is
// stored (with a XEP-0203 <delay/>) and delivered to the first resource that sends available presence
// with a non-negative priority (initial presence, or a later one raising a negative priority). A message is
// deleted only after it was handed to a session; if that session dies first, the session hands it back to
// routing, which stores it again — it is never lost.
//
// DESIGN: which accounts have stored messages is kept in memory (loaded at start, before the listeners
// open), so the initial presence of an account with none (nearly every login) costs no storage round
// trip. Only the pool jobs that change or read offline storage update it, under the account's pool key,
// so it follows the order of the writes. This assumes one server per database, as everything in
// memory does.
#include <mutex>
#include <unordered_set>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/util/time.h"
#include "server/xml/parse_fragment.h"
#include "storage/account_store.h"
#include "xep/offline/offline_store.h"

namespace parley::xep::offline {

namespace {

constexpr std::int64_t kBatch = 200;

// XEP-0160 §3 and XEP-0334: what is not worth keeping.
bool shouldStore(const xml::Element& m) {
  if (m.child("no-store", "urn:xmpp:hints") || m.child("no-permanent-store", "urn:xmpp:hints")) return false;
  if (m.child("store", "urn:xmpp:hints")) return true;
  if (m.child("body", "jabber:client") || m.child("subject", "jabber:client")) return true;
  // Chat states and receipts alone (XEP-0085, XEP-0184) only matter live.
  for (const auto& c : m.children()) {
    const auto& ns = c->xmlns();
    if (ns == "http://jabber.org/protocol/chatstates" || ns == "urn:xmpp:receipts" ||
        ns == "urn:xmpp:chat-markers:0" || ns == "jabber:client")
      continue;
    return true;  // anything else (e.g. encrypted payloads, invitations) is content
  }
  return false;
}

enum class StoreResult { Stored, NoSuchUser, Full };

class OfflineModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    maxPerUser_ = section.getInt("max_per_user", 1000, 1, 1000000);
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    loadWaiting();
    ctx.hook<hooks::AccountRemoved>([this](hooks::AccountRemoved::Context& c) {
      setWaiting(c.user.bareStr(), false);  // its rows went with the account
      return hooks::Action::Continue;
    });
    ctx.feature(module::DiscoScope::Server, "msgoffline");
    ctx.hook<hooks::UndeliverableMessage>([this](auto& c) { return store(c); }, hooks::priority::kLast);
    ctx.hook<hooks::UserAvailable>([this](hooks::UserAvailable::Context& c) {
      if (takesMessages(c)) deliver(c.session.shared_from_this());
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionClosed>([this](hooks::SessionClosed::Context& c) {
      std::lock_guard lock(negativeMu_);
      negative_.erase(c.session.id());
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionResumed>([this](hooks::SessionResumed::Context& c) {
      std::lock_guard lock(negativeMu_);
      if (negative_.erase(c.previousId)) negative_.insert(c.session.id());
      return hooks::Action::Continue;
    });
  }

 private:
  // XEP-0160 §2: the messages go to the resource that next sends available presence with non-negative
  // priority: its initial presence, or a later one that raises a negative priority (a resource that
  // started at -1 has had nothing so far).
  bool takesMessages(const hooks::UserAvailable::Context& c) {
    std::lock_guard lock(negativeMu_);
    if (c.priority < 0) {
      negative_.insert(c.session.id());
      return false;
    }
    const bool wasNegative = negative_.erase(c.session.id()) > 0;
    return c.initial || wasNegative;
  }

  hooks::Action store(hooks::UndeliverableMessage::Context& c) {
    if (!shouldStore(c.stanza->element())) return hooks::Action::Stop;  // dropped on purpose, no error
    auto& server = *server_;
    const auto user = c.user;
    const std::int64_t now = util::unixNow();
    // XEP-0203: when the server received it.
    auto e = c.stanza->element().clone();
    auto delay = xml::make("delay", "urn:xmpp:delay");
    delay->setAttr("from", user.domain());
    delay->setAttr("stamp", util::iso8601(now));
    e->addChild(delay);
    auto stored = xmpp::Stanza::make(std::move(e), c.stanza->from(), c.stanza->to());
    const std::int64_t max = maxPerUser_;
    auto original = c.stanza;
    runtime::offload(
        server.pool(), runtime::Executor::current(), user.bareStr(),
        [this, &server, user, now, stored, max]() {
          if (!storage::AccountStore(server.db()).exists(user.domain(), user.local()))
            return StoreResult::NoSuchUser;
          OfflineStore store(server.db());
          const bool pushed = store.push(user.domain(), user.local(), now, stored->serialized(), max);
          setWaiting(user.bareStr(), true);  // stored now, or full
          return pushed ? StoreResult::Stored : StoreResult::Full;
        },
        [this, user, original](runtime::Outcome<StoreResult> out) {
          if (!out.ok()) {
            log::error("offline.store.failed", "user={} error=\"{}\"", user.bareStr(), out.error);
            server_->router().bounce(*original, xmpp::StanzaError::InternalServerError);
            return;
          }
          switch (*out.value) {
            case StoreResult::NoSuchUser:
              server_->router().bounce(*original, xmpp::StanzaError::ServiceUnavailable);  // RFC 6121 §8.5.1
              return;
            case StoreResult::Full:
              server_->router().bounce(*original, xmpp::StanzaError::ResourceConstraint,
                                       "offline storage is full");
              return;
            case StoreResult::Stored:
              // The account may have come online while we were writing.
              for (const auto& r : server_->sessions().resources(user))
                if (r.available && r.priority >= 0) {
                  deliver(r.session);
                  break;
                }
              return;
          }
        });
    return hooks::Action::Stop;
  }

  void deliver(session::SessionPtr session) {
    auto& server = *server_;
    const auto user = session->jid().bare();
    if (!waiting(user.bareStr())) return;
    runtime::offload(
        server.pool(), session->executor(), user.bareStr(),
        [this, &server, user] {
          auto messages = OfflineStore(server.db()).fetch(user.domain(), user.local(), kBatch);
          if (messages.empty()) setWaiting(user.bareStr(), false);
          return messages;
        },
        [this, session, user](runtime::Outcome<std::vector<StoredMessage>> out) {
          if (!out.ok()) {
            log::error("offline.fetch.failed", "user={} error=\"{}\"", user.bareStr(), out.error);
            return;
          }
          if (out.value->empty()) return;
          std::vector<std::int64_t> ids;
          for (const auto& m : *out.value) {
            ids.push_back(m.id);
            auto e = xml::parseElement(m.xml);
            auto s = e ? xmpp::Stanza::make(e) : nullptr;
            if (!s) {
              log::warn("offline.corrupt", "user={} id={}", user.bareStr(), m.id);
              continue;
            }
            session->deliver(s->withTo(session->jid()));
          }
          const bool more = out.value->size() == static_cast<std::size_t>(kBatch);
          auto& srv = *server_;
          runtime::offload(
              srv.pool(), session->executor(), user.bareStr(),
              [this, &srv, user, ids] {
                OfflineStore store(srv.db());
                store.remove(user.domain(), user.local(), ids);
                if (store.count(user.domain(), user.local()) == 0) setWaiting(user.bareStr(), false);
              },
              [this, session, more](runtime::Outcome<bool> done) {
                if (done.ok() && more) deliver(session);
              });
        });
  }

  // Start, before the listeners open: the accounts that have messages waiting.
  void loadWaiting() {
    auto accounts = runtime::runAtStart(server_->pool(), "offline", [&db = server_->db()] {
      return OfflineStore(db).accountsWithMessages();
    });
    std::lock_guard lock(waitingMu_);
    waiting_.insert(accounts.begin(), accounts.end());
  }
  bool waiting(const std::string& bare) {
    std::lock_guard lock(waitingMu_);
    return waiting_.count(bare) > 0;
  }
  void setWaiting(const std::string& bare, bool yes) {
    std::lock_guard lock(waitingMu_);
    if (yes)
      waiting_.insert(bare);
    else
      waiting_.erase(bare);
  }

  core::Server* server_ = nullptr;
  std::int64_t maxPerUser_ = 1000;
  // Accounts with stored messages (see DESIGN); changed only by pool jobs under the account's key.
  std::mutex waitingMu_;
  std::unordered_set<std::string> waiting_;
  // Sessions whose last available presence had a negative priority (hooks run on many executors).
  std::mutex negativeMu_;
  std::unordered_set<std::uint64_t> negative_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"offline", "XEP-0160 offline message storage", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new OfflineModule);
                                 }};

}  // namespace parley::xep::offline
