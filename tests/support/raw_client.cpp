#include "support/raw_client.h"

#include <csignal>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/sasl/scram.h"
#include "server/util/crypto.h"

namespace parley::test {

std::string elementText(std::string_view xml, std::string_view name) {
  const std::string open = "<" + std::string(name);
  for (std::size_t pos = xml.find(open); pos != std::string_view::npos; pos = xml.find(open, pos + 1)) {
    const char after = pos + open.size() < xml.size() ? xml[pos + open.size()] : '\0';
    if (after != '>' && after != ' ' && after != '/') continue;  // <challengeX…> is another element
    const auto gt = xml.find('>', pos);
    if (gt == std::string_view::npos || xml[gt - 1] == '/') return {};
    const auto close = xml.find("</" + std::string(name) + ">", gt);
    if (close == std::string_view::npos) return {};
    return std::string(xml.substr(gt + 1, close - gt - 1));
  }
  return {};
}

int connectTcp(std::uint16_t port, const std::string& sourceAddress, int receiveBuffer) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (receiveBuffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
  if (!sourceAddress.empty()) {
    // The port is chosen at connect() time, per destination: thousands of connections from one source
    // address do not run out of ports the way bind()ing port 0 would.
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    if (inet_pton(AF_INET, sourceAddress.c_str(), &src.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
      close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

RawClient::RawClient(std::uint16_t port, bool directTls, const std::string& sourceAddress,
                     int receiveBuffer) {
  fd_ = connectTcp(port, sourceAddress, receiveBuffer);
  if (fd_ < 0) return;
  signal(SIGPIPE, SIG_IGN);    // SSL_write to a socket the server closed must not kill the test
  timeval sendTimeout{10, 0};  // a server that stops reading must not hang the test
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, sizeof sendTimeout);
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (directTls && !handshake()) {
    close(fd_);
    fd_ = -1;
  }
}

RawClient::~RawClient() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

std::size_t RawClient::count(std::string_view needle) const {
  std::size_t n = 0;
  for (auto pos = buf_.find(needle); pos != std::string::npos; pos = buf_.find(needle, pos + needle.size()))
    ++n;
  return n;
}

void RawClient::drop() {
  if (fd_ < 0) return;
  linger l{1, 0};  // close() sends RST
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  if (ssl_) {
    SSL_free(ssl_);  // without SSL_shutdown: no close_notify
    ssl_ = nullptr;
  }
  close(fd_);
  fd_ = -1;
  closed_ = true;
}

bool RawClient::handshake() {
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  SSL_set_tlsext_host_name(ssl_, "localhost");
  return SSL_connect(ssl_) == 1;
}

std::uint16_t RawClient::localPort() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

bool RawClient::send(std::string_view bytes) {
  if (fd_ < 0) return false;
  std::size_t off = 0;
  while (off < bytes.size()) {
    int n = ssl_ ? SSL_write(ssl_, bytes.data() + off, static_cast<int>(bytes.size() - off))
                 : static_cast<int>(::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL));
    if (n <= 0) {
      if (ssl_) ERR_clear_error();
      return false;  // the server may have closed on us: tests check what it said
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

void RawClient::pumpAll(const std::vector<RawClient*>& clients, std::chrono::milliseconds timeout) {
  std::vector<pollfd> fds;
  std::vector<RawClient*> open;
  fds.reserve(clients.size());
  open.reserve(clients.size());
  for (RawClient* c : clients) {
    if (c->closed_ || c->fd_ < 0) continue;
    if (c->ssl_ && SSL_pending(c->ssl_) > 0) timeout = std::chrono::milliseconds(0);
    fds.push_back(pollfd{c->fd_, POLLIN, 0});
    open.push_back(c);
  }
  if (open.empty()) return;
  if (poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) < 0) return;
  for (std::size_t i = 0; i < open.size(); ++i)
    if (fds[i].revents != 0 || (open[i]->ssl_ && SSL_pending(open[i]->ssl_) > 0)) open[i]->readSome({});
}

bool RawClient::readSome(std::chrono::milliseconds timeout) {
  if (closed_ || fd_ < 0) return false;
  if (!(ssl_ && SSL_pending(ssl_) > 0)) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
  }
  char buf[16384];
  int n = ssl_ ? SSL_read(ssl_, buf, sizeof buf) : static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
  if (n <= 0) {
    if (ssl_) {
      int err = SSL_get_error(ssl_, n);
      ERR_clear_error();
      if (err == SSL_ERROR_WANT_READ) return true;
    }
    closed_ = true;
    return false;
  }
  buf_.append(buf, static_cast<std::size_t>(n));
  return true;
}

bool RawClient::waitForAny(std::initializer_list<std::string_view> needles,
                           std::chrono::milliseconds timeout) {
  const auto found = [&] {
    for (auto n : needles)
      if (buf_.find(n) != std::string::npos) return true;
    return false;
  };
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!found()) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!readSome(left) && closed_) return found();
  }
  return true;
}

bool RawClient::waitFor(std::string_view needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (buf_.find(needle) == std::string::npos) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!readSome(left) && closed_) return buf_.find(needle) != std::string::npos;
  }
  return true;
}

