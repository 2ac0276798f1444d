// A real HTTP client for integration tests (libcurl, easy interface): one HttpClient is one curl handle,
// so consecutive requests reuse its kept-alive connection. TLS certificates are not verified (the test
// server's certificate is self-signed).
//
//   HttpClient http;
//   auto r = http.request({.method = "PUT", .url = putUrl, .body = bytes, .headers = {"Content-Type: image/png"}});
//   EXPECT_EQ(r.status, 201);
#pragma once

#include <map>
#include <string>
#include <vector>

namespace parley::test {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string body;                  // sent for PUT/POST (Content-Length: body.size())
  std::vector<std::string> headers;  // "Name: value"
  bool sendBody = false;             // send `body` even if empty (PUT of an empty file)
  long timeoutSeconds = 60;
};

struct HttpResponse {
  long status = 0;  // 0: transport error (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names, last value wins
  std::string error;
  long newConnections = 0;  // connections curl opened for this request (0: a kept-alive one was reused)
  std::string header(const std::string& lowerName) const {
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  HttpResponse request(const HttpRequest& req);
  HttpResponse get(const std::string& url, std::vector<std::string> headers = {}) {
    HttpRequest r;
    r.url = url;
    r.headers = std::move(headers);
    return request(r);
  }

 private:
  void* curl_;
};

}  // namespace parley::test
