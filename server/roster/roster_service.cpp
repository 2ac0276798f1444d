#include "server/roster/roster_service.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/presence/presence_service.h"
#include "server/util/crypto.h"
#include "server/xml/parse_fragment.h"
#include "storage/account_store.h"
#include "storage/roster_store.h"

namespace parley::roster {

using storage::RosterItem;
using storage::Subscription;
using xmpp::Jid;
using xmpp::StanzaError;
using xmpp::StanzaPtr;

namespace {

constexpr std::string_view kRosterNs = "jabber:iq:roster";

bool hasTo(Subscription s) {
  return s == Subscription::To || s == Subscription::Both;
}
bool hasFrom(Subscription s) {
  return s == Subscription::From || s == Subscription::Both;
}
Subscription withTo(Subscription s, bool on) {
  bool from = hasFrom(s);
  return on ? (from ? Subscription::Both : Subscription::To)
            : (from ? Subscription::From : Subscription::None);
}
Subscription withFrom(Subscription s, bool on) {
  bool to = hasTo(s);
  return on ? (to ? Subscription::Both : Subscription::From) : (to ? Subscription::To : Subscription::None);
}

// An item nobody can see and nothing depends on is deleted rather than kept.
bool isEmpty(const RosterItem& i) {
  return !i.visible && !i.pendingIn && !i.askOut && !i.approved && i.subscription == Subscription::None;
}

xml::ElementPtr itemElement(const RosterItem& i, bool remove = false) {
  auto e = xml::make("item", std::string(kRosterNs));
  e->setAttr("jid", i.contact);
  if (remove) {
    e->setAttr("subscription", "remove");
    return e;
  }
  if (!i.name.empty()) e->setAttr("name", i.name);
  e->setAttr("subscription", storage::subscriptionName(i.subscription));
  if (i.askOut) e->setAttr("ask", "subscribe");
  if (i.approved) e->setAttr("approved", "true");
  for (const auto& g : i.groups) e->addTextChild("group", kRosterNs, g);
  return e;
}

StanzaPtr presenceOf(const Jid& from, const Jid& to, std::string_view type) {
  auto e = xml::make("presence", "jabber:client");
  e->setAttr("type", type);
  return xmpp::Stanza::make(std::move(e), from, to);
}

}  // namespace

// What a committed change asks the network side to do.
struct RosterService::Change {
  std::uint64_t version = 0;
  std::optional<RosterItem> push;  // visible item to push
  bool pushRemove = false;
  std::string contact;
  std::vector<StanzaPtr> route;  // presences to route
  bool deliverToUser = false;    // deliver the inbound subscription stanza to the user's resources
  bool sendCurrentPresence = false;
  bool sendUnavailable = false;
  std::optional<StanzaError> error;  // for roster sets
};

struct RosterService::Impl {
  router::IqHandle get, set;
};

RosterService::RosterService(core::Server& server) : impl_(std::make_unique<Impl>()), server_(server) {}
RosterService::~RosterService() = default;

void RosterService::start() {
  auto& iq = server_.iqRouter();
  impl_->get =
      iq.add(router::IqScope::Account, "get", kRosterNs, "query", [this](const auto& r) { handleGet(r); });
  impl_->set =
      iq.add(router::IqScope::Account, "set", kRosterNs, "query", [this](const auto& r) { handleSet(r); });
}

void RosterService::stop() {
  impl_->get.reset();
  impl_->set.reset();
}

// Runs on the blocking pool: writes the item (or deletes it) and installs the new snapshot.
static std::uint64_t commit(core::Server& server, const Jid& user, const RosterItem& item, bool remove) {
  storage::RosterStore store(server.db());
  std::uint64_t version;
  if (remove || isEmpty(item))
    version = store.remove(user.domain(), user.local(), item.contact);
  else
    version = store.put(user.domain(), user.local(), item);
  if (auto current = server.sessions().roster(user)) {
    auto next = std::make_shared<RosterSnapshot>(*current);
    if (remove || isEmpty(item))
      next->items.erase(item.contact);
    else
      next->items[item.contact] = item;
    next->version = version;
    server.sessions().setRoster(user, std::move(next));
  }
  return version;
}

void RosterService::loadForSession(const Jid& bare, runtime::Executor exec, std::function<void(bool)> done) {
  auto& server = server_;
  runtime::offload(
      server_.pool(), exec, bare.bareStr(),
      [&server, bare]() {
        hooks::AccountBinding::Context ctx{bare};
        server.hooks().run<hooks::AccountBinding>(ctx);
        if (ctx.failed) throw std::runtime_error("a module could not load the account's state");
        if (server.sessions().roster(bare)) return true;
        storage::RosterStore store(server.db());
        auto snapshot = std::make_shared<RosterSnapshot>();
        for (auto& item : store.load(bare.domain(), bare.local()))
          snapshot->items[item.contact] = std::move(item);
        snapshot->version = store.version(bare.domain(), bare.local());
        server.sessions().setRosterIfAbsent(bare, std::move(snapshot));
        return true;
      },
      [done = std::move(done)](runtime::Outcome<bool> out) {
        if (!out.ok()) log::error("roster.load.failed", "error=\"{}\"", out.error);
        done(out.ok());
      });
}

// --- IQ: roster get/set (RFC 6121 §2) -------------------------------------------------------------

void RosterService::handleGet(const router::IqRequest& req) {
  if (!req.fromSelf()) {
    req.error(StanzaError::Forbidden);  // RFC 6121 §2.1.5: only the user reads the roster
    return;
  }
  if (req.session) server_.sessions().setInterested(*req.session, true);
  auto roster = server_.sessions().roster(req.target);
  if (!roster) {
    req.error(StanzaError::InternalServerError, "roster not loaded");
    return;
  }
  const std::string ver = std::to_string(roster->version);
  // XEP-0237: a client holding the current version gets an empty result.
  if (auto v = req.payload().findAttr("ver"); v && *v == ver) {
    req.result();
    return;
  }
  auto query = xml::make("query", std::string(kRosterNs));
  query->setAttr("ver", ver);
  std::vector<const RosterItem*> items;
  for (const auto& [c, item] : roster->items)
    if (item.visible) items.push_back(&item);
  std::sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->contact < b->contact; });
  query->reserveNodes(items.size());
  for (const auto* item : items) query->addChild(itemElement(*item));
  req.result(query);
}

