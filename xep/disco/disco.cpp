// XEP-0030 service discovery for the server and for accounts, XEP-0115 entity capabilities of the
// server (advertised in stream features), answered from the Disco registry modules fill.
#include "server/module/disco.h"

#include "server/core/server.h"
#include "server/hooks/hooks.h"
#include "server/module/module.h"
#include "storage/account_store.h"

namespace parley::xep::disco {

namespace {

constexpr std::string_view kInfoNs = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kItemsNs = "http://jabber.org/protocol/disco#items";
constexpr std::string_view kCapsNs = "http://jabber.org/protocol/caps";
constexpr std::string_view kCapsNode = "https://parley.chat";

class DiscoModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override { serverName_ = section.getString("name", "Parley"); }

  void start(module::ModuleContext& ctx) override {
    auto& server = ctx.server();
    using module::DiscoScope;
    ctx.identity(DiscoScope::Server, {"server", "im", serverName_});
    ctx.identity(DiscoScope::Account, {"account", "registered", ""});
    for (auto scope : {DiscoScope::Server, DiscoScope::Account}) {
      ctx.feature(scope, std::string(kInfoNs));
      ctx.feature(scope, std::string(kItemsNs));
    }
    ctx.iq(router::IqScope::Server, "get", kInfoNs, "query", [&server](const router::IqRequest& req) {
      std::string_view node = req.payload().attr("node");
      // The caps node answers with the same info (XEP-0115 §6.2); other nodes belong to the node
      // providers modules registered (XEP-0050 command nodes…), or are unknown.
      if (!node.empty() && node != capsNode(server)) {
        if (!server.disco().answerNode(module::DiscoScope::Server, req, false))
          req.error(xmpp::StanzaError::ItemNotFound);
        return;
      }
      req.result(server.disco().infoQuery(module::DiscoScope::Server, node));
    });
    ctx.iq(router::IqScope::Server, "get", kItemsNs, "query", [&server](const router::IqRequest& req) {
      if (!req.payload().attr("node").empty() &&
          server.disco().answerNode(module::DiscoScope::Server, req, true))
        return;
      auto q = xml::make("query", std::string(kItemsNs));
      if (req.payload().attr("node").empty()) {
        for (const auto& item : server.disco().items()) {
          auto i = xml::make("item", std::string(kItemsNs));
          i->setAttr("jid", item.jid);
          if (!item.name.empty()) i->setAttr("name", item.name);
          if (!item.node.empty()) i->setAttr("node", item.node);
          q->addChild(i);
        }
      }
      req.result(q);
    });
    // Accounts: answered by the server for any requester (XEP-0030 §3.1), as long as the account
    // exists, so clients can discover what another user's server offers (PEP for OMEMO, MAM).
    ctx.iq(router::IqScope::Account, "get", kInfoNs, "query", [&server](const router::IqRequest& req) {
      ifAccountExists(server, req, [&server](const router::IqRequest& r) {
        r.result(server.disco().infoQuery(module::DiscoScope::Account, r.payload().attr("node")));
      });
    });
    ctx.iq(router::IqScope::Account, "get", kItemsNs, "query", [&server](const router::IqRequest& req) {
      ifAccountExists(server, req, [](const router::IqRequest& r) {
        r.result(xml::make("query", std::string(kItemsNs)));
      });
    });
    // XEP-0115: the server's capabilities in its stream features.
    ctx.hook<hooks::StreamFeatures>([&server](hooks::StreamFeatures::Context& c) {
      auto caps = xml::make("c", std::string(kCapsNs));
      caps->setAttr("hash", "sha-1");
      caps->setAttr("node", kCapsNode);
      caps->setAttr("ver", server.disco().capsHash());
      c.features.addChild(caps);
      return hooks::Action::Continue;
    });
  }

 private:
  static std::string capsNode(core::Server& server) {
    return std::string(kCapsNode) + "#" + server.disco().capsHash();
  }

  static void ifAccountExists(core::Server& server, const router::IqRequest& req,
                              std::function<void(const router::IqRequest&)> then) {
    if (req.fromSelf() || server.sessions().hasSessions(req.target)) {
      then(req);
      return;
    }
    auto& db = server.db();
    auto target = req.target;
    runtime::offload(
        server.pool(), runtime::Executor::current(), {},
        [&db, target] { return storage::AccountStore(db).exists(target.domain(), target.local()); },
        [req, then](runtime::Outcome<bool> out) {
          if (!out.ok())
            req.error(xmpp::StanzaError::InternalServerError);
          else if (!*out.value)
            req.error(xmpp::StanzaError::ServiceUnavailable);  // RFC 6121 §8.5.1: no such account
          else
            then(req);
        });
  }

  std::string serverName_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "disco", "XEP-0030 service discovery, XEP-0115 server capabilities", {}, true, [] {
      return std::unique_ptr<module::Module>(new DiscoModule);
    }};

}  // namespace parley::xep::disco
