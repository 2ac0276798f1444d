// The configuration of one PEP node (XEP-0060 §16.4.4 pubsub#node_config, the subset PEP clients
// use), its data form for the owner (XEP-0060 §8.2), XEP-0223 publish-options preconditions
// (XEP-0060 §7.1.5) and the text form it is stored in. Pure functions: no threads, no storage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/xml/element.h"

namespace parley::xep::pep {

enum class AccessModel { Open, Presence, Roster, Whitelist };
enum class SendLast { Never, OnSub, OnSubAndPresence };

std::string_view accessModelName(AccessModel a);
std::optional<AccessModel> accessModelFromName(std::string_view name);

// Server limits a node configuration is checked against ([modules.pep]).
struct ConfigLimits {
  std::int64_t maxItemsPerNode = 1000;  // also what max_items = "max" means
  std::int64_t defaultMaxItems = 1;
};

struct NodeConfig {
  std::string title;
  AccessModel access = AccessModel::Presence;  // XEP-0163 §8: presence by default
  std::vector<std::string> rosterGroups;       // pubsub#roster_groups_allowed (access "roster")
  bool persistItems = true;
  std::int64_t maxItems = 1;
  SendLast sendLast = SendLast::OnSubAndPresence;  // XEP-0163 §4.3.5
  bool deliverNotifications = true;
  bool deliverPayloads = true;
  bool notifyRetract = true;
  bool notifyDelete = true;
  std::string type;  // pubsub#type: the payload namespace, informational
  friend bool operator==(const NodeConfig&, const NodeConfig&) = default;
};

// The defaults for a node created without a configuration: XEP-0163 smart defaults, except for nodes
// holding private data (XEP-0402 bookmarks, XEP-0048 bookmarks), which are whitelist (owner only) so an
// auto-created node never leaks them.
NodeConfig defaultConfig(std::string_view node, const ConfigLimits& limits);

// Applies the fields of a submitted data form (node_config or publish-options) to `config`. Returns
// an error text when a field is unknown or has a bad value (nothing is changed then).
std::optional<std::string> applyForm(NodeConfig& config, const xml::Element& form, const ConfigLimits& limits);

// XEP-0060 §7.1.5: true when every field of the publish-options form matches `config` (a field this
// server does not know is a precondition that cannot be met).
bool meetsPreconditions(const NodeConfig& config, const xml::Element& form, const ConfigLimits& limits);

// The owner's configuration form (XEP-0060 §8.2.1), type 'form'.
xml::ElementPtr configForm(const NodeConfig& config);

// Stored text form (one "key=value" per line, escaped) and back; unknown keys are ignored.
std::string serializeConfig(const NodeConfig& config);
NodeConfig parseConfig(std::string_view text, const ConfigLimits& limits);

// The FORM_TYPE of a data form, "" when absent.
std::string formType(const xml::Element& form);

}  // namespace parley::xep::pep