void RosterService::handleSet(const router::IqRequest& req) {
  if (!req.fromSelf()) {
    req.error(StanzaError::Forbidden);
    return;
  }
  const auto& query = req.payload();
  auto items = query.childrenNamed("item", kRosterNs);
  if (items.size() != 1 || query.childCount() != 1) {
    req.error(StanzaError::BadRequest, "a roster set carries exactly one item");  // RFC 6121 §2.3.3
    return;
  }
  const xml::Element& in = *items.front();
  auto contact = Jid::parse(in.attr("jid"));
  if (!contact || contact->isFull()) {
    req.error(StanzaError::BadRequest, "the item needs a bare JID");
    return;
  }
  const Jid user = req.target;
  if (contact->bare() == user) {
    req.error(StanzaError::NotAllowed, "an account cannot be in its own roster");
    return;
  }
  const bool remove = in.attr("subscription") == "remove";
  RosterItem update;
  update.contact = contact->bareStr();
  update.name = std::string(in.attr("name"));
  if (update.name.size() > kMaxNameBytes) {
    req.error(StanzaError::NotAcceptable, "name too long");
    return;
  }
  std::set<std::string> seen;
  for (const auto& g : in.childrenNamed("group", kRosterNs)) {
    std::string name = g->text();
    if (name.empty() || name.size() > kMaxNameBytes) {
      req.error(StanzaError::NotAcceptable, "empty or overlong group name");  // RFC 6121 §2.3.3
      return;
    }
    if (!seen.insert(name).second) {
      req.error(StanzaError::BadRequest, "duplicate group");
      return;
    }
    update.groups.push_back(std::move(name));
  }
  if (update.groups.size() > kMaxGroups) {
    req.error(StanzaError::NotAcceptable, "too many groups");
    return;
  }
  auto& server = server_;
  runtime::offload(
      server_.pool(), runtime::Executor::current(), user.bareStr(),
      [&server, user, update, remove, contact = *contact]() {
        RosterService::Change ch;
        ch.contact = update.contact;
        storage::RosterStore store(server.db());
        auto existing = store.get(user.domain(), user.local(), update.contact);
        if (remove) {
          if (!existing || !existing->visible) {
            ch.error = StanzaError::ItemNotFound;
            return ch;
          }
          // RFC 6121 §2.5.2: cancel both directions of the subscription.
          if (hasTo(existing->subscription) || existing->askOut)
            ch.route.push_back(presenceOf(user, contact, "unsubscribe"));
          if (hasFrom(existing->subscription) || existing->pendingIn) {
            ch.route.push_back(presenceOf(user, contact, "unsubscribed"));
            ch.sendUnavailable = hasFrom(existing->subscription);
          }
          ch.version = commit(server, user, *existing, true);
          ch.pushRemove = true;
          return ch;
        }
        RosterItem item = existing ? *existing : RosterItem{};
        if (!existing) {
          if (store.load(user.domain(), user.local()).size() >= kMaxItems) {
            ch.error = StanzaError::ResourceConstraint;
            return ch;
          }
          item.contact = update.contact;
        }
        item.name = update.name;
        item.groups = update.groups;
        item.visible = true;
        ch.version = commit(server, user, item, false);
        ch.push = item;
        return ch;
      },
      [this, req](runtime::Outcome<RosterService::Change> out) {
        if (!out.ok()) {
          log::error("roster.set.failed", "error=\"{}\"", out.error);
          req.error(StanzaError::InternalServerError);
          return;
        }
        Change& ch = *out.value;
        if (ch.error) {
          req.error(*ch.error);
          return;
        }
        req.result();
        pushAndRoute(req.target, ch);
      });
}

