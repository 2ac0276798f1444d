#include "server/core/config.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sched.h>
#include <toml++/toml.h>

#include "server/log/log.h"
#include "server/xmpp/jid.h"

namespace parley::core {

namespace {

// One network thread per CPU this process may run on (its affinity mask, so taskset and cpusets count),
// less one that the blocking pool (storage), the kernel's network work and the OS need anyway; at least
// one. A network thread that hands a stanza to another network thread pays a wake-up and a system call
// on each side, so on a small machine one busy thread beats two half-idle ones.
int defaultNetworkThreads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0
                 ? CPU_COUNT(&set)
                 : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cpus - 1);
}

// Reads one TOML table, remembering which keys were consumed so unknown keys can be reported.
class TableReader {
 public:
  TableReader(const std::string& file, const toml::table& table, std::string path)
      : file_(file), table_(table), path_(std::move(path)) {}

  [[noreturn]] void failAt(const toml::source_region& where, std::string_view message) const {
    throw ConfigError(fmt::format("{}:{}: {}", file_, where.begin.line, message));
  }
  [[noreturn]] void fail(std::string_view key, std::string_view message) const {
    if (const toml::node* n = table_.get(key))
      failAt(n->source(), fmt::format("{}: {}", qualified(key), message));
    failAt(table_.source(), fmt::format("{}: {}", qualified(key), message));
  }
  std::string qualified(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  const toml::node* get(std::string_view key) {
    used_.insert(std::string(key));
    return table_.get(key);
  }

  bool getBool(std::string_view key, bool def) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_boolean()) fail(key, "expected true or false");
    return n->as_boolean()->get();
  }
  std::int64_t getInt(std::string_view key, std::int64_t def, std::int64_t min, std::int64_t max) {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_integer()) fail(key, "expected an integer");
    std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) fail(key, fmt::format("must be between {} and {}", min, max));
    return v;
  }
  double getNumber(std::string_view key, double def, double min, double max) {
    const toml::node* n = get(key);
    if (!n) return def;
    double v;
    if (n->is_integer())
      v = static_cast<double>(n->as_integer()->get());
    else if (n->is_floating_point())
      v = n->as_floating_point()->get();
    else
      fail(key, "expected a number");
    if (v < min || v > max) fail(key, fmt::format("must be between {} and {}", min, max));
    return v;
  }
  std::string getString(std::string_view key, std::string_view def) {
    const toml::node* n = get(key);
    if (!n) return std::string(def);
    if (!n->is_string()) fail(key, "expected a string");
    return n->as_string()->get();
  }
  std::string getChoice(std::string_view key, std::string_view def,
                        std::initializer_list<std::string_view> allowed) {
    std::string v = getString(key, def);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", a);
      fail(key, fmt::format("must be one of {}", list));
    }
    return v;
  }
  std::vector<std::string> getStringList(std::string_view key, const std::vector<std::string>& def) {
    const toml::node* n = get(key);
    if (!n) return def;
    const toml::array* a = n->as_array();
    if (!a) fail(key, "expected an array of strings");
    std::vector<std::string> out;
    for (const toml::node& e : *a) {
      if (!e.is_string()) failAt(e.source(), fmt::format("{}: expected an array of strings", qualified(key)));
      out.push_back(e.as_string()->get());
    }
    return out;
  }
  const toml::table* getTable(std::string_view key) {
    const toml::node* n = get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(key, "expected a table");
    return n->as_table();
  }

  // Every key not read so far is an error (catches typos).
  void finish() const {
    for (auto&& [k, v] : table_) {
      if (!used_.count(std::string(k.str())))
        failAt(k.source().begin.line ? k.source() : v.source(),
               fmt::format("unknown key \"{}\"", qualified(k.str())));
    }
  }

  const toml::table& table() const { return table_; }

 private:
  const std::string& file_;
  const toml::table& table_;
  std::string path_;
  std::set<std::string> used_;
};

std::string resolvePath(const std::filesystem::path& base, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (base / path).lexically_normal().string();
}

const std::vector<std::string> kAllMechanisms = {
    "SCRAM-SHA-512-PLUS",
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-512",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
};

}  // namespace

const HostConfig* Config::host(std::string_view domain) const {
  for (const auto& h : hosts)
    if (h.domain == domain) return &h;
  return nullptr;
}

