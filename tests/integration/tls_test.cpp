// TLS profile: direct TLS with ALPN (XEP-0368), one certificate per host chosen by SNI, old protocol
// versions, weak cipher suites, compression and renegotiation refused.
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/util/crypto.h"
#include "support/raw_client.h"
#include "support/test_server.h"

namespace parley::test {
namespace {

struct TlsProbe {
  bool handshakeOk = false;
  std::string alpn;
  std::string certCommonName;
  std::string version;
};

// A bare TLS handshake against the direct-TLS port.
TlsProbe probe(std::uint16_t port, const std::string& sni, const std::string& alpn, int maxVersion = 0) {
  TlsProbe out;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return out;
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (maxVersion) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx, maxVersion);
    SSL_CTX_set_security_level(ctx, 0);  // let the client offer what the server must refuse
    SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  std::string wire;
  if (!alpn.empty()) {
    wire.push_back(static_cast<char>(alpn.size()));
    wire += alpn;
    SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  out.handshakeOk = SSL_connect(ssl) == 1;
  if (out.handshakeOk) {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl, &p, &len);
    out.alpn.assign(reinterpret_cast<const char*>(p), len);
    if (X509* cert = SSL_get1_peer_certificate(ssl)) {
      char cn[256] = {0};
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
      out.certCommonName = cn;
      X509_free(cert);
    }
    out.version = SSL_get_version(ssl);
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  return out;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A second virtual host with its own certificate.
    writeSelfSignedCertificate("chat.example", server.dir() + "/chat-cert.pem",
                               server.dir() + "/chat-key.pem");
    server.addUser("alice", "alice-secret");
    server.start();
  }
  static TestServerOptions options() {
    TestServerOptions o;
    o.extra =
        "[[hosts]]\ndomain = \"chat.example\"\ntls_cert = \"chat-cert.pem\"\ntls_key = \"chat-key.pem\"\n";
    return o;
  }
  TestServer server{options()};
};

TEST_F(TlsTest, DirectTlsSelectsAlpnXmppClient) {  // XEP-0368 §3
  auto p = probe(server.tlsPort(), "localhost", "xmpp-client");
  ASSERT_TRUE(p.handshakeOk);
  EXPECT_EQ(p.alpn, "xmpp-client");
  // A client that offers no ALPN still gets TLS.
  auto q = probe(server.tlsPort(), "localhost", "");
  EXPECT_TRUE(q.handshakeOk);
  EXPECT_EQ(q.alpn, "");
}

TEST_F(TlsTest, SniChoosesTheHostsCertificate) {
  EXPECT_EQ(probe(server.tlsPort(), "chat.example", "xmpp-client").certCommonName, "chat.example");
  EXPECT_EQ(probe(server.tlsPort(), "localhost", "xmpp-client").certCommonName, "localhost");
  // An unknown name falls back to the first host; the stream header decides (host-unknown).
  EXPECT_EQ(probe(server.tlsPort(), "nowhere.example", "").certCommonName, "localhost");
}

TEST_F(TlsTest, ProtocolsOlderThanTls12AreRefused) {
  EXPECT_FALSE(probe(server.tlsPort(), "localhost", "", TLS1_1_VERSION).handshakeOk);
  auto p = probe(server.tlsPort(), "localhost", "", TLS1_2_VERSION);
  ASSERT_TRUE(p.handshakeOk);
  EXPECT_EQ(p.version, "TLSv1.2");
}

// A TLS 1.2 client connected to the direct-TLS port with `ciphers` (OpenSSL names); nullptr if the
// handshake failed. The caller frees both.
std::pair<SSL*, SSL_CTX*> tls12Client(std::uint16_t port, const char* ciphers) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {nullptr, nullptr};
  }
  timeval tv{5, 0};  // a server that stays silent fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_security_level(ctx, 0);
  SSL_CTX_set_cipher_list(ctx, ciphers);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (SSL_connect(ssl) != 1) {
    SSL_free(ssl);
    close(fd);
    return {nullptr, ctx};
  }
  return {ssl, ctx};
}

