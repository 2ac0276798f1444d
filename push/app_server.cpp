// The built-in XEP-0357 app server: the component push.<domain> ("XMPP Push Service" of XEP-0357 §3)
// that user servers publish notifications to, and that delivers them to the phones through FCM and
// APNs.
//
// DESIGN
// - Devices register through XEP-0050 commands on the component (the flow Conversations' app server
//   uses): `register-push-fcm` (token, android-id) and `register-push-apns` (token, device-id, optional
//   voip-token, topic, sandbox) answer a result form with `node` and `secret`; the client hands them to
//   its own server with <enable/>. Registering the same device again keeps its node and secret and
//   updates the token. `unregister-push` (node) removes one of the requester's devices.
// - A publish (XEP-0060 §7.1 on the device's node) is accepted only with the node's secret in the
//   publish-options (XEP-0357 §8, compared in constant time), from a bare JID (the user's server, not a
//   client: §8), by default only from the account that registered the device, and at most
//   `publishes_per_minute` per node (token bucket; beyond: <resource-constraint/>, type wait, which the
//   user's server treats as transient). An unknown node is <item-not-found/> (type cancel): the user's
//   server disables that registration. The result is sent as soon as the notification is queued.
// - Devices live in memory (loaded at start, before listeners open) under one mutex; every change is
//   written through to push_devices on the blocking pool (keyed by node, so writes apply in order).
// - Delivery is the Dispatcher's (dispatcher.h) on one network thread with one HttpClient (curl multi on
//   Asio): FCM HTTP v1 (fcm.h) and APNs (apns.h). A dead token removes the device.
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "push/apns.h"
#include "push/device_store.h"
#include "push/dispatcher.h"
#include "push/fcm.h"
#include "push/http_client.h"
#include "server/core/server.h"
#include "server/log/log.h"
#include "server/module/module.h"
#include "server/util/crypto.h"
#include "server/util/time.h"
#include "server/xml/namespaces.h"
#include "xep/adhoc/adhoc.h"

namespace parley::xep::push_appserver {

namespace {

using namespace parley::push;
using xmpp::Jid;
using xmpp::StanzaError;
using xmpp::StanzaPtr;
namespace adhoc = parley::xep::adhoc;

constexpr std::string_view kPushNs = "urn:xmpp:push:0";
constexpr std::string_view kParleyPushNs = "urn:parley:push:0";
constexpr std::string_view kPubsubNs = "http://jabber.org/protocol/pubsub";
constexpr std::string_view kDataNs = "jabber:x:data";

// Values of a XEP-0004 form by var (first value).
std::unordered_map<std::string, std::string> formValues(const xml::Element* x) {
  std::unordered_map<std::string, std::string> out;
  if (!x) return out;
  for (const auto& f : x->childrenNamed("field", kDataNs)) {
    if (out.size() >= 64) break;
    out.emplace(std::string(f->attr("var")), f->childText("value", kDataNs));
  }
  return out;
}

struct Device {
  StoredDevice stored;
  Service service = Service::Fcm;
  double bucket = 0;  // publishes allowed right now (token bucket)
  std::chrono::steady_clock::time_point refilled{};
};

struct Settings {
  std::string hostPattern = "push.{domain}";
  bool anyoneMayRegister = false;
  std::int64_t maxDevicesPerUser = 10;
  double publishesPerMinute = 60;
  bool checkOwner = true;
  bool forwardSender = false, forwardBody = false;
  std::string caFile;
  DispatcherSettings dispatch;
  FcmSettings fcm;
  ApnsSettings apns;
  std::vector<std::string> apnsTopics;  // bundle ids devices may ask for besides apns.topic
};

class AppServer : public std::enable_shared_from_this<AppServer> {
 public:
  AppServer(core::Server& server, Settings settings, std::string domain)
      : server_(server), settings_(std::move(settings)), domain_(std::move(domain)) {}