bool Config::isAdmin(std::string_view bareJid) const {
  return std::find(admins.begin(), admins.end(), bareJid) != admins.end();
}

namespace {
// An IPv4/IPv6 address, or with withPrefix a CIDR block ("10.0.0.0/8").
bool validCidr(const std::string& text, bool withPrefix) {
  std::string addr = text;
  int maxBits = 128;
  std::string bits;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    if (!withPrefix) return false;
    addr = text.substr(0, slash);
    bits = text.substr(slash + 1);
  }
  unsigned char buf[16];
  if (::inet_pton(AF_INET, addr.c_str(), buf) == 1)
    maxBits = 32;
  else if (::inet_pton(AF_INET6, addr.c_str(), buf) != 1)
    return false;
  if (bits.empty()) return true;
  if (bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(bits) <= maxBits;
}
bool isLoopbackAddress(const std::string& a) {
  return a == "::1" || a.rfind("127.", 0) == 0 || a == "::ffff:127.0.0.1";
}
}  // namespace

Config loadConfig(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}: {}", path, e.source().begin.line, e.description()));
  }
  auto document = std::make_shared<toml::table>(std::move(root));
  const std::filesystem::path base = std::filesystem::absolute(path).parent_path();

  Config cfg;
  cfg.path = path;
  TableReader top(path, *document, "");

  if (const toml::table* t = top.getTable("server")) {
    TableReader r(path, *t, "server");
    cfg.logLevel = r.getChoice("log_level", "info", {"trace", "debug", "info", "warn", "error"});
    cfg.networkThreads = static_cast<int>(r.getInt("network_threads", 0, 0, 256));
    cfg.blockingThreads = static_cast<int>(r.getInt("blocking_threads", 4, 1, 256));
    cfg.ioUring = r.getBool("io_uring", true);
    cfg.dataDir = resolvePath(base, r.getString("data_dir", "data"));
    for (const auto& a : r.getStringList("admins", {})) {
      auto jid = xmpp::Jid::parse(a);
      if (!jid || !jid->isBare() || jid->local().empty())
        r.fail("admins", fmt::format("\"{}\" is not a bare JID", a));
      cfg.admins.push_back(jid->bareStr());
    }
    r.finish();
  } else {
    cfg.dataDir = resolvePath(base, "data");
  }
  if (cfg.networkThreads == 0) cfg.networkThreads = defaultNetworkThreads();

  if (const toml::node* n = top.get("hosts")) {
    const toml::array* arr = n->as_array();
    if (!arr) top.fail("hosts", "expected [[hosts]] tables");
    for (const toml::node& e : *arr) {
      if (!e.is_table()) top.failAt(e.source(), "hosts: expected [[hosts]] tables");
      TableReader r(path, *e.as_table(), "hosts");
      HostConfig h;
      std::string domain = r.getString("domain", "");
      auto prepared = xmpp::Jid::prepDomain(domain);
      if (domain.empty() || !prepared) r.fail("domain", "a valid domain name is required");
      h.domain = *prepared;
      if (cfg.host(h.domain)) r.fail("domain", fmt::format("host \"{}\" is defined twice", h.domain));
      h.tlsCert = resolvePath(base, r.getString("tls_cert", ""));
      h.tlsKey = resolvePath(base, r.getString("tls_key", ""));
      if (h.tlsCert.empty() || h.tlsKey.empty()) r.fail("tls_cert", "every host needs tls_cert and tls_key");
      r.finish();
      cfg.hosts.push_back(std::move(h));
    }
  }
  if (cfg.hosts.empty()) top.failAt(document->source(), "at least one [[hosts]] entry is required");

  if (const toml::node* n = top.get("listeners")) {
    const toml::array* arr = n->as_array();
    if (!arr) top.fail("listeners", "expected [[listeners]] tables");
    for (const toml::node& e : *arr) {
      if (!e.is_table()) top.failAt(e.source(), "listeners: expected [[listeners]] tables");
      TableReader r(path, *e.as_table(), "listeners");
      ListenerConfig l;
      std::string type = r.getChoice("type", "c2s", {"c2s", "c2s_tls"});
      l.type = type == "c2s" ? ListenerType::C2sStartTls : ListenerType::C2sDirectTls;
      l.address = r.getString("address", "::");
      l.port = static_cast<std::uint16_t>(
          r.getInt("port", l.type == ListenerType::C2sStartTls ? 5222 : 5223, 0, 65535));
      r.finish();
      cfg.listeners.push_back(l);
    }
  } else {
    cfg.listeners.push_back({ListenerType::C2sStartTls, "::", 5222});
    cfg.listeners.push_back({ListenerType::C2sDirectTls, "::", 5223});
  }

  if (const toml::table* t = top.getTable("tls")) {
    TableReader r(path, *t, "tls");
    cfg.tls.minVersion = r.getChoice("min_version", "1.2", {"1.2", "1.3"});
    cfg.tls.ciphers = r.getString("ciphers", "");
    cfg.tls.recordLayer = r.getChoice("record_layer", "parley", {"parley", "openssl"});
    r.finish();
  }

  cfg.c2s.saslMechanisms = kAllMechanisms;
  if (const toml::table* t = top.getTable("c2s")) {
    TableReader r(path, *t, "c2s");
    cfg.c2s.requireTls = r.getBool("require_tls", true);
    cfg.c2s.saslMechanisms = r.getStringList("sasl_mechanisms", kAllMechanisms);
    for (const auto& m : cfg.c2s.saslMechanisms)
      if (std::find(kAllMechanisms.begin(), kAllMechanisms.end(), m) == kAllMechanisms.end())
        r.fail("sasl_mechanisms", fmt::format("unknown mechanism \"{}\"", m));
    if (cfg.c2s.saslMechanisms.empty()) r.fail("sasl_mechanisms", "at least one mechanism is required");
    std::string conflict = r.getChoice("resource_conflict", "kick_old", {"kick_old", "refuse_new"});
    cfg.c2s.resourceConflict =
        conflict == "kick_old" ? ResourceConflict::KickOld : ResourceConflict::RefuseNew;
    cfg.c2s.maxResourcesPerUser = static_cast<int>(r.getInt("max_resources_per_user", 20, 1, 1000));
    cfg.c2s.releaseParserAfterRead =
        r.getChoice("release_parser", "after_read", {"after_read", "when_idle"}) == "after_read";
    r.finish();
  }

  if (const toml::table* t = top.getTable("auth")) {
    TableReader r(path, *t, "auth");
    cfg.auth.scramIterations = static_cast<std::uint32_t>(r.getInt("scram_iterations", 4096, 4096, 10000000));
    cfg.auth.failuresPerAccountAndIp =
        static_cast<int>(r.getInt("failures_per_account_and_ip", 5, 1, 1000000));
    cfg.auth.failuresPerIp = static_cast<int>(r.getInt("failures_per_ip", 20, 1, 1000000));
    cfg.auth.ipBlockTime = static_cast<int>(r.getInt("ip_block_time", 600, 1, 86400 * 7));
    cfg.auth.failuresPerAccount = static_cast<int>(r.getInt("failures_per_account", 10, 1, 1000000));
    cfg.auth.accountBackoff = static_cast<int>(r.getInt("account_backoff", 2, 1, 86400));
    cfg.auth.accountBackoffMax = static_cast<int>(r.getInt("account_backoff_max", 600, 1, 86400 * 7));
    if (cfg.auth.accountBackoffMax < cfg.auth.accountBackoff)
      r.fail("account_backoff_max", "must not be smaller than account_backoff");
    cfg.auth.knownAddresses = static_cast<int>(r.getInt("known_addresses", 8, 0, 64));
    cfg.auth.failureWindow = static_cast<int>(r.getInt("failure_window", 600, 1, 86400 * 7));
    cfg.auth.failureDelayMs = static_cast<int>(r.getInt("failure_delay_ms", 500, 0, 60000));
    r.finish();
  }

  if (const toml::table* t = top.getTable("limits")) {
    TableReader r(path, *t, "limits");
    auto& l = cfg.limits;
    l.stanzaSizePreauth = static_cast<std::size_t>(r.getInt("stanza_size_preauth", 10000, 1024, 1 << 20));
    l.stanzaSize = static_cast<std::size_t>(r.getInt("stanza_size", 262144, 4096, 64 << 20));
    l.maxDepth = static_cast<std::size_t>(r.getInt("max_depth", 48, 4, 1000));
    l.maxChildren = static_cast<std::size_t>(r.getInt("max_children", 10000, 16, 1000000));
    l.maxAttributes = static_cast<std::size_t>(r.getInt("max_attributes", 64, 8, 10000));
    l.connectionsPerIp = static_cast<int>(r.getInt("connections_per_ip", 100, 1, 1000000));
    l.unauthenticatedPerIp = static_cast<int>(r.getInt("unauthenticated_per_ip", 20, 1, 1000000));
    l.preauthTimeout = static_cast<int>(r.getInt("preauth_timeout", 30, 1, 3600));
    l.stanzaRate = r.getNumber("stanza_rate", 50, 0.1, 1e6);
    l.stanzaBurst = r.getNumber("stanza_burst", 200, 1, 1e7);
    l.writeQueuePause = static_cast<std::size_t>(r.getInt("write_queue_pause", 512 * 1024, 4096, 1ll << 32));
    l.writeQueueMax = static_cast<std::size_t>(r.getInt("write_queue_max", 8 << 20, 8192, 1ll << 34));
    if (l.writeQueueMax < l.writeQueuePause)
      r.fail("write_queue_max", "must not be smaller than write_queue_pause");
    r.finish();
  }

  if (const toml::table* t = top.getTable("storage")) {
    TableReader r(path, *t, "storage");
    cfg.storage.backend = r.getChoice("backend", "sqlite", {"sqlite", "mysql"});
    cfg.storage.sqlitePath = resolvePath(base, r.getString("path", "data/parley.db"));
    cfg.storage.busyTimeoutMs = static_cast<int>(r.getInt("busy_timeout_ms", 5000, 0, 600000));
    cfg.storage.sqliteSynchronous = r.getChoice("synchronous", "normal", {"normal", "full"});
    // MySQL/MariaDB: read whatever the backend, so a config can switch backends by one line.
    cfg.storage.mysqlHost = r.getString("host", "127.0.0.1");
    cfg.storage.mysqlPort = static_cast<int>(r.getInt("port", 3306, 1, 65535));
    cfg.storage.mysqlSocket = r.getString("socket", "");
    cfg.storage.mysqlUser = r.getString("user", "parley");
    cfg.storage.mysqlPassword = r.getString("password", "");
    cfg.storage.mysqlDatabase = r.getString("database", "parley");
    cfg.storage.mysqlConnectTimeoutS = static_cast<int>(r.getInt("connect_timeout", 10, 1, 3600));
    if (cfg.storage.backend == "mysql" && cfg.storage.mysqlDatabase.empty())
      r.fail("database", "must name the MySQL database");
    r.finish();
  } else {
    cfg.storage.sqlitePath = resolvePath(base, "data/parley.db");
  }

  if (const toml::table* t = top.getTable("http")) {
    TableReader r(path, *t, "http");
    HttpConfig& h = cfg.http;
    h.publicUrl = r.getString("public_url", "");
    while (!h.publicUrl.empty() && h.publicUrl.back() == '/') h.publicUrl.pop_back();
    if (!h.publicUrl.empty() && h.publicUrl.rfind("https://", 0) != 0 && h.publicUrl.rfind("http://", 0) != 0)
      r.fail("public_url", "must start with https:// or http://");
    h.trustedProxies = r.getStringList("trusted_proxies", {});
    for (const auto& ip : h.trustedProxies)
      if (!validCidr(ip, false)) r.fail("trusted_proxies", fmt::format("\"{}\" is not an IP address", ip));
    h.corsOrigins = r.getStringList("cors_origins", {});
    h.maxHeaderSize = static_cast<std::size_t>(r.getInt("max_header_size", 16384, 1024, 1 << 20));
    h.maxBodySize = static_cast<std::size_t>(r.getInt("max_body_size", 1 << 20, 1024, 1ll << 30));
    h.headerTimeout = static_cast<int>(r.getInt("header_timeout", 10, 1, 3600));
    h.idleTimeout = static_cast<int>(r.getInt("idle_timeout", 60, 1, 86400));
    h.bodyTimeout = static_cast<int>(r.getInt("body_timeout", 30, 1, 3600));
    h.maxRequestsPerConnection = static_cast<int>(r.getInt("max_requests_per_connection", 1000, 1, 1000000));
    h.maxConnectionsPerIp = static_cast<int>(r.getInt("max_connections_per_ip", 64, 0, 1000000));
    h.shutdownDelay = static_cast<int>(r.getInt("shutdown_delay", 0, 0, 600));
    h.metricsAllow = r.getStringList("metrics_allow", h.metricsAllow);
    for (const auto& c : h.metricsAllow)
      if (!validCidr(c, true)) r.fail("metrics_allow", fmt::format("\"{}\" is not an address or CIDR", c));
    h.metricsToken = r.getString("metrics_token", "");
    h.accessLog = r.getBool("access_log", true);
    if (const toml::node* n = r.get("listeners")) {
      const toml::array* arr = n->as_array();
      if (!arr) r.fail("listeners", "expected [[http.listeners]] tables");
      for (const toml::node& e : *arr) {
        if (!e.is_table()) r.failAt(e.source(), "http.listeners: expected [[http.listeners]] tables");
        TableReader lr(path, *e.as_table(), "http.listeners");
        HttpListenerConfig l;
        l.address = lr.getString("address", "::");
        l.tls = lr.getBool("tls", true);
        l.port = static_cast<std::uint16_t>(lr.getInt("port", l.tls ? 5443 : 5280, 0, 65535));
        if (!validCidr(l.address, false)) lr.fail("address", "must be an IP address");
        // Plain HTTP carries passwords (WebSocket SASL) and upload URLs: only where nobody can listen in
        // (loopback) or behind a TLS-terminating proxy the operator names.
        if (!l.tls && !isLoopbackAddress(l.address) && h.trustedProxies.empty())
          lr.fail("tls", "plain HTTP is only allowed on a loopback address or with [http] trusted_proxies");
        lr.finish();
        h.listeners.push_back(l);
      }
    }
    r.finish();
  }

  if (const toml::table* t = top.getTable("modules")) {
    TableReader r(path, *t, "modules");
    cfg.modules.enabled = r.getStringList("enabled", {});
    for (auto&& [k, v] : *t) {
      if (k.str() == "enabled") continue;
      if (!v.is_table()) r.failAt(v.source(), fmt::format("modules.{}: expected a table", k.str()));
      r.get(k.str());
      cfg.modules.sections[std::string(k.str())] =
          std::make_shared<ConfigSection>(path, std::string(k.str()), v.as_table());
    }
    r.finish();
  }
  // Sections share ownership of the parsed document they point into.
  for (auto& [name, section] : cfg.modules.sections) section->keepAlive(document);

  top.finish();
  return cfg;
}

