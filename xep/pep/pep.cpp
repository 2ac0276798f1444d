// DESIGN: XEP-0163 personal eventing (PEP) on every local account, on the XEP-0060 features clients
// use, with XEP-0223 publish-options, XEP-0402/XEP-0048 bookmark sync and XEP-0084/XEP-0398 avatar
// conversion. Everything the module knows about nodes lives in PepStore (blocking pool); in memory it
// keeps only the entity-capabilities cache and the accounts' avatar hashes.
//
// Threads:
//   IQ handlers run on the routing thread; each request becomes one storage job on the blocking pool,
//   keyed by the owner's bare JID (one account's publications are applied one at a time, in order),
//   and the reply and the notifications are sent when it comes back on that thread.
//   Presence hooks (UserAvailable, StanzaFromClient, StanzaToClient) run on the session's executor.
// Notifications (XEP-0163 §4.3): an event goes to the owner's available resources and to the contacts
//   the access model allows (open/presence: subscription from or both; roster: a roster item in an
//   allowed group; whitelist: owner only), each resource only if its XEP-0115 capabilities say
//   "<node>+notify" (filtered notifications). One message element is built per event and readdressed
//   per recipient (serialised once).
// Capabilities: the <c/> of a resource's last available presence names a 'ver'; unknown ones are asked
//   for with disco#info to that full JID (from the server's domain) and cached by hash and ver once the
//   hash checks out (XEP-0115 §5.4); a result that does not verify is used for that resource only.
// Last item on presence (XEP-0163 §4.3.5): when a resource becomes available (or its caps become
//   known) it gets the last item of each node it +notifies, of its own account and of every contact it
//   sees the presence of, when send_last_published_item is on_sub_and_presence and access allows.
// Conversions (run inside the storage job of the change that triggers them, so they stay ordered
//   with the account's other writes; they write the other store directly, never through an IQ, so
//   nothing loops):
//   - private storage storage:bookmarks <-> PEP urn:xmpp:bookmarks:1 (XEP-0402 §5.2 compat);
//   - vcard-temp PHOTO <-> PEP urn:xmpp:avatar:data/metadata (XEP-0398), and the XEP-0153
//     <x xmlns='vcard-temp:x:update'><photo/></x> the server puts in the account's presence.
//   A change made through another module's IQ (vCard set, private storage set) is converted when the
//   reply to the client says it succeeded (StanzaToClient), never before.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/presence/presence_service.h"
#include "server/util/crypto.h"
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "storage/roster_store.h"
#include "storage/user_data_store.h"
#include "xep/blocking/block_list_store.h"
#include "xep/pep/caps.h"
#include "xep/pep/conversions.h"
#include "xep/pep/node_config.h"
#include "xep/pep/pep_store.h"

