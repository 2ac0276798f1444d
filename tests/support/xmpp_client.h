// A real XMPP client for integration tests, built on libstrophe (the same library many bots and
// embedded clients use). It logs in the way libstrophe does (STARTTLS or direct TLS, the strongest
// SASL mechanism offered, resource binding), collects every stanza it receives, and lets a test wait for
// the one it expects. Tests read like transcripts:
//
//   alice.send("<message to='bob@localhost' type='chat'><body>hi</body></message>");
//   auto m = bob.expect(isMessage().from("alice@localhost/phone").body("hi"));
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/xml/element.h"

struct _xmpp_ctx_t;
struct _xmpp_conn_t;

namespace parley::test {

using namespace std::chrono_literals;
using Match = std::function<bool(const xml::Element&)>;

// Small matcher combinators for expect().
class Is {
 public:
  explicit Is(std::string name) : name_(std::move(name)) {}
  Is& from(std::string v) { return attr("from", std::move(v)); }
  Is& to(std::string v) { return attr("to", std::move(v)); }
  Is& type(std::string v) { return attr("type", std::move(v)); }
  Is& id(std::string v) { return attr("id", std::move(v)); }
  Is& attr(std::string k, std::string v);
  Is& body(std::string v);
  Is& child(std::string name, std::string ns);
  Is& where(Match m);
  operator Match() const;  // NOLINT: used implicitly by expect()

 private:
  std::string name_;
  std::vector<Match> checks_;
};
inline Is isMessage() {
  return Is("message");
}
inline Is isPresence() {
  return Is("presence");
}
inline Is isIq() {
  return Is("iq");
}

class XmppClient {
 public:
  enum class Transport { StartTls, DirectTls };
  XmppClient(std::string jid, std::string password, std::uint16_t port,
             Transport transport = Transport::StartTls);
  ~XmppClient();
  XmppClient(const XmppClient&) = delete;
  XmppClient& operator=(const XmppClient&) = delete;

  // Connects, authenticates and binds. False on failure (see error()).
  bool connect(std::chrono::milliseconds timeout = 15s);
  // XEP-0198 as libstrophe does it (off by default, so other tests see plain streams). Call before
  // connect().
  void useStreamManagement();
  // Cuts the TCP connection under libstrophe (no </stream:stream>), as a phone losing its network.
  void cutConnection();
  // After the connection dropped: a new libstrophe connection (same context, as libstrophe requires)
  // that resumes the session with the saved XEP-0198 state. True once the resumed stream is up.
  bool reconnectResuming(std::chrono::milliseconds timeout = 15s);
  void disconnect();
  bool connected() const { return connected_; }
  // The bound full JID.
  std::string jid() const;
  // Why the connection failed or ended: a stream error condition ("conflict"), "auth-failed", …
  const std::string& error() const { return error_; }

  void send(const std::string& xml);
  // Waits for a received stanza matching `match` and removes it from the inbox; nullptr on timeout.
  xml::ElementPtr expect(const Match& match, std::chrono::milliseconds timeout = 5s);
  // True if nothing matching arrives within `window`.
  bool expectNothing(const Match& match, std::chrono::milliseconds window = 500ms);
  // Sends an IQ (the id attribute must be set) and waits for the reply with that id.
  xml::ElementPtr request(const std::string& iqXml, const std::string& id,
                          std::chrono::milliseconds timeout = 5s);
  // Sends initial presence and waits for it to come back (RFC 6121 §4.2.2).
  void becomeAvailable(const std::string& extra = {});
  // Runs the event loop for a while (lets the server's traffic arrive).
  void pump(std::chrono::milliseconds duration);
  // Waits until the server closes the stream; true if it did within the timeout.
  bool waitDisconnected(std::chrono::milliseconds timeout = 5s);
  std::deque<xml::ElementPtr>& inbox() { return inbox_; }
  // Waits until one of several clients receives a stanza its matcher accepts (e.g. "the recipient gets
  // it, or the sender gets an error"), running every client's event loop in turn. Returns the index of
  // that client and the stanza, removed from its inbox; {-1, nullptr} on timeout.
  static std::pair<int, xml::ElementPtr> expectAny(const std::vector<std::pair<XmppClient*, Match>>& waits,
                                                   std::chrono::milliseconds timeout = 5s);

  // libstrophe callbacks.
  void onStanza(const std::string& xml);
  void onConnEvent(int event, int error, const void* streamError);

 private:
  std::string jid_, password_;
  std::uint16_t port_;
  Transport transport_;
  _xmpp_ctx_t* ctx_ = nullptr;
  _xmpp_conn_t* conn_ = nullptr;
  int socket_ = -1;  // from libstrophe's socket-option callback
  std::deque<xml::ElementPtr> inbox_;
  bool connected_ = false;
  bool finished_ = false;  // connect attempt ended (success or failure)
  std::string error_;
};

}  // namespace parley::test
