#include "server/net/tls_context.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server/log/log.h"
#include "server/net/tls13_records.h"

namespace parley::net {

namespace {

// Mozilla "intermediate" TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only.
constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string opensslError() {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

int alpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static const unsigned char kProto[] = {11, 'x', 'm', 'p', 'p', '-', 'c', 'l', 'i', 'e', 'n', 't'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kProto, sizeof kProto, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;  // a client not asking for xmpp-client still gets TLS
}

int sniSelect(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<const TlsContexts*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (SSL_CTX* ctx = self->contextFor(lower)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;  // unknown name: keep the default certificate; the stream header decides
}

SSL_CTX* makeContext(const core::Config& config, const core::HostConfig& host) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw core::ConfigError("cannot create a TLS context: " + opensslError());
  SSL_CTX_set_min_proto_version(ctx, config.tls.minVersion == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(
      ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read what the socket holds in one read(): without read-ahead OpenSSL reads a record's 5-byte header
  // and then its body, two system calls for every stanza. The buffer still goes back when drained.
  SSL_CTX_set_read_ahead(ctx, 1);
  const std::string& ciphers = config.tls.ciphers.empty() ? std::string(kDefaultCiphers) : config.tls.ciphers;
  if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
    SSL_CTX_free(ctx);
    throw core::ConfigError(fmt::format("{}: tls.ciphers: no usable cipher in \"{}\"", config.path, ciphers));
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, host.tlsCert.c_str()) != 1) {
    std::string err = opensslError();
    SSL_CTX_free(ctx);
    throw core::ConfigError(
        fmt::format("{}: host {}: cannot load tls_cert {}: {}", config.path, host.domain, host.tlsCert, err));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, host.tlsKey.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    std::string err = opensslError();
    SSL_CTX_free(ctx);
    throw core::ConfigError(
        fmt::format("{}: host {}: cannot load tls_key {}: {}", config.path, host.domain, host.tlsKey, err));
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpnSelect, nullptr);
  // Session resumption (tickets) spares phones a full handshake when they reconnect. One TLS 1.3
  // ticket per handshake, not OpenSSL's two: an XMPP client holds one connection at a time, and every
  // ticket costs the login an encryption, a MAC and a record.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_num_tickets(ctx, 1);
  // The record-layer handover takes the application traffic secrets from the key log. The callback
  // keeps them only for a connection that attached a capture (never written anywhere).
  if (config.tls.recordLayer == "parley") SSL_CTX_set_keylog_callback(ctx, tls13KeylogCallback);
  return ctx;
}

}  // namespace

TlsContexts::TlsContexts(const core::Config& config) : ownRecordLayer_(config.tls.recordLayer == "parley") {
  for (const auto& host : config.hosts) {
    SSL_CTX* ctx = makeContext(config, host);
    byDomain_[host.domain] = ctx;
    if (!defaultCtx_) {
      defaultCtx_ = ctx;
      SSL_CTX_up_ref(ctx);
    }
  }
  if (defaultCtx_) {
    SSL_CTX_set_tlsext_servername_callback(defaultCtx_, sniSelect);
    SSL_CTX_set_tlsext_servername_arg(defaultCtx_, const_cast<TlsContexts*>(this));
  }
}

TlsContexts::~TlsContexts() {
  for (auto& [d, ctx] : byDomain_) SSL_CTX_free(ctx);
  if (defaultCtx_) SSL_CTX_free(defaultCtx_);
}

SSL* TlsContexts::newSsl() const {
  return SSL_new(defaultCtx_);
}

SSL_CTX* TlsContexts::contextFor(std::string_view domain) const {
  auto it = byDomain_.find(domain);
  return it == byDomain_.end() ? nullptr : it->second;
}

namespace {

std::string certificateEndPoint(X509* cert) {
  if (!cert) return {};
  // RFC 5929 §4.1: the certificate's signature hash, except MD5 and SHA-1 become SHA-256.
  int mdNid = 0, pkNid = 0;
  const EVP_MD* md = EVP_sha256();
  if (X509_get_signature_info(cert, &mdNid, &pkNid, nullptr, nullptr) == 1) {
    if (mdNid == NID_sha384)
      md = EVP_sha384();
    else if (mdNid == NID_sha512)
      md = EVP_sha512();
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, md, out, &len) != 1) return {};
  return std::string(reinterpret_cast<char*>(out), len);
}

}  // namespace

std::string tlsServerEndPoint(SSL* ssl) {
  return certificateEndPoint(SSL_get_certificate(ssl));
}

std::string contextServerEndPoint(SSL_CTX* ctx) {
  return certificateEndPoint(SSL_CTX_get0_certificate(ctx));
}

std::string tlsExporter(SSL* ssl) {
  if (SSL_version(ssl) != TLS1_3_VERSION) return {};
  unsigned char out[32];
  static const char kLabel[] = "EXPORTER-Channel-Binding";
  if (SSL_export_keying_material(ssl, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1)
    return {};
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

bool tlsServerEndPointAvailable(SSL* ssl) {
  return SSL_get_certificate(ssl) != nullptr;
}

bool tlsExporterAvailable(SSL* ssl) {
  return SSL_version(ssl) == TLS1_3_VERSION;
}

std::string tlsVersion(SSL* ssl) {
  return SSL_get_version(ssl);
}

}  // namespace parley::net
