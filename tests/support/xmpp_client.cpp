#include "support/xmpp_client.h"

#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>

#include <strophe.h>
#include <sys/socket.h>

#include "server/xml/parse_fragment.h"

namespace parley::test {

namespace {

struct LibraryGuard {
  LibraryGuard() {
    // libstrophe writes to sockets the server may already have closed; that must not kill the test.
    signal(SIGPIPE, SIG_IGN);
    xmpp_initialize();
  }
  ~LibraryGuard() { xmpp_shutdown(); }
};

const char* streamErrorName(xmpp_error_type_t t) {
  switch (t) {
    case XMPP_SE_BAD_FORMAT:
      return "bad-format";
    case XMPP_SE_BAD_NS_PREFIX:
      return "bad-namespace-prefix";
    case XMPP_SE_CONFLICT:
      return "conflict";
    case XMPP_SE_CONN_TIMEOUT:
      return "connection-timeout";
    case XMPP_SE_HOST_GONE:
      return "host-gone";
    case XMPP_SE_HOST_UNKNOWN:
      return "host-unknown";
    case XMPP_SE_IMPROPER_ADDR:
      return "improper-addressing";
    case XMPP_SE_INTERNAL_SERVER_ERROR:
      return "internal-server-error";
    case XMPP_SE_INVALID_FROM:
      return "invalid-from";
    case XMPP_SE_INVALID_ID:
      return "invalid-id";
    case XMPP_SE_INVALID_NS:
      return "invalid-namespace";
    case XMPP_SE_INVALID_XML:
      return "invalid-xml";
    case XMPP_SE_NOT_AUTHORIZED:
      return "not-authorized";
    case XMPP_SE_POLICY_VIOLATION:
      return "policy-violation";
    case XMPP_SE_REMOTE_CONN_FAILED:
      return "remote-connection-failed";
    case XMPP_SE_RESOURCE_CONSTRAINT:
      return "resource-constraint";
    case XMPP_SE_RESTRICTED_XML:
      return "restricted-xml";
    case XMPP_SE_SEE_OTHER_HOST:
      return "see-other-host";
    case XMPP_SE_SYSTEM_SHUTDOWN:
      return "system-shutdown";
    case XMPP_SE_UNDEFINED_CONDITION:
      return "undefined-condition";
    case XMPP_SE_UNSUPPORTED_ENCODING:
      return "unsupported-encoding";
    case XMPP_SE_UNSUPPORTED_STANZA_TYPE:
      return "unsupported-stanza-type";
    case XMPP_SE_UNSUPPORTED_VERSION:
      return "unsupported-version";
    case XMPP_SE_XML_NOT_WELL_FORMED:
      return "not-well-formed";
  }
  return "unknown";
}

int stanzaHandler(xmpp_conn_t* conn, xmpp_stanza_t* stanza, void* userdata) {
  char* buf = nullptr;
  size_t len = 0;
  if (xmpp_stanza_to_text(stanza, &buf, &len) == XMPP_EOK) {
    static_cast<XmppClient*>(userdata)->onStanza(std::string(buf, len));
    xmpp_free(xmpp_conn_get_context(conn), buf);
  }
  return 1;  // keep the handler
}

void connHandler(xmpp_conn_t*, xmpp_conn_event_t event, int error, xmpp_stream_error_t* streamError,
                 void* userdata) {
  static_cast<XmppClient*>(userdata)->onConnEvent(static_cast<int>(event), error, streamError);
}

int trustAnyCertificate(const xmpp_tlscert_t*, const char*) {
  return 1;
}

// libstrophe hands the socket only to this callback; remember it per connection (cutConnection()).
std::mutex socketsMu;
std::map<xmpp_conn_t*, int> sockets;
int rememberSocket(xmpp_conn_t* conn, void* sock) {
  std::lock_guard lock(socketsMu);
  sockets[conn] = *static_cast<int*>(sock);
  return 0;
}

}  // namespace

// --- matchers -------------------------------------------------------------------------------------

Is& Is::attr(std::string k, std::string v) {
  checks_.push_back([k = std::move(k), v = std::move(v)](const xml::Element& e) { return e.attr(k) == v; });
  return *this;
}
Is& Is::body(std::string v) {
  checks_.push_back(
      [v = std::move(v)](const xml::Element& e) { return e.childText("body", "jabber:client") == v; });
  return *this;
}
Is& Is::child(std::string name, std::string ns) {
  checks_.push_back([name = std::move(name), ns = std::move(ns)](const xml::Element& e) {
    return e.child(name, ns) != nullptr;
  });
  return *this;
}
Is& Is::where(Match m) {
  checks_.push_back(std::move(m));
  return *this;
}
Is::operator Match() const {
  return [name = name_, checks = checks_](const xml::Element& e) {
    if (e.name() != name) return false;
    for (const auto& c : checks)
      if (!c(e)) return false;
    return true;
  };
}

// --- client ---------------------------------------------------------------------------------------

XmppClient::XmppClient(std::string jid, std::string password, std::uint16_t port, Transport transport)
    : jid_(std::move(jid)), password_(std::move(password)), port_(port), transport_(transport) {
  static LibraryGuard guard;
  xmpp_log_t* logger =
      std::getenv("PARLEY_TEST_XMPP_DEBUG") ? xmpp_get_default_logger(XMPP_LEVEL_DEBUG) : nullptr;
  ctx_ = xmpp_ctx_new(nullptr, logger);
  conn_ = xmpp_conn_new(ctx_);
  long flags = XMPP_CONN_FLAG_TRUST_TLS | XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_DISABLE_SM;
  if (transport_ == Transport::DirectTls) flags |= XMPP_CONN_FLAG_LEGACY_SSL;
  xmpp_conn_set_flags(conn_, flags);
  xmpp_conn_set_certfail_handler(conn_, trustAnyCertificate);
  xmpp_conn_set_jid(conn_, jid_.c_str());
  xmpp_conn_set_pass(conn_, password_.c_str());
  xmpp_handler_add(conn_, stanzaHandler, nullptr, nullptr, nullptr, this);
}

XmppClient::~XmppClient() {
  if (connected_) disconnect();
  {
    std::lock_guard lock(socketsMu);
    sockets.erase(conn_);
  }
  xmpp_conn_release(conn_);
  xmpp_ctx_free(ctx_);
}

bool XmppClient::connect(std::chrono::milliseconds timeout) {
  finished_ = false;
  error_.clear();
  if (xmpp_connect_client(conn_, "127.0.0.1", port_, connHandler, this) != XMPP_EOK) {
    error_ = "connect failed";
    return false;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!finished_ && std::chrono::steady_clock::now() < deadline) xmpp_run_once(ctx_, 10);
  if (!finished_) error_ = "timeout";
  return connected_;
}

void XmppClient::useStreamManagement() {
  xmpp_conn_set_flags(conn_, xmpp_conn_get_flags(conn_) & ~XMPP_CONN_FLAG_DISABLE_SM);
  xmpp_conn_set_sockopt_callback(conn_, rememberSocket);
}

void XmppClient::cutConnection() {
  int fd = -1;
  {
    std::lock_guard lock(socketsMu);
    if (auto it = sockets.find(conn_); it != sockets.end()) fd = it->second;
  }
  if (fd < 0) return;
  linger l{1, 0};  // a reset, not a FIN
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  shutdown(fd, SHUT_RDWR);
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (connected_ && std::chrono::steady_clock::now() < deadline) xmpp_run_once(ctx_, 10);
}

bool XmppClient::reconnectResuming(std::chrono::milliseconds timeout) {
  xmpp_sm_state_t* state = xmpp_conn_get_sm_state(conn_);
  if (!state) {
    error_ = "no stream management state to resume";
    return false;
  }
  xmpp_conn_t* fresh = xmpp_conn_new(ctx_);
  xmpp_conn_set_flags(fresh, xmpp_conn_get_flags(conn_));
  xmpp_conn_set_certfail_handler(fresh, trustAnyCertificate);
  xmpp_conn_set_sockopt_callback(fresh, rememberSocket);
  xmpp_conn_set_jid(fresh, jid_.c_str());
  xmpp_conn_set_pass(fresh, password_.c_str());
  xmpp_handler_add(fresh, stanzaHandler, nullptr, nullptr, nullptr, this);
  {
    std::lock_guard lock(socketsMu);
    sockets.erase(conn_);
  }
  xmpp_conn_release(conn_);
  conn_ = fresh;
  if (xmpp_conn_set_sm_state(conn_, state) != XMPP_EOK) {
    xmpp_free_sm_state(state);
    error_ = "libstrophe refused the stream management state";
    return false;
  }
  return connect(timeout);
}

void XmppClient::disconnect() {
  if (!connected_) return;
  xmpp_disconnect(conn_);
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (connected_ && std::chrono::steady_clock::now() < deadline) xmpp_run_once(ctx_, 10);
}

std::string XmppClient::jid() const {
  const char* bound = xmpp_conn_get_bound_jid(conn_);
  return bound ? bound : jid_;
}

void XmppClient::onStanza(const std::string& xml) {
  if (auto e = xml::parseElement(xml)) inbox_.push_back(e);
}

void XmppClient::onConnEvent(int event, int error, const void* streamError) {
  if (event == XMPP_CONN_CONNECT) {
    connected_ = true;
    finished_ = true;
    return;
  }
  // Disconnected or failed.
  if (streamError) {
    error_ = streamErrorName(static_cast<const xmpp_stream_error_t*>(streamError)->type);
  } else if (error_.empty()) {
    error_ = error ? "socket error " + std::to_string(error) : (connected_ ? "disconnected" : "auth-failed");
  }
  connected_ = false;
  finished_ = true;
}

void XmppClient::send(const std::string& xml) {
  xmpp_send_raw_string(conn_, "%s", xml.c_str());
  // libstrophe writes from its event loop: run it until the bytes are on the wire, so a test can go on
  // to wait on another client.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (connected_ && xmpp_conn_send_queue_len(conn_) > 0 && std::chrono::steady_clock::now() < deadline)
    xmpp_run_once(ctx_, 1);
}

void XmppClient::pump(std::chrono::milliseconds duration) {
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < deadline) xmpp_run_once(ctx_, 10);
}

