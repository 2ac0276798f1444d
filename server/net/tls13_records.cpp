#include "server/net/tls13_records.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "server/util/crypto.h"

namespace parley::net {

namespace {

constexpr std::size_t kIvSize = 12;
constexpr std::size_t kMaxSecret = 48;  // SHA-384
constexpr std::size_t kCaptureLimit = 64 * 1024;
constexpr std::uint8_t kKeyUpdate = 24;  // RFC 8446 §4: HandshakeType key_update

struct Suite {
  std::uint16_t id;
  const char* cipher;  // EVP name
  std::size_t keySize;
  bool sha384;
};
constexpr Suite kSuites[] = {
    {0x1301, "AES-128-GCM", 16, false},
    {0x1302, "AES-256-GCM", 32, true},
    {0x1303, "ChaCha20-Poly1305", 32, false},
};

const Suite* suiteById(std::uint16_t id) {
  for (const auto& s : kSuites)
    if (s.id == id) return &s;
  return nullptr;
}

// Fetched once: an EVP_CIPHER from EVP_aes_128_gcm() would be fetched again on every init.
EVP_CIPHER* cipherOf(const Suite& s) {
  static EVP_CIPHER* fetched[3] = {EVP_CIPHER_fetch(nullptr, kSuites[0].cipher, nullptr),
                                   EVP_CIPHER_fetch(nullptr, kSuites[1].cipher, nullptr),
                                   EVP_CIPHER_fetch(nullptr, kSuites[2].cipher, nullptr)};
  return fetched[&s - kSuites];
}

// RFC 8446 §7.1 HKDF-Expand-Label(secret, label, "", length). Every output here is at most one hash
// long, so HKDF-Expand is the single block T(1) = HMAC(secret, HkdfLabel || 0x01).
bool expandLabel(const Suite& s, const unsigned char* secret, std::size_t secretLen, std::string_view label,
                 std::size_t length, unsigned char* out) {
  unsigned char info[2 + 1 + 6 + 32 + 1 + 1];
  std::size_t n = 0;
  info[n++] = static_cast<unsigned char>(length >> 8);
  info[n++] = static_cast<unsigned char>(length);
  info[n++] = static_cast<unsigned char>(6 + label.size());
  std::memcpy(info + n, "tls13 ", 6);
  n += 6;
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // empty context
  info[n++] = 1;  // T(1)
  // util::hmac: HMAC() would look its digest and MAC up by name on every call.
  std::string block = util::hmac(s.sha384 ? util::HashAlg::Sha384 : util::HashAlg::Sha256,
                                 {reinterpret_cast<const char*>(secret), secretLen},
                                 {reinterpret_cast<const char*>(info), n});
  const bool ok = block.size() >= length;
  if (ok) std::memcpy(out, block.data(), length);
  OPENSSL_cleanse(block.data(), block.size());
  return ok;
}

std::atomic<std::uint64_t> nextKeyId{1};

// One cipher context per thread and direction, re-keyed when another key comes along (in a fan-out,
// at every record). Re-keyed without naming the cipher when it stays the same: naming one makes
// OpenSSL 3 reset the context and allocate its provider state anew, which cost more than the AES key
// schedule itself (7 % of a MUC delivery's CPU).
struct ThreadCipher {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  std::uint64_t keyId = 0;
  const EVP_CIPHER* cipher = nullptr;  // the cipher ctx holds, once initialised
  ~ThreadCipher() { EVP_CIPHER_CTX_free(ctx); }
};
ThreadCipher& threadCipher(bool encrypt) {
  thread_local ThreadCipher contexts[2];
  return contexts[encrypt ? 1 : 0];
}

int captureIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Appends what OpenSSL wrote to the socket to the capture (BIO_set_callback_ex on the socket BIO).
long captureWrites(BIO* bio, int oper, const char* argp, std::size_t, int, long, int ret,
                   std::size_t* processed) {
  if (oper == (BIO_CB_WRITE | BIO_CB_RETURN) && ret > 0 && processed && argp) {
    auto* capture = reinterpret_cast<Tls13Capture*>(BIO_get_callback_arg(bio));
    if (capture && !capture->overflow) {
      if (capture->written.size() + *processed > kCaptureLimit)
        capture->overflow = true;
      else
        capture->written.append(argp, *processed);
    }
  }
  return ret;
}

std::optional<std::string> fromHex(std::string_view hex) {
  if (hex.size() % 2 != 0 || hex.size() > 2 * kMaxSecret) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace

struct Tls13Records::Direction {
  unsigned char secret[kMaxSecret];
  unsigned char key[32];
  unsigned char iv[kIvSize];
  std::uint64_t seq = 0;
  std::uint64_t keyId = 0;
  const Suite* suite = nullptr;

  bool install(const Suite& s, const unsigned char* newSecret) {
    suite = &s;
    if (newSecret != secret) std::memcpy(secret, newSecret, secretSize());
    if (!expandLabel(s, secret, secretSize(), "key", s.keySize, key) ||
        !expandLabel(s, secret, secretSize(), "iv", kIvSize, iv))
      return false;
    seq = 0;
    keyId = nextKeyId.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::size_t secretSize() const { return suite->sha384 ? 48 : 32; }
  ~Direction() {
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
  }
};

std::unique_ptr<Tls13Records> Tls13Records::create(std::uint16_t suiteId, std::string_view readSecret,
                                                   std::uint64_t readSeq, std::string_view writeSecret,
                                                   std::uint64_t writeSeq) {
  const Suite* s = suiteById(suiteId);
  if (!s || !cipherOf(*s)) return nullptr;
  const std::size_t secretSize = s->sha384 ? 48 : 32;
  if (readSecret.size() != secretSize || writeSecret.size() != secretSize) return nullptr;
  std::unique_ptr<Tls13Records> r(new Tls13Records());
  r->read_ = std::make_unique<Direction>();
  r->write_ = std::make_unique<Direction>();
  if (!r->read_->install(*s, reinterpret_cast<const unsigned char*>(readSecret.data())) ||
      !r->write_->install(*s, reinterpret_cast<const unsigned char*>(writeSecret.data())))
    return nullptr;
  r->read_->seq = readSeq;
  r->write_->seq = writeSeq;
  return r;
}

Tls13Records::~Tls13Records() = default;

std::uint64_t Tls13Records::readSeq() const {
  return read_->seq;
}
std::uint64_t Tls13Records::writeSeq() const {
  return write_->seq;
}

std::size_t Tls13Records::recordSize(std::string_view in, std::optional<TlsAlert>& alert) {
  if (in.size() < kHeaderSize) return 0;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  // §5.2: every protected record says application_data and legacy version 0x0303 outside. A
  // change_cipher_spec or plaintext record after the handshake is unexpected (§5).
  if (p[0] != kApplicationData) {
    alert = TlsAlert::UnexpectedMessage;
    return 0;
  }
  if (p[1] != 3 || p[2] != 3) {
    alert = TlsAlert::DecodeError;
    return 0;
  }
  std::size_t len = std::size_t{p[3]} << 8 | p[4];
  if (len > kMaxCiphertext) {
    alert = TlsAlert::RecordOverflow;
    return 0;
  }
  return kHeaderSize + len;
}

bool Tls13Records::crypt(Direction& d, bool encrypt, unsigned char* header, unsigned char* data,
                         std::size_t len, unsigned char* tag) {
  // §5.3: the per-record nonce is the IV XOR the 64-bit sequence number, left-padded to 12 bytes.
  unsigned char nonce[kIvSize];
  std::memcpy(nonce, d.iv, kIvSize);
  for (int i = 0; i < 8; ++i) nonce[kIvSize - 1 - i] ^= static_cast<unsigned char>(d.seq >> (8 * i));
  ThreadCipher& tc = threadCipher(encrypt);
  if (!tc.ctx) return false;
  const int enc = encrypt ? 1 : 0;
  bool ok;
  if (tc.keyId == d.keyId) {
    ok = EVP_CipherInit_ex2(tc.ctx, nullptr, nullptr, nonce, enc, nullptr) == 1;
  } else {
    EVP_CIPHER* cipher = cipherOf(*d.suite);
    ok = EVP_CipherInit_ex2(tc.ctx, cipher == tc.cipher ? nullptr : cipher, d.key, nonce, enc, nullptr) == 1;
    tc.keyId = ok ? d.keyId : 0;
    tc.cipher = ok ? cipher : nullptr;
  }
  int outl = 0;
  ok = ok && EVP_CipherUpdate(tc.ctx, nullptr, &outl, header, static_cast<int>(kHeaderSize)) == 1;
  ok = ok && EVP_CipherUpdate(tc.ctx, data, &outl, data, static_cast<int>(len)) == 1;
  if (ok && !encrypt) ok = EVP_CIPHER_CTX_ctrl(tc.ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag) == 1;
  ok = ok && EVP_CipherFinal_ex(tc.ctx, data + outl, &outl) == 1;
  if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(tc.ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag) == 1;
  if (!ok) {
    tc.keyId = 0;  // a failed decryption leaves the context in no known state
    tc.cipher = nullptr;
    return false;
  }
  ++d.seq;
  return true;
}

std::size_t Tls13Records::seal(std::uint8_t type, char* buf, std::size_t len) {
  if (len > kMaxPlaintext) return 0;
  auto* p = reinterpret_cast<unsigned char*>(buf);
  p[kHeaderSize + len] = type;  // §5.4 TLSInnerPlaintext: content, type, no padding
  const std::size_t inner = len + 1;
  const std::size_t body = inner + kTagSize;
  p[0] = kApplicationData;
  p[1] = 3;
  p[2] = 3;
  p[3] = static_cast<unsigned char>(body >> 8);
  p[4] = static_cast<unsigned char>(body);
  if (!crypt(*write_, true, p, p + kHeaderSize, inner, p + kHeaderSize + inner)) return 0;
  if (type == kApplicationData) answeredSinceData_ = false;
  return kHeaderSize + body;
}

bool Tls13Records::sealTo(std::uint8_t type, std::string_view plain, std::string& out) {
  const std::size_t at = out.size();
  out.resize(at + plain.size() + kSealOverhead);
  std::memcpy(out.data() + at + kHeaderSize, plain.data(), plain.size());
  if (seal(type, out.data() + at, plain.size()) == 0) {
    out.resize(at);
    return false;
  }
  return true;
}

std::optional<Tls13Records::Opened> Tls13Records::open(char* record, std::size_t size, TlsAlert& alert) {
  auto* p = reinterpret_cast<unsigned char*>(record);
  if (size < kHeaderSize + 1 + kTagSize) {  // not even an inner type and a tag
    alert = TlsAlert::BadRecordMac;
    return std::nullopt;
  }
  const std::size_t inner = size - kHeaderSize - kTagSize;
  if (!crypt(*read_, false, p, p + kHeaderSize, inner, p + kHeaderSize + inner)) {
    alert = TlsAlert::BadRecordMac;
    return std::nullopt;
  }
  // §5.4: strip the zero padding; the last non-zero byte is the content type.
  std::size_t n = inner;
  while (n > 0 && p[kHeaderSize + n - 1] == 0) --n;
  if (n == 0) {
    alert = TlsAlert::UnexpectedMessage;
    return std::nullopt;
  }
  const std::uint8_t type = p[kHeaderSize + n - 1];
  const std::size_t len = n - 1;
  if (len > kMaxPlaintext) {
    alert = TlsAlert::RecordOverflow;
    return std::nullopt;
  }
  return Opened{type, record + kHeaderSize, len};
}

bool Tls13Records::updateSecret(Direction& d) {
  // §7.2: application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length)
  unsigned char next[kMaxSecret];
  const std::size_t n = d.secretSize();
  if (!expandLabel(*d.suite, d.secret, n, "traffic upd", n, next)) return false;
  std::memcpy(d.secret, next, n);
  OPENSSL_cleanse(next, sizeof next);
  return d.install(*d.suite, d.secret);
}

bool Tls13Records::appendKeyUpdate(std::string& out) {
  return appendKeyUpdateMessage(out, false);
}

bool Tls13Records::appendKeyUpdateMessage(std::string& out, bool requestUpdate) {
  const char msg[5] = {static_cast<char>(kKeyUpdate), 0, 0, 1, static_cast<char>(requestUpdate ? 1 : 0)};
  return sealTo(kHandshake, std::string_view(msg, sizeof msg), out) && updateSecret(*write_);
}

bool Tls13Records::onHandshakeData(std::string_view data, std::string& reply, TlsAlert& alert) {
  // §5.1: handshake records are never empty, and a message may span records (then nothing else may
  // come between its pieces: the caller checks handshakePending()).
  if (data.empty()) {
    alert = TlsAlert::UnexpectedMessage;
    return false;
  }
  std::string_view in = data;
  if (!handshakeBuf_.empty()) {
    handshakeBuf_.append(data);
    in = handshakeBuf_;
  }
  std::size_t off = 0;
  while (in.size() - off >= 4) {
    const auto* m = reinterpret_cast<const unsigned char*>(in.data() + off);
    const std::size_t len = std::size_t{m[1]} << 16 | std::size_t{m[2]} << 8 | m[3];
    if (m[0] != kKeyUpdate) {  // the only handshake message a client may send now (no post-handshake auth)
      alert = TlsAlert::UnexpectedMessage;
      return false;
    }
    if (len != 1) {
      alert = TlsAlert::DecodeError;
      return false;
    }
    if (in.size() - off < 4 + len) break;
    const unsigned char request = m[4];
    off += 4 + len;
    if (request > 1) {
      alert = TlsAlert::IllegalParameter;
      return false;
    }
    // §5.1: a message that changes keys must end its record.
    if (off != in.size()) {
      alert = TlsAlert::UnexpectedMessage;
      return false;
    }
    if (!updateSecret(*read_)) {
      alert = TlsAlert::InternalError;
      return false;
    }
    // §4.6.3: update_requested: answer with our own KeyUpdate (update_not_requested) before any more
    // application data, then write with the next key.
    if (request == 1 && !answeredSinceData_) {
      if (!appendKeyUpdateMessage(reply, false)) {
        alert = TlsAlert::InternalError;
        return false;
      }
      answeredSinceData_ = true;
    }
  }
  if (off == in.size()) {
    handshakeBuf_.clear();
    handshakeBuf_.shrink_to_fit();
  } else {
    std::string rest(in.substr(off));
    handshakeBuf_ = std::move(rest);
  }
  return true;
}

bool Tls13Records::sealAlert(TlsAlert alert, std::string& out) {
  const bool warning = alert == TlsAlert::CloseNotify || alert == TlsAlert::UserCanceled;
  const char msg[2] = {static_cast<char>(warning ? 1 : 2), static_cast<char>(alert)};
  return sealTo(kAlert, std::string_view(msg, sizeof msg), out);
}

Tls13Capture::~Tls13Capture() {
  OPENSSL_cleanse(clientSecret.data(), clientSecret.size());
  OPENSSL_cleanse(serverSecret.data(), serverSecret.size());
}

void attachTls13Capture(SSL* ssl, Tls13Capture* capture) {
  SSL_set_ex_data(ssl, captureIndex(), capture);
  BIO* bio = SSL_get_wbio(ssl);
  BIO_set_callback_arg(bio, reinterpret_cast<char*>(capture));
  BIO_set_callback_ex(bio, captureWrites);
}

void detachTls13Capture(SSL* ssl) {
  SSL_set_ex_data(ssl, captureIndex(), nullptr);
  BIO* bio = SSL_get_wbio(ssl);
  BIO_set_callback_ex(bio, nullptr);
  BIO_set_callback_arg(bio, nullptr);
}

void tls13KeylogCallback(const SSL* ssl, const char* line) {
  auto* capture = static_cast<Tls13Capture*>(SSL_get_ex_data(ssl, captureIndex()));
  if (!capture) return;
  // NSS key-log format: "<label> <client random, hex> <secret, hex>".
  std::string_view l(line);
  auto sp1 = l.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : l.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return;
  std::string_view label = l.substr(0, sp1);
  std::string* target = label == "CLIENT_TRAFFIC_SECRET_0"   ? &capture->clientSecret
                        : label == "SERVER_TRAFFIC_SECRET_0" ? &capture->serverSecret
                                                             : nullptr;
  if (!target) return;
  if (auto secret = fromHex(l.substr(sp2 + 1))) {
    OPENSSL_cleanse(target->data(), target->size());
    *target = std::move(*secret);
  }
}

std::unique_ptr<Tls13Records> handOverTls13(SSL* ssl, Tls13Capture& capture) {
  if (SSL_version(ssl) != TLS1_3_VERSION || capture.overflow || capture.clientSecret.empty() ||
      capture.serverSecret.empty())
    return nullptr;
  // Bytes OpenSSL read but did not process would be lost (the handshake runs without read-ahead, so
  // there should be none).
  if (SSL_has_pending(ssl)) return nullptr;
  const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl);
  if (!cipher) return nullptr;
  const auto suite = static_cast<std::uint16_t>(SSL_CIPHER_get_protocol_id(cipher));

  // The server's first application-key sequence number is the number of records OpenSSL already
  // protected with that key (its session tickets). Records under the handshake keys fail to open
  // with it, so trying each written record in order counts exactly those.
  auto trial = Tls13Records::create(suite, capture.serverSecret, 0, capture.serverSecret, 0);
  if (!trial) return nullptr;
  std::string& w = capture.written;
  std::size_t off = 0;
  std::string scratch;
  while (off < w.size()) {
    std::string_view rest(w.data() + off, w.size() - off);
    if (rest.size() < Tls13Records::kHeaderSize) return nullptr;
    const auto* h = reinterpret_cast<const unsigned char*>(rest.data());
    const std::size_t size = Tls13Records::kHeaderSize + (std::size_t{h[3]} << 8 | h[4]);
    if (size > rest.size()) return nullptr;  // a record not written whole
    if (h[0] == Tls13Records::kApplicationData) {
      scratch.assign(rest.data(), size);
      TlsAlert ignored;
      trial->open(scratch.data(), scratch.size(), ignored);  // on success its read sequence advances
    }
    off += size;
  }
  const std::uint64_t serverSeq = trial->readSeq();
  // The client's application-key records all come after its Finished, which was the last record
  // OpenSSL read: the client starts at 0.
  return Tls13Records::create(suite, capture.clientSecret, 0, capture.serverSecret, serverSeq);
}

}  // namespace parley::net