// After a commit: roster pushes to interested resources (RFC 6121 §2.1.6), then presences.
void RosterService::pushAndRoute(const Jid& user, const Change& ch) {
  log::debug("roster.changed", "user={} contact={} version={} routes={}", user.bareStr(), ch.contact,
             ch.version, ch.route.size());
  if (ch.push || ch.pushRemove) {
    auto query = xml::make("query", std::string(kRosterNs));
    query->setAttr("ver", std::to_string(ch.version));
    if (ch.pushRemove) {
      RosterItem r;
      r.contact = ch.contact;
      query->addChild(itemElement(r, true));
    } else {
      query->addChild(itemElement(*ch.push));
    }
    for (const auto& r : server_.sessions().resources(user)) {
      if (!r.interested) continue;
      auto iq = xml::make("iq", "jabber:client");
      iq->setAttr("type", "set");
      iq->setAttr("id", "push-" + util::randomToken(10));
      iq->addChild(query);
      r.session->deliver(xmpp::Stanza::make(std::move(iq), user, r.session->jid()));
    }
  }
  for (const auto& p : ch.route) server_.router().route(p);
  if (auto contact = Jid::parse(ch.contact)) {
    if (ch.sendCurrentPresence) server_.presence().sendCurrentPresence(user, *contact);
    if (ch.sendUnavailable) server_.presence().sendUnavailable(user, *contact);
  }
}

// --- Subscriptions (RFC 6121 §3) ------------------------------------------------------------------

void RosterService::outboundSubscription(session::Session& from, StanzaPtr stanza) {
  const Jid user = from.jid().bare();
  const Jid contact = stanza->to().bare();
  const std::string type(stanza->type());
  // RFC 6121 §3.1.2: the request leaves stamped with the bare JID.
  StanzaPtr out = stanza->withAddresses(user, contact);
  auto& server = server_;
  runtime::offload(
      server_.pool(), from.executor(), user.bareStr(),
      [&server, user, contact, type, out]() {
        RosterService::Change ch;
        ch.contact = contact.bareStr();
        storage::RosterStore store(server.db());
        auto existing = store.get(user.domain(), user.local(), ch.contact);
        RosterItem item = existing ? *existing : RosterItem{};
        if (!existing) {
          item.contact = ch.contact;
          item.visible = false;
        }
        const RosterItem before = item;
        if (type == "subscribe") {
          item.visible = true;  // RFC 6121 §3.1.2: the contact appears in the roster, pending
          if (!hasTo(item.subscription)) item.askOut = true;
          ch.route.push_back(out);
        } else if (type == "subscribed") {
          if (item.pendingIn) {
            item.subscription = withFrom(item.subscription, true);
            item.pendingIn = false;
            item.pendingInStanza.clear();
            item.visible = true;
            ch.route.push_back(out);
            ch.sendCurrentPresence = true;
          } else if (!hasFrom(item.subscription)) {
            item.approved = true;  // pre-approval (RFC 6121 §3.4): not routed
            item.visible = true;
          }
        } else if (type == "unsubscribe") {
          if (hasTo(item.subscription) || item.askOut) {
            item.subscription = withTo(item.subscription, false);
            item.askOut = false;
            ch.route.push_back(out);
          }
        } else if (type == "unsubscribed") {
          if (hasFrom(item.subscription)) {
            item.subscription = withFrom(item.subscription, false);
            ch.route.push_back(out);
            ch.sendUnavailable = true;
          } else if (item.pendingIn) {
            item.pendingIn = false;  // request denied
            item.pendingInStanza.clear();
            ch.route.push_back(out);
          } else if (item.approved) {
            item.approved = false;
          }
        }
        if (!(item == before) && !(isEmpty(item) && !existing)) {
          ch.version = commit(server, user, item, false);
          if (item.visible || before.visible) {
            if (item.visible)
              ch.push = item;
            else
              ch.pushRemove = true;
          }
        }
        return ch;
      },
      [this, user](runtime::Outcome<RosterService::Change> out) {
        if (!out.ok()) {
          log::error("roster.subscription.failed", "user={} error=\"{}\"", user.bareStr(), out.error);
          return;
        }
        pushAndRoute(user, *out.value);
      });
}

