#include "tests/support/ws_client.h"

#include <utility>
// clang-format off
#include "server/runtime/asio.h"
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
// clang-format on

#include <sys/socket.h>

#include "server/sasl/scram.h"
#include "server/util/crypto.h"
#include "tests/support/raw_client.h"

namespace parley::test {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;

struct WsClient::Impl {
  using PlainWs = websocket::stream<beast::tcp_stream>;
  using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
  asio::io_context ioc;
  asio::ssl::context ssl{asio::ssl::context::tls_client};  // the test certificate is self-signed: no verify
  std::unique_ptr<PlainWs> plain;
  std::unique_ptr<TlsWs> secure;
  beast::flat_buffer buffer;
  bool reading = false;
  bool done = false;
  boost::system::error_code ec;

  // Calls fn with whichever stream this client uses.
  template <class F>
  decltype(auto) with(F&& fn) {
    return secure ? fn(*secure) : fn(*plain);
  }
  beast::tcp_stream& tcp() {
    return secure ? beast::get_lowest_layer(*secure) : beast::get_lowest_layer(*plain);
  }

  // Runs the io_context until `finished` or the timeout.
  template <class Pred>
  bool runUntil(Pred finished, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!finished()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      ioc.restart();
      ioc.run_one_for(deadline - now);
    }
    return true;
  }
};

WsClient::WsClient(std::uint16_t port, std::string path, std::string subprotocols, std::string host, bool tls)
    : impl_(std::make_unique<Impl>()) {
  Impl& i = *impl_;
  if (tls)
    i.secure = std::make_unique<Impl::TlsWs>(i.ioc, i.ssl);
  else
    i.plain = std::make_unique<Impl::PlainWs>(i.ioc);
  boost::system::error_code ec;
  i.tcp().socket().connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return;
  bool finished = false;
  i.tcp().expires_after(std::chrono::seconds(10));
  if (tls) {
    SSL_set_tlsext_host_name(i.secure->next_layer().native_handle(), host.c_str());
    i.secure->next_layer().async_handshake(asio::ssl::stream_base::client,
                                           [&](const boost::system::error_code& e) {
                                             i.ec = e;
                                             finished = true;
                                           });
    if (!i.runUntil([&] { return finished; }, std::chrono::seconds(10)) || i.ec) return;
    tlsEstablished_ = true;
    finished = false;
  }
  auto response = std::make_shared<websocket::response_type>();
  i.with([&](auto& ws) {
    ws.set_option(websocket::stream_base::decorator([subprotocols, tls](websocket::request_type& req) {
      if (!subprotocols.empty()) req.set(bhttp::field::sec_websocket_protocol, subprotocols);
      req.set(bhttp::field::origin, tls ? "https://localhost" : "http://localhost");
    }));
    ws.async_handshake(*response, host, path, [&](const boost::system::error_code& e) {
      i.ec = e;
      finished = true;
    });
  });
  if (!i.runUntil([&] { return finished; }, std::chrono::seconds(10))) return;
  i.tcp().expires_never();
  status_ = static_cast<int>(response->result_int());
  protocol_ = std::string((*response)[bhttp::field::sec_websocket_protocol]);
  refusalBody_ = response->body();
  upgraded_ = !i.ec;
  if (!upgraded_) closed_ = true;
}

WsClient::~WsClient() {
  if (impl_ && upgraded_ && !closed_) {
    boost::system::error_code ec;
    impl_->tcp().socket().close(ec);
  }
}

std::string WsClient::joined() const {
  std::string out;
  for (const auto& m : messages_) out += m;
  return out;
}

bool WsClient::send(std::string_view message) {
  if (!upgraded_ || closed_) return false;
  boost::system::error_code ec;
  impl_->with([&](auto& ws) {
    ws.text(true);
    ws.write(asio::buffer(message.data(), message.size()), ec);
  });
  return !ec;
}

bool WsClient::readOne(std::chrono::milliseconds timeout) {
  if (!upgraded_ || closed_) return false;
  Impl& i = *impl_;
  if (!i.reading) {
    i.reading = true;
    i.done = false;
    i.with([&i](auto& ws) {
      ws.async_read(i.buffer, [&i](const boost::system::error_code& e, std::size_t) {
        i.ec = e;
        i.done = true;
      });
    });
  }
  if (!i.runUntil([&i] { return i.done; }, timeout)) return false;  // the read stays pending
  i.reading = false;
  if (i.ec) {
    closed_ = true;
    if (i.ec == websocket::error::closed)
      closeCode_ = i.with([](auto& ws) { return static_cast<int>(ws.reason().code); });
    return false;
  }
  messages_.push_back(beast::buffers_to_string(i.buffer.data()));
  i.buffer.consume(i.buffer.size());
  return true;
}

bool WsClient::waitFor(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (const auto& m : messages_)
      if (m.find(needle) != std::string::npos) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || closed_) return false;
    readOne(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
  }
}

bool WsClient::waitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    readOne(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
  }
  return true;
}

void WsClient::drop() {
  if (!upgraded_ || closed_) return;
  auto& sock = impl_->tcp().socket();
  ::linger l{1, 0};  // RST instead of FIN
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  boost::system::error_code ec;
  sock.close(ec);
  closed_ = true;
}

std::string WsClient::open(std::string_view domain) {
  consume();
  send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='" + std::string(domain) + "' version='1.0'/>");
  waitFor("</stream:features>");
  return joined();
}

bool WsClient::authenticate(const std::string& user, const std::string& password,
                            const std::string& mechanism) {
  consume();
  if (mechanism == "PLAIN") {
    std::string msg = std::string("\0", 1) + user + std::string("\0", 1) + password;
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + util::base64Encode(msg) +
         "</auth>");
  } else {
    auto alg = util::hashFromName(mechanism.substr(6));
    if (!alg) return false;
    sasl::ScramClient scram(*alg, user, password);
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mechanism + "'>" +
         util::base64Encode(scram.clientFirst()) + "</auth>");
    if (!waitFor("challenge", std::chrono::seconds(10)) || joined().find("</challenge>") == std::string::npos)
      return false;
    auto serverFirst = util::base64Decode(elementText(joined(), "challenge"));
    if (!serverFirst) return false;
    auto final = scram.clientFinal(*serverFirst);
    if (!final) return false;
    consume();
    send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + util::base64Encode(*final) + "</response>");
    if (!waitFor("</success>", std::chrono::seconds(10))) return false;
    auto serverFinal = util::base64Decode(elementText(joined(), "success"));
    if (!serverFinal || !scram.verifyServerFinal(*serverFinal)) return false;
    open();
    return true;
  }
  if (!waitFor("success", std::chrono::seconds(10))) return false;
  open();
  return true;
}

bool WsClient::bind(const std::string& resource) {
  consume();
  send(
      "<iq xmlns='jabber:client' type='set' id='bind1'><bind "
      "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" +
      resource + "</resource></bind></iq>");
  return waitFor("</jid>");
}

bool WsClient::login(const std::string& user, const std::string& password, const std::string& resource) {
  open();
  if (!authenticate(user, password)) return false;
  return bind(resource);
}

}  // namespace parley::test