  void load() {
    auto load = [&db = server_.db(), &domain = domain_] { return DeviceStore(db).loadAll(domain); };
    auto devices = runtime::runAtStart(server_.pool(), "push_appserver", load);
    std::lock_guard lock(mu_);
    for (auto& d : devices) {
      Device dev;
      dev.service = d.provider == "apns" ? Service::Apns : Service::Fcm;
      dev.stored = std::move(d);
      dev.bucket = settings_.publishesPerMinute;
      dev.refilled = std::chrono::steady_clock::now();
      byOwner_[dev.stored.owner + '\n' + dev.stored.deviceId] = dev.stored.node;
      devices_.emplace(dev.stored.node, std::move(dev));
    }
    if (!devices_.empty())
      log::info("push.appserver.loaded", "domain={} devices={}", domain_, devices_.size());
  }

  void startDelivery() {
    const auto exec = server_.io().executor(server_.io().size() - 1);
    HttpClientOptions ho;
    ho.caFile = settings_.caFile;
    http_ = HttpClient::create(exec, ho);
    std::weak_ptr<AppServer> weak = weak_from_this();
    dispatcher_ = std::make_shared<Dispatcher>(exec, settings_.dispatch, server_.metrics(),
                                               [weak](const PushNote& note, const std::string&) {
                                                 if (auto self = weak.lock()) self->removeDevice(note.node);
                                               });
    std::string error;
    if (!settings_.fcm.serviceAccountFile.empty()) {
      auto fcm = FcmProvider::create(settings_.fcm, http_, &error);
      if (!fcm) throw core::ConfigError("[modules.push_appserver] fcm_service_account: " + error);
      dispatcher_->addProvider(fcm);
      log::info("push.appserver.fcm", "project={} endpoint={}", fcm->projectId(), settings_.fcm.endpoint);
    }
    if (!settings_.apns.keyFile.empty()) {
      auto apns = ApnsProvider::create(settings_.apns, http_, &error);
      if (!apns) throw core::ConfigError("[modules.push_appserver] apns_key_file: " + error);
      dispatcher_->addProvider(apns);
      log::info("push.appserver.apns", "topic={} endpoint={}", settings_.apns.topic, settings_.apns.endpoint);
    }
  }

  void stop() {
    if (dispatcher_) dispatcher_->shutdown();
    if (http_) http_->shutdown();
  }

  const std::string& domain() const { return domain_; }

  // On the routing thread.
  void handle(const StanzaPtr& s) {
    if (adhoc::handleComponentStanza(server_, s)) return;
    auto& router = server_.router();
    if (!s->isIq()) return;  // messages and presence to the service are ignored
    if (s->type() != "get" && s->type() != "set") return;
    const xml::Element* payload = s->element().firstChild();
    if (!payload) return router.bounce(*s, StanzaError::BadRequest);
    if (s->type() == "get" && payload->is("query", xml::ns::kDiscoInfo) && payload->attr("node").empty()) {
      auto q = xml::make("query", std::string(xml::ns::kDiscoInfo));
      auto id = xml::make("identity", std::string(xml::ns::kDiscoInfo));
      id->setAttr("category", "pubsub");  // XEP-0357 §4: an XMPP Push Service is pubsub/push
      id->setAttr("type", "push");
      id->setAttr("name", "Parley push notifications");
      q->addChild(id);
      for (std::string_view f : {xml::ns::kDiscoInfo, std::string_view(adhoc::kNs), kPushNs, kPubsubNs}) {
        auto fe = xml::make("feature", std::string(xml::ns::kDiscoInfo));
        fe->setAttr("var", f);
        q->addChild(fe);
      }
      return router.route(xmpp::makeIqResult(*s, q));
    }
    if (s->type() == "set" && payload->is("pubsub", kPubsubNs)) return publish(s, *payload);
    router.bounce(*s, StanzaError::ServiceUnavailable);
  }

  // Ad-hoc command handlers (network thread).
  void registerCommand(const adhoc::Request& req, Service service);
  void unregisterCommand(const adhoc::Request& req);

  bool mayRegister(const Jid& who) const {
    if (settings_.anyoneMayRegister) return true;
    // The component's parent domain: push.example.org serves example.org accounts.
    return server_.router().isLocalDomain(who.domain()) && !who.local().empty();
  }

