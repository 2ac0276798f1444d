// DESIGN: what the server and each account say about themselves in service discovery (XEP-0030):
// identities, features and XEP-0128 extension forms. Modules add entries through ModuleContext and
// lose them when they stop (RAII). The disco module answers the queries from this registry; the entity
// capabilities hash (XEP-0115) is recomputed whenever the registry changes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/router/iq_router.h"
#include "server/xml/element.h"

namespace parley::module {

enum class DiscoScope {
  Server,   // the server's domain
  Account,  // every account's bare JID (e.g. PEP, MAM)
};

struct DiscoIdentity {
  std::string category, type, name;
  friend auto operator<=>(const DiscoIdentity&, const DiscoIdentity&) = default;
};

struct DiscoItem {
  std::string jid, name, node;
};

// Answers a disco#info (items=false) or disco#items (items=true) query that names a node of the
// server's domain or of an account (XEP-0030 §3.2, §4.2), e.g. the XEP-0050 command list. Returns false
// when the node is not the provider's: the next provider is asked, and if nobody takes it the disco
// module answers item-not-found (info) or an empty list (items).
using NodeProvider = std::function<bool(const router::IqRequest& request, bool items)>;

class Disco {
 public:
  [[nodiscard]] router::IqHandle addFeature(DiscoScope scope, std::string var);
  [[nodiscard]] router::IqHandle addIdentity(DiscoScope scope, DiscoIdentity identity);
  [[nodiscard]] router::IqHandle addExtension(DiscoScope scope, xml::ElementPtr form);
  [[nodiscard]] router::IqHandle addItem(DiscoItem item);  // items of the server (components)
  [[nodiscard]] router::IqHandle addNodeProvider(DiscoScope scope, NodeProvider provider);
  // Asks the node providers of `scope` in registration order; false if none answered.
  bool answerNode(DiscoScope scope, const router::IqRequest& request, bool items) const;

  std::vector<std::string> features(DiscoScope scope) const;  // sorted, unique
  std::vector<DiscoIdentity> identities(DiscoScope scope) const;
  std::vector<xml::ElementPtr> extensions(DiscoScope scope) const;
  std::vector<DiscoItem> items() const;
  // The <query xmlns='…disco#info'/> payload for a scope.
  xml::ElementPtr infoQuery(DiscoScope scope, std::string_view node = {}) const;
  // XEP-0115 §5 verification string hash (sha-1, base64) of the server's info.
  std::string capsHash() const;
  std::uint64_t generation() const;

 private:
  struct Entry {
    std::uint64_t token;
    DiscoScope scope;
    std::string feature;
    std::optional<DiscoIdentity> identity;
    xml::ElementPtr extension;
    std::optional<DiscoItem> item;
    std::shared_ptr<NodeProvider> provider = nullptr;
  };
  router::IqHandle add(Entry e);
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  std::uint64_t nextToken_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace parley::module
