#include "push/apns.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/log/log.h"
#include "server/util/crypto.h"

namespace parley::push {

using json = nlohmann::json;

std::shared_ptr<ApnsProvider> ApnsProvider::create(ApnsSettings settings, std::shared_ptr<HttpClient> http,
                                                   std::string* error) {
  std::ifstream in(settings.keyFile);
  if (!in) {
    *error = "cannot read the APNs key file " + settings.keyFile;
    return nullptr;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto p = std::shared_ptr<ApnsProvider>(new ApnsProvider);
  std::string keyError;
  p->key_ = SigningKey::fromPem(ss.str(), SigningKey::Alg::ES256, &keyError);
  if (!p->key_) {
    *error = "APNs key: " + keyError;
    return nullptr;
  }
  if (settings.keyId.empty() || settings.teamId.empty() || settings.topic.empty()) {
    *error = "APNs needs key_id, team_id and topic";
    return nullptr;
  }
  p->settings_ = std::move(settings);
  p->http_ = std::move(http);
  return p;
}

const std::string& ApnsProvider::providerToken(bool renew) {
  const auto now = Clock::now();
  if (renew || jwt_.empty() || now - jwtMade_ >= settings_.tokenRefresh) {
    const auto iat = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    jwt_ = key_->sign(json{{"alg", "ES256"}, {"kid", settings_.keyId}}.dump(),
                      json{{"iss", settings_.teamId}, {"iat", iat}}.dump());
    jwtMade_ = now;
    log::info("push.apns.token", "kid={}", settings_.keyId);
  }
  return jwt_;
}

void ApnsProvider::deliver(const PushNote& note, std::function<void(Outcome)> done) {
  send(note, false, std::move(done));
}

void ApnsProvider::send(const PushNote& note, bool retriedAuth, std::function<void(Outcome)> done) {
  const std::string bundle = note.topic.empty() ? settings_.topic : note.topic;
  std::string pushType, topic = bundle;
  int priority = 10;
  json payload;
  const auto nowS = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  std::int64_t expiration = nowS + settings_.ttl.count();
  switch (note.kind) {
    case PushKind::Message: {
      pushType = "alert";
      json alert = {{"title", settings_.alertTitle}};
      if (!note.body.empty()) alert["body"] = note.body;
      payload["aps"] = {{"alert", alert}, {"badge", note.count}, {"sound", "default"}, {"mutable-content", 1}};
      break;
    }
    case PushKind::Call:
      pushType = "voip";  // PushKit: the app must report a call to CallKit at once
      topic = bundle + ".voip";
      expiration = nowS + 30;  // a ringing call is worthless later
      payload["aps"] = json::object();
      break;
    case PushKind::Background:
      pushType = "background";
      priority = 5;  // Apple: background pushes must use priority 5
      payload["aps"] = {{"content-available", 1}};
      break;
  }
  payload["type"] = std::string(kindName(note.kind));
  payload["count"] = note.count;
  if (!note.sender.empty()) payload["sender"] = note.sender;

  HttpRequest req;
  req.url = (note.sandbox ? settings_.sandboxEndpoint : settings_.endpoint) + "/3/device/" + note.token;
  req.headers = {"authorization: bearer " + providerToken(false),
                 "apns-topic: " + topic,
                 "apns-push-type: " + pushType,
                 "apns-priority: " + std::to_string(priority),
                 "apns-expiration: " + std::to_string(expiration),
                 "content-type: application/json"};
  if (note.kind == PushKind::Message)
    // One visible alert per device: a burst collapses into the newest (at most 64 bytes).
    req.headers.push_back("apns-collapse-id: " + util::hexEncode(util::hash(util::HashAlg::Sha256, note.node)).substr(0, 32));
  req.body = payload.dump();
  http_->send(std::move(req), [w = weak_from_this(), note, retriedAuth, done = std::move(done)](
                                  HttpResponse r) mutable {
    auto self = w.lock();
    if (!self) return done({Verdict::Retry, "shutdown"});
    if (r.status == 200) return done({Verdict::Delivered, "ok"});
    if (r.status == 0) return done({Verdict::Retry, "transport"});
    std::string reason;
    auto j = json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("reason") && j["reason"].is_string()) reason = j["reason"];
    if (reason.empty()) reason = "http_" + std::to_string(r.status);
    if (r.status == 403 && (reason == "ExpiredProviderToken" || reason == "InvalidProviderToken") && !retriedAuth) {
      self->providerToken(true);
      self->send(note, true, std::move(done));
      return;
    }
    if (r.status == 410 || (r.status == 400 && (reason == "BadDeviceToken" || reason == "DeviceTokenNotForTopic")))
      return done({Verdict::DeadToken, reason});
    if (r.status == 429 || r.status >= 500)
      return done({Verdict::Retry, reason, parseRetryAfter(r.header("retry-after"))});
    return done({Verdict::Failed, reason});
  });
}

}  // namespace parley::push
