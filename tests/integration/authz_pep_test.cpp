// Issue 9 §10: the XEP-0163/XEP-0060 authorisation rules of personal eventing as a generated matrix.
// One account ("owner") publishes a node with each access model (open, presence, roster limited to the
// group "Friends", whitelist); requesters in every relationship to it (the owner's own resource, another
// resource of the owner, contacts with subscription both/from/to/none, a pending subscription request,
// a contact in another roster group, a contact the owner blocked with XEP-0191, a local user with no
// relation) try every action: retrieve items, receive the notification of a new item, receive the last
// item when they come online, subscribe, publish, retract, create a node, get and set the node
// configuration, delete and purge the node. Each case starts from a freshly published node; the result
// (and, for changes, the node's state afterwards) is compared with what the specifications say, cited
// per rule below.
//
// Output: one line per action and a summary line
//   [ measure  ] PEP authorisation matrix: N cases, P pass, M mismatches, …
// Any mismatch fails the test with access model, requester, action, expected (and why) and what
// happened. PARLEY_AUTHZ_FILTER=text runs only the cases whose description contains `text`.
//
// Not in the matrix because Parley does not implement them (docs/pep.md): the "authorize" access model
// (configuring it is refused), whitelist members (no affiliation management, so a whitelist holds the
// owner only), explicit subscriptions (every subscribe gets <feature-not-implemented/>, as XEP-0060
// §6.1.3 allows for a node without subscriptions), temporary subscriptions from directed presence
// (XEP-0060 §9.1.3, SHOULD).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "integration/pep_helpers.h"

namespace parley::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kOwnerBare = "owner@localhost";
constexpr const char* kControlNode = "urn:parley:authz:control";

enum class Model { Open, Presence, Roster, Whitelist };

const char* modelName(Model m) {
  switch (m) {
    case Model::Open:
      return "open";
    case Model::Presence:
      return "presence";
    case Model::Roster:
      return "roster";
    case Model::Whitelist:
      return "whitelist";
  }
  return "?";
}

std::string nodeOf(Model m) {
  return std::string("urn:parley:authz:") + modelName(m);
}

// A requester's relationship to the owner, as the owner's roster (and block list) has it.
struct Relation {
  const char* name;
  const char* user;
  const char* resource;
  bool owner;    // the owner's own account
  bool shares;   // the owner's roster item has subscription from or both (the requester sees the presence)
  bool friends;  // the owner's roster item is in the group "Friends"
  bool blocked;  // the owner blocked it (XEP-0191)
};

const std::vector<Relation> kRelations = {
    {"owner (the publishing resource)", "owner", "main", true, false, false, false},
    {"owner (another resource)", "owner", "other", true, false, false, false},
    {"contact, subscription both, group Friends", "both", "r", false, true, true, false},
    {"contact, subscription from, group Friends", "from", "r", false, true, true, false},
    {"contact, subscription to, group Friends", "to", "r", false, false, true, false},
    {"contact, subscription none, group Friends", "none", "r", false, false, true, false},
    {"pending subscription request (no roster item)", "pending", "r", false, false, false, false},
    {"contact, subscription both, group Work", "work", "r", false, true, false, false},
    {"contact, subscription both, group Friends, blocked", "blocked", "r", false, true, true, true},
    {"local user without any relation", "stranger", "r", false, false, false, false},
};

struct Expect {
  std::string outcome;
  std::string rule;
};

Expect ok(std::string rule) {
  return {"success", std::move(rule)};
}
Expect err(std::string condition, std::string rule) {
  return {std::move(condition), std::move(rule)};
}

const Expect kBlocked = err("service-unavailable",
                            "XEP-0191 §3.3: an IQ get/set from a blocked JID MUST get an error, SHOULD be "
                            "<service-unavailable/> (the user appears offline)");

// XEP-0060 §6.5.1 (permissions) and §6.5.9 (errors), §4.5 (access models).
Expect expectRetrieve(Model m, const Relation& r) {
  if (r.owner) return ok("XEP-0060 §6.5.1: the service MUST always allow the node owner");
  if (r.blocked) return kBlocked;
  switch (m) {
    case Model::Open:
      return ok("XEP-0060 §6.5.1: open: any entity");
    case Model::Presence:
      if (r.shares) return ok("XEP-0060 §6.5.1: presence: entities subscribed to the owner's presence");
      return err("not-authorized/presence-subscription-required",
                 "XEP-0060 §6.5.9: presence model and not subscribed to the owner's presence");
    case Model::Roster:
      if (r.friends)
        return ok(
            "XEP-0060 §4.5: roster: any entity in the allowed roster group(s) (Parley: the group "
            "decides, as §4.5 and §6.5.9 say; §6.5.1 also mentions the presence subscription)");
      return err("not-authorized/not-in-roster-group", "XEP-0060 §6.5.9: not in an allowed roster group");
    case Model::Whitelist:
      return err("not-allowed/closed-node",
                 "XEP-0060 §6.5.9: not on the whitelist (which holds only the owner, §4.5)");
  }
  return err("?", "");
}