namespace parley::xep::pep {

namespace {

using xmpp::Jid;
using xmpp::StanzaError;

constexpr std::string_view kPubsub = xml::ns::kPubsub;
constexpr std::string_view kOwner = xml::ns::kPubsubOwner;
constexpr std::string_view kEvent = xml::ns::kPubsubEvent;
constexpr std::string_view kErrors = "http://jabber.org/protocol/pubsub#errors";
constexpr std::string_view kPublishOptionsType = "http://jabber.org/protocol/pubsub#publish-options";
constexpr std::string_view kConversion = "urn:xmpp:pep-vcard-conversion:0";
constexpr std::string_view kCapsIdPrefix = "pep-caps-";
constexpr std::size_t kMaxNodeBytes = 96;  // schema v4 key sizes
constexpr std::size_t kMaxItemIdBytes = 160;
constexpr std::size_t kMaxPendingCaps = 4096;
constexpr auto kCapsQueryTimeout = std::chrono::seconds(60);

std::int64_t nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- errors ---------------------------------------------------------------------------------------

struct Failure {
  StanzaError condition = StanzaError::InternalServerError;
  std::string pubsubCondition;  // child in pubsub#errors, "" for none
  std::string text;
  std::string unsupported;  // <unsupported feature='…'/>
};

void fail(const router::IqRequest& req, const Failure& f) {
  xml::ElementPtr extra;
  if (!f.unsupported.empty()) {
    auto u = xml::make("unsupported", std::string(kErrors));
    u->setAttr("feature", f.unsupported);
    extra = u;
  } else if (!f.pubsubCondition.empty()) {
    extra = xml::make(f.pubsubCondition, std::string(kErrors));
  }
  req.reply(xmpp::makeErrorReply(*req.stanza, f.condition, f.text, extra));
}

Failure failure(StanzaError e, std::string pubsubCondition = {}, std::string text = {}) {
  return Failure{e, std::move(pubsubCondition), std::move(text), {}};
}

// ---- access ---------------------------------------------------------------------------------------

bool inAllowedGroup(const NodeConfig& cfg, const storage::RosterItem& item) {
  if (cfg.rosterGroups.empty()) return true;
  for (const auto& g : item.groups)
    for (const auto& allowed : cfg.rosterGroups)
      if (g == allowed) return true;
  return false;
}

// XEP-0060 §4.5 access models, for someone who is not the owner; `item` is the owner's roster item
// for that entity.
bool mayAccess(const NodeConfig& cfg, const storage::RosterItem* item) {
  switch (cfg.access) {
    case AccessModel::Open:
      return true;
    case AccessModel::Presence:
      return item && (item->subscription == storage::Subscription::From ||
                      item->subscription == storage::Subscription::Both);
    case AccessModel::Roster:
      return item && item->visible && inAllowedGroup(cfg, *item);
    case AccessModel::Whitelist:
      return false;
  }
  return false;
}

// XEP-0060 §6.5.9 errors for a refused retrieval.
Failure accessFailure(const NodeConfig& cfg) {
  switch (cfg.access) {
    case AccessModel::Presence:
      return failure(StanzaError::NotAuthorized, "presence-subscription-required");
    case AccessModel::Roster:
      return failure(StanzaError::NotAuthorized, "not-in-roster-group");
    default:
      return failure(StanzaError::NotAllowed, "closed-node");
  }
}

// Contacts that may receive notifications of a node (XEP-0163 §4: they share presence with the owner
// and the access model lets them in). Open counts presence sharers only: PEP subscriptions are
// implicit, from presence. XEP-0163 §4.3.3: never a contact the owner blocked (XEP-0191); a block of
// one resource is checked when sending (notify()).
std::vector<std::string> eligibleContacts(const NodeConfig& cfg,
                                          const std::vector<storage::RosterItem>& roster,
                                          const blocking::BlockList& blocked) {
  std::vector<std::string> out;
  if (cfg.access == AccessModel::Whitelist) return out;
  for (const auto& item : roster) {
    const bool sharesPresence =
        item.subscription == storage::Subscription::From || item.subscription == storage::Subscription::Both;
    if (!sharesPresence) continue;
    if (cfg.access == AccessModel::Roster && !(item.visible && inAllowedGroup(cfg, item))) continue;
    if (!blocked.empty())
      if (auto j = Jid::parse(item.contact); !j || blocking::matches(blocked, *j)) continue;
    out.push_back(item.contact);
  }
  return out;
}

std::vector<storage::RosterItem> rosterItems(const roster::RosterPtr& snapshot) {
  std::vector<storage::RosterItem> out;
  if (!snapshot) return out;
  out.reserve(snapshot->items.size());
  for (const auto& [contact, item] : snapshot->items) out.push_back(item);
  return out;
}

// ---- elements -------------------------------------------------------------------------------------

xml::ElementPtr parsePayload(const std::string& text) {
  if (text.empty()) return nullptr;
  return xml::parseElement(text, "");
}

// <item id='…'>payload</item> in `ns`.
xml::MutableElementPtr itemElement(std::string_view ns, const StoredItem& item, bool withPayload) {
  auto e = xml::make("item", std::string(ns));
  e->setAttr("id", item.id);
  if (withPayload)
    if (auto p = parsePayload(item.payload)) e->addChild(p);
  return e;
}

// <message type='headline'><event xmlns='…#event'>child</event></message>, optionally with the XEP-0203
// delay of a last published item.
xmpp::StanzaPtr eventMessage(const Jid& owner, xml::ElementPtr child,
                             std::optional<std::int64_t> delayMicros = {}) {
  auto msg = xml::make("message", std::string(xml::ns::kClient));
  msg->setAttr("type", "headline");
  msg->setAttr("id", util::randomToken(12));
  auto ev = xml::make("event", std::string(kEvent));
  ev->addChild(std::move(child));
  msg->addChild(ev);
  if (delayMicros) {
    auto d = xml::make("delay", std::string(xml::ns::kDelay));
    d->setAttr("from", owner.bareStr());
    d->setAttr("stamp", util::iso8601(*delayMicros / 1000000));
    msg->addChild(d);
  }
  return xmpp::Stanza::make(msg, owner, Jid());
}

xml::ElementPtr itemsEvent(std::string_view node, xml::ElementPtr item) {
  auto items = xml::make("items", std::string(kEvent));
  items->setAttr("node", node);
  items->addChild(std::move(item));
  return items;
}

// ---- caps cache -----------------------------------------------------------------------------------

struct CapsInfo {
  std::set<std::string, std::less<>> notify;
};
using CapsPtr = std::shared_ptr<const CapsInfo>;

struct CapsRef {
  std::string hash, ver, node;
  std::string key() const { return hash.empty() ? std::string() : hash + " " + ver; }
};

std::optional<CapsRef> capsRefOf(const xml::Element* presence) {
  if (!presence) return std::nullopt;
  const auto* c = presence->child("c", xml::ns::kCaps);
  if (!c || c->attr("ver").empty()) return std::nullopt;
  return CapsRef{std::string(c->attr("hash")), std::string(c->attr("ver")), std::string(c->attr("node"))};
}

// Per-session state, on the session's executor.
struct PepSessionState {
  std::string capsSeen;                // caps key (or "jid") last handled for this session
  std::set<std::string> vcardSets;     // ids of vCard sets awaiting their result
  std::set<std::string> bookmarkSets;  // ids of storage:bookmarks private sets awaiting their result
};

// ---- the module -----------------------------------------------------------------------------------

struct Settings {
  ConfigLimits limits;
  std::int64_t maxItemBytes = 262144;
  std::int64_t maxNodes = 256;
  std::int64_t capsCacheSize = 10000;
};

// What a storage job hands back for notifications.
struct Outcome {
  std::optional<Failure> failure;
  NodeConfig config;
  std::vector<xml::ElementPtr> events;  // children of <event/> to send, in order
  std::vector<std::string> recipients;  // contacts (bare) besides the owner
  blocking::BlockList blocked;          // the owner's block list when recipients were chosen (§4.3.3)
  std::string node;
  std::string itemId;
  std::optional<std::string> avatarHash;  // set when the account's avatar changed ("" = none)
  xml::ElementPtr payload;                // result payload for gets
};

class PepModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    settings_.maxItemBytes = section.getInt("max_item_bytes", 262144, 256, 16 * 1024 * 1024);
    settings_.limits.maxItemsPerNode = section.getInt("max_items_per_node", 1000, 1, 100000);
    settings_.limits.defaultMaxItems =
        section.getInt("default_max_items", 1, 1, settings_.limits.maxItemsPerNode);
    settings_.maxNodes = section.getInt("max_nodes_per_account", 256, 1, 100000);
    settings_.capsCacheSize = section.getInt("caps_cache_size", 10000, 16, 10000000);
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& m = server_->metrics();
    published_ = &m.counter("parley_pep_published_total",
                            "XEP-0163 items published by clients (server-side conversions not counted).");
    notified_ =
        &m.counter("parley_pep_notifications_total",
                   "XEP-0163 event notifications sent to resources (last items on presence included).");
    capsVerified_ =
        &m.counter("parley_pep_caps_answers_total", "XEP-0115 disco#info answers to the server's queries.",
                   {{"result", "verified"}});
    capsUnverified_ =
        &m.counter("parley_pep_caps_answers_total", "XEP-0115 disco#info answers to the server's queries.",
                   {{"result", "unverified"}});
    using module::DiscoScope;
    // XEP-0163 §6.1: the account is a virtual pubsub service.
    ctx.identity(DiscoScope::Account, {"pubsub", "pep", ""});
    for (std::string_view f :
         {"access-open",      "access-presence", "access-roster",    "access-whitelist",
          "auto-create",      "auto-subscribe",  "config-node",      "create-and-configure",
          "create-nodes",     "delete-items",    "delete-nodes",     "filtered-notifications",
          "item-ids",         "last-published",  "persistent-items", "presence-notifications",
          "publish",          "publish-options", "purge-nodes",      "retract-items",
          "retrieve-default", "retrieve-items"})
      ctx.feature(DiscoScope::Account, std::string(kPubsub) + "#" + std::string(f));
    ctx.feature(DiscoScope::Account, std::string(kPubsub));
    ctx.feature(DiscoScope::Account, std::string(kBookmarksNs) + "#compat");
    ctx.feature(DiscoScope::Account, std::string(kConversion));
    ctx.feature(DiscoScope::Server, std::string(kConversion));

    ctx.iq(router::IqScope::Account, "set", kPubsub, "pubsub",
           [this](const router::IqRequest& r) { pubsubSet(r); });
    ctx.iq(router::IqScope::Account, "get", kPubsub, "pubsub",
           [this](const router::IqRequest& r) { pubsubGet(r); });
    ctx.iq(router::IqScope::Account, "set", kOwner, "pubsub",
           [this](const router::IqRequest& r) { ownerSet(r); });
    ctx.iq(router::IqScope::Account, "get", kOwner, "pubsub",
           [this](const router::IqRequest& r) { ownerGet(r); });

