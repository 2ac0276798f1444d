// APNs provider API over HTTP/2 (https://developer.apple.com/documentation/usernotifications/
// sending-notification-requests-to-apns):
//   auth   token-based: an ES256 JWT {iss: team id, iat} with kid = key id, signed with the .p8 key,
//          sent as "authorization: bearer …"; made again every `token_refresh` (Apple refuses tokens
//          older than an hour and more than one new token per 20 minutes: default 40 min), and at once
//          after 403 ExpiredProviderToken.
//   send   POST {endpoint}/3/device/{token} with apns-topic (bundle id; "<bundle>.voip" for VoIP),
//          apns-push-type (alert | background | voip), apns-priority (10 alert/voip, 5 background),
//          apns-expiration, apns-collapse-id (alerts of one device collapse); production and sandbox
//          endpoints, one multiplexed HTTP/2 connection to each (HttpClient, max one per host).
//   errors 410 Unregistered, 400 BadDeviceToken / DeviceTokenNotForTopic: dead token. 429 and 5xx:
//          retry (Retry-After honoured).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "push/http_client.h"
#include "push/jwt.h"
#include "push/provider.h"

namespace parley::push {

struct ApnsSettings {
  std::string keyFile;  // the .p8 key (PKCS#8 PEM, EC P-256)
  std::string keyId, teamId;
  std::string topic;  // default bundle id
  std::string endpoint = "https://api.push.apple.com";
  std::string sandboxEndpoint = "https://api.sandbox.push.apple.com";
  std::chrono::seconds tokenRefresh{40 * 60};
  std::chrono::seconds ttl{86400};  // apns-expiration for messages (calls: 30 s)
  std::string alertTitle = "New message";
};

class ApnsProvider final : public PushProvider, public std::enable_shared_from_this<ApnsProvider> {
 public:
  static std::shared_ptr<ApnsProvider> create(ApnsSettings settings, std::shared_ptr<HttpClient> http,
                                              std::string* error);
  Service service() const override { return Service::Apns; }
  void deliver(const PushNote& note, std::function<void(Outcome)> done) override;
  void shutdown() override {}

 private:
  ApnsProvider() = default;
  using Clock = std::chrono::steady_clock;
  const std::string& providerToken(bool renew);
  void send(const PushNote& note, bool retriedAuth, std::function<void(Outcome)> done);

  ApnsSettings settings_;
  std::shared_ptr<HttpClient> http_;
  std::shared_ptr<SigningKey> key_;
  std::string jwt_;
  Clock::time_point jwtMade_{};
};

}  // namespace parley::push