struct ConfigSection::Impl {
  std::string file;
  const toml::table* table = nullptr;
  std::shared_ptr<void> document;
  std::unique_ptr<TableReader> reader;
};

ConfigSection::ConfigSection(std::string file, std::string name, const void* table)
    : impl_(std::make_unique<Impl>()), name_(std::move(name)) {
  impl_->file = std::move(file);
  static const toml::table kEmpty;
  impl_->table = table ? static_cast<const toml::table*>(table) : &kEmpty;
  impl_->reader = std::make_unique<TableReader>(impl_->file, *impl_->table, "modules." + name_);
}

ConfigSection::~ConfigSection() = default;

void ConfigSection::keepAlive(std::shared_ptr<void> document) {
  impl_->document = std::move(document);
}

bool ConfigSection::getBool(std::string_view key, bool def) {
  return impl_->reader->getBool(key, def);
}
std::int64_t ConfigSection::getInt(std::string_view key, std::int64_t def, std::int64_t min,
                                   std::int64_t max) {
  return impl_->reader->getInt(key, def, min, max);
}
std::string ConfigSection::getString(std::string_view key, std::string_view def) {
  return impl_->reader->getString(key, def);
}
std::vector<std::string> ConfigSection::getStringList(std::string_view key,
                                                      const std::vector<std::string>& def) {
  return impl_->reader->getStringList(key, def);
}
std::map<std::string, std::vector<std::string>> ConfigSection::getStringListTable(std::string_view key) {
  std::map<std::string, std::vector<std::string>> out;
  const toml::table* t = impl_->reader->getTable(key);
  if (!t) return out;
  TableReader sub(impl_->file, *t, fmt::format("modules.{}.{}", name_, key));
  for (auto&& [k, v] : *t) out[std::string(k.str())] = sub.getStringList(k.str(), {});
  return out;
}
void ConfigSection::finish() {
  impl_->reader->finish();
}
void ConfigSection::fail(std::string_view key, std::string_view message) const {
  impl_->reader->fail(key, message);
}

}  // namespace parley::core