void RosterService::inboundSubscription(StanzaPtr stanza) {
  const Jid user = stanza->to().bare();
  const Jid contact = stanza->from().bare();
  const std::string type(stanza->type());
  auto& server = server_;
  auto exec = runtime::Executor::current();
  runtime::offload(
      server_.pool(), exec, user.bareStr(),
      [&server, user, contact, type, stanza]() {
        RosterService::Change ch;
        ch.contact = contact.bareStr();
        storage::RosterStore store(server.db());
        auto existing = store.get(user.domain(), user.local(), ch.contact);
        if (!existing && type != "subscribe") return ch;  // nothing to change: ignored (RFC 6121 §3)
        // RFC 6121 §8.5.1: a request for an account that does not exist is silently ignored; storing
        // it would hand it to whoever registers that name later.
        if (!existing && !storage::AccountStore(server.db()).exists(user.domain(), user.local())) return ch;
        RosterItem item = existing ? *existing : RosterItem{};
        if (!existing) {
          item.contact = ch.contact;
          item.visible = false;
        }
        const RosterItem before = item;
        if (type == "subscribe") {
          if (hasFrom(item.subscription)) {
            // Already approved: answer for the user (RFC 6121 §3.1.3).
            ch.route.push_back(presenceOf(user, contact, "subscribed"));
          } else if (item.approved) {
            item.subscription = withFrom(item.subscription, true);
            item.approved = false;
            ch.route.push_back(presenceOf(user, contact, "subscribed"));
            ch.sendCurrentPresence = true;
          } else {
            item.pendingIn = true;
            item.pendingInStanza = stanza->serialized();
            ch.deliverToUser = true;
          }
        } else if (type == "subscribed") {
          if (item.askOut) {
            item.subscription = withTo(item.subscription, true);
            item.askOut = false;
            ch.deliverToUser = true;
          }
        } else if (type == "unsubscribe") {
          if (hasFrom(item.subscription)) {
            item.subscription = withFrom(item.subscription, false);
            ch.deliverToUser = true;
            // RFC 6121 §3.3.3 step 3: the contact no longer sees our presence, so it gets
            // 'unavailable' from each of our available resources (as when we revoke, §3.2.2).
            ch.sendUnavailable = true;
          }
          if (item.pendingIn) {
            item.pendingIn = false;  // the request was withdrawn
            item.pendingInStanza.clear();
          }
        } else if (type == "unsubscribed") {
          if (hasTo(item.subscription) || item.askOut) {
            item.subscription = withTo(item.subscription, false);
            item.askOut = false;
            ch.deliverToUser = true;
          }
        }
        if (!(item == before)) {
          ch.version = commit(server, user, item, false);
          const bool pushable =
              item.visible && (item.subscription != before.subscription || item.askOut != before.askOut ||
                               item.approved != before.approved);
          if (pushable) ch.push = item;
        }
        return ch;
      },
      [this, user, stanza](runtime::Outcome<RosterService::Change> out) {
        if (!out.ok()) {
          log::error("roster.subscription.failed", "user={} error=\"{}\"", user.bareStr(), out.error);
          return;
        }
        pushAndRoute(user, *out.value);
        if (out.value->deliverToUser) server_.router().deliverToAvailable(stanza, user, false);
      });
}

void RosterService::redeliverPendingRequests(session::Session& session) {
  auto roster = server_.sessions().roster(session.jid().bare());
  if (!roster) return;
  for (const auto& [contact, item] : roster->items) {
    if (!item.pendingIn || item.pendingInStanza.empty()) continue;
    if (auto e = xml::parseElement(item.pendingInStanza))
      if (auto s = xmpp::Stanza::make(e)) session.deliver(s->withTo(session.jid()));
  }
}

}  // namespace parley::roster