xml::ElementPtr XmppClient::expect(const Match& match, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (match(**it)) {
        auto e = *it;
        inbox_.erase(it);
        return e;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return nullptr;
    xmpp_run_once(ctx_, 10);
  }
}

std::pair<int, xml::ElementPtr> XmppClient::expectAny(const std::vector<std::pair<XmppClient*, Match>>& waits,
                                                      std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (std::size_t i = 0; i < waits.size(); ++i) {
      auto& inbox = waits[i].first->inbox_;
      for (auto it = inbox.begin(); it != inbox.end(); ++it) {
        if (waits[i].second(**it)) {
          auto e = *it;
          inbox.erase(it);
          return {static_cast<int>(i), e};
        }
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return {-1, nullptr};
    for (const auto& [client, match] : waits) xmpp_run_once(client->ctx_, 1);
  }
}

bool XmppClient::expectNothing(const Match& match, std::chrono::milliseconds window) {
  return expect(match, window) == nullptr;
}

xml::ElementPtr XmppClient::request(const std::string& iqXml, const std::string& id,
                                    std::chrono::milliseconds timeout) {
  send(iqXml);
  return expect([id](const xml::Element& e) { return e.name() == "iq" && e.attr("id") == id; }, timeout);
}

void XmppClient::becomeAvailable(const std::string& extra) {
  send("<presence>" + extra + "</presence>");
  const std::string me = jid();
  expect([me](const xml::Element& e) { return e.name() == "presence" && e.attr("from") == me; });
}

bool XmppClient::waitDisconnected(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (connected_ && std::chrono::steady_clock::now() < deadline) xmpp_run_once(ctx_, 10);
  return !connected_;
}

}  // namespace parley::test
