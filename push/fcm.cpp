#include "push/fcm.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/log/log.h"

namespace parley::push {

using json = nlohmann::json;

namespace {

std::string formEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// FCM v1 error body: {"error":{"code":404,"status":"NOT_FOUND","message":…,"details":[{"@type":
// "type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}, {"fieldViolations":
// [{"field":"message.token",…}]}]}}
struct FcmError {
  std::string status, errorCode, message;
  bool tokenField = false;
};

FcmError parseError(const std::string& body) {
  FcmError e;
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("error") || !j["error"].is_object()) return e;
  const auto& err = j["error"];
  e.status = err.value("status", "");
  e.message = err.value("message", "");
  if (err.contains("details") && err["details"].is_array())
    for (const auto& d : err["details"]) {
      if (!d.is_object()) continue;
      if (d.contains("errorCode") && d["errorCode"].is_string()) e.errorCode = d["errorCode"];
      if (d.contains("fieldViolations") && d["fieldViolations"].is_array())
        for (const auto& v : d["fieldViolations"])
          if (v.is_object() && v.value("field", "") == "message.token") e.tokenField = true;
    }
  return e;
}

}  // namespace

std::shared_ptr<FcmProvider> FcmProvider::create(FcmSettings settings, std::shared_ptr<HttpClient> http,
                                                 std::string* error) {
  std::ifstream in(settings.serviceAccountFile);
  if (!in) {
    *error = "cannot read the service account file " + settings.serviceAccountFile;
    return nullptr;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    *error = "the service account file is not JSON";
    return nullptr;
  }
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  auto p = std::shared_ptr<FcmProvider>(new FcmProvider);
  p->settings_ = std::move(settings);
  p->http_ = std::move(http);
  p->projectId_ = str("project_id");
  p->clientEmail_ = str("client_email");
  p->keyId_ = str("private_key_id");
  p->tokenUri_ = p->settings_.tokenUri.empty() ? str("token_uri") : p->settings_.tokenUri;
  if (p->tokenUri_.empty()) p->tokenUri_ = "https://oauth2.googleapis.com/token";
  if (p->projectId_.empty() || p->clientEmail_.empty()) {
    *error = "the service account file lacks project_id or client_email";
    return nullptr;
  }
  std::string keyError;
  p->key_ = SigningKey::fromPem(str("private_key"), SigningKey::Alg::RS256, &keyError);
  if (!p->key_) {
    *error = "service account private_key: " + keyError;
    return nullptr;
  }
  return p;
}

void FcmProvider::shutdown() {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) w("", "shutting down");
}

void FcmProvider::withToken(std::function<void(const std::string&, const std::string&)> fn) {
  if (!accessToken_.empty() && Clock::now() + settings_.refreshBefore < tokenExpires_) {
    fn(accessToken_, "");
    return;
  }
  waiting_.push_back(std::move(fn));
  if (!fetching_) fetchToken();
}

// RFC 7523 §2.1: the JWT bearer grant, as Google's service accounts use it.
void FcmProvider::fetchToken() {
  fetching_ = true;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!keyId_.empty()) header["kid"] = keyId_;
  json claims = {{"iss", clientEmail_},
                 {"scope", "https://www.googleapis.com/auth/firebase.messaging"},
                 {"aud", tokenUri_},
                 {"iat", now},
                 {"exp", now + 3600}};
  HttpRequest req;
  req.url = tokenUri_;
  req.headers = {"Content-Type: application/x-www-form-urlencoded"};
  req.body = "grant_type=" + formEscape("urn:ietf:params:oauth:grant-type:jwt-bearer") +
             "&assertion=" + formEscape(key_->sign(header.dump(), claims.dump()));
  const auto asked = Clock::now();
  http_->send(std::move(req), [w = weak_from_this(), asked](HttpResponse r) {
    auto self = w.lock();
    if (!self) return;
    self->fetching_ = false;
    std::string error;
    if (r.status == 200) {
      auto j = json::parse(r.body, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("access_token") && j["access_token"].is_string()) {
        self->accessToken_ = j["access_token"];
        std::int64_t expiresIn = 3600;
        if (j.contains("expires_in") && j["expires_in"].is_number_integer()) expiresIn = j["expires_in"];
        self->tokenExpires_ = asked + std::chrono::seconds(expiresIn);
        log::info("push.fcm.token", "expires_in={}", expiresIn);
      } else {
        error = "token endpoint: no access_token in the answer";
      }
    } else {
      error = r.status ? "token endpoint: HTTP " + std::to_string(r.status) : "token endpoint: " + r.error;
    }
    if (!error.empty()) log::warn("push.fcm.token_failed", "error=\"{}\"", error);
    auto waiting = std::move(self->waiting_);
    self->waiting_.clear();
    for (auto& fn : waiting) fn(error.empty() ? self->accessToken_ : "", error);
  });
}

