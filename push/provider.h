// The push providers (FCM HTTP v1, APNs) behind one small interface, and what the dispatcher hands them.
// A provider turns one notification into one HTTP request and classifies the answer; retries, backoff,
// token invalidation and metrics are the dispatcher's (dispatcher.h). Providers run on the dispatcher's
// executor only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace parley::push {

enum class Service { Fcm, Apns };
std::string_view serviceName(Service s);

// What the notification is about (from the publish of the user's server, urn:parley:push:0 <kind/>).
enum class PushKind {
  Message,     // chat message, group chat mention…: visible alert (FCM high priority, APNs alert 10)
  Call,        // call invitation (XEP-0353 propose): APNs VoIP push (PushKit), FCM high priority
  Background,  // anything else: silent wake-up (FCM normal priority, APNs background 5)
};
std::string_view kindName(PushKind k);

struct PushNote {
  Service service = Service::Fcm;
  std::string node;   // the device registration (for logs and token removal)
  std::string token;  // device token (APNs: the VoIP token for calls)
  std::string topic;  // APNs bundle id ("" : provider default)
  bool sandbox = false;
  PushKind kind = PushKind::Message;
  std::int64_t count = 0;  // message-count of the summary
  std::string sender;      // last-message-sender ("" when not forwarded)
  std::string body;        // last-message-body ("" when not forwarded)
  std::chrono::steady_clock::time_point accepted;  // when the publish was accepted (latency)
  int attempt = 0;
};

enum class Verdict {
  Delivered,
  Retry,      // 429/5xx/transport: try again later (retryAfter when the service said so)
  DeadToken,  // the device token is gone for good: remove the registration
  Failed,     // permanent for this notification (bad request, auth that cannot be fixed)
};

struct Outcome {
  Verdict verdict = Verdict::Failed;
  std::string reason;                    // short, for metrics labels and logs ("Unregistered", "http_503")
  std::chrono::milliseconds retryAfter{-1};  // from Retry-After; -1 : none given
};

class PushProvider {
 public:
  virtual ~PushProvider() = default;
  virtual Service service() const = 0;
  // On the dispatcher's executor; `done` runs exactly once, on that executor.
  virtual void deliver(const PushNote& note, std::function<void(Outcome)> done) = 0;
  virtual void shutdown() = 0;
};

// Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; -1 ms when absent or unreadable.
std::chrono::milliseconds parseRetryAfter(std::string_view value);

}  // namespace parley::push
