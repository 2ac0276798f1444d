// XEP-0054 vcard-temp: an account publishes one vCard that anyone may read (§3.2) and only the account
// may change (§3.3). Stored in UserDataStore store "vcard", key "", as the serialised <vCard/>.
#include "server/core/server.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/xml/namespaces.h"
#include "server/xml/parse_fragment.h"
#include "server/xml/writer.h"
#include "storage/account_store.h"
#include "storage/user_data_store.h"

namespace parley::xep::vcard {

namespace {

constexpr std::string_view kStore = "vcard";
constexpr std::string_view kKey = "";

struct Fetched {
  bool exists = false;
  std::optional<std::string> xml;
};

class VcardModule final : public module::Module {
 public:
  void configure(core::ConfigSection& section) override {
    maxBytes_ = section.getInt("max_bytes", 262144, 256, 16 * 1024 * 1024);
  }

  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    const std::string ns(xml::ns::kVcard);
    ctx.feature(module::DiscoScope::Server, ns);
    ctx.iq(router::IqScope::Account, "get", ns, "vCard", [this](const router::IqRequest& req) { get(req); });
    ctx.iq(router::IqScope::Account, "set", ns, "vCard", [this](const router::IqRequest& req) { set(req); });
  }

 private:
  void get(const router::IqRequest& req) {
    auto& server = *server_;
    const auto user = req.target;
    // An online account (or the requester itself) certainly exists; otherwise storage decides.
    const bool known = req.fromSelf() || server.sessions().hasSessions(user);
    runtime::offload(
        server.pool(), runtime::Executor::current(), user.bareStr(),
        [&server, user, known] {
          Fetched f;
          f.exists = known || storage::AccountStore(server.db()).exists(user.domain(), user.local());
          if (f.exists)
            f.xml = storage::UserDataStore(server.db()).get(user.domain(), user.local(), kStore, kKey);
          return f;
        },
        [req](runtime::Outcome<Fetched> out) {
          if (!out.ok()) {
            log::warn("vcard.get.failed", "user={} error=\"{}\"", req.target.bareStr(), out.error);
            req.error(xmpp::StanzaError::InternalServerError);
            return;
          }
          if (!out.value->exists) {
            req.error(xmpp::StanzaError::ServiceUnavailable);  // RFC 6121 §8.5.1: no such account
            return;
          }
          xml::ElementPtr card;
          if (out.value->xml) {
            card = xml::parseElement(*out.value->xml, xml::ns::kVcard);
            if (!card || !card->is("vCard", xml::ns::kVcard)) {
              log::warn("vcard.corrupt", "user={}", req.target.bareStr());
              card = nullptr;
            }
          }
          // §3.2: no vCard yet: an empty one.
          req.result(card ? card : xml::make("vCard", std::string(xml::ns::kVcard)));
        });
  }

  void set(const router::IqRequest& req) {
    if (!req.fromSelf()) {
      req.error(xmpp::StanzaError::Forbidden, "only the account may change its vCard");  // §3.3
      return;
    }
    // The element is kept as sent (a vCard carries its own namespace on its root).
    std::string value = xml::toString(req.payload());
    if (value.size() > static_cast<std::size_t>(maxBytes_)) {
      req.error(xmpp::StanzaError::NotAcceptable, "vCard too large");
      return;
    }
    const bool empty = req.payload().childCount() == 0;
    auto& server = *server_;
    const auto user = req.target;
    runtime::offload(
        server.pool(), runtime::Executor::current(), user.bareStr(),
        [&server, user, empty, value = std::move(value)] {
          storage::UserDataStore store(server.db());
          // An empty vCard clears it.
          if (empty)
            store.remove(user.domain(), user.local(), kStore, kKey);
          else
            store.set(user.domain(), user.local(), kStore, kKey, value);
        },
        [req](runtime::Outcome<bool> out) {
          if (!out.ok()) {
            log::warn("vcard.set.failed", "user={} error=\"{}\"", req.target.bareStr(), out.error);
            req.error(xmpp::StanzaError::InternalServerError);
            return;
          }
          req.result();
        });
  }

  core::Server* server_ = nullptr;
  std::int64_t maxBytes_ = 262144;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{"vcard", "XEP-0054 vcard-temp", {}, true, [] {
                                   return std::unique_ptr<module::Module>(new VcardModule);
                                 }};

}  // namespace parley::xep::vcard
