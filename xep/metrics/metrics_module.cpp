// The server's metrics (server/metrics, Prometheus text format) for operators. Until the HTTP listener
// serves /metrics, and afterwards for admins without HTTP access:
//   - an admin ([server] admins) asks the server over XMPP:
//       <iq type='get' to='example.org'><metrics xmlns='urn:parley:metrics:0'/></iq>
//     and gets the exposition text as the character data of <metrics/> in the result; anyone else gets
//     <forbidden/>;
//   - when the module stops (shutdown) every series is logged on one line, event `metrics.final`.
// It also registers the core series the server has no other owner for: sessions, connections, stanzas
// in and out by kind (StanzaFromClient / StanzaSent hooks), the routing latency of messages (from the
// sender's hooks to the router handing the message on, measured on the routing thread), and the offline
// queues (counted on the blocking pool every offline_sample_seconds, never while rendering).
#include <chrono>
#include <future>
#include <string>

#include "server/core/server.h"
#include "server/hooks/hooks.h"
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

    static constexpr const char* kKinds[] = {"message", "presence", "iq"};
    for (int k = 0; k < 3; ++k) {
      in_[k] = &m.counter("parley_stanzas_in_total", "Stanzas received from local clients, by kind.",
                          {{"kind", kKinds[k]}});
      out_[k] = &m.counter("parley_stanzas_out_total", "Stanzas written to local clients, by kind.",
                           {{"kind", kKinds[k]}});
    }
    routing_ = &m.histogram("parley_routing_seconds",
                            "Messages from local clients: from the sender's first hook to the router handing "
                            "them to the recipient's sessions or the offline path.",
                            metrics::latencyBuckets());
    ctx.hook<hooks::StanzaFromClient>(
        [this](hooks::StanzaFromClient::Context& c) {
          in_[static_cast<int>(c.stanza->kind())]->inc();
          if (c.stanza->isMessage()) {
            tRouting.start = std::chrono::steady_clock::now();
            tRouting.stanza = c.stanza.get();
            tRouting.from = c.stanza->from().str();
            tRouting.id = std::string(c.stanza->id());
          }
          return hooks::Action::Continue;
        },
        hooks::priority::kFirst);
    // The router runs on the sender's thread, synchronously after its hooks: the same thread sees both.
    ctx.hook<hooks::MessageToAccount>(
        [this](hooks::MessageToAccount::Context& c) {
          if (tRouting.stanza && (c.stanza.get() == tRouting.stanza ||
                                  (c.stanza->id() == tRouting.id && c.stanza->from().str() == tRouting.from)))
            routing_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - tRouting.start).count());
          tRouting.stanza = nullptr;
          return hooks::Action::Continue;
        },
        hooks::priority::kFirst);
    ctx.hook<hooks::StanzaSent>([this](hooks::StanzaSent::Context& c) {
      out_[static_cast<int>(c.stanza->kind())]->inc();
      return hooks::Action::Continue;
    });

    offlineMessages_ = &m.gauge("parley_offline_messages", "Messages waiting in offline storage (sampled).");
    offlineQueues_ = &m.gauge("parley_offline_queues", "Accounts with messages in offline storage (sampled).");
    offlineLargest_ = &m.gauge("parley_offline_queue_max", "Largest offline queue of one account (sampled).");
    sampleOffline();
  }

  void stop() override {
    stopped_ = true;
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    server_->io().executor(0).post([this, done] {
      sampleTimer_.reset();  // on its own thread
      done->set_value();
    });
    f.wait_for(std::chrono::seconds(2));

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

  // Offline queue sizes, counted on the blocking pool (the query never runs while /metrics renders).
  void sampleOffline() {
    if (stopped_) return;
    server_->pool().submit([this] {
      try {
        auto rows = server_->db().connection().query(
            "SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(MAX(n), 0) FROM "
            "(SELECT COUNT(*) AS n FROM offline_messages GROUP BY domain, username) q");
        if (!rows.empty()) {
          offlineQueues_->set(static_cast<double>(rows[0].getInt(0)));
          offlineMessages_->set(static_cast<double>(rows[0].getInt(1)));
          offlineLargest_->set(static_cast<double>(rows[0].getInt(2)));
        }
      } catch (const std::exception& e) {
        log::warn("metrics.offline_sample.failed", "error=\"{}\"", e.what());
      }
      if (stopped_) return;
      auto exec = server_->io().executor(0);
      exec.post([this, exec] {
        if (stopped_) return;
        sampleTimer_ = std::make_unique<runtime::Timer>(exec, std::chrono::seconds(30), [this] { sampleOffline(); });
      });
    });
  }

  struct RoutingStart {
    std::chrono::steady_clock::time_point start;
    const void* stanza = nullptr;
    std::string from, id;
  };
  static thread_local RoutingStart tRouting;

  core::Server* server_ = nullptr;
  metrics::Counter* in_[3] = {};
  metrics::Counter* out_[3] = {};
  metrics::Histogram* routing_ = nullptr;
  metrics::Gauge* offlineMessages_ = nullptr;
  metrics::Gauge* offlineQueues_ = nullptr;
  metrics::Gauge* offlineLargest_ = nullptr;
  runtime::TimerPtr sampleTimer_;  // on network thread 0
  std::atomic<bool> stopped_{false};
};

thread_local MetricsModule::RoutingStart MetricsModule::tRouting;

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "metrics", "Server metrics for administrators (Prometheus text format)", {}, true, [] {
      return std::unique_ptr<module::Module>(new MetricsModule);
    }};

}  // namespace parley::xep::metrics_module
