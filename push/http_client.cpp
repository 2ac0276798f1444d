#include "push/http_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "server/log/log.h"
#include "server/runtime/asio.h"
// clang-format off
#include <boost/asio/posix/stream_descriptor.hpp>
// clang-format on

namespace parley::push {

namespace {

std::once_flag gCurlInit;

struct Transfer {
  CURL* easy = nullptr;
  HttpRequest request;
  HttpClient::Done done;
  HttpResponse response;
  curl_slist* headers = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {0};
};

size_t onBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response.body.append(data, size * n);
  if (t->response.body.size() > 1024 * 1024) return 0;  // a push service answers in a few bytes
  return size * n;
}

size_t onHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // a new response (after 100 Continue)
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || t->response.headers.size() > 100) return size * n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  t->response.headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(),
                   [](char a, char b) { return std::tolower((unsigned char)a) == std::tolower((unsigned char)b); }))
      return v;
  return {};
}

struct HttpClient::Impl {
  struct Socket {
    std::unique_ptr<asio::posix::stream_descriptor> sd;
    int what = 0;  // CURL_POLL_* interest
    bool reading = false, writing = false;
    bool closed = false;
  };

  HttpClient* owner = nullptr;
  HttpClientOptions options;
  CURLM* multi = nullptr;
  asio::steady_timer timer;
  std::map<curl_socket_t, std::shared_ptr<Socket>> sockets;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers;
  bool stopped = false;
  int running = 0;

  explicit Impl(asio::io_context& io) : timer(io) {}

  std::weak_ptr<HttpClient> weak() { return owner->weak_from_this(); }

  // curl callbacks (called from inside curl_multi_* on the executor).
  static int socketCb(CURL*, curl_socket_t s, int what, void* userp, void*) {
    static_cast<Impl*>(userp)->watch(s, what);
    return 0;
  }
  static int timerCb(CURLM*, long ms, void* userp) {
    static_cast<Impl*>(userp)->arm(ms);
    return 0;
  }
  static curl_socket_t openCb(void* userp, curlsocktype purpose, curl_sockaddr* addr) {
    auto* self = static_cast<Impl*>(userp);
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    const curl_socket_t fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    auto sock = std::make_shared<Socket>();
    sock->sd = std::make_unique<asio::posix::stream_descriptor>(self->timer.get_executor(), fd);
    self->sockets[fd] = std::move(sock);
    return fd;
  }
  static int closeCb(void* userp, curl_socket_t fd) {
    auto* self = static_cast<Impl*>(userp);
    if (auto it = self->sockets.find(fd); it != self->sockets.end()) {
      it->second->closed = true;
      boost::system::error_code ec;
      it->second->sd->cancel(ec);
      it->second->sd->release();  // curl owns the descriptor; we close it below
      self->sockets.erase(it);
    }
    return ::close(fd);
  }

  void watch(curl_socket_t s, int what) {
    auto it = sockets.find(s);
    if (it == sockets.end()) return;  // not opened by us (cannot happen with OPENSOCKETFUNCTION)
    auto sock = it->second;
    sock->what = what == CURL_POLL_REMOVE ? 0 : what;
    if (sock->what == 0) {
      boost::system::error_code ec;
      sock->sd->cancel(ec);
      return;
    }
    waitFor(s, sock);
  }

  void waitFor(curl_socket_t s, const std::shared_ptr<Socket>& sock) {
    if ((sock->what & CURL_POLL_IN) && !sock->reading) {
      sock->reading = true;
      sock->sd->async_wait(asio::posix::stream_descriptor::wait_read,
                           [w = weak(), s, sock](const boost::system::error_code& ec) {
                             sock->reading = false;
                             auto self = w.lock();
                             if (!self || sock->closed) return;
                             if (ec == asio::error::operation_aborted && !(sock->what & CURL_POLL_IN)) return;
                             self->impl_->ready(s, sock, ec ? CURL_CSELECT_ERR : CURL_CSELECT_IN);
                           });
    }
    if ((sock->what & CURL_POLL_OUT) && !sock->writing) {
      sock->writing = true;
      sock->sd->async_wait(asio::posix::stream_descriptor::wait_write,
                           [w = weak(), s, sock](const boost::system::error_code& ec) {
                             sock->writing = false;
                             auto self = w.lock();
                             if (!self || sock->closed) return;
                             if (ec == asio::error::operation_aborted && !(sock->what & CURL_POLL_OUT)) return;
                             self->impl_->ready(s, sock, ec ? CURL_CSELECT_ERR : CURL_CSELECT_OUT);
                           });
    }
  }

  void ready(curl_socket_t s, const std::shared_ptr<Socket>& sock, int flags) {
    if (stopped) return;
    curl_multi_socket_action(multi, s, flags, &running);
    finished();
    if (!sock->closed && sock->what) waitFor(s, sock);  // still interested: wait again
  }

