// The server's metrics (server/metrics, Prometheus text format) for operators. Until the HTTP listener
// serves /metrics, and afterwards for admins without HTTP access:
//   - an admin ([server] admins) asks the server over XMPP:
//       <iq type='get' to='example.org'><metrics xmlns='urn:parley:metrics:0'/></iq>
//     and gets the exposition text as the character data of <metrics/> in the result; anyone else gets
//     <forbidden/>;
//   - when the module stops (shutdown) every series is logged on one line, event `metrics.final`.
// It also registers the core gauges the server has no other owner for (sessions, connections).
#include <string>

#include "server/core/server.h"
#include "server/log/log.h"
#include "server/metrics/metrics.h"
#include "server/module/module.h"

namespace parley::xep::metrics_module {

namespace {

constexpr std::string_view kNs = "urn:parley:metrics:0";

class MetricsModule final : public module::Module {
 public:
  void start(module::ModuleContext& ctx) override {
    server_ = &ctx.server();
    auto& m = server_->metrics();
    auto* server = server_;
    m.gaugeFunction("parley_sessions", "Bound client sessions.",
                    [server] { return static_cast<double>(server->sessions().sessionCount()); });
    m.gaugeFunction("parley_connections", "Open client connections, authenticated or not.",
                    [server] { return static_cast<double>(server->connectionCount()); });
    ctx.iq(router::IqScope::Server, "get", kNs, "metrics", [this](const router::IqRequest& r) { query(r); });
  }

  void stop() override {
    // One line: `name{labels}=value` per series (histograms: their _count and _sum).
    std::string line;
    const std::string text = server_->metrics().renderPrometheus();
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string_view l(text.data() + pos, end - pos);
      pos = end + 1;
      if (l.empty() || l[0] == '#' || l.find("_bucket{") != std::string_view::npos) continue;
      auto sp = l.rfind(' ');
      if (!line.empty()) line += ' ';
      line.append(l.substr(0, sp));
      line += '=';
      line.append(l.substr(sp + 1));
    }
    log::info("metrics.final", "{}", line);
  }

 private:
  void query(const router::IqRequest& req) {
    if (!server_->config().isAdmin(req.stanza->from().bareStr())) {
      req.error(xmpp::StanzaError::Forbidden);
      return;
    }
    auto payload = xml::make("metrics", std::string(kNs));
    payload->setAttr("content-type", metrics::Registry::kContentType);
    payload->addText(server_->metrics().renderPrometheus());
    req.result(payload);
  }

  core::Server* server_ = nullptr;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "metrics", "Server metrics for administrators (Prometheus text format)", {}, true, [] {
      return std::unique_ptr<module::Module>(new MetricsModule);
    }};

}  // namespace parley::xep::metrics_module
