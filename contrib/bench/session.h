// DESIGN: one benchmark client connection. A Session logs in exactly as a real client does (RFC 6120:
// TCP, stream header, STARTTLS or direct TLS, stream restart, SASL, restart, resource binding; RFC 6121:
// roster get, initial presence and its echo) as one C++20 coroutine, then keeps reading so the server
// sees a live client (it answers XEP-0199 pings) and hands received messages to its observer.
//
// Threads: a Session lives on one io_context (one thread) and is only touched there. One read and one
// write may be in flight at once (asio::ssl::stream is full duplex); writes after login go through a
// queue with exactly one write in flight.
//
// Memory: the session keeps a small read buffer (1 KiB, grown only while a read fills it, shrunk again
// after login) and no copies of what it sent. Most of its footprint is OpenSSL's and Asio's: the
// ssl::stream keeps two 17 KiB record buffers and a BIO pair of the same size (see README.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/runtime/asio.h"
// clang-format off
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl.hpp>
// clang-format on
#include "server/xml/stream_parser.h"

namespace parley::bench {

using Clock = std::chrono::steady_clock;

// Fixed for the whole run; sessions keep a reference.
struct ClientSettings {
  asio::ip::address_v4 host;
  std::uint16_t port = 0;
  bool directTls = false;
  std::string domain;
  std::string prefix;
  std::string password;
  std::string mechanism;
  std::string resource;
  unsigned sourceAddresses = 1;
  std::chrono::milliseconds timeout{30000};
};

// Seconds spent in each step of a successful login.
struct LoginTimes {
  double connect = 0;   // TCP connect
  double tls = 0;       // stream header, STARTTLS, TLS handshake (or the direct TLS handshake)
  double auth = 0;      // stream header and features, SASL exchange
  double bind = 0;      // restart, resource binding, roster get
  double presence = 0;  // initial presence until its echo
  double total = 0;
};

struct LoginOutcome {
  bool ok = false;
  std::string failure;  // "phase: reason" when !ok
  LoginTimes times;
};

class Session;

// Receives what happens to logged-in sessions; called on the session's thread.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  virtual void onMessage(Session& session, const xml::Element& message) = 0;
  // An IQ result or error addressed to the session (answers to what the scenario asked).
  virtual void onIqResponse(Session& /*session*/, const xml::Element& /*iq*/) {}
  // A presence addressed to the session (the muc scenario counts its room joins).
  virtual void onPresence(Session& /*session*/, const xml::Element& /*presence*/) {}
  // The session is over. `reason` is empty when it ended because we closed it, cleanly or not.
  virtual void onEnded(Session& session, std::string_view reason) = 0;
};

class Session : public std::enable_shared_from_this<Session>, private xml::StreamParserHandler {
 public:
  Session(asio::io_context& io, asio::ssl::context& tls, const ClientSettings& settings,
          std::size_t userIndex);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The whole login, bounded by settings.timeout. Never throws.
  asio::awaitable<LoginOutcome> login();
  // After a successful login: read until the stream ends, reporting to `observer` (which must outlive
  // the session's reading).
  void run(SessionObserver& observer);
  // Queues a stanza (already serialised). Ignored once the session is closing or over.
  void send(std::string stanza);
  // Ends the stream (</stream:stream>) and waits up to `timeout` for the server to close its side.
  void close(std::chrono::milliseconds timeout);

  std::size_t userIndex() const { return userIndex_; }
  const std::string& jid() const { return jid_; }  // full JID once bound
  bool over() const { return over_; }
  // For the chat scenario's receiver: the last sequence number seen from the partner.
  std::uint64_t& lastSequence() { return lastSequence_; }

 private:
  // StreamParserHandler (called from inside parser_.feed()).
  void onStreamOpen(xml::StreamHeader header) override;
  void onElement(xml::ElementPtr element) override;
  void onStreamClose() override;
  void onParseError(xml::ParseError error, std::string_view detail) override;

  asio::awaitable<void> connect();
  asio::awaitable<void> handshake();
  asio::awaitable<void> write(std::string_view data);
  asio::awaitable<std::size_t> readSome();
  asio::awaitable<xml::ElementPtr> next();
  asio::awaitable<xml::ElementPtr> openStream();  // sends the header, returns <stream:features/>
  asio::awaitable<void> authenticate(const xml::Element& features);
  asio::awaitable<xml::ElementPtr> iq(std::string_view id, std::string stanza);

  static asio::awaitable<void> readLoop(std::shared_ptr<Session> self);
  static asio::awaitable<void> writeLoop(std::shared_ptr<Session> self);
  void dispatch(const xml::Element& element);
  void feed(std::size_t n);
  void armDeadline(std::chrono::milliseconds timeout);
  void closeSocket();
  std::string describe(const boost::system::error_code& ec) const;

  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  asio::steady_timer deadline_;
  const ClientSettings& settings_;
  xml::XmlStreamParser parser_;
  std::vector<char> readBuffer_;
  std::vector<xml::ElementPtr> inbox_;  // elements parsed during login, not yet consumed
  std::size_t inboxNext_ = 0;
  std::string outbox_;  // queued after login, written by writeLoop
  std::string jid_;
  std::string streamError_;
  std::string parseError_;
  SessionObserver* observer_ = nullptr;
  std::size_t userIndex_;
  std::uint64_t lastSequence_ = 0;
  const char* phase_ = "connect";
  bool tls_ = false;
  bool running_ = false;  // reading after login: elements go to dispatch() instead of inbox_
  bool writing_ = false;
  bool closing_ = false;
  bool timedOut_ = false;
  bool streamClosed_ = false;
  bool over_ = false;
};

}  // namespace parley::bench
