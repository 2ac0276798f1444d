// RFC 7395 XMPP over WebSocket and XEP-0156 discovery of it.
//
// DESIGN: this module only wires things together. The HTTP server (server/http) hands every upgrade
// request on `path` to net::acceptXmppWebSocket (server/net/websocket_transport.h), which checks the
// `xmpp` subprotocol, completes the handshake and returns a net::Transport; a c2s::C2sSession then runs
// over it exactly as over TCP (SASL, bind, roster, XEP-0198 with resumption across transports, CSI…).
// The per-address connection limit is the TCP listeners' one (net::AddressLimiter), taken before the
// handshake and given back when the session ends. XEP-0156 §3: /.well-known/host-meta (XRD) and
// /.well-known/host-meta.json advertise the wss:// URL; CORS headers come from the HTTP server.
#include <string>

#include <fmt/format.h>

#include "server/c2s/c2s_session.h"
#include "server/core/server.h"
#include "server/http/http_server.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/net/listener.h"
#include "server/net/websocket_transport.h"
#include "server/xml/writer.h"

namespace parley::xep::websocket {

namespace {

constexpr std::string_view kAltConnectionsWebSocket = "urn:xmpp:alt-connections:websocket";  // XEP-0156

std::string jsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

class WebSocketModule final : public module::Module {
 public:
  void configure(core::ConfigSection& s) override {
    path_ = s.getString("path", "/xmpp-websocket");
    if (path_.empty() || path_.front() != '/') s.fail("path", "must start with '/'");
    url_ = s.getString("url", "");
    if (!url_.empty() && !url_.starts_with("wss://") && !url_.starts_with("ws://"))
      s.fail("url", "must be a ws:// or wss:// URL");
    idleTimeout_ = std::chrono::seconds(s.getInt("idle_timeout", 120, 10, 86400));
    plainIsSecure_ = s.getBool("plain_is_secure", false);
    hostMeta_ = s.getBool("host_meta", true);
  }

  void start(module::ModuleContext& ctx) override {
    core::Server& server = ctx.server();
    const auto& cfg = server.config();
    net::WebSocketSettings settings;
    settings.maxMessageBytes = cfg.limits.stanzaSize;  // RFC 7395 §3.3.3: a message is one element
    settings.idleTimeout = idleTimeout_;
    settings.handshakeTimeout = std::chrono::seconds(cfg.limits.preauthTimeout);
    settings.limits = net::ConnectionLimits{cfg.limits.writeQueuePause, cfg.limits.writeQueueMax};
    settings.plainIsSecure = plainIsSecure_;

    auto& m = server.metrics();
    auto* refusedSubprotocol = &m.counter("parley_websocket_refused_total",
                                          "RFC 7395 upgrade requests refused, by reason.",
                                          {{"reason", "subprotocol"}});
    auto* refusedLimit = &m.counter("parley_websocket_refused_total", "RFC 7395 upgrade requests refused, by reason.",
                                    {{"reason", "limit"}});
    auto* refusedOther = &m.counter("parley_websocket_refused_total", "RFC 7395 upgrade requests refused, by reason.",
                                    {{"reason", "other"}});

    auto* srv = &server;
    ctx.keep(server.http().routeUpgrade(
        path_,
        net::xmppUpgradeHandler(
            settings,
            [srv](const std::string& ip) { return !srv->stopping() && srv->addressLimiter().acquire(ip); },
            [srv](std::unique_ptr<net::Transport> transport) {
              if (srv->stopping()) {  // shutting down: the transport's destructor closes the socket
                srv->addressLimiter().release(transport->remoteAddress(), false);
                return;
              }
              c2s::C2sSession::accept(*srv, std::move(transport));
            },
            [srv, refusedSubprotocol, refusedLimit, refusedOther](net::WebSocketRefusal why, const std::string& ip) {
              if (why == net::WebSocketRefusal::HandshakeFailed) srv->addressLimiter().release(ip, false);
              if (why == net::WebSocketRefusal::NoXmppSubprotocol)
                refusedSubprotocol->inc();
              else if (why == net::WebSocketRefusal::Limit)
                refusedLimit->inc();
              else
                refusedOther->inc();
            })));

    if (!hostMeta_) return;
    std::string url = url_;
    if (url.empty()) {
      // The HTTP server's public base URL with the WebSocket scheme (https → wss, http → ws).
      std::string base = server.http().publicUrl();
      if (base.starts_with("https://"))
        url = "wss://" + base.substr(8);
      else if (base.starts_with("http://"))
        url = "ws://" + base.substr(7);
      else
        url = base;
      url += path_;
    }
    std::string xrd = "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n";
    xrd += fmt::format("  <Link rel='{}' href='", kAltConnectionsWebSocket);
    xml::appendEscapedAttr(xrd, url);
    xrd += "'/>\n</XRD>\n";
    std::string json = fmt::format("{{\"links\":[{{\"rel\":\"{}\",\"href\":\"{}\"}}]}}\n",
                                   kAltConnectionsWebSocket, jsonEscape(url));
    auto serve = [](std::string body, std::string type) {
      return [body = std::move(body), type = std::move(type)](http::ExchangePtr ex) {
        http::Response r;
        r.status = 200;
        r.body = body;
        r.headOnly = ex->request().method == "HEAD";
        r.header("Content-Type", type);
        r.header("Cache-Control", "max-age=3600");
        ex->respond(std::move(r));
      };
    };
    ctx.keep(server.http().route({"GET", "HEAD"}, "/.well-known/host-meta", {},
                                 serve(std::move(xrd), "application/xrd+xml; charset=utf-8")));
    ctx.keep(server.http().route({"GET", "HEAD"}, "/.well-known/host-meta.json", {},
                                 serve(std::move(json), "application/json")));
    log::info("websocket.ready", "path={} advertised=\"{}\"", path_, url);
  }

 private:
  std::string path_;
  std::string url_;
  std::chrono::seconds idleTimeout_{120};
  bool plainIsSecure_ = false;
  bool hostMeta_ = true;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "websocket",
    "RFC 7395 XMPP over WebSocket on the HTTP server, XEP-0156 host-meta discovery",
    {},
    true,
    [] { return std::unique_ptr<module::Module>(std::make_unique<WebSocketModule>()); },
};

}  // namespace parley::xep::websocket