    ctx.hook<hooks::UserAvailable>([this](hooks::UserAvailable::Context& c) {
      userAvailable(c.session, c.initial);
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::StanzaFromClient>([this](hooks::StanzaFromClient::Context& c) { return fromClient(c); },
                                      hooks::priority::kNormal);
    ctx.hook<hooks::StanzaToClient>([this](hooks::StanzaToClient::Context& c) { return toClient(c); },
                                    hooks::priority::kEarly);
    ctx.hook<hooks::AccountBinding>([this](hooks::AccountBinding::Context& c) {
      try {
        loadAvatarHash(c.account);
      } catch (const std::exception& e) {  // presence then goes without the avatar hash; the bind goes on
        log::error("pep.avatar.load_failed", "user={} error=\"{}\"", c.account.bareStr(), e.what());
      }
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::SessionClosed>([this](hooks::SessionClosed::Context& c) {
      const auto user = c.session.jid().bare();
      std::lock_guard lock(mu_);
      capsByJid_.erase(c.session.jid().str());
      // A session binding elsewhere registered before its AccountBinding job, which takes mu_.
      if (c.lastResource && !server_->sessions().hasSessions(user)) avatarHashes_.erase(user.bareStr());
      return hooks::Action::Continue;
    });
    ctx.hook<hooks::AccountRemoved>([this](hooks::AccountRemoved::Context& c) {
      std::lock_guard lock(mu_);
      avatarHashes_.erase(c.user.bareStr());
      return hooks::Action::Continue;
    });
  }

 private:
  // Blocking pool: the stored configuration of `owner`'s `node`, or <item-not-found/> in `out` when the
  // node does not exist (XEP-0060 §6.5.9.11, §7.2.3.3, §8.2.3.4, §8.4.3.2).
  std::optional<NodeConfig> storedConfig(PepStore& store, const Jid& owner, const std::string& node,
                                         Outcome& out) const {
    auto text = store.nodeConfig(owner.domain(), owner.local(), node);
    if (!text) {
      out.failure = failure(StanzaError::ItemNotFound);
      return std::nullopt;
    }
    return parseConfig(*text, settings_.limits);
  }

  // ---- IQ entry points ----------------------------------------------------------------------------

  void pubsubSet(const router::IqRequest& req) {
    const auto& ps = req.payload();
    const auto* publish = ps.child("publish", kPubsub);
    const auto* retract = ps.child("retract", kPubsub);
    const auto* create = ps.child("create", kPubsub);
    if (ps.child("subscribe", kPubsub) || ps.child("unsubscribe", kPubsub)) {
      // XEP-0163 §4.2: PEP subscriptions follow presence subscriptions.
      fail(req,
           Failure{StanzaError::FeatureNotImplemented, {}, "PEP subscriptions follow presence", "subscribe"});
      return;
    }
    if (!publish && !retract && !create) {
      fail(req, failure(StanzaError::BadRequest, {}, "unsupported pubsub request"));
      return;
    }
    if (!req.fromSelf()) {
      // XEP-0060 §7.1.3.1: only the owner publishes to its PEP service.
      fail(req, failure(StanzaError::Forbidden, {}, "only the account owner may change its PEP nodes"));
      return;
    }
    if (publish) return doPublish(req, *publish, ps.child("publish-options", kPubsub));
    if (retract) return doRetract(req, *retract);
    return doCreate(req, *create, ps.child("configure", kPubsub));
  }

  void pubsubGet(const router::IqRequest& req) {
    const auto* items = req.payload().child("items", kPubsub);
    if (!items) {
      fail(req, Failure{StanzaError::FeatureNotImplemented, {}, {}, "retrieve-subscriptions"});
      return;
    }
    doItems(req, *items);
  }

  void ownerGet(const router::IqRequest& req) {
    if (!req.fromSelf()) {
      fail(req, failure(StanzaError::Forbidden));
      return;
    }
    const auto& ps = req.payload();
    if (ps.child("default", kOwner)) {
      auto out = xml::make("pubsub", std::string(kOwner));
      auto d = xml::make("default", std::string(kOwner));
      d->addChild(configForm(defaultConfig({}, settings_.limits)));
      out->addChild(d);
      req.result(out);
      return;
    }
    if (const auto* cfg = ps.child("configure", kOwner)) return doConfigure(req, *cfg, false);
    fail(req, Failure{StanzaError::FeatureNotImplemented, {}, {}, "manage-subscriptions"});
  }

  void ownerSet(const router::IqRequest& req) {
    if (!req.fromSelf()) {
      fail(req, failure(StanzaError::Forbidden));
      return;
    }
    const auto& ps = req.payload();
    if (const auto* cfg = ps.child("configure", kOwner)) return doConfigure(req, *cfg, true);
    if (const auto* del = ps.child("delete", kOwner)) return doDeleteOrPurge(req, *del, true);
    if (const auto* purge = ps.child("purge", kOwner)) return doDeleteOrPurge(req, *purge, false);
    fail(req, Failure{StanzaError::FeatureNotImplemented, {}, {}, "manage-affiliations"});
  }

  // Checks a node name; answers the error and returns false when it is not acceptable.
  static bool checkNode(const router::IqRequest& req, std::string_view node) {
    if (node.empty()) {
      fail(req, failure(StanzaError::BadRequest, "nodeid-required"));
      return false;
    }
    if (node.size() > kMaxNodeBytes) {
      fail(req, failure(StanzaError::NotAcceptable, {}, "node name too long"));
      return false;
    }
    return true;
  }

  // ---- publish ------------------------------------------------------------------------------------

  void doPublish(const router::IqRequest& req, const xml::Element& publish, const xml::Element* options) {
    std::string node(publish.attr("node"));
    if (!checkNode(req, node)) return;
    auto items = publish.childrenNamed("item", kPubsub);
    if (items.size() != 1) {
      // §7.1.3.6 / PEP: exactly one item with a payload.
      fail(req, failure(StanzaError::BadRequest, items.empty() ? "item-required" : "invalid-payload"));
      return;
    }
    const auto& item = items.front();
    auto payloads = item->children();
    if (payloads.size() != 1) {
      fail(req, failure(StanzaError::BadRequest, payloads.empty() ? "payload-required" : "invalid-payload"));
      return;
    }
    std::string id(item->attr("id"));
    if (id.empty()) id = util::randomToken(16);  // §7.1.2: the service generates an id
    if (id.size() > kMaxItemIdBytes) {
      fail(req, failure(StanzaError::NotAcceptable, {}, "item id too long"));
      return;
    }
    std::string payload = xml::toString(*payloads.front());
    if (static_cast<std::int64_t>(payload.size()) > settings_.maxItemBytes) {
      fail(req, failure(StanzaError::NotAcceptable, "payload-too-big"));  // §7.1.3.4
      return;
    }
    xml::ElementPtr form;
    if (options) {
      form = options->childPtr("x", xml::ns::kDataForms);
      if (form && !formType(*form).empty() && formType(*form) != kPublishOptionsType) {
        fail(req,
             failure(StanzaError::BadRequest, {}, "publish-options needs the publish-options FORM_TYPE"));
        return;
      }
    }
    const Jid owner = req.target.bare();
    StoredItem stored{id, req.stanza->from().str(), nowMicros(), std::move(payload)};
    auto roster = server_->sessions().roster(owner);
    runJob(
        req, owner,
        [this, owner, node, stored, form, roster] {
          Outcome out;
          auto& db = server_->db();
          PepStore store(db);
          auto cfg = ensureNode(store, owner, node, form.get(), out);
          if (!cfg) return out;
          publishInJob(store, owner, node, *cfg, stored, out);
          setRecipients(out, owner, *cfg, roster ? rosterItems(roster) : loadRoster(owner));
          return out;
        },
        [this, owner](const router::IqRequest& r, Outcome& out) {
          auto ps = xml::make("pubsub", std::string(kPubsub));
          auto pub = xml::make("publish", std::string(kPubsub));
          pub->setAttr("node", out.node);
          auto it = xml::make("item", std::string(kPubsub));
          it->setAttr("id", out.itemId);
          pub->addChild(it);
          ps->addChild(pub);
          r.result(ps);
          deliverOutcome(owner, out);
        });
  }

  // The node's configuration, created (auto-create, XEP-0163 §4.1 / XEP-0060 §7.1.4) with the
  // publish-options when missing; for an existing node the options are preconditions (XEP-0060
  // §7.1.5). Sets out.failure when it cannot go on. Blocking.
  std::optional<NodeConfig> ensureNode(PepStore& store, const Jid& owner, const std::string& node,
                                       const xml::Element* form, Outcome& out) {
    out.node = node;
    if (auto text = store.nodeConfig(owner.domain(), owner.local(), node)) {
      auto cfg = parseConfig(*text, settings_.limits);
      if (form && !meetsPreconditions(cfg, *form, settings_.limits)) {
        out.failure = failure(StanzaError::Conflict, "precondition-not-met",
                              "the node's configuration does not match the publish-options");
        return std::nullopt;
      }
      return cfg;
    }
    auto cfg = defaultConfig(node, settings_.limits);
    if (form) {
      if (auto err = applyForm(cfg, *form, settings_.limits)) {
        out.failure = failure(StanzaError::Conflict, "precondition-not-met", *err);
        return std::nullopt;
      }
    }
    if (!createNodeChecked(store, owner, node, cfg, out)) return std::nullopt;
    return cfg;
  }

  bool createNodeChecked(PepStore& store, const Jid& owner, const std::string& node, const NodeConfig& cfg,
                         Outcome& out) {
    if (store.nodeCount(owner.domain(), owner.local()) >= settings_.maxNodes) {
      out.failure = failure(StanzaError::ResourceConstraint, {}, "too many PEP nodes for this account");
      return false;
    }
    if (!store.createNode(owner.domain(), owner.local(), node, serializeConfig(cfg), util::unixNow())) {
      out.failure = failure(StanzaError::Conflict, {}, "node exists");
      return false;
    }
    return true;
  }

  // Stores (if persistent) and queues the notification of one item, then the conversions. Blocking.
  void publishInJob(PepStore& store, const Jid& owner, const std::string& node, const NodeConfig& cfg,
                    const StoredItem& item, Outcome& out) {
    out.config = cfg;
    out.node = node;
    out.itemId = item.id;
    if (cfg.persistItems) store.publish(owner.domain(), owner.local(), node, item, cfg.maxItems);
    if (cfg.deliverNotifications)
      out.events.push_back(itemsEvent(node, itemElement(kEvent, item, cfg.deliverPayloads)));
    if (node == kBookmarksNs) bookmarksToPrivate(store, owner);
    if (node == kAvatarMetadataNs) avatarToVcard(store, owner, item, out);
  }

  // ---- retract / create / configure / delete / purge ----------------------------------------------

  void doRetract(const router::IqRequest& req, const xml::Element& retract) {
    std::string node(retract.attr("node"));
    if (!checkNode(req, node)) return;
    std::vector<std::string> ids;
    for (const auto& i : retract.childrenNamed("item", kPubsub))
      if (!i->attr("id").empty()) ids.emplace_back(i->attr("id"));
    if (ids.empty()) {
      fail(req, failure(StanzaError::BadRequest, "item-required"));  // §7.2.3.3
      return;
    }
    std::string_view notifyAttr = retract.attr("notify");
    std::optional<bool> notify;
    if (!notifyAttr.empty()) notify = notifyAttr == "true" || notifyAttr == "1";
    const Jid owner = req.target.bare();
    auto roster = server_->sessions().roster(owner);
    runJob(
        req, owner,
        [this, owner, node, ids, notify, roster] {
          Outcome out;
          PepStore store(server_->db());
          auto cfg = storedConfig(store, owner, node, out);
          if (!cfg) return out;
          out.config = std::move(*cfg);
          out.node = node;
          std::vector<std::string> removed;
          for (const auto& id : ids)
            if (store.retract(owner.domain(), owner.local(), node, id)) removed.push_back(id);
          if (removed.empty()) {
            out.failure = failure(StanzaError::ItemNotFound);  // §7.2.3.5
            return out;
          }
          // §7.2.2.1: notify='true' asks for notifications; without it the node's notify_retract decides.
          if (notify.value_or(out.config.notifyRetract)) {
            auto items = xml::make("items", std::string(kEvent));
            items->setAttr("node", node);
            for (const auto& id : removed) {
              auto r = xml::make("retract", std::string(kEvent));
              r->setAttr("id", id);
              items->addChild(r);
            }
            out.events.push_back(items);
          }
          if (node == kBookmarksNs) bookmarksToPrivate(store, owner);
          setRecipients(out, owner, out.config, roster ? rosterItems(roster) : loadRoster(owner));
          return out;
        },
        [this, owner](const router::IqRequest& r, Outcome& out) {
          r.result();
          deliverOutcome(owner, out);
        });
  }

  void doCreate(const router::IqRequest& req, const xml::Element& create, const xml::Element* configure) {
    std::string node(create.attr("node"));
    if (node.empty()) {
      // XEP-0060 §8.1.2 instant nodes are not offered on PEP.
      fail(req, failure(StanzaError::NotAcceptable, "nodeid-required"));
      return;
    }
    if (!checkNode(req, node)) return;
    NodeConfig cfg = defaultConfig(node, settings_.limits);
    if (configure)
      if (const auto* x = configure->child("x", xml::ns::kDataForms))
        if (auto err = applyForm(cfg, *x, settings_.limits)) {
          fail(req, failure(StanzaError::NotAcceptable, {}, *err));
          return;
        }
    const Jid owner = req.target.bare();
    runJob(
        req, owner,
        [this, owner, node, cfg] {
          Outcome out;
          PepStore store(server_->db());
          createNodeChecked(store, owner, node, cfg, out);
          return out;
        },
        [](const router::IqRequest& r, Outcome&) { r.result(); });
  }

  void doConfigure(const router::IqRequest& req, const xml::Element& configure, bool set) {
    std::string node(configure.attr("node"));
    if (!checkNode(req, node)) return;
    xml::ElementPtr form = configure.childPtr("x", xml::ns::kDataForms);
    if (set && !form) {
      fail(req, failure(StanzaError::BadRequest, {}, "a configuration form is required"));
      return;
    }
    if (set && form->attr("type") == "cancel") {
      req.result();  // §8.2.5.2
      return;
    }
    const Jid owner = req.target.bare();
    runJob(
        req, owner,
        [this, owner, node, form, set] {
          Outcome out;
          PepStore store(server_->db());
          auto stored = storedConfig(store, owner, node, out);
          if (!stored) return out;
          auto& cfg = *stored;
          if (!set) {
            auto ps = xml::make("pubsub", std::string(kOwner));
            auto c = xml::make("configure", std::string(kOwner));
            c->setAttr("node", node);
            c->addChild(configForm(cfg));
            ps->addChild(c);
            out.payload = ps;
            return out;
          }
          if (auto err = applyForm(cfg, *form, settings_.limits)) {
            out.failure = failure(StanzaError::NotAcceptable, {}, *err);  // §8.2.5.3
            return out;
          }
          store.setConfig(owner.domain(), owner.local(), node, serializeConfig(cfg));
          store.trim(owner.domain(), owner.local(), node, cfg.persistItems ? cfg.maxItems : 0);
          return out;
        },
        [](const router::IqRequest& r, Outcome& out) { r.result(out.payload); });
  }

  void doDeleteOrPurge(const router::IqRequest& req, const xml::Element& what, bool del) {
    std::string node(what.attr("node"));
    if (!checkNode(req, node)) return;
    const Jid owner = req.target.bare();
    auto roster = server_->sessions().roster(owner);
    runJob(
        req, owner,
        [this, owner, node, del, roster] {
          Outcome out;
          PepStore store(server_->db());
          auto cfg = storedConfig(store, owner, node, out);
          if (!cfg) return out;
          out.config = std::move(*cfg);
          out.node = node;
          if (del)
            store.deleteNode(owner.domain(), owner.local(), node);
          else
            store.purge(owner.domain(), owner.local(), node);
          // §8.4.2 / §8.5.2: subscribers learn of it.
          if (!del || out.config.notifyDelete) {
            auto e = xml::make(del ? "delete" : "purge", std::string(kEvent));
            e->setAttr("node", node);
            out.events.push_back(e);
          }
          if (node == kBookmarksNs) bookmarksToPrivate(store, owner);
          if (node == kAvatarMetadataNs) {
            avatarVcardPhoto(owner, std::nullopt);
            out.avatarHash = "";
          }
          setRecipients(out, owner, out.config, roster ? rosterItems(roster) : loadRoster(owner));
          return out;
        },
        [this, owner](const router::IqRequest& r, Outcome& out) {
          r.result();
          deliverOutcome(owner, out);
        });
  }

  // ---- retrieve -----------------------------------------------------------------------------------

  void doItems(const router::IqRequest& req, const xml::Element& itemsReq) {
    std::string node(itemsReq.attr("node"));
    if (!checkNode(req, node)) return;
    std::int64_t maxItems = 0;
    if (itemsReq.hasAttr("max_items")) {
      std::string v(itemsReq.attr("max_items"));
      try {
        std::size_t used = 0;
        maxItems = std::stoll(v, &used);
        if (used != v.size() || maxItems < 1) throw std::invalid_argument(v);
      } catch (const std::exception&) {
        fail(req, failure(StanzaError::BadRequest, {}, "max_items must be a positive integer"));
        return;
      }
    }
    std::vector<std::string> ids;
    for (const auto& i : itemsReq.childrenNamed("item", kPubsub))
      if (!i->attr("id").empty()) ids.emplace_back(i->attr("id"));
    const Jid owner = req.target.bare();
    const std::string requester = req.stanza->from().bareStr();
    const std::string requesterFull = req.stanza->from().str();
    const bool self = req.fromSelf();
    runJob(
        req, owner,
        [this, owner, node, ids, maxItems, requester, requesterFull, self] {
          Outcome out;
          auto& db = server_->db();
          PepStore store(db);
          auto stored = storedConfig(store, owner, node, out);
          if (!stored) return out;
          auto& cfg = *stored;
          // XEP-0191 §3.3: an IQ from a JID the owner blocked gets <service-unavailable/> (the blocking
          // module answers it first while the owner is online; this holds when the owner is offline too).
          if (!self) {
            if (auto from = Jid::parse(requesterFull);
                from && blocking::matches(blocking::BlockListStore(db).load(owner), *from)) {
              out.failure = failure(StanzaError::ServiceUnavailable);
              return out;
            }
          }
          if (!self && cfg.access != AccessModel::Open) {
            auto item = storage::RosterStore(db).get(owner.domain(), owner.local(), requester);
            if (!mayAccess(cfg, item ? &*item : nullptr)) {
              out.failure = accessFailure(cfg);
              return out;
            }
          }
          std::vector<StoredItem> found;
          if (!ids.empty()) {
            for (const auto& id : ids)
              if (auto it = store.item(owner.domain(), owner.local(), node, id))
                found.push_back(std::move(*it));
          } else {
            found = store.items(owner.domain(), owner.local(), node,
                                std::min(maxItems, settings_.limits.maxItemsPerNode));
            std::reverse(found.begin(), found.end());  // oldest first, as published
          }
          auto ps = xml::make("pubsub", std::string(kPubsub));
          auto items = xml::make("items", std::string(kPubsub));
          items->setAttr("node", node);
          for (const auto& it : found) items->addChild(itemElement(kPubsub, it, true));
          ps->addChild(items);
          out.payload = ps;
          return out;
        },
        [](const router::IqRequest& r, Outcome& out) { r.result(out.payload); });
  }

  // ---- jobs and notifications ---------------------------------------------------------------------

  template <class Work, class Done>
  void runJob(const router::IqRequest& req, const Jid& owner, Work work, Done done) {
    runtime::offload(server_->pool(), runtime::Executor::current(), owner.bareStr(), std::move(work),
                     [req, done = std::move(done)](runtime::Outcome<Outcome> res) mutable {
                       if (!res.ok()) {
                         log::warn("pep.storage.failed", "user={} error=\"{}\"", req.target.bareStr(),
                                   res.error);
                         req.error(StanzaError::InternalServerError);
                         return;
                       }
                       if (res.value->failure) {
                         fail(req, *res.value->failure);
                         return;
                       }
                       done(req, *res.value);
                     });
  }

  std::vector<storage::RosterItem> loadRoster(const Jid& owner) {
    return storage::RosterStore(server_->db()).load(owner.domain(), owner.local());
  }

  // The contacts a change of `owner`'s node is sent to, with the owner's block list kept in `out` for
  // the check per resource when sending (XEP-0163 §4.3.3). Blocking.
  void setRecipients(Outcome& out, const Jid& owner, const NodeConfig& cfg,
                     const std::vector<storage::RosterItem>& roster) {
    out.blocked = blocking::BlockListStore(server_->db()).load(owner);
    out.recipients = eligibleContacts(cfg, roster, out.blocked);
  }

  // On a network thread: events to the owner's and the eligible contacts' interested resources, then
  // the avatar hash in presence if it changed.
  void deliverOutcome(const Jid& owner, const Outcome& out) {
    if (!out.itemId.empty()) published_->inc();
    for (const auto& ev : out.events) notify(owner, out.node, ev, out.recipients, out.blocked);
    if (out.avatarHash) setAvatarHash(owner, *out.avatarHash, true);
  }

  void notify(const Jid& owner, const std::string& node, const xml::ElementPtr& event,
              const std::vector<std::string>& contacts, const blocking::BlockList& blocked) {
    auto message = eventMessage(owner, event);
    std::size_t sent = 0;
    auto sendTo = [&](const Jid& bare) {
      for (const auto& r : server_->sessions().resources(bare)) {
        if (!r.available || !r.session) continue;
        // XEP-0163 §4.3.3: not to a resource the owner blocked (never the owner's own, XEP-0191 §5).
        if (bare != owner && !blocked.empty() && blocking::matches(blocked, r.session->jid())) continue;
        auto caps = capsFor(r.presence.get(), r.session->jid());
        if (!caps || !caps->notify.contains(node)) continue;
        r.session->deliver(message->withAddresses(owner, r.session->jid()));
        ++sent;
      }
    };
    sendTo(owner);
    for (const auto& c : contacts)
      if (auto j = Jid::parse(c); j && server_->router().isLocalDomain(j->domain())) sendTo(*j);
    notified_->inc(sent);
    log::debug("pep.notify", "owner={} node={} contacts={} sent={}", owner.bareStr(), node, contacts.size(),
               sent);
  }

  // ---- caps ---------------------------------------------------------------------------------------

  CapsPtr capsFor(const xml::Element* presence, const Jid& full) {
    auto ref = capsRefOf(presence);
    if (!ref) return nullptr;
    const std::string key = ref->key();
    std::lock_guard lock(mu_);
    if (!capsByJid_.empty())
      if (auto it = capsByJid_.find(full.str()); it != capsByJid_.end()) return it->second;
    if (auto it = capsByVer_.find(key); it != capsByVer_.end()) return it->second;
    return nullptr;
  }

  // UserAvailable, on the session's executor.
  void userAvailable(session::Session& session, bool initial) {
    auto& st = session.extension<PepSessionState>();
    auto ref = capsRefOf(session.presence().last.get());
    const std::string seen = ref ? ref->hash + " " + ref->ver : std::string();
    if (!initial && seen == st.capsSeen) return;  // a presence update with the same capabilities
    st.capsSeen = seen;
    if (!ref) return;  // no capabilities, no +notify
    auto self = session.shared_from_this();
    if (auto caps = capsFor(session.presence().last.get(), session.jid())) {
      sendLastItems(self, caps);
      return;
    }
    askCaps(self, *ref);
  }

  // XEP-0115 §6.3: ask the client what its 'ver' means.
  void askCaps(const session::SessionPtr& session, const CapsRef& ref) {
    const std::string key = ref.key();
    std::string id;
    {
      std::lock_guard lock(mu_);
      const auto now = std::chrono::steady_clock::now();
      std::erase_if(pendingCaps_,
                    [now](const auto& kv) { return now - kv.second.since > kCapsQueryTimeout; });
      if (!key.empty())
        for (auto& [pid, p] : pendingCaps_)
          if (p.key == key) {
            p.waiting.push_back(session);  // the same ver is being asked already
            return;
          }
      if (pendingCaps_.size() >= kMaxPendingCaps) return;
      id = std::string(kCapsIdPrefix) + std::to_string(++capsSeq_);
      pendingCaps_[id] = PendingCaps{ref, key, session->jid(), {session}, now};
    }
    auto iq = xml::make("iq", std::string(xml::ns::kClient));
    iq->setAttr("type", "get");
    iq->setAttr("id", id);
    auto q = xml::make("query", std::string(xml::ns::kDiscoInfo));
    q->setAttr("node", ref.node + "#" + ref.ver);
    iq->addChild(q);
    session->deliver(
        xmpp::Stanza::make(iq, Jid::parse(session->jid().domain()).value_or(Jid()), session->jid()));
  }

  // A disco#info answer from a client to one of our queries (on that client's executor).
  void capsAnswer(const xmpp::StanzaPtr& stanza) {
    PendingCaps pending;
    {
      std::lock_guard lock(mu_);
      auto it = pendingCaps_.find(std::string(stanza->id()));
      if (it == pendingCaps_.end()) return;
      if (it->second.asked != stanza->from()) return;  // not who we asked
      pending = std::move(it->second);
      pendingCaps_.erase(it);
    }
    const auto* query = stanza->element().child("query", xml::ns::kDiscoInfo);
    // Resources that waited for this answer and cannot use it (an error, or a ver that did not
    // verify) are asked themselves.
    auto askOthers = [this, &pending] {
      for (const auto& weak : pending.waiting)
        if (auto s = weak.lock(); s && s->jid() != pending.asked) askCaps(s, pending.ref);
    };
    if (stanza->type() != "result" || !query) {
      askOthers();
      return;
    }
    auto info = std::make_shared<CapsInfo>();
    info->notify = notifyNodes(*query);
    const bool verified = !pending.key.empty() && verifyCaps(*query, pending.ref.hash, pending.ref.ver);
    (verified ? capsVerified_ : capsUnverified_)->inc();
    {
      std::lock_guard lock(mu_);
      if (verified) {
        if (static_cast<std::int64_t>(capsByVer_.size()) >= settings_.capsCacheSize) capsByVer_.clear();
        capsByVer_[pending.key] = info;
      } else {
        // §5.4: a ver that does not verify is not cached for others; this resource gets what it said.
        log::info("pep.caps.unverified", "jid={} ver={}", pending.asked.str(), pending.ref.ver);
        capsByJid_[pending.asked.str()] = info;
      }
    }
    if (!verified) {
      askOthers();
      if (auto s = server_->sessions().find(pending.asked)) sendLastItems(s, info);
      return;
    }
    for (const auto& weak : pending.waiting)
      if (auto s = weak.lock()) sendLastItems(s, info);
  }

  // XEP-0163 §4.3.5: the last item of each +notify node the session may see (its own account's and
  // its contacts'), to that resource only.
  void sendLastItems(const session::SessionPtr& session, const CapsPtr& caps) {
    if (!caps || caps->notify.empty()) return;
    const Jid device = session->jid();
    const Jid subscriber = device.bare();
    std::vector<std::string> owners{subscriber.bareStr()};
    auto roster = server_->sessions().roster(subscriber);
    const auto& domains = server_->router().localDomains();
    std::set<std::string, std::less<>> local(domains.begin(), domains.end());
    std::weak_ptr<session::Session> weak = session;
    runtime::offload(
        server_->pool(), runtime::Executor::current(), subscriber.bareStr(),
        [this, device, subscriber, owners, roster, local, caps]() mutable {
          auto& db = server_->db();
          auto items = roster ? rosterItems(roster)
                              : storage::RosterStore(db).load(subscriber.domain(), subscriber.local());
          // The contacts whose presence the subscriber sees (subscription to or both).
          for (const auto& i : items)
            if ((i.subscription == storage::Subscription::To ||
                 i.subscription == storage::Subscription::Both))
              if (auto j = Jid::parse(i.contact); j && local.contains(j->domain()))
                owners.push_back(i.contact);
          std::vector<std::pair<Jid, xmpp::StanzaPtr>> out;
          PepStore store(db);
          for (const auto& o : owners) {
            auto owner = Jid::parse(o);
            if (!owner) continue;
            std::optional<std::optional<storage::RosterItem>> theirItem;  // the owner's item for us
            if (*owner != subscriber && blocking::matches(blocking::BlockListStore(db).load(*owner), device))
              continue;  // XEP-0163 §4.3.3: the owner blocked this subscriber
            for (const auto& n : store.nodes(owner->domain(), owner->local())) {
              if (!caps->notify.contains(n.node)) continue;
              auto cfg = parseConfig(n.config, settings_.limits);
              if (cfg.sendLast != SendLast::OnSubAndPresence || !cfg.deliverNotifications) continue;
              if (*owner != subscriber) {
                if (!theirItem)
                  theirItem =
                      storage::RosterStore(db).get(owner->domain(), owner->local(), subscriber.bareStr());
                const auto& ti = *theirItem;
                const bool shares = ti && (ti->subscription == storage::Subscription::From ||
                                           ti->subscription == storage::Subscription::Both);
                if (!shares || !mayAccess(cfg, ti ? &*ti : nullptr)) continue;
              }
              auto last = store.items(owner->domain(), owner->local(), n.node, 1);
              if (last.empty()) continue;
              out.emplace_back(
                  *owner,
                  eventMessage(*owner,
                               itemsEvent(n.node, itemElement(kEvent, last.front(), cfg.deliverPayloads)),
                               last.front().publishedAt));
            }
          }
          return out;
        },
        [this, weak](runtime::Outcome<std::vector<std::pair<Jid, xmpp::StanzaPtr>>> res) {
          auto s = weak.lock();
          if (!s || !res.ok()) return;
          for (const auto& [owner, msg] : *res.value) s->deliver(msg->withAddresses(owner, s->jid()));
          notified_->inc(res.value->size());
        });
  }

  // ---- stanza hooks -------------------------------------------------------------------------------

  static bool toOwnAccount(const xmpp::Stanza& s, const Jid& own) { return s.to().empty() || s.to() == own; }

  hooks::Action fromClient(hooks::StanzaFromClient::Context& c) {
    const auto& s = *c.stanza;
    const Jid own = c.session.jid().bare();
    if (s.isIq()) {
      const auto type = s.type();
      // Answers to our capability queries come addressed to the domain (or to nobody).
      if ((type == "result" || type == "error") && (s.to().empty() || s.to().isDomain()) &&
          s.id().starts_with(kCapsIdPrefix)) {
        capsAnswer(c.stanza);
        return hooks::Action::Stop;
      }
      if (type == "set" && toOwnAccount(s, own)) {
        const auto* payload = s.element().firstChild();
        if (payload && payload->is("vCard", xml::ns::kVcard))
          remember(c.session.extension<PepSessionState>().vcardSets, s.id());
        else if (payload && payload->is("query", xml::ns::kPrivate) &&
                 payload->child("storage", kLegacyBookmarksNs))
          remember(c.session.extension<PepSessionState>().bookmarkSets, s.id());
      }
      return hooks::Action::Continue;
    }
    if (s.isPresence() && s.type().empty()) {
      // XEP-0398 §4: the server sets the XEP-0153 photo hash in the account's presence.
      if (auto rewritten = withPhotoHash(c.stanza, own)) c.stanza = rewritten;
    }
    return hooks::Action::Continue;
  }

  static void remember(std::set<std::string>& ids, std::string_view id) {
    if (ids.size() < 64) ids.emplace(id);
  }

  hooks::Action toClient(hooks::StanzaToClient::Context& c) {
    const auto& s = *c.stanza;
    if (!s.isIq() || (s.type() != "result" && s.type() != "error")) return hooks::Action::Continue;
    auto* st = c.session.findExtension<PepSessionState>();
    if (!st) return hooks::Action::Continue;
    const std::string id(s.id());
    const bool ok = s.type() == "result";
    const Jid own = c.session.jid().bare();
    if (st->vcardSets.erase(id) && ok) vcardChanged(own);
    if (st->bookmarkSets.erase(id) && ok) privateBookmarksChanged(own);
    return hooks::Action::Continue;
  }

  // ---- avatars (XEP-0084, XEP-0153, XEP-0398) -----------------------------------------------------

  // The stanza with the XEP-0153 <x/> for the account's current avatar, or nullptr to keep it.
  xmpp::StanzaPtr withPhotoHash(const xmpp::StanzaPtr& stanza, const Jid& own) {
    std::string hash;
    {
      std::lock_guard lock(mu_);
      auto it = avatarHashes_.find(own.bareStr());
      if (it == avatarHashes_.end() || it->second.empty()) return nullptr;  // unknown or none: as sent
      hash = it->second;
    }
    auto e = stanza->element().clone();
    e->removeChildren("x", xml::ns::kVcardUpdate);
    auto x = xml::make("x", std::string(xml::ns::kVcardUpdate));
    x->addTextChild("photo", xml::ns::kVcardUpdate, hash);
    e->addChild(x);
    return xmpp::Stanza::make(e, stanza->from(), stanza->to());
  }

  // Pool thread, in the bind's roster job (no round trip of its own).
  void loadAvatarHash(const Jid& user) {
    {
      std::lock_guard lock(mu_);
      if (avatarHashes_.contains(user.bareStr())) return;
    }
    setAvatarHash(user, storedAvatarHash(user), false);
  }

  // Blocking pool.
  std::string storedAvatarHash(const Jid& user) {
    PepStore store(server_->db());
    if (store.nodeConfig(user.domain(), user.local(), kAvatarMetadataNs)) {
      auto last = store.items(user.domain(), user.local(), kAvatarMetadataNs, 1);
      return last.empty() ? std::string() : metadataHash(last.front().payload);
    }
    // No PEP avatar: the vCard's, if any (set before this module was enabled).
    auto card = storage::UserDataStore(server_->db()).get(user.domain(), user.local(), "vcard", "");
    if (!card) return {};
    auto v = xml::parseElement(*card, xml::ns::kVcard);
    auto photo = v ? vcardPhoto(*v) : std::nullopt;
    return photo ? photo->sha1 : std::string();
  }

  static std::string metadataHash(const std::string& payload) {
    auto m = parsePayload(payload);
    if (!m) return {};
    for (const auto& info : m->childrenNamed("info", kAvatarMetadataNs))
      if (!info->attr("id").empty()) return std::string(info->attr("id"));
    return {};
  }

  // Records the hash; when it changed (or was learnt after the presence went out), the account's
  // available resources send their presence again with it (XEP-0153 §4.1).
  void setAvatarHash(const Jid& user, const std::string& hash, bool changed) {
    {
      std::lock_guard lock(mu_);
      auto [it, inserted] = avatarHashes_.try_emplace(user.bareStr(), hash);
      if (!inserted) {
        if (it->second == hash) return;
        it->second = hash;
        changed = true;
      }
    }
    if (!changed && hash.empty()) return;
    for (const auto& r : server_->sessions().resources(user)) {
      if (!r.available || !r.session) continue;
      std::weak_ptr<session::Session> weak = r.session;
      r.session->executor().post([this, weak, user] {
        auto s = weak.lock();
        if (!s || !s->presence().available || !s->presence().last) return;
        auto stanza = xmpp::Stanza::make(s->presence().last, s->jid(), Jid());
        auto rewritten = withPhotoHash(stanza, user);
        if (!rewritten) {
          // No avatar any more: an empty <photo/> says so (XEP-0153 §4.1).
          auto e = s->presence().last->clone();
          e->removeChildren("x", xml::ns::kVcardUpdate);
          auto x = xml::make("x", std::string(xml::ns::kVcardUpdate));
          x->addChild(xml::make("photo", std::string(xml::ns::kVcardUpdate)));
          e->addChild(x);
          rewritten = xmpp::Stanza::make(e, s->jid(), Jid());
        }
        server_->presence().outbound(*s, rewritten);
      });
    }
  }

  // PEP -> vCard, inside the metadata publish job (XEP-0398 §3).
  void avatarToVcard(PepStore& store, const Jid& owner, const StoredItem& item, Outcome& out) {
    auto meta = parsePayload(item.payload);
    if (!meta || !meta->is("metadata", kAvatarMetadataNs)) return;
    auto infos = meta->childrenNamed("info", kAvatarMetadataNs);
    if (infos.empty()) {
      // XEP-0084 §4.6: avatar disabled.
      avatarVcardPhoto(owner, std::nullopt);
      out.avatarHash = "";
      return;
    }
    for (const auto& info : infos) {
      if (info->hasAttr("url")) continue;  // only the image stored in the data node converts
      std::string id(info->attr("id"));
      auto data = store.item(owner.domain(), owner.local(), kAvatarDataNs, id);
      if (!data) continue;
      auto d = parsePayload(data->payload);
      auto bytes = d ? decodeBase64Loose(d->text()) : std::nullopt;
      if (!bytes) continue;
      Photo p{std::string(info->attr("type")), std::move(*bytes), id};
      if (p.type.empty()) p.type = "image/png";
      avatarVcardPhoto(owner, p);
      out.avatarHash = id;
      return;
    }
    // No data for it here (an external URL only): the hash is still the account's avatar.
    out.avatarHash = std::string(infos.front()->attr("id"));
  }

  // Rewrites the stored vCard's PHOTO (the vcard module's store: "vcard", key ""). Blocking.
  void avatarVcardPhoto(const Jid& owner, const std::optional<Photo>& photo) {
    storage::UserDataStore data(server_->db());
    auto text = data.get(owner.domain(), owner.local(), "vcard", "");
    xml::ElementPtr card = text ? xml::parseElement(*text, xml::ns::kVcard) : nullptr;
    if (!card || !card->is("vCard", xml::ns::kVcard)) {
      if (!photo) return;
      card = xml::make("vCard", std::string(xml::ns::kVcard));
    }
    if (auto current = vcardPhoto(*card);
        (!current && !photo) || (current && photo && current->sha1 == photo->sha1))
      return;
    auto next = vcardWithPhoto(*card, photo);
    if (next->childCount() == 0)
      data.remove(owner.domain(), owner.local(), "vcard", "");
    else
      data.set(owner.domain(), owner.local(), "vcard", "", xml::toString(*next));
  }

  // vCard -> PEP, after a successful vCard set (XEP-0398 §4).
  void vcardChanged(const Jid& owner) {
    auto roster = server_->sessions().roster(owner);
    runtime::offload(
        server_->pool(), runtime::Executor::current(), owner.bareStr(),
        [this, owner, roster] {
          std::vector<Outcome> outs;
          auto& db = server_->db();
          auto text = storage::UserDataStore(db).get(owner.domain(), owner.local(), "vcard", "");
          auto card = text ? xml::parseElement(*text, xml::ns::kVcard) : nullptr;
          auto photo = card ? vcardPhoto(*card) : std::nullopt;
          PepStore store(db);
          std::string current;
          if (auto last = store.items(owner.domain(), owner.local(), kAvatarMetadataNs, 1); !last.empty())
            current = metadataHash(last.front().payload);
          if ((photo ? photo->sha1 : std::string()) == current) return outs;
          if (!photo && !store.nodeConfig(owner.domain(), owner.local(), kAvatarMetadataNs)) return outs;
          auto contacts = roster ? rosterItems(roster) : loadRoster(owner);
          auto publishOne = [&](std::string_view node, const std::string& id, const xml::Element& payload) {
            Outcome out;
            std::string n(node);
            auto cfg = ensureNode(store, owner, n, nullptr, out);
            if (!cfg) return;
            const std::string p = xml::toString(payload);
            if (static_cast<std::int64_t>(p.size()) > settings_.maxItemBytes) return;
            StoredItem item{id, {}, nowMicros(), p};
            out.config = *cfg;
            out.node = n;
            if (cfg->persistItems) store.publish(owner.domain(), owner.local(), n, item, cfg->maxItems);
            if (cfg->deliverNotifications)
              out.events.push_back(itemsEvent(n, itemElement(kEvent, item, cfg->deliverPayloads)));
            setRecipients(out, owner, *cfg, contacts);
            outs.push_back(std::move(out));
          };
          if (photo) {
            auto data = xml::make("data", std::string(kAvatarDataNs));
            data->addText(util::base64Encode(photo->bytes));
            publishOne(kAvatarDataNs, photo->sha1, *data);
            auto meta = xml::make("metadata", std::string(kAvatarMetadataNs));
            auto info = xml::make("info", std::string(kAvatarMetadataNs));
            info->setAttr("id", photo->sha1);
            info->setAttr("bytes", std::to_string(photo->bytes.size()));
            info->setAttr("type", photo->type);
            meta->addChild(info);
            publishOne(kAvatarMetadataNs, photo->sha1, *meta);
          } else {
            publishOne(kAvatarMetadataNs, util::randomToken(16),
                       *xml::make("metadata", std::string(kAvatarMetadataNs)));
          }
          if (!outs.empty()) outs.back().avatarHash = photo ? photo->sha1 : std::string();
          return outs;
        },
        [this, owner](runtime::Outcome<std::vector<Outcome>> res) {
          if (!res.ok()) {
            log::warn("pep.vcard_conversion.failed", "user={} error=\"{}\"", owner.bareStr(), res.error);
            return;
          }
          for (const auto& out : *res.value) deliverOutcome(owner, out);
        });
  }

  // ---- bookmarks (XEP-0402 §5.2, XEP-0048) --------------------------------------------------------

  static std::map<std::string, xml::ElementPtr> bookmarkItems(PepStore& store, const Jid& owner) {
    std::map<std::string, xml::ElementPtr> items;
    for (const auto& it : store.items(owner.domain(), owner.local(), kBookmarksNs))
      if (auto p = parsePayload(it.payload)) items[it.id] = p;
    return items;
  }

  // PEP -> private storage, inside the job that changed the bookmarks node. Blocking.
  void bookmarksToPrivate(PepStore& store, const Jid& owner) {
    storage::UserDataStore data(server_->db());
    auto text = data.get(owner.domain(), owner.local(), "private", kLegacyBookmarksNs);
    xml::ElementPtr previous;
    if (text)
      if (auto q = xml::parseElement(*text, xml::ns::kPrivate))
        previous = q->childPtr("storage", kLegacyBookmarksNs);
    auto storage = bookmarksToLegacy(bookmarkItems(store, owner), previous.get());
    auto doc = xml::make("query", std::string(xml::ns::kPrivate));
    doc->addChild(storage);
    data.set(owner.domain(), owner.local(), "private", kLegacyBookmarksNs, xml::toString(*doc));
  }

  // Private storage -> PEP, after a successful storage:bookmarks private set.
  void privateBookmarksChanged(const Jid& owner) {
    runtime::offload(
        server_->pool(), runtime::Executor::current(), owner.bareStr(),
        [this, owner] {
          Outcome out;
          auto& db = server_->db();
          auto text =
              storage::UserDataStore(db).get(owner.domain(), owner.local(), "private", kLegacyBookmarksNs);
          auto q = text ? xml::parseElement(*text, xml::ns::kPrivate) : nullptr;
          const auto* storage = q ? q->child("storage", kLegacyBookmarksNs) : nullptr;
          if (!storage) return out;
          PepStore store(db);
          auto cfg = ensureNode(store, owner, std::string(kBookmarksNs), nullptr, out);
          if (!cfg) return out;
          out.config = *cfg;
          auto current = bookmarkItems(store, owner);
          auto wanted = legacyToBookmarks(*storage, current);
          auto items = xml::make("items", std::string(kEvent));
          items->setAttr("node", kBookmarksNs);
          std::size_t changes = 0;
          for (const auto& [jid, conf] : wanted) {
            if (jid.size() > kMaxItemIdBytes) continue;
            auto it = current.find(jid);
            if (it != current.end() && it->second && sameLegacyBookmark(*it->second, *conf)) continue;
            StoredItem item{jid, {}, nowMicros(), xml::toString(*conf)};
            store.publish(owner.domain(), owner.local(), kBookmarksNs, item, cfg->maxItems);
            out.events.push_back(itemsEvent(kBookmarksNs, itemElement(kEvent, item, cfg->deliverPayloads)));
            ++changes;
          }
          for (const auto& [jid, conf] : current) {
            if (wanted.contains(jid)) continue;
            store.retract(owner.domain(), owner.local(), kBookmarksNs, jid);
            auto r = xml::make("retract", std::string(kEvent));
            r->setAttr("id", jid);
            items->addChild(r);
            ++changes;
          }
          if (items->childCount() > 0 && cfg->notifyRetract) out.events.push_back(items);
          setRecipients(out, owner, *cfg, loadRoster(owner));
          log::debug("pep.bookmarks.from_private", "user={} changes={}", owner.bareStr(), changes);
          return out;
        },
        [this, owner](runtime::Outcome<Outcome> res) {
          if (!res.ok()) {
            log::warn("pep.bookmarks_conversion.failed", "user={} error=\"{}\"", owner.bareStr(), res.error);
            return;
          }
          if (!res.value->failure) deliverOutcome(owner, *res.value);
        });
  }

  struct PendingCaps {
    CapsRef ref;
    std::string key;
    Jid asked;
    std::vector<std::weak_ptr<session::Session>> waiting;
    std::chrono::steady_clock::time_point since;
  };

  core::Server* server_ = nullptr;
  Settings settings_;
  metrics::Counter* published_ = nullptr;
  metrics::Counter* notified_ = nullptr;
  metrics::Counter* capsVerified_ = nullptr;
  metrics::Counter* capsUnverified_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, CapsPtr> capsByVer_;  // "hash ver" -> +notify nodes (verified)
  std::unordered_map<std::string, CapsPtr> capsByJid_;  // full JID -> (unverified answers)
  std::map<std::string, PendingCaps> pendingCaps_;      // by query id
  std::uint64_t capsSeq_ = 0;
  std::unordered_map<std::string, std::string> avatarHashes_;  // bare JID -> SHA-1 hex ("" = none)
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "pep", "XEP-0163 personal eventing (XEP-0060, XEP-0223, XEP-0402, XEP-0084/XEP-0398)", {}, true, [] {
      return std::unique_ptr<module::Module>(new PepModule);
    }};

}  // namespace parley::xep::pep