void RawClient::waitForSaslOutcome() {
  // <success/> or <failure>…</failure> (failures may be delayed by the login limiter).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (buf_.find("<success") == std::string::npos && buf_.find("</failure>") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline && !closed_)
    readSome(std::chrono::milliseconds(100));
}

bool RawClient::waitClosed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    readSome(left);
  }
  return true;
}

std::string RawClient::openStream(std::string_view domain) {
  consume();
  send("<?xml version='1.0'?><stream:stream to='" + std::string(domain) +
       "' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>");
  waitFor("</stream:features>");
  return buf_;
}

bool RawClient::startTls(std::string_view pipelined) {
  consume();
  send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + std::string(pipelined));
  if (!waitFor("<proceed")) return false;
  consume();
  return handshake();
}

std::string RawClient::channelBinding(const std::string& type) const {
  if (type == "tls-exporter") {
    unsigned char out[32];
    static const char kLabel[] = "EXPORTER-Channel-Binding";
    if (SSL_export_keying_material(ssl_, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1)
      return {};
    return std::string(reinterpret_cast<char*>(out), sizeof out);
  }
  if (type == "tls-server-end-point") {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) return {};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, EVP_sha256(), md, &len);  // the test certificates are signed with SHA-256
    X509_free(cert);
    return std::string(reinterpret_cast<char*>(md), len);
  }
  return {};
}

bool RawClient::authenticate(const std::string& user, const std::string& password,
                             const std::string& mechanism, const std::string& cbType) {
  consume();
  if (mechanism == "PLAIN") {
    std::string msg = std::string("\0", 1) + user + std::string("\0", 1) + password;
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + util::base64Encode(msg) +
         "</auth>");
    waitForSaslOutcome();
    return buf_.find("<success") != std::string::npos;
  }
  std::string hashName = mechanism.substr(6);
  if (hashName.size() > 5 && hashName.ends_with("-PLUS")) hashName.resize(hashName.size() - 5);
  auto alg = util::hashFromName(hashName);
  if (!alg) return false;
  sasl::ScramClient scram(*alg, user, password, cbType,
                          cbType.empty() ? std::string() : channelBinding(cbType));
  send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='" + mechanism + "'>" +
       util::base64Encode(scram.clientFirst()) + "</auth>");
  // The server may refuse at once (e.g. <temporary-auth-failure/> from the login limiter).
  if (!waitForAny({"</challenge>", "</failure>"}, std::chrono::seconds(10)) ||
      buf_.find("</challenge>") == std::string::npos)
    return false;
  auto serverFirst = util::base64Decode(elementText(buf_, "challenge"));
  if (!serverFirst) return false;
  auto final = scram.clientFinal(*serverFirst);
  if (!final) return false;
  consume();
  send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + util::base64Encode(*final) + "</response>");
  waitForSaslOutcome();
  if (buf_.find("</success>") == std::string::npos) return false;
  auto serverFinal = util::base64Decode(elementText(buf_, "success"));
  return serverFinal && scram.verifyServerFinal(*serverFinal);
}

bool RawClient::bind(const std::string& resource) {
  openStream();
  consume();
  send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource +
       "</resource></bind></iq>");
  return waitFor("</jid>");
}

bool RawClient::login(const std::string& user, const std::string& password) {
  openStream();
  if (!ssl_ && !startTls()) return false;
  openStream();
  if (!authenticate(user, password, "SCRAM-SHA-256")) return false;
  return bind();
}

}  // namespace parley::test