  void arm(long ms) {
    if (ms < 0) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::milliseconds(ms));
    timer.async_wait([w = weak()](const boost::system::error_code& ec) {
      if (ec) return;
      auto self = w.lock();
      if (!self || self->impl_->stopped) return;
      auto& impl = *self->impl_;
      curl_multi_socket_action(impl.multi, CURL_SOCKET_TIMEOUT, 0, &impl.running);
      impl.finished();
    });
  }

  void finished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode result = msg->data.result;
      auto it = transfers.find(easy);
      if (it == transfers.end()) continue;
      auto t = std::move(it->second);
      transfers.erase(it);
      if (result == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->response.status);
        long v = 0;
        curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &v);
        t->response.httpVersion = v == CURL_HTTP_VERSION_2_0 ? 2 : v == CURL_HTTP_VERSION_3 ? 3 : 1;
      } else {
        t->response.status = 0;
        t->response.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(result);
      }
      complete(std::move(t));
    }
  }

  void complete(std::unique_ptr<Transfer> t) {
    curl_multi_remove_handle(multi, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    t->easy = nullptr;
    t->headers = nullptr;
    // Posted, so a callback that sends again never re-enters curl from inside a curl call.
    owner->exec_.post([t = std::shared_ptr<Transfer>(std::move(t))]() mutable {
      if (t->done) t->done(std::move(t->response));
    });
  }

  void start(std::unique_ptr<Transfer> t) {
    if (stopped) {
      t->response.error = "http client stopped";
      owner->exec_.post([t = std::shared_ptr<Transfer>(std::move(t))] { t->done(std::move(t->response)); });
      return;
    }
    CURL* e = curl_easy_init();
    t->easy = e;
    const auto& r = t->request;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, options.http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);  // wait for the multiplexed connection, do not open another
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::min(10000L, static_cast<long>(r.timeout.count())));
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, openCb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, closeCb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!options.caFile.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options.caFile.c_str());
    if (r.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
    } else if (r.method != "GET") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
    for (const auto& h : r.headers) t->headers = curl_slist_append(t->headers, h.c_str());
    t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    transfers[e] = std::move(t);
    curl_multi_add_handle(multi, e);  // the timer callback kicks the transfer off
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    timer.cancel();
    auto pending = std::move(transfers);
    transfers.clear();
    for (auto& [easy, t] : pending) {
      t->response.error = "http client stopped";
      complete(std::move(t));
    }
    curl_multi_cleanup(multi);  // closes the connections (CLOSESOCKETFUNCTION)
    multi = nullptr;
    for (auto& [fd, sock] : sockets) {
      sock->closed = true;
      boost::system::error_code ec;
      sock->sd->cancel(ec);
    }
    sockets.clear();
  }
};

HttpClient::HttpClient(runtime::Executor exec, HttpClientOptions options)
    : exec_(exec), impl_(std::make_unique<Impl>(exec.context())) {
  std::call_once(gCurlInit, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_->owner = this;
  impl_->options = std::move(options);
  impl_->multi = curl_multi_init();
  CURLM* m = impl_->multi;
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, Impl::socketCb);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, impl_.get());
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, Impl::timerCb);
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, impl_.get());
  curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, impl_->options.maxHostConnections);
  curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, impl_->options.maxConcurrentStreams);
}

std::shared_ptr<HttpClient> HttpClient::create(runtime::Executor exec, HttpClientOptions options) {
  return std::shared_ptr<HttpClient>(new HttpClient(exec, std::move(options)));
}

HttpClient::~HttpClient() {
  if (impl_ && impl_->multi) {
    // Not shut down on the executor: release curl here (no callback can run any more).
    for (auto& [easy, t] : impl_->transfers) {
      curl_multi_remove_handle(impl_->multi, easy);
      curl_easy_cleanup(easy);
      curl_slist_free_all(t->headers);
    }
    impl_->transfers.clear();
    curl_multi_cleanup(impl_->multi);
    impl_->multi = nullptr;
  }
  for (auto& [fd, sock] : impl_->sockets) sock->sd->release();
}

void HttpClient::send(HttpRequest request, Done done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  exec_.post([w = weak_from_this(), t = std::shared_ptr<Transfer>(std::move(t))]() mutable {
    auto self = w.lock();
    if (!self) {
      t->response.error = "http client gone";
      t->done(std::move(t->response));
      return;
    }
    auto owned = std::make_unique<Transfer>();
    owned->request = std::move(t->request);
    owned->done = std::move(t->done);
    self->impl_->start(std::move(owned));
  });
}

void HttpClient::shutdown() {
  if (exec_.runningInThisThread()) {
    impl_->stop();
    return;
  }
  exec_.post([self = shared_from_this()] { self->impl_->stop(); });
}

std::size_t HttpClient::active() const {
  return impl_->transfers.size();
}

}  // namespace parley::push