// XEP-0163 §4 (who receives notifications), §4.3.3 (blocking), XEP-0060 §9.1 (auto-subscribe).
Expect expectNotified(Model m, const Relation& r, const char* what) {
  const std::string yes = std::string(what);
  const std::string no = std::string("not ") + what;
  if (r.owner)
    return {yes, "XEP-0163 §4, XEP-0060 §9.1.1: every available resource of the owner, all access models"};
  if (r.blocked)
    return {no,
            "XEP-0163 §4.3.3: MUST NOT send notifications to a subscriber the user has blocked (XEP-0191)"};
  switch (m) {
    case Model::Open:
    case Model::Presence:
      if (r.shares)
        return {yes, "XEP-0163 §4, XEP-0060 §9.1.2: shares presence, allowed by the access model"};
      return {no, "XEP-0163 §4: only entities sharing presence with the owner (or subscribed) are notified"};
    case Model::Roster:
      if (r.shares && r.friends) return {yes, "XEP-0060 §9.1.2: presence subscriber in the allowed group"};
      return {no, r.shares ? "XEP-0060 §9.1.2: not in the allowed roster group"
                           : "XEP-0163 §4: does not share presence with the owner"};
    case Model::Whitelist:
      return {no, "XEP-0060 §4.5: whitelist: only the owner"};
  }
  return {"?", ""};
}

Expect expectOwnerOnly(const Relation& r, const std::string& rule) {
  if (r.owner) return ok(rule + ": the owner");
  if (r.blocked) return kBlocked;
  return err("forbidden", rule + ": insufficient privileges MUST give <forbidden/>");
}

// "success", or the condition of a stanza error, with the XEP-0060 condition after a slash.
std::string outcomeOf(const xml::ElementPtr& reply) {
  if (!reply) return "no answer";
  if (reply->attr("type") != "error") return "success";
  const auto* e = reply->child("error", "jabber:client");
  if (!e) return "error without <error/>";
  std::string condition, app;
  for (const auto& c : e->children()) {
    if (c->xmlns() == kStanzasNs && c->name() != "text") condition = c->name();
    if (c->xmlns() == kErrors) app = c->name();
  }
  return condition + (app.empty() ? "" : "/" + app);
}

struct PepCase;

struct Action {
  std::string name;
  std::function<Expect(Model, const Relation&)> expect;
  std::function<std::string(const PepCase&)> perform;
};

struct PepCase {
  const Action* action = nullptr;
  Model model = Model::Open;
  const Relation* relation = nullptr;
  XmppClient* requester = nullptr;
  std::string seed;  // the item the node holds when the case starts
  std::string tag;   // unique per case
  std::string node() const { return nodeOf(model); }
  std::string describe() const {
    return std::string("model=") + modelName(model) + " requester=\"" + relation->name + "\" action=\"" +
           action->name + "\"";
  }
};

class AuthzPepTest : public ImTest {
 protected:
  AuthzPepTest() : ImTest("[limits]\nstanza_rate = 100000\nstanza_burst = 100000\n") {}

