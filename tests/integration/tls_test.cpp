// TLS profile: direct TLS with ALPN (XEP-0368), one certificate per host chosen by SNI, old protocol
// versions refused.
#include <string>

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
