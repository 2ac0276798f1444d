// DESIGN: outgoing HTTP for the push app server: libcurl's multi interface driven by one network
// thread's Asio event loop, no thread per request and nothing that blocks. curl tells us which sockets
// to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it up (CURLMOPT_TIMERFUNCTION); we watch them with
// asio descriptors and a steady timer on the client's executor and call curl_multi_socket_action when
// one is ready. Requests to one host share connections: HTTP/2 (ALPN h2) multiplexes them on one
// connection (CURLPIPE_MULTIPLEX, CURLOPT_PIPEWAIT, at most `maxHostConnections` per host), so APNs gets
// one connection per environment (production and sandbox are different hosts).
// Threads: everything touching curl runs on the executor; send() is thread-safe (it posts); `done`
// callbacks run on the executor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/runtime/executor.h"

namespace parley::push {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::chrono::milliseconds timeout{30000};
};

struct HttpResponse {
  long status = 0;    // 0: no HTTP answer (see error)
  std::string error;  // transport error (connect, TLS, timeout)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  long httpVersion = 0;                                      // 2 for HTTP/2, 1 for HTTP/1.x
  std::string header(std::string_view name) const;
};

struct HttpClientOptions {
  std::string caFile;  // extra trust anchor file (tests); "" : the system store
  long maxHostConnections = 1;
  long maxConcurrentStreams = 100;
  bool http2 = true;  // ask for h2 over TLS (falls back to HTTP/1.1 if the server does not offer it)
};

class HttpClient : public std::enable_shared_from_this<HttpClient> {
 public:
  using Done = std::function<void(HttpResponse)>;
  static std::shared_ptr<HttpClient> create(runtime::Executor exec, HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Thread-safe. `done` runs exactly once on the executor (with an error after shutdown()).
  void send(HttpRequest request, Done done);
  // Thread-safe: aborts every transfer (their `done` get an error) and refuses new ones.
  void shutdown();
  runtime::Executor executor() const { return exec_; }
  // Transfers in flight (on the executor).
  std::size_t active() const;

  struct Impl;

 private:
  HttpClient(runtime::Executor exec, HttpClientOptions options);
  runtime::Executor exec_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::push