 private:
  // XEP-0060 §7.1.1 / XEP-0357 §7: <pubsub><publish node='…'><item><notification/></item></publish>
  // <publish-options><x type='submit'>…secret…</x></publish-options></pubsub>
  void publish(const StanzaPtr& s, const xml::Element& pubsub) {
    auto& router = server_.router();
    const xml::Element* pub = pubsub.child("publish", kPubsubNs);
    const std::string node(pub ? pub->attr("node") : std::string_view{});
    if (!pub || node.empty())
      return router.bounce(*s, StanzaError::BadRequest, "publish with a node expected");
    // XEP-0357 §8: only the user's server publishes (from the user's bare JID), not a client.
    if (!s->from().resource().empty())
      return router.bounce(*s, StanzaError::Forbidden, "publish from a bare JID only");
    const xml::Element* item = pub->child("item", kPubsubNs);
    const xml::Element* notification = item ? item->child("notification", kPushNs) : nullptr;
    if (!notification) return router.bounce(*s, StanzaError::BadRequest, "no urn:xmpp:push:0 notification");
    const xml::Element* opts = pubsub.child("publish-options", kPubsubNs);
    const auto options = formValues(opts ? opts->child("x", kDataNs) : nullptr);
    const auto secret = options.find("secret");

    PushNote note;
    {
      std::lock_guard lock(mu_);
      auto it = devices_.find(node);
      if (it == devices_.end())
        return router.bounce(*s, StanzaError::ItemNotFound);  // type cancel: the registration is gone
      Device& d = it->second;
      if (secret == options.end() || !util::constantTimeEqual(secret->second, d.stored.secret))
        return router.bounce(*s, StanzaError::Forbidden, "wrong or missing secret");  // type auth
      if (settings_.checkOwner && s->from().bareStr() != d.stored.owner)
        return router.bounce(*s, StanzaError::Forbidden, "not the account this device belongs to");
      // Token bucket: `publishesPerMinute` per node, refilled continuously.
      const auto now = std::chrono::steady_clock::now();
      d.bucket = std::min(settings_.publishesPerMinute,
                          d.bucket + std::chrono::duration<double>(now - d.refilled).count() *
                                         settings_.publishesPerMinute / 60.0);
      d.refilled = now;
      if (d.bucket < 1.0) {
        rateLimited_->inc();
        return router.bounce(*s, StanzaError::ResourceConstraint, "too many notifications for this node");
      }
      d.bucket -= 1.0;
      note.service = d.service;
      note.node = node;
      note.token = d.stored.token;
      note.topic = d.stored.topic;
      note.sandbox = d.stored.sandbox;
      const std::string kind = notification->childText("kind", kParleyPushNs);
      note.kind = kind == "call"         ? PushKind::Call
                  : kind == "background" ? PushKind::Background
                                         : PushKind::Message;
      if (note.kind == PushKind::Call && d.service == Service::Apns) {
        if (!d.stored.voipToken.empty())
          note.token = d.stored.voipToken;
        else
          note.kind = PushKind::Message;  // no PushKit token: a visible alert instead
      }
    }
    const auto summary = [&] {
      for (const auto& x : notification->childrenNamed("x", kDataNs)) {
        auto v = formValues(x.get());
        if (v["FORM_TYPE"] == "urn:xmpp:push:summary") return v;
      }
      return std::unordered_map<std::string, std::string>{};
    }();
    if (auto c = summary.find("message-count"); c != summary.end()) {
      note.count = std::strtoll(c->second.c_str(), nullptr, 10);
      if (note.count < 0 || note.count > 1000000) note.count = 0;
    }
    if (settings_.forwardSender)
      if (auto c = summary.find("last-message-sender"); c != summary.end())
        note.sender = c->second.substr(0, 1024);
    if (settings_.forwardBody)
      if (auto c = summary.find("last-message-body"); c != summary.end())
        note.body = c->second.substr(0, 2048);
    note.accepted = std::chrono::steady_clock::now();
    const Service service = note.service;
    if (!dispatcher_->has(service))
      return router.bounce(*s, StanzaError::ServiceUnavailable,
                           "this app server does not deliver to that provider");
    if (!dispatcher_->submit(std::move(note)))
      return router.bounce(*s, StanzaError::ResourceConstraint, "too many notifications pending");
    received_->inc();
    router.route(xmpp::makeIqResult(*s));
  }

