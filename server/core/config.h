// DESIGN: the whole configuration, read once at start from one TOML file (conf/parley.toml documents
// every key and its default). Parsing validates everything up front: a bad value or an unknown key is
// a ConfigError whose message is "file:line: what is wrong", so parleyd and `parleyctl check` fail
// before touching the network or the database. Module tables ([modules.<name>]) are validated by the
// module itself through ConfigSection.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "storage/database.h"

namespace parley::core {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HostConfig {
  std::string domain;   // normalised
  std::string tlsCert;  // PEM chain
  std::string tlsKey;   // PEM key
};

enum class ListenerType { C2sStartTls, C2sDirectTls };

struct ListenerConfig {
  ListenerType type = ListenerType::C2sStartTls;
  std::string address = "::";
  std::uint16_t port = 5222;
};

enum class ResourceConflict { KickOld, RefuseNew };

struct TlsConfig {
  std::string minVersion = "1.2";      // "1.2" or "1.3"
  std::string ciphers;                 // TLS 1.2 cipher list (OpenSSL syntax); TLS 1.3 suites are OpenSSL's
  std::string recordLayer = "parley";  // "parley" (taken over after a TLS 1.3 handshake) or "openssl"
};

struct C2sConfig {
  bool requireTls = true;
  std::vector<std::string> saslMechanisms;  // offered, in order of preference
  ResourceConflict resourceConflict = ResourceConflict::KickOld;
  int maxResourcesPerUser = 20;
  bool releaseParserAfterRead = true;  // "after_read" vs "when_idle"
};

// Failed-login limits: server/c2s/login_limiter.h explains how they combine.
struct AuthConfig {
  std::uint32_t scramIterations = 4096;
  int failuresPerAccountAndIp = 5;  // then that address may not try that account until the window ends
  int failuresPerIp = 20;           // then that address may not try any account for ipBlockTime
  int ipBlockTime = 600;            // seconds
  int failuresPerAccount = 10;      // from all addresses: then the account is protected (below)
  int accountBackoff = 2;           // seconds an unknown address waits once protected, doubling…
  int accountBackoffMax = 600;      // …up to this
  int knownAddresses = 8;           // addresses remembered per account that log in despite protection
  int failureWindow = 600;          // seconds
  int failureDelayMs = 500;         // first failure answered after this, doubling up to 8 s
};

struct LimitsConfig {
  std::size_t stanzaSizePreauth = 10000;
  std::size_t stanzaSize = 262144;
  std::size_t maxDepth = 48;
  std::size_t maxChildren = 10000;
  std::size_t maxAttributes = 64;
  int connectionsPerIp = 100;
  int unauthenticatedPerIp = 20;
  int preauthTimeout = 30;  // seconds to finish authentication and binding
  double stanzaRate = 50;   // stanzas per second, sustained
  double stanzaBurst = 200;
  std::size_t writeQueuePause = 512 * 1024;     // stop reading from a client whose output backs up
  std::size_t writeQueueMax = 8 * 1024 * 1024;  // then disconnect it
};

// [http] and [[http.listeners]]: the HTTP server (server/http, docs/http.md).
struct HttpListenerConfig {
  std::string address = "::";
  std::uint16_t port = 5443;
  bool tls = true;  // plain HTTP only on a loopback address or with trusted_proxies set
};

struct HttpConfig {
  std::vector<HttpListenerConfig> listeners;  // none: no HTTP server
  std::string publicUrl;                      // base URL clients reach; "" = https://<first host>:<port>
  std::vector<std::string> trustedProxies;    // IPs whose X-Forwarded-For/-Proto are believed
  std::vector<std::string> corsOrigins;       // allowed Origins ("*" = any)
  std::size_t maxHeaderSize = 16384;
  std::size_t maxBodySize = 1 << 20;  // buffered request bodies (uploads stream and have their own limit)
  int headerTimeout = 10;             // seconds to receive a whole request header
  int idleTimeout = 60;               // seconds a kept-alive connection may wait for its next request
  int bodyTimeout = 30;               // seconds a body read or write may go without progress
  int maxRequestsPerConnection = 1000;
  int maxConnectionsPerIp = 64;  // open connections from one address (0 = no limit; proxies exempt)
  int shutdownDelay = 0;         // seconds /health answers 503 before a shutdown closes anything
  std::vector<std::string> metricsAllow = {"127.0.0.0/8", "::1/128"};  // CIDRs that may read /metrics
  std::string metricsToken;  // "Authorization: Bearer <token>" also grants /metrics
  bool accessLog = true;
};

class ConfigSection;

struct ModuleSettings {
  std::vector<std::string> enabled;
  // Raw module tables, handed to each module's configure(); keyed by module name.
  std::map<std::string, std::shared_ptr<ConfigSection>> sections;
};

struct Config {
  std::string path;  // the file it was read from
  std::string logLevel = "info";
  int networkThreads = 0;  // 0: one per CPU core
  int blockingThreads = 4;
  bool ioUring = true;  // fan-out writes through io_uring (net/batched_send.h)
  std::string dataDir = "data";
  std::vector<std::string> admins;  // bare JIDs
  std::vector<HostConfig> hosts;
  std::vector<ListenerConfig> listeners;
  TlsConfig tls;
  C2sConfig c2s;
  AuthConfig auth;
  LimitsConfig limits;
  storage::StorageConfig storage;
  HttpConfig http;
  ModuleSettings modules;

  const HostConfig* host(std::string_view domain) const;
  bool isAdmin(std::string_view bareJid) const;
};

// Reads and validates the file (modules' own tables are validated later by the modules).
// Relative paths in the file are resolved against the file's directory.
Config loadConfig(const std::string& path);

// A module's table, [modules.<name>]. Getters record which keys were read; finish() reports any key
// the module did not read as an error, so a typo never goes unnoticed.
class ConfigSection {
 public:
  ConfigSection(std::string file, std::string name, const void* table);  // table: const toml::table*
  ~ConfigSection();
  const std::string& name() const { return name_; }
  void keepAlive(std::shared_ptr<void> document);  // the parsed file the table points into

  bool getBool(std::string_view key, bool def);
  std::int64_t getInt(std::string_view key, std::int64_t def, std::int64_t min, std::int64_t max);
  std::string getString(std::string_view key, std::string_view def);
  std::vector<std::string> getStringList(std::string_view key, const std::vector<std::string>& def);
  // Keys of a sub-table ([modules.x.y]) as a string -> string-list map (e.g. XEP-0157 addresses).
  std::map<std::string, std::vector<std::string>> getStringListTable(std::string_view key);
  // Throws ConfigError for keys that were never read.
  void finish();
  [[noreturn]] void fail(std::string_view key, std::string_view message) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
};

}  // namespace parley::core
