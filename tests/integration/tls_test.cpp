// TLS profile: direct TLS with ALPN (XEP-0368), one certificate per host chosen by SNI, old protocol
// versions, weak cipher suites, compression and renegotiation refused.
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

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