void closeClient(std::pair<SSL*, SSL_CTX*> c) {
  if (c.first) {
    const int fd = SSL_get_fd(c.first);
    SSL_free(c.first);
    close(fd);
  }
  SSL_CTX_free(c.second);
}

// Issue 9 §9: TLS 1.2 only with forward-secret AEAD suites; no CBC, no RSA key exchange, no SHA-1 MACs.
TEST_F(TlsTest, OnlyModernCipherSuitesAreAccepted) {
  for (const char* weak :
       {"AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384", "DES-CBC3-SHA", "NULL-SHA256"}) {
    auto c = tls12Client(server.tlsPort(), weak);
    EXPECT_EQ(c.first, nullptr) << weak << " was accepted";
    closeClient(c);
  }
  auto ok = tls12Client(server.tlsPort(), "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
  ASSERT_NE(ok.first, nullptr);
  EXPECT_STREQ(SSL_get_version(ok.first), "TLSv1.2");
  EXPECT_EQ(SSL_get_current_compression(ok.first), nullptr) << "TLS compression (CRIME) must be off";
  closeClient(ok);
}

// Issue 9 §9: no renegotiation (SSL_OP_NO_RENEGOTIATION): a client asking for one gets no new handshake.
TEST_F(TlsTest, RenegotiationIsRefused) {
  auto c = tls12Client(server.tlsPort(), "ECDHE-ECDSA-AES128-GCM-SHA256");
  ASSERT_NE(c.first, nullptr);
  EXPECT_EQ(SSL_get_secure_renegotiation_support(c.first), 1) << "RFC 5746 extension expected";
  ASSERT_EQ(SSL_renegotiate(c.first), 1);
  // The server answers the ClientHello with a no_renegotiation alert (or closes): the handshake fails.
  const int r = SSL_do_handshake(c.first);
  EXPECT_NE(r, 1) << "the server renegotiated";
  EXPECT_EQ(SSL_renegotiate_pending(c.first), 1);
  closeClient(c);
}

// A TLS 1.3 client of the direct-TLS port offering one cipher suite, with what it needs to look at the
// record layer from outside: the raw socket, and counts of the records and KeyUpdate messages it received.
class Tls13Client {
 public:
  Tls13Client(std::uint16_t port, const char* suite) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
    SSL_CTX_set_ciphersuites(ctx_, suite);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set_msg_callback(
        ssl_, [](int writeP, int, int type, const void* buf, std::size_t len, SSL*, void* arg) {
          auto* self = static_cast<Tls13Client*>(arg);
          if (writeP) return;
          if (type == SSL3_RT_HEADER) ++self->recordsRead_;
          if (type == SSL3_RT_HANDSHAKE && len > 0 && static_cast<const unsigned char*>(buf)[0] == 24)
            ++self->keyUpdates_;  // RFC 8446 §4.6.3 KeyUpdate
        });
    SSL_set_msg_callback_arg(ssl_, this);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~Tls13Client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  SSL* ssl() const { return ssl_; }
  int fd() const { return fd_; }
  int keyUpdates() const { return keyUpdates_; }
  int recordsRead() const { return recordsRead_; }
  bool write(std::string_view data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
  }
  // Reads until `needle` arrives; false on a timeout, an error or the end of the stream.
  bool readUntil(std::string_view needle) {
    char buf[4096];
    while (received_.find(needle) == std::string::npos) {
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) {
        lastError_ = SSL_get_error(ssl_, n);
        return false;
      }
      received_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  int lastError() const { return lastError_; }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
  int keyUpdates_ = 0;
  int recordsRead_ = 0;
  int lastError_ = 0;
  std::string received_;
};

constexpr const char* kStreamHeader =
    "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'>";

// After a TLS 1.3 handshake the server protects records itself (server/net/tls13_records.h). Every
// suite a client may pick carries the stream, and a client's KeyUpdate asking for ours (RFC 8446
// §4.6.3) is answered and the stream goes on with the new keys both ways.
// Stream header, SASL PLAIN after a KeyUpdate that asks for the server's, a restart after one that does
// not, then </stream:stream> and the server's close_notify.
void keyUpdatesCarryTheStream(Tls13Client& c) {
  ASSERT_TRUE(c.write(kStreamHeader));
  ASSERT_TRUE(c.readUntil("</stream:features>"));
  ASSERT_EQ(SSL_key_update(c.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  // SASL PLAIN (offered inside TLS): its answer comes under the server's next key.
  const std::string plain = std::string("\0alice\0alice-secret", 19);
  ASSERT_TRUE(c.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                      util::base64Encode(plain) + "</auth>"));
  ASSERT_TRUE(c.readUntil("<success")) << c.received();
  EXPECT_EQ(c.keyUpdates(), 1);
  // And once more without asking: only the client's key changes.
  ASSERT_EQ(SSL_key_update(c.ssl(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  ASSERT_TRUE(c.write(kStreamHeader));
  ASSERT_TRUE(c.readUntil("urn:ietf:params:xml:ns:xmpp-bind"));
  EXPECT_EQ(c.keyUpdates(), 1);
  // Closing the stream: the server answers </stream:stream> and a TLS close_notify.
  ASSERT_TRUE(c.write("</stream:stream>"));
  EXPECT_TRUE(c.readUntil("</stream:stream>"));
  EXPECT_FALSE(c.readUntil("never"));
  EXPECT_EQ(c.lastError(), SSL_ERROR_ZERO_RETURN);
}

TEST_F(TlsTest, EveryTls13SuiteAndKeyUpdatesCarryTheStream) {
  for (const char* suite :
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    SCOPED_TRACE(suite);
    const auto logFrom = server.logs().size();
    Tls13Client c(server.tlsPort(), suite);
    ASSERT_TRUE(c.connected());
    EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl())), suite);
    // The handover happened (one session ticket already protected by OpenSSL: sequence 1).
    EXPECT_TRUE(server.waitForLog(std::string("layer=parley cipher=") + suite + " server_seq=1",
                                  std::chrono::seconds(5), logFrom));
    keyUpdatesCarryTheStream(c);
  }
}

// [tls] record_layer = "openssl": no handover, and the same stream works on OpenSSL's record layer.
TEST(TlsOpenSslRecordLayerTest, KeyUpdatesCarryTheStream) {
  TestServerOptions o;
  o.extra = "[tls]\nrecord_layer = \"openssl\"\n";
  TestServer server(o);
  server.addUser("alice", "alice-secret");
  server.start();
  Tls13Client c(server.tlsPort(), "TLS_AES_128_GCM_SHA256");
  ASSERT_TRUE(c.connected());
  keyUpdatesCarryTheStream(c);
  EXPECT_EQ(server.logs().find("net.tls_record_layer"), std::string::npos);
}

// What the server answers to one read goes out together (Connection's cork): the stream header and the
// features after a restart share one TLS record (and one system call) instead of taking one each.
TEST_F(TlsTest, StreamHeaderAndFeaturesShareOneRecord) {
  Tls13Client c(server.tlsPort(), "TLS_AES_128_GCM_SHA256");
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.write(kStreamHeader));
  ASSERT_TRUE(c.readUntil("</stream:features>"));  // after the session ticket's record
  const std::string plain = std::string("\0alice\0alice-secret", 19);
  ASSERT_TRUE(c.write("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                      util::base64Encode(plain) + "</auth>"));
  ASSERT_TRUE(c.readUntil("<success")) << c.received();
  const int before = c.recordsRead();
  ASSERT_TRUE(c.write(kStreamHeader));
  ASSERT_TRUE(c.readUntil("urn:ietf:params:xml:ns:xmpp-bind")) << c.received();
  EXPECT_EQ(c.recordsRead() - before, 1);
}

// The server reads a handshake flight with one recv() into a memory BIO: what came after the client's
// Finished in the same segment (here the stream header, sent with the Finished in one send()) is the
// client's first application data, and the record layer reads it before the socket.
TEST_F(TlsTest, StreamHeaderInTheSegmentOfTheFinishedIsRead) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server.tlsPort());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL* ssl = SSL_new(ctx);
  BIO* out = BIO_new(BIO_s_mem());  // the client's records, sent by hand
  SSL_set_bio(ssl, BIO_new_socket(fd, BIO_NOCLOSE), out);
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_set_connect_state(ssl);
  auto sendOut = [&] {
    char* data = nullptr;
    const long len = BIO_get_mem_data(out, &data);
    if (len > 0) {
      ASSERT_EQ(::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL), len);
    }
    (void)BIO_reset(out);
  };
  // Non-blocking while the handshake runs: the client's flight has to be sent before it can read.
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int r = 0;
  while ((r = SSL_do_handshake(ssl)) != 1) {
    ASSERT_EQ(SSL_get_error(ssl, r), SSL_ERROR_WANT_READ);
    sendOut();
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1) << "no answer from the server";
  }
  fcntl(fd, F_SETFL, flags);
  // The Finished is still in `out`: the stream header joins it, and both leave in one send().
  ASSERT_GT(SSL_write(ssl, kStreamHeader, static_cast<int>(std::string_view(kStreamHeader).size())), 0);
  sendOut();
  std::string got;
  char buf[4096];
  while (got.find("</stream:features>") == std::string::npos) {
    const int n = SSL_read(ssl, buf, sizeof buf);
    ASSERT_GT(n, 0) << "the server never answered the stream header: " << got;
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(got.find("<stream:stream"), std::string::npos);
  EXPECT_TRUE(server.waitForLog("layer=parley"));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
}

// A record that does not authenticate (RFC 8446 §5.2) ends the connection with a bad_record_mac alert
// the client can read, and nothing of it reaches the stream.
TEST_F(TlsTest, ForgedRecordGetsBadRecordMac) {
  Tls13Client c(server.tlsPort(), "TLS_AES_128_GCM_SHA256");
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.write(kStreamHeader));
  ASSERT_TRUE(c.readUntil("</stream:features>"));
  std::string forged("\x17\x03\x03\x00\x20", 5);
  forged += std::string(32, '\x5a');
  ASSERT_EQ(::send(c.fd(), forged.data(), forged.size(), MSG_NOSIGNAL), static_cast<ssize_t>(forged.size()));
  EXPECT_FALSE(c.readUntil("never"));
  EXPECT_EQ(c.lastError(), SSL_ERROR_SSL);
  EXPECT_EQ(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
}

// TLS 1.2 stays with OpenSSL's record layer: the stream works there too.
TEST_F(TlsTest, Tls12CarriesTheStream) {
  const auto logFrom = server.logs().size();
  auto c = tls12Client(server.tlsPort(), "ECDHE-ECDSA-AES128-GCM-SHA256");
  ASSERT_NE(c.first, nullptr);
  EXPECT_TRUE(server.waitForLog("layer=openssl version=TLSv1.2", std::chrono::seconds(5), logFrom));
  const std::string header = kStreamHeader;
  ASSERT_EQ(SSL_write(c.first, header.data(), static_cast<int>(header.size())),
            static_cast<int>(header.size()));
  std::string got;
  char buf[4096];
  while (got.find("</stream:features>") == std::string::npos) {
    int n = SSL_read(c.first, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(got.find("SCRAM-SHA-256"), std::string::npos) << got;
  closeClient(c);
}

TEST_F(TlsTest, EachHostServesItsOwnAccounts) {
  RawClient c(server.tlsPort(), true);
  ASSERT_TRUE(c.ok());
  auto features = c.openStream("chat.example");
  EXPECT_NE(features.find("from='chat.example'"), std::string::npos);
  // alice exists on localhost only.
  EXPECT_FALSE(c.authenticate("alice", "alice-secret", "SCRAM-SHA-256"));
}

}  // namespace
}  // namespace parley::test