  void removeDevice(const std::string& node) {
    {
      std::lock_guard lock(mu_);
      auto it = devices_.find(node);
      if (it == devices_.end()) return;
      byOwner_.erase(it->second.stored.owner + '\n' + it->second.stored.deviceId);
      devices_.erase(it);
    }
    auto& db = server_.db();
    const std::string domain = domain_;
    runtime::offload(
        server_.pool(), server_.io().executor(0), node,
        [&db, domain, node] { DeviceStore(db).remove(domain, node); },
        [node](runtime::Outcome<bool> out) {
          if (!out.ok()) log::error("push.appserver.remove_failed", "node={} error=\"{}\"", node, out.error);
        });
  }

  friend class AppServerModule;
  core::Server& server_;
  Settings settings_;
  std::string domain_;
  std::shared_ptr<HttpClient> http_;
  std::shared_ptr<Dispatcher> dispatcher_;
  std::mutex mu_;
  std::unordered_map<std::string, Device> devices_;       // by node
  std::unordered_map<std::string, std::string> byOwner_;  // owner \n device id -> node
  metrics::Counter* received_ = nullptr;
  metrics::Counter* rateLimited_ = nullptr;
};

adhoc::Form registrationForm(Service service) {
  adhoc::Form form(
      service == Service::Fcm ? "Register an Android device (FCM)" : "Register an Apple device (APNs)",
      "The device token from the push service; the answer holds the node and secret to enable "
      "push notifications with (XEP-0357).");
  form.add(adhoc::Field::text("token", "Device token").require().limit(4096));
  if (service == Service::Fcm) {
    form.add(adhoc::Field::text("android-id", "Device id").require().limit(255));
  } else {
    form.add(adhoc::Field::text("device-id", "Device id").require().limit(255));
    form.add(adhoc::Field::text("voip-token", "PushKit (VoIP) token").limit(4096));
    form.add(adhoc::Field::text("topic", "App bundle id").limit(255));
    form.add(adhoc::Field::boolean("sandbox", "Development environment"));
  }
  return form;
}

void AppServer::registerCommand(const adhoc::Request& req, Service service) {
  const auto form = registrationForm(service);
  if (!req.submitted()) return req.reply(adhoc::Response::showForm(form));
  auto values = req.parse(form);
  if (!values) return;
  StoredDevice d;
  d.domain = domain_;
  d.owner = req.from().bareStr();
  d.provider = std::string(serviceName(service));
  d.token = values->text("token");
  d.deviceId = values->text(service == Service::Fcm ? "android-id" : "device-id");
  if (service == Service::Apns) {
    d.voipToken = values->text("voip-token");
    d.topic = values->text("topic");
    d.sandbox = values->flag("sandbox");
    if (!d.topic.empty() && d.topic != settings_.apns.topic &&
        std::find(settings_.apnsTopics.begin(), settings_.apnsTopics.end(), d.topic) ==
            settings_.apnsTopics.end())
      return req.reply(adhoc::Response::failed("This app server does not serve the app " + d.topic));
  }
  if (!dispatcher_->has(service))
    return req.reply(adhoc::Response::failed("This app server is not configured for " + d.provider));
  d.createdAt = util::unixNow();
  {
    std::lock_guard lock(mu_);
    const std::string key = d.owner + '\n' + d.deviceId;
    if (auto it = byOwner_.find(key); it != byOwner_.end() && devices_.count(it->second)) {
      // The same device again (a new token, or the app reinstalled): same node and secret.
      Device& old = devices_[it->second];
      d.node = old.stored.node;
      d.secret = old.stored.secret;
      d.createdAt = old.stored.createdAt;
      old.stored = d;
      old.service = service;
    } else {
      std::int64_t mine = 0;
      for (const auto& [k, v] : byOwner_)
        if (k.compare(0, d.owner.size() + 1, d.owner + '\n') == 0) ++mine;
      if (mine >= settings_.maxDevicesPerUser)
        return req.reply(adhoc::Response::failed("Too many devices registered for this account"));
      d.node = util::randomToken(32);
      d.secret = util::randomToken(32);
      Device dev;
      dev.stored = d;
      dev.service = service;
      dev.bucket = settings_.publishesPerMinute;
      dev.refilled = std::chrono::steady_clock::now();
      devices_.emplace(d.node, std::move(dev));
      byOwner_[key] = d.node;
    }
  }
  auto& db = server_.db();
  runtime::offload(
      server_.pool(), req.executor(), d.node, [&db, d] { DeviceStore(db).save(d); },
      [req, node = d.node, secret = d.secret, provider = d.provider](runtime::Outcome<bool> out) {
        if (!out.ok()) {
          log::error("push.appserver.save_failed", "node={} error=\"{}\"", node, out.error);
          return req.reply(adhoc::Response::fail(adhoc::Error::InternalServerError));
        }
        log::info("push.appserver.registered", "node={} provider={} owner={}", node, provider,
                  req.from().bareStr());
        adhoc::Form result("Push registration");
        result.add(adhoc::Field::text("node", "Node").value(node));
        result.add(adhoc::Field::text("secret", "Secret").value(secret));
        req.reply(adhoc::Response::done({}, result.toXml("result")));
      });
}

void AppServer::unregisterCommand(const adhoc::Request& req) {
  adhoc::Form form("Unregister a device", "The node the registration answered.");
  form.add(adhoc::Field::text("node", "Node").require().limit(255));
  if (!req.submitted()) return req.reply(adhoc::Response::showForm(form));
  auto values = req.parse(form);
  if (!values) return;
  const std::string node = values->text("node");
  {
    std::lock_guard lock(mu_);
    auto it = devices_.find(node);
    if (it == devices_.end() || it->second.stored.owner != req.from().bareStr())
      return req.reply(adhoc::Response::failed("No such device of yours"));
  }
  removeDevice(node);
  req.reply(adhoc::Response::done("Unregistered"));
}

class AppServerModule final : public module::Module {
 public:
  void configure(core::ConfigSection& c) override {
    auto& s = settings_;
    s.hostPattern = c.getString("host", "push.{domain}");
    const std::string reg = c.getString("registration", "local");
    if (reg != "local" && reg != "anyone") c.fail("registration", "must be \"local\" or \"anyone\"");
    s.anyoneMayRegister = reg == "anyone";
    s.maxDevicesPerUser = c.getInt("max_devices_per_user", 10, 1, 1000);
    s.publishesPerMinute = static_cast<double>(c.getInt("publishes_per_minute", 60, 1, 100000));
    s.checkOwner = c.getBool("check_owner", true);
    s.forwardSender = c.getBool("forward_sender", false);
    s.forwardBody = c.getBool("forward_body", false);
    s.caFile = c.getString("ca_file", "");
    s.dispatch.maxAttempts = static_cast<int>(c.getInt("max_attempts", 5, 1, 100));
    s.dispatch.backoffBase = std::chrono::milliseconds(c.getInt("backoff_base_ms", 1000, 1, 3600000));
    s.dispatch.backoffMax = std::chrono::milliseconds(c.getInt("backoff_max_ms", 300000, 1, 86400000));
    s.dispatch.maxPending = static_cast<std::size_t>(c.getInt("max_pending", 100000, 1, 10000000));
    s.fcm.serviceAccountFile = c.getString("fcm_service_account", "");
    s.fcm.endpoint = c.getString("fcm_endpoint", "https://fcm.googleapis.com");
    s.fcm.tokenUri = c.getString("fcm_token_uri", "");
    s.fcm.refreshBefore = std::chrono::seconds(c.getInt("fcm_token_refresh_before", 300, 0, 3000));
    s.fcm.ttl = std::chrono::seconds(c.getInt("fcm_ttl", 86400, 0, 28 * 86400));
    s.fcm.notificationPayload = c.getBool("fcm_notification", false);
    s.fcm.notificationTitle = c.getString("fcm_notification_title", "New message");
    s.apns.keyFile = c.getString("apns_key_file", "");
    s.apns.keyId = c.getString("apns_key_id", "");
    s.apns.teamId = c.getString("apns_team_id", "");
    s.apns.topic = c.getString("apns_topic", "");
    s.apnsTopics = c.getStringList("apns_extra_topics", {});
    s.apns.endpoint = c.getString("apns_endpoint", "https://api.push.apple.com");
    s.apns.sandboxEndpoint = c.getString("apns_sandbox_endpoint", "https://api.sandbox.push.apple.com");
    s.apns.tokenRefresh = std::chrono::seconds(c.getInt("apns_token_refresh", 2400, 1200, 3300));
    s.apns.ttl = std::chrono::seconds(c.getInt("apns_ttl", 86400, 0, 28 * 86400));
    s.apns.alertTitle = c.getString("apns_alert_title", "New message");
    if (!s.apns.keyFile.empty() && (s.apns.keyId.empty() || s.apns.teamId.empty() || s.apns.topic.empty()))
      c.fail("apns_key_file", "APNs needs apns_key_id, apns_team_id and apns_topic too");
  }

