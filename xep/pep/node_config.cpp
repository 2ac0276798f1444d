#include "xep/pep/node_config.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "server/xml/namespaces.h"

namespace parley::xep::pep {

namespace {

constexpr std::string_view kNodeConfig = "http://jabber.org/protocol/pubsub#node_config";
constexpr std::string_view kPublishOptions = "http://jabber.org/protocol/pubsub#publish-options";
constexpr std::string_view kX = xml::ns::kDataForms;

std::optional<bool> parseBool(std::string_view v) {
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  return std::nullopt;
}

std::optional<std::int64_t> parseMaxItems(std::string_view v, const ConfigLimits& limits) {
  if (v == "max") return limits.maxItemsPerNode;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 1 || n > limits.maxItemsPerNode) return std::nullopt;
  return n;
}

std::string_view sendLastName(SendLast s) {
  switch (s) {
    case SendLast::Never: return "never";
    case SendLast::OnSub: return "on_sub";
    case SendLast::OnSubAndPresence: return "on_sub_and_presence";
  }
  return "never";
}

std::optional<SendLast> sendLastFromName(std::string_view n) {
  if (n == "never") return SendLast::Never;
  if (n == "on_sub") return SendLast::OnSub;
  if (n == "on_sub_and_presence") return SendLast::OnSubAndPresence;
  return std::nullopt;
}

// The submitted fields of a form: var -> values (FORM_TYPE excluded).
std::map<std::string, std::vector<std::string>> fieldsOf(const xml::Element& form) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& f : form.childrenNamed("field", kX)) {
    std::string var(f->attr("var"));
    if (var.empty() || var == "FORM_TYPE") continue;
    auto& values = out[var];
    for (const auto& v : f->childrenNamed("value", kX)) values.push_back(v->text());
  }
  return out;
}

// Sets one field; error text on an unknown field or a bad value.
std::optional<std::string> setField(NodeConfig& c, const std::string& var, const std::vector<std::string>& values,
                                    const ConfigLimits& limits) {
  const std::string v = values.empty() ? std::string() : values.front();
  auto boolField = [&](bool& target) -> std::optional<std::string> {
    auto b = parseBool(v);
    if (!b) return var + ": not a boolean";
    target = *b;
    return std::nullopt;
  };
  if (var == "pubsub#title") {
    c.title = v;
  } else if (var == "pubsub#type") {
    c.type = v;
  } else if (var == "pubsub#access_model") {
    auto a = accessModelFromName(v);
    if (!a) return "pubsub#access_model: unsupported access model '" + v + "'";
    c.access = *a;
  } else if (var == "pubsub#roster_groups_allowed") {
    c.rosterGroups = values;
  } else if (var == "pubsub#persist_items") {
    return boolField(c.persistItems);
  } else if (var == "pubsub#max_items") {
    auto n = parseMaxItems(v, limits);
    if (!n) return "pubsub#max_items: 1.." + std::to_string(limits.maxItemsPerNode) + " or 'max'";
    c.maxItems = *n;
  } else if (var == "pubsub#send_last_published_item") {
    auto s = sendLastFromName(v);
    if (!s) return "pubsub#send_last_published_item: never, on_sub or on_sub_and_presence";
    c.sendLast = *s;
  } else if (var == "pubsub#deliver_notifications") {
    return boolField(c.deliverNotifications);
  } else if (var == "pubsub#deliver_payloads") {
    return boolField(c.deliverPayloads);
  } else if (var == "pubsub#notify_retract") {
    return boolField(c.notifyRetract);
  } else if (var == "pubsub#notify_delete") {
    return boolField(c.notifyDelete);
  } else if (var == "pubsub#publish_model") {
    if (v != "publishers") return "pubsub#publish_model: only 'publishers' (the owner) on a PEP node";
  } else if (var == "pubsub#notify_config" || var == "pubsub#notify_sub" || var == "pubsub#presence_based_delivery") {
    // Accepted and ignored: no configuration or subscription notifications on PEP.
    auto b = parseBool(v);
    if (!b) return var + ": not a boolean";
  } else {
    return "unknown field " + var;
  }
  return std::nullopt;
}

void addField(xml::Element& x, std::string_view var, std::string_view type, const std::vector<std::string>& values,
              const std::vector<std::string>& options = {}) {
  auto f = xml::make("field", std::string(kX));
  f->setAttr("var", var);
  if (!type.empty()) f->setAttr("type", type);
  for (const auto& o : options) {
    auto opt = xml::make("option", std::string(kX));
    opt->addTextChild("value", kX, o);
    f->addChild(opt);
  }
  for (const auto& v : values) f->addTextChild("value", kX, v);
  x.addChild(f);
}

std::string escape(std::string_view v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out;
}

std::string unescape(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      out += v[i + 1] == 'n' ? '\n' : v[i + 1];
      ++i;
    } else {
      out += v[i];
    }
  }
  return out;
}

}  // namespace

std::string_view accessModelName(AccessModel a) {
  switch (a) {
    case AccessModel::Open: return "open";
    case AccessModel::Presence: return "presence";
    case AccessModel::Roster: return "roster";
    case AccessModel::Whitelist: return "whitelist";
  }
  return "whitelist";
}

std::optional<AccessModel> accessModelFromName(std::string_view name) {
  if (name == "open") return AccessModel::Open;
  if (name == "presence") return AccessModel::Presence;
  if (name == "roster") return AccessModel::Roster;
  if (name == "whitelist") return AccessModel::Whitelist;
  return std::nullopt;  // "authorize" is not offered on PEP
}

