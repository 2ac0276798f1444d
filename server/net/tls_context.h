// DESIGN: one OpenSSL server context per virtual host, chosen by SNI, with a modern profile: TLS 1.2+
// (configurable to 1.3 only), forward-secret AEAD ciphers, no compression, no renegotiation, and
// SSL_MODE_RELEASE_BUFFERS so an idle connection holds no record buffers (memory per idle session is
// a product feature). Direct TLS (XEP-0368) selects ALPN "xmpp-client".
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "server/core/config.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace parley::net {

class TlsContexts {
 public:
  // Loads every host's certificate and key; throws ConfigError with the file name on failure.
  explicit TlsContexts(const core::Config& config);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // A new server-side SSL for a connection (SNI switches it to the right host's context).
  SSL* newSsl() const;
  SSL_CTX* contextFor(std::string_view domain) const;  // nullptr if unknown
  // [tls] record_layer = "parley": connections take over the record layer after a TLS 1.3 handshake
  // (tls13_records.h).
  bool ownRecordLayer() const { return ownRecordLayer_; }

 private:
  bool ownRecordLayer_ = true;
  SSL_CTX* defaultCtx_ = nullptr;
  std::map<std::string, SSL_CTX*, std::less<>> byDomain_;
};

// RFC 5929 §4.1: hash of the certificate the server presented on this connection.
std::string tlsServerEndPoint(SSL* ssl);
// The same for a context's certificate (a connection whose SSL object is gone keeps its context).
std::string contextServerEndPoint(SSL_CTX* ctx);
// RFC 9266: keying material for channel binding (only for TLS 1.3; empty otherwise).
std::string tlsExporter(SSL* ssl);
// Whether the two above would give data, without computing it.
bool tlsServerEndPointAvailable(SSL* ssl);
bool tlsExporterAvailable(SSL* ssl);
std::string tlsVersion(SSL* ssl);

}  // namespace parley::net
