// XEP-0049 private XML storage: an account keeps XML fragments on its server, one document per
// namespace, readable and writable only by the account itself.
//
// Storage: UserDataStore store "private", key = the fragment's namespace (XEP-0049 §2.1 retrieves by
// namespace, whatever the element name), value = <query xmlns='jabber:iq:private'> holding every
// element of that namespace from the last set (§2.1: a set MAY carry several elements of one
// namespace). A set replaces the whole document for its namespace.
#include "server/core/server.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "storage/user_data_store.h"

namespace parley::xep::private_storage {

namespace {

constexpr std::string_view kStore = "private";

class PrivateStorageModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    maxBytes_ = section.getInt("max_bytes", 65536, 64, 16 * 1024 * 1024);
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    const std::string ns(xml::ns::kPrivate);
    // Requests come without 'to' (handled for the account); clients look for the feature on the
    // server, so it is advertised on both.
    ctx.feature(module::DiscoScope::Server, ns);
    ctx.feature(module::DiscoScope::Account, ns);
    ctx.iq(router::IqScope::Account, "get", ns, "query", [this](const router::IqRequest& req) { get(req); });
    ctx.iq(router::IqScope::Account, "set", ns, "query", [this](const router::IqRequest& req) { set(req); });
  }

 private:
  // The one namespace the request is about; answers the error and returns "" when there is none.
  static std::string checkedNamespace(const router::IqRequest& req,
                                      const std::vector<xml::ElementPtr>& items) {
    if (!req.fromSelf()) {
      req.error(xmpp::StanzaError::Forbidden, "private data belongs to its account");  // XEP-0049 §3
      return {};
    }
    if (items.empty()) {
      // §3: an empty get is "bad format"; §2.1: a set without a child is not acceptable.
      req.error(req.isSet() ? xmpp::StanzaError::NotAcceptable : xmpp::StanzaError::BadRequest,
                "the query needs a child element in its own namespace");
      return {};
    }
    const std::string& ns = items.front()->xmlns();
    for (const auto& e : items) {
      if (e->xmlns() != ns || (!req.isSet() && items.size() > 1)) {
        // §2.1: one namespace per request.
        req.error(xmpp::StanzaError::BadRequest, "one namespace per request");
        return {};
      }
    }
    // §3: jabber:* namespaces (this one included, which also catches unqualified children) are
    // reserved.
    if (ns.empty() || ns.starts_with("jabber:")) {
      req.error(xmpp::StanzaError::NotAcceptable, "reserved namespace");
      return {};
    }
    return ns;
  }

  void get(const router::IqRequest& req) {
    auto items = req.payload().children();
    std::string ns = checkedNamespace(req, items);
    if (ns.empty()) return;
    auto& server = *server_;
    const auto user = req.target;
    auto requested = items.front();
    runtime::offload(
        server.pool(), runtime::Executor::current(), user.bareStr(),
        [&server, user, ns] {
          return storage::UserDataStore(server.db()).get(user.domain(), user.local(), kStore, ns);
        },
        [req, requested](runtime::Outcome<std::optional<std::string>> out) {
          if (!out.ok()) {
            log::warn("private.get.failed", "user={} error=\"{}\"", req.target.bareStr(), out.error);
            req.error(xmpp::StanzaError::InternalServerError);
            return;
          }
          xml::ElementPtr stored;
          if (*out.value) {
            stored = xml::parseElement(**out.value, xml::ns::kPrivate);
            if (!stored) log::warn("private.corrupt", "user={}", req.target.bareStr());
          }
          if (stored && stored->is("query", xml::ns::kPrivate)) {
            req.result(stored);
            return;
          }
          // §2.1: nothing stored: the requested element comes back empty.
          auto q = xml::make("query", std::string(xml::ns::kPrivate));
          q->addChild(xml::make(requested->name(), requested->xmlns()));
          req.result(q);
        });
  }

  void set(const router::IqRequest& req) {
    auto items = req.payload().children();
    std::string ns = checkedNamespace(req, items);
    if (ns.empty()) return;
    // Only the elements are kept (whitespace between them is not data).
    auto doc = xml::make("query", std::string(xml::ns::kPrivate));
    for (const auto& e : items) doc->addChild(e);
    std::string value = xml::toString(*doc);
    if (value.size() > static_cast<std::size_t>(maxBytes_)) {
      req.error(xmpp::StanzaError::NotAcceptable, "private data too large");
      return;
    }
    auto& server = *server_;
    const auto user = req.target;
    runtime::offload(
        server.pool(), runtime::Executor::current(), user.bareStr(),
        [&server, user, ns, value = std::move(value)] {
          storage::UserDataStore(server.db()).set(user.domain(), user.local(), kStore, ns, value);
        },
        [req](runtime::Outcome<bool> out) {
          if (!out.ok()) {
            log::warn("private.set.failed", "user={} error=\"{}\"", req.target.bareStr(), out.error);
            req.error(xmpp::StanzaError::InternalServerError);
            return;
          }
          req.result();
        });
  }

  core::Server* server_ = nullptr;
  std::int64_t maxBytes_ = 65536;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"private_storage", "XEP-0049 private XML storage", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new PrivateStorageModule);
                                 }};

}  // namespace parley::xep::private_storage
