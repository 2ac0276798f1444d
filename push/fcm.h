// FCM HTTP v1 (https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send):
//   auth   a Google service account (JSON: project_id, client_email, private_key, private_key_id,
//          token_uri): an RS256 JWT assertion exchanged at the token URI for an OAuth2 access token
//          (grant urn:ietf:params:oauth:grant-type:jwt-bearer), cached and fetched again `refresh_before`
//          ahead of its expiry; one exchange at a time, notifications wait for it.
//   send   POST {endpoint}/v1/projects/{project_id}/messages:send, Authorization: Bearer, a data payload
//          (strings only) and optionally a notification payload; android.priority HIGH for messages and
//          calls, NORMAL for background wake-ups; android.ttl.
//   errors 404 UNREGISTERED and 400 INVALID_ARGUMENT about the token: dead token. 401: the access token
//          is fetched again and the send retried. 429/5xx: retry (Retry-After honoured).
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "push/http_client.h"
#include "push/jwt.h"
#include "push/provider.h"

namespace parley::push {

struct FcmSettings {
  std::string serviceAccountFile;
  std::string endpoint = "https://fcm.googleapis.com";
  std::string tokenUri;  // "" : the service account's token_uri
  std::chrono::seconds refreshBefore{300};
  std::chrono::seconds ttl{86400};
  bool notificationPayload = false;  // add a visible "notification" (else data-only, the app shows it)
  std::string notificationTitle = "New message";
};

class FcmProvider final : public PushProvider, public std::enable_shared_from_this<FcmProvider> {
 public:
  // Reads the service account file (start-up only). nullptr with `error` set when it is unusable.
  static std::shared_ptr<FcmProvider> create(FcmSettings settings, std::shared_ptr<HttpClient> http,
                                             std::string* error);
  Service service() const override { return Service::Fcm; }
  void deliver(const PushNote& note, std::function<void(Outcome)> done) override;
  void shutdown() override;
  const std::string& projectId() const { return projectId_; }

 private:
  FcmProvider() = default;
  using Clock = std::chrono::steady_clock;
  void withToken(std::function<void(const std::string& token, const std::string& error)> fn);
  void fetchToken();
  void send(const PushNote& note, const std::string& token, bool retriedAuth, std::function<void(Outcome)> done);

  FcmSettings settings_;
  std::shared_ptr<HttpClient> http_;
  std::shared_ptr<SigningKey> key_;
  std::string projectId_, clientEmail_, keyId_, tokenUri_;
  std::string accessToken_;
  Clock::time_point tokenExpires_{};
  bool fetching_ = false;
  std::deque<std::function<void(const std::string&, const std::string&)>> waiting_;
};

}  // namespace parley::push