void FcmProvider::deliver(const PushNote& note, std::function<void(Outcome)> done) {
  withToken([w = weak_from_this(), note, done = std::move(done)](const std::string& token,
                                                                 const std::string& error) mutable {
    auto self = w.lock();
    if (!self) return done({Verdict::Retry, "shutdown"});
    if (!error.empty()) return done({Verdict::Retry, "oauth_token"});
    self->send(note, token, false, std::move(done));
  });
}

void FcmProvider::send(const PushNote& note, const std::string& token, bool retriedAuth,
                       std::function<void(Outcome)> done) {
  json data = {{"type", std::string(kindName(note.kind))}, {"count", std::to_string(note.count)}};
  if (!note.sender.empty()) data["sender"] = note.sender;
  if (!note.body.empty()) data["body"] = note.body;
  json message = {{"token", note.token}, {"data", data}};
  json android = {{"priority", note.kind == PushKind::Background ? "NORMAL" : "HIGH"},
                  {"ttl", note.kind == PushKind::Call ? std::string("60s")
                                                      : std::to_string(settings_.ttl.count()) + "s"}};
  if (note.kind == PushKind::Message) android["collapse_key"] = "messages";
  message["android"] = android;
  if (settings_.notificationPayload && note.kind == PushKind::Message) {
    json n = {{"title", settings_.notificationTitle}};
    if (!note.body.empty()) n["body"] = note.body;
    message["notification"] = n;
  }
  HttpRequest req;
  req.url = settings_.endpoint + "/v1/projects/" + projectId_ + "/messages:send";
  req.headers = {"Authorization: Bearer " + token, "Content-Type: application/json; charset=utf-8"};
  req.body = json{{"message", message}}.dump();
  http_->send(std::move(req), [w = weak_from_this(), note, retriedAuth, done = std::move(done)](
                                  HttpResponse r) mutable {
    auto self = w.lock();
    if (!self) return done({Verdict::Retry, "shutdown"});
    if (r.status == 200) return done({Verdict::Delivered, "ok"});
    if (r.status == 0) return done({Verdict::Retry, "transport"});
    const auto err = parseError(r.body);
    if (r.status == 401 && !retriedAuth) {
      // The access token was revoked or expired early: fetch another and send once more.
      self->accessToken_.clear();
      self->withToken([w, note, done = std::move(done)](const std::string& token, const std::string& error) mutable {
        auto self = w.lock();
        if (!self) return done({Verdict::Retry, "shutdown"});
        if (!error.empty()) return done({Verdict::Retry, "oauth_token"});
        self->send(note, token, true, std::move(done));
      });
      return;
    }
    // Only the service's own verdict on the token removes it (a 404 from a wrong URL must not).
    if ((r.status == 404 || r.status == 400) && err.errorCode == "UNREGISTERED")
      return done({Verdict::DeadToken, "UNREGISTERED"});
    if (r.status == 400 && (err.tokenField || err.errorCode == "INVALID_ARGUMENT") &&
        (err.tokenField || err.message.find("token") != std::string::npos))
      return done({Verdict::DeadToken, "INVALID_ARGUMENT"});
    if (r.status == 429 || r.status >= 500)
      return done({Verdict::Retry, err.errorCode.empty() ? "http_" + std::to_string(r.status) : err.errorCode,
                   parseRetryAfter(r.header("retry-after"))});
    return done({Verdict::Failed, err.errorCode.empty() ? "http_" + std::to_string(r.status) : err.errorCode});
  });
}

}  // namespace parley::push