NodeConfig defaultConfig(std::string_view node, const ConfigLimits& limits) {
  NodeConfig c;
  c.maxItems = std::min(limits.defaultMaxItems, limits.maxItemsPerNode);
  if (node == "urn:xmpp:bookmarks:1") {
    // XEP-0402 §3: whitelist, every item kept, never sent on presence.
    c.access = AccessModel::Whitelist;
    c.maxItems = limits.maxItemsPerNode;
    c.sendLast = SendLast::Never;
  } else if (node == "storage:bookmarks") {
    c.access = AccessModel::Whitelist;  // XEP-0048 §3.2 / XEP-0223: private data
  }
  return c;
}

std::string formType(const xml::Element& form) {
  for (const auto& f : form.childrenNamed("field", kX))
    if (f->attr("var") == "FORM_TYPE") return f->childText("value", kX);
  return {};
}

std::optional<std::string> applyForm(NodeConfig& config, const xml::Element& form, const ConfigLimits& limits) {
  auto type = formType(form);
  if (!type.empty() && type != kNodeConfig && type != kPublishOptions) return "unexpected FORM_TYPE " + type;
  NodeConfig next = config;
  for (const auto& [var, values] : fieldsOf(form))
    if (auto err = setField(next, var, values, limits)) return err;
  config = std::move(next);
  return std::nullopt;
}

bool meetsPreconditions(const NodeConfig& config, const xml::Element& form, const ConfigLimits& limits) {
  for (const auto& [var, values] : fieldsOf(form)) {
    NodeConfig wanted = config;
    if (setField(wanted, var, values, limits)) return false;  // unknown or bad: cannot be met
    if (var == "pubsub#roster_groups_allowed") {
      auto a = wanted.rosterGroups, b = config.rosterGroups;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a != b) return false;
      continue;
    }
    if (!(wanted == config)) return false;
  }
  return true;
}

xml::ElementPtr configForm(const NodeConfig& c) {
  auto x = xml::make("x", std::string(kX));
  x->setAttr("type", "form");
  addField(*x, "FORM_TYPE", "hidden", {std::string(kNodeConfig)});
  addField(*x, "pubsub#title", "text-single", {c.title});
  addField(*x, "pubsub#type", "text-single", {c.type});
  addField(*x, "pubsub#access_model", "list-single", {std::string(accessModelName(c.access))},
           {"open", "presence", "roster", "whitelist"});
  addField(*x, "pubsub#roster_groups_allowed", "list-multi", c.rosterGroups);
  addField(*x, "pubsub#persist_items", "boolean", {c.persistItems ? "1" : "0"});
  addField(*x, "pubsub#max_items", "text-single", {std::to_string(c.maxItems)});
  addField(*x, "pubsub#send_last_published_item", "list-single", {std::string(sendLastName(c.sendLast))},
           {"never", "on_sub", "on_sub_and_presence"});
  addField(*x, "pubsub#deliver_notifications", "boolean", {c.deliverNotifications ? "1" : "0"});
  addField(*x, "pubsub#deliver_payloads", "boolean", {c.deliverPayloads ? "1" : "0"});
  addField(*x, "pubsub#notify_retract", "boolean", {c.notifyRetract ? "1" : "0"});
  addField(*x, "pubsub#notify_delete", "boolean", {c.notifyDelete ? "1" : "0"});
  addField(*x, "pubsub#publish_model", "list-single", {"publishers"}, {"publishers"});
  return x;
}

std::string serializeConfig(const NodeConfig& c) {
  std::string out;
  auto line = [&out](std::string_view k, std::string_view v) {
    out += k;
    out += '=';
    out += escape(v);
    out += '\n';
  };
  line("title", c.title);
  line("type", c.type);
  line("access_model", accessModelName(c.access));
  for (const auto& g : c.rosterGroups) line("roster_group", g);
  line("persist_items", c.persistItems ? "1" : "0");
  line("max_items", std::to_string(c.maxItems));
  line("send_last_published_item", sendLastName(c.sendLast));
  line("deliver_notifications", c.deliverNotifications ? "1" : "0");
  line("deliver_payloads", c.deliverPayloads ? "1" : "0");
  line("notify_retract", c.notifyRetract ? "1" : "0");
  line("notify_delete", c.notifyDelete ? "1" : "0");
  return out;
}

NodeConfig parseConfig(std::string_view text, const ConfigLimits& limits) {
  NodeConfig c;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = line.substr(0, eq);
    std::string v = unescape(line.substr(eq + 1));
    if (k == "title") c.title = v;
    else if (k == "type") c.type = v;
    else if (k == "access_model") c.access = accessModelFromName(v).value_or(AccessModel::Whitelist);
    else if (k == "roster_group") c.rosterGroups.push_back(v);
    else if (k == "persist_items") c.persistItems = v == "1";
    else if (k == "max_items") {
      // A limit lowered in the configuration since applies to old nodes too.
      c.maxItems = parseMaxItems(v, ConfigLimits{INT64_MAX, 1}).value_or(1);
      c.maxItems = std::min(c.maxItems, limits.maxItemsPerNode);
    } else if (k == "send_last_published_item") c.sendLast = sendLastFromName(v).value_or(SendLast::Never);
    else if (k == "deliver_notifications") c.deliverNotifications = v == "1";
    else if (k == "deliver_payloads") c.deliverPayloads = v == "1";
    else if (k == "notify_retract") c.notifyRetract = v == "1";
    else if (k == "notify_delete") c.notifyDelete = v == "1";
  }
  return c;
}

}  // namespace parley::xep::pep