  void SetUp() override {
    ImTest::SetUp();
    if (HasFatalFailure()) return;
    for (const char* u : {"owner", "both", "from", "to", "none", "pending", "work", "blocked", "stranger"})
      server.addUser(u, std::string(u) + "-secret");
    for (const auto& r : kRelations) {
      if (std::string(r.resource) == "other") continue;  // logs in after the subscriptions are set up
      clients_[r.user] = login(r.user, r.resource);
    }
    XmppClient& o = *clients_["owner"];
    // The owner's roster, built the way clients do it (RFC 6121 §3): approved subscriptions, a plain
    // roster item, an unanswered request, groups, and a block.
    subscribeBothWays(o, *clients_["both"]);
    subscribe(*clients_["from"], o);
    subscribe(o, *clients_["to"]);
    subscribeBothWays(o, *clients_["work"]);
    subscribeBothWays(o, *clients_["blocked"]);
    if (HasFatalFailure()) return;
    for (const char* u : {"both", "from", "to", "none", "blocked", "work"}) {
      const std::string group = std::string(u) == "work" ? "Work" : "Friends";
      ASSERT_TRUE(
          isResult(rosterSet(o, std::string("g-") + u,
                             "<item jid='" + server.jid(u) + "'><group>" + group + "</group></item>")));
      expectPush(o, server.jid(u));
    }
    XmppClient& pending = *clients_["pending"];
    pending.send("<presence to='owner@localhost' type='subscribe'/>");
    ASSERT_TRUE(o.expect(isPresence().from("pending@localhost").type("subscribe")));
    expectPush(pending, kOwnerBare);
    ASSERT_TRUE(isResult(o.request("<iq type='set' id='blk'><block xmlns='urn:xmpp:blocking'><item jid='" +
                                       server.jid("blocked") + "'/></block></iq>",
                                   "blk")));
    for (const auto& [u, state] : std::map<std::string, std::string>{{"both", "both"},
                                                                     {"from", "from"},
                                                                     {"to", "to"},
                                                                     {"none", "none"},
                                                                     {"pending", "(no item)"},
                                                                     {"work", "both"},
                                                                     {"blocked", "both"},
                                                                     {"stranger", "(no item)"}})
      ASSERT_EQ(rosterState(o, server.jid(u)), state) << "the owner's roster item for " << u;

    // XEP-0115: every client +notifies the matrix's nodes and its own control node. The server asks
    // the first one what the 'ver' means and remembers it for the others.
    std::vector<std::string> features{std::string(kControlNode) + "+notify"};
    for (Model m : {Model::Open, Model::Presence, Model::Roster, Model::Whitelist})
      features.push_back(nodeOf(m) + "+notify");
    caps_ = makeCaps(features);
    availableWithCaps(o, caps_);
    ASSERT_TRUE(isResult(
        o.request("<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "sync")));
    for (const auto& r : kRelations)
      if (!r.owner) clients_[r.user]->becomeAvailable(capsElement(caps_));
    other_ = client("owner", "other");
    other_->becomeAvailable(capsElement(caps_));
    // Each account's control node: its last item goes out in the same batch as the owner's, when a
    // resource comes online (so its arrival tells that the batch was sent).
    for (const auto& [u, c] : clients_)
      ASSERT_TRUE(isResult(publish(*c, kControlNode, "ctl", "<x xmlns='urn:parley:authz'/>",
                                   publishOptions(field("pubsub#access_model", "whitelist")))))
          << u;
  }

  XmppClient& clientFor(const Relation& r) {
    return std::string(r.resource) == "other" ? *other_ : *clients_[r.user];
  }
  XmppClient& ownerClient() { return *clients_["owner"]; }

  // The node as the case starts: deleted, then published afresh with the model (and its group).
  bool resetNode(const PepCase& c) {
    for (auto& [u, cl] : clients_) cl->inbox().clear();
    other_->inbox().clear();
    XmppClient& o = ownerClient();
    (void)owner(o, "<delete node='" + c.node() + "'/>");
    std::string options = field("pubsub#access_model", modelName(c.model));
    if (c.model == Model::Roster) options += field("pubsub#roster_groups_allowed", "Friends");
    return isResult(publish(o, c.node(), c.seed, "<x xmlns='urn:parley:authz'/>", publishOptions(options)));
  }

  xml::ElementPtr pubsub(XmppClient& c, const std::string& type, const char* ns, const std::string& inner) {
    const std::string id = nextId();
    return c.request("<iq type='" + type + "' id='" + id + "' to='" + kOwnerBare + "'><pubsub xmlns='" + ns +
                         "'>" + inner + "</pubsub></iq>",
                     id);
  }

  // The owner's view of the node afterwards: its item ids, or "(no node)".
  std::vector<std::string> ownerSees(const PepCase& c) {
    auto r = items(ownerClient(), {}, c.node());
    if (isError(r, "item-not-found")) return {"(no node)"};
    return itemIds(r);
  }
  std::string configValue(const PepCase& c, const std::string& var) {
    auto r = pubsub(ownerClient(), "get", kOwner, "<configure node='" + c.node() + "'/>");
    const auto* ps = isResult(r) ? r->child("pubsub", kOwner) : nullptr;
    const auto* cfg = ps ? ps->child("configure", kOwner) : nullptr;
    const auto* x = cfg ? cfg->child("x", "jabber:x:data") : nullptr;
    for (const auto& f : x ? x->childrenNamed("field", "jabber:x:data") : std::vector<xml::ElementPtr>{})
      if (f->attr("var") == var) return f->childText("value", "jabber:x:data");
    return "(none)";
  }

  // A change by the requester, then whether the node shows it exactly when it succeeded.
  std::string change(const PepCase& c, const xml::ElementPtr& reply,
                     const std::function<bool(const std::vector<std::string>& ids)>& changed) {
    std::string got = outcomeOf(reply);
    const bool did = changed(ownerSees(c));
    if (got == "success" && !did) return got + ", but the node did not change";
    if (got != "success" && did) return got + ", but the node changed";
    return got;
  }

  std::vector<Action> buildActions();
  void runMatrix();

  std::map<std::string, std::unique_ptr<XmppClient>> clients_;  // by account (the owner's "main" resource)
  std::unique_ptr<XmppClient> other_;                           // the owner's second resource
  Caps caps_;
};

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<Action> AuthzPepTest::buildActions() {
  std::vector<Action> a;
  a.push_back({"retrieve items", expectRetrieve, [this](const PepCase& c) {
                 auto r = items(*c.requester, kOwnerBare, c.node());
                 std::string got = outcomeOf(r);
                 if (got == "success" && !has(itemIds(r), c.seed)) return got + " without the item";
                 return got;
               }});
  a.push_back({"receive the notification of a publication",
               [](Model m, const Relation& r) { return expectNotified(m, r, "notified"); },
               [this](const PepCase& c) {
                 const std::string id = "new-" + c.tag;
                 if (!isResult(publish(ownerClient(), c.node(), id, "<x xmlns='urn:parley:authz'/>")))
                   return std::string("set-up failed: the owner could not publish");
                 // The notifications were handed to the recipients' sessions before the owner got its
                 // answer, so whatever the requester's session answers from now on comes after them: a
                 // ping marks the point (and a little grace covers the reading).
                 c.requester->request(
                     "<iq type='get' id='mark' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", "mark");
                 return std::string(c.requester->expect(isItemEvent(kOwnerBare, c.node(), id), 150ms)
                                        ? "notified"
                                        : "not notified");
               }});
  a.push_back({"receive the last item on coming online",
               [](Model m, const Relation& r) { return expectNotified(m, r, "sent"); },
               [this](const PepCase& c) {
                 // XEP-0163 §4.3.3: initial presence (after unavailable) with +notify in its caps.
                 c.requester->send("<presence type='unavailable'/>");
                 c.requester->send("<presence>" + capsElement(caps_) + "</presence>");
                 const std::string self = bareOf(c.requester->jid());
                 auto withDelay = [](const xml::Element& m) {
                   return m.child("delay", "urn:xmpp:delay") != nullptr;
                 };
                 Is control = isItemEvent(self, kControlNode, "ctl");
                 control.where(withDelay);
                 if (!c.requester->expect(control))
                   return std::string("set-up failed: no last item of the requester's own control node");
                 Is last = isItemEvent(kOwnerBare, c.node(), c.seed);
                 last.where(withDelay);
                 // Both come from one batch, the requester's own node first.
                 return std::string(c.requester->expect(last, 150ms) ? "sent" : "not sent");
               }});
  a.push_back({"subscribe",
               [](Model, const Relation& r) {
                 if (r.blocked) return kBlocked;
                 return err(
                     "feature-not-implemented/unsupported",
                     "XEP-0060 §6.1.3: the node does not support explicit subscriptions (XEP-0163 §4.1: "
                     "PEP subscriptions follow presence; docs/pep.md)");
               },
               [this](const PepCase& c) {
                 return outcomeOf(
                     pubsub(*c.requester, "set", kPubsub,
                            "<subscribe node='" + c.node() + "' jid='" + bareOf(c.requester->jid()) + "'/>"));
               }});
  a.push_back({"publish an item",
               [](Model, const Relation& r) {
                 return expectOwnerOnly(r, "XEP-0060 §7.1.3, XEP-0163 §3: one publisher per node");
               },
               [this](const PepCase& c) {
                 const std::string id = "intruder-" + c.tag;
                 return change(
                     c, publish(*c.requester, c.node(), id, "<x xmlns='urn:parley:authz'/>", {}, kOwnerBare),
                     [&](const auto& ids) { return has(ids, id); });
               }});
  a.push_back(
      {"retract an item", [](Model, const Relation& r) { return expectOwnerOnly(r, "XEP-0060 §7.2.3"); },
       [this](const PepCase& c) {
         return change(c,
                       pubsub(*c.requester, "set", kPubsub,
                              "<retract node='" + c.node() + "'><item id='" + c.seed + "'/></retract>"),
                       [&](const auto& ids) { return !has(ids, c.seed); });
       }});
  a.push_back(
      {"create a node", [](Model, const Relation& r) { return expectOwnerOnly(r, "XEP-0060 §8.1.1"); },
       [this](const PepCase& c) {
         const std::string node = "urn:parley:authz:created-" + c.tag;
         std::string got = outcomeOf(pubsub(*c.requester, "set", kPubsub, "<create node='" + node + "'/>"));
         const bool exists = !isError(items(ownerClient(), {}, node), "item-not-found");
         if ((got == "success") != exists) return got + (exists ? ", but the node exists" : ", but no node");
         return got;
       }});
  a.push_back({"get the node configuration",
               [](Model, const Relation& r) { return expectOwnerOnly(r, "XEP-0060 §8.2.3"); },
               [this](const PepCase& c) {
                 return outcomeOf(
                     pubsub(*c.requester, "get", kOwner, "<configure node='" + c.node() + "'/>"));
               }});
  a.push_back({"change the node configuration",
               [](Model, const Relation& r) { return expectOwnerOnly(r, "XEP-0060 §8.2.3"); },
               [this](const PepCase& c) {
                 std::string got = outcomeOf(
                     pubsub(*c.requester, "set", kOwner,
                            "<configure node='" + c.node() + "'><x xmlns='jabber:x:data' type='submit'>" +
                                field("FORM_TYPE", "http://jabber.org/protocol/pubsub#node_config") +
                                field("pubsub#max_items", "7") + "</x></configure>"));
                 const bool changed = configValue(c, "pubsub#max_items") == "7";
                 if ((got == "success") != changed)
                   return got + (changed ? ", but the configuration changed" : ", but nothing changed");
                 return got;
               }});
  a.push_back({"delete the node",
               [](Model, const Relation& r) { return expectOwnerOnly(r, "XEP-0060 §8.4.3"); },
               [this](const PepCase& c) {
                 return change(c, pubsub(*c.requester, "set", kOwner, "<delete node='" + c.node() + "'/>"),
                               [](const auto& ids) { return has(ids, "(no node)"); });
               }});
  a.push_back({"purge the node",
               [](Model, const Relation& r) { return expectOwnerOnly(r, "XEP-0060 §8.5.3"); },
               [this](const PepCase& c) {
                 return change(c, pubsub(*c.requester, "set", kOwner, "<purge node='" + c.node() + "'/>"),
                               [](const auto& ids) { return ids.empty(); });
               }});
  return a;
}

void AuthzPepTest::runMatrix() {
  const auto actions = buildActions();
  const char* filterEnv = std::getenv("PARLEY_AUTHZ_FILTER");
  const std::string filter = filterEnv ? filterEnv : "";
  int cases = 0, pass = 0, n = 0;
  std::vector<std::string> mismatches;
  std::vector<std::pair<std::string, std::pair<int, int>>> rows;
  const auto start = Clock::now();
  for (const auto& action : actions) {
    int rowCases = 0, rowPass = 0;
    for (Model m : {Model::Open, Model::Presence, Model::Roster, Model::Whitelist}) {
      for (const auto& r : kRelations) {
        PepCase c;
        c.action = &action;
        c.model = m;
        c.relation = &r;
        c.requester = &clientFor(r);
        c.tag = std::to_string(++n);
        c.seed = "seed-" + c.tag;
        const std::string what = c.describe();
        if (!filter.empty() && what.find(filter) == std::string::npos) continue;
        const Expect want = action.expect(m, r);
        std::string got = resetNode(c) ? action.perform(c) : "set-up failed";
        ++cases;
        ++rowCases;
        if (got == want.outcome) {
          ++pass;
          ++rowPass;
        } else {
          mismatches.push_back(what + ": expected " + want.outcome + " [" + want.rule + "], got " + got);
          ADD_FAILURE() << "PEP authorisation mismatch: " << mismatches.back();
        }
      }
    }
    if (rowCases) rows.push_back({action.name, {rowCases, rowPass}});
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& [name, counts] : rows)
    std::printf("  %-50s %4d cases %4d pass\n", name.c_str(), counts.first, counts.second);
  std::printf(
      "[ measure  ] PEP authorisation matrix: %d cases (%zu actions × 4 access models × %zu relationships), "
      "%d pass, %zu mismatches, %.1f s\n",
      cases, actions.size(), kRelations.size(), pass, mismatches.size(), seconds);
  std::fflush(stdout);
  EXPECT_TRUE(mismatches.empty());
  EXPECT_GT(cases, 0);
}

TEST_F(AuthzPepTest, GeneratedMatrixMatchesXep0060AndXep0163) {
  runMatrix();
}

}  // namespace
}  // namespace parley::test