  void start(module::ModuleContext& ctx) override {
    auto& server = ctx.server();
    auto& m = server.metrics();
    auto* received =
        &m.counter("parley_push_publishes_total", "Push app server: XEP-0357 publishes accepted.");
    auto* limited = &m.counter("parley_push_rate_limited_total",
                               "Push app server: publishes refused by the per-node rate limit.");
    for (const auto& host : server.config().hosts) {
      std::string domain = settings_.hostPattern;
      if (auto p = domain.find("{domain}"); p != std::string::npos) domain.replace(p, 8, host.domain);
      auto prepared = Jid::prepDomain(domain);
      if (!prepared)
        throw core::ConfigError("[modules.push_appserver] host: invalid domain \"" + domain + "\"");
      auto app = std::make_shared<AppServer>(server, settings_, *prepared);
      app->received_ = received;
      app->rateLimited_ = limited;
      app->load();
      app->startDelivery();
      ctx.component(*prepared, [app](StanzaPtr s) { app->handle(s); });
      auto& reg = adhoc::registry(server);
      auto may = [app](const adhoc::Caller& c) { return app->mayRegister(c.jid); };
      ctx.keep(
          reg.add({.node = "register-push-fcm",
                   .name = "Register an Android device (FCM)",
                   .service = *prepared,
                   .mayRun = may,
                   .handler = [app](const adhoc::Request& r) { app->registerCommand(r, Service::Fcm); }}));
      ctx.keep(
          reg.add({.node = "register-push-apns",
                   .name = "Register an Apple device (APNs)",
                   .service = *prepared,
                   .mayRun = may,
                   .handler = [app](const adhoc::Request& r) { app->registerCommand(r, Service::Apns); }}));
      ctx.keep(reg.add({.node = "unregister-push",
                        .name = "Unregister a device",
                        .service = *prepared,
                        .mayRun = may,
                        .handler = [app](const adhoc::Request& r) { app->unregisterCommand(r); }}));
      ctx.keep(
          std::make_shared<router::IqHandle>(server.disco().addItem({*prepared, "Push notifications", ""})));
      apps_.push_back(app);
      log::info("push.appserver.service", "domain={}", *prepared);
    }
  }

  void stop() override {
    for (auto& a : apps_) a->stop();
    apps_.clear();
  }

 private:
  Settings settings_;
  std::vector<std::shared_ptr<AppServer>> apps_;
};

}  // namespace

extern const module::ModuleInfo kModule;
const module::ModuleInfo kModule{
    "push_appserver",
    "XEP-0357 app server push.<domain>: device registration, FCM and APNs delivery",
    {"adhoc"},
    false,
    [] { return std::unique_ptr<module::Module>(new AppServerModule); }};

}  // namespace parley::xep::push_appserver
