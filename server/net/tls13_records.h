// DESIGN: the TLS 1.3 record layer (RFC 8446 §5) of a connection once its handshake is done. OpenSSL
// does the handshake: certificates, key exchange, the key schedule up to the application traffic
// secrets. Then the connection frees its SSL object and protects its records here.
//
// Why: with OpenSSL 3.0 an SSL object costs ≈14 KB per connection even with SSL_MODE_RELEASE_BUFFERS
// (its record-layer arrays are sized for 32 pipelines). That alone is most of an idle session's memory
// budget. What a connection keeps here is two traffic secrets, two keys, two IVs and two sequence
// numbers: about 250 bytes. Kernel TLS does the same with the same keys, but this kernel has no kTLS,
// and OpenSSL 3.0 hands its record layer to nothing but the kernel. So the handover (below) takes the
// secrets from OpenSSL's key-log callback, and the sequence numbers from the records OpenSSL wrote.
//
// Scope: TLS 1.3 with TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 or TLS_CHACHA20_POLY1305_SHA256,
// the suites OpenSSL enables by default. Any other connection (TLS 1.2, a CCM suite) keeps OpenSSL's
// record layer. The AEAD itself is OpenSSL's (EVP). Handled here: nonces (§5.3), the inner content
// type and padding (§5.4), size limits (§5.1, §5.2), our own KeyUpdate before a key has protected
// 2^24 records (§5.5), the peer's KeyUpdate (§4.6.3) and alerts (§6).
//
// Threads: a Tls13Records belongs to one connection and runs on its executor. Cipher contexts are per
// thread and re-keyed when another connection uses them (an AES key schedule: ≈0.1 µs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

typedef struct ssl_st SSL;

namespace parley::net {

// RFC 8446 §6 alert descriptions the record layer sends or reports.
enum class TlsAlert : std::uint8_t {
  CloseNotify = 0,
  UnexpectedMessage = 10,
  BadRecordMac = 20,
  RecordOverflow = 22,
  IllegalParameter = 47,
  DecodeError = 50,
  InternalError = 80,
  UserCanceled = 90,
};

class Tls13Records {
 public:
  static constexpr std::size_t kHeaderSize = 5;
  static constexpr std::size_t kMaxPlaintext = 16384;                 // RFC 8446 §5.1
  static constexpr std::size_t kMaxCiphertext = kMaxPlaintext + 256;  // §5.2
  static constexpr std::size_t kTagSize = 16;
  // Header, inner content type and tag: what seal() adds to the plaintext.
  static constexpr std::size_t kSealOverhead = kHeaderSize + 1 + kTagSize;
  static constexpr std::uint8_t kAlert = 21;
  static constexpr std::uint8_t kHandshake = 22;
  static constexpr std::uint8_t kApplicationData = 23;

  // `suite` is the IANA cipher suite id (0x1301, 0x1302, 0x1303). The read secret is the peer's
  // application traffic secret, the write secret ours. nullptr for another suite or a secret of the
  // wrong length.
  static std::unique_ptr<Tls13Records> create(std::uint16_t suite, std::string_view readSecret,
                                              std::uint64_t readSeq, std::string_view writeSecret,
                                              std::uint64_t writeSeq);
  ~Tls13Records();
  Tls13Records(const Tls13Records&) = delete;
  Tls13Records& operator=(const Tls13Records&) = delete;

  // The size (header included) of the record at the front of `in` once its header is there, 0 before.
  // A header that cannot start a protected TLS 1.3 record sets `alert` (and returns 0).
  static std::size_t recordSize(std::string_view in, std::optional<TlsAlert>& alert);

  // Protects `len` plaintext bytes at buf + kHeaderSize in place, writing the header before them and
  // the inner type and tag after: `buf` must hold len + kSealOverhead bytes and len <= kMaxPlaintext.
  // Returns the record's size, 0 if the cipher failed (the connection must end).
  std::size_t seal(std::uint8_t type, char* buf, std::size_t len);
  // Appends one protected record holding `plain` (at most kMaxPlaintext bytes) to `out`.
  bool sealTo(std::uint8_t type, std::string_view plain, std::string& out);

  struct Opened {
    std::uint8_t type;
    char* data;
    std::size_t size;
  };
  // Decrypts one whole record (of recordSize() bytes) in place. On failure sets `alert`.
  std::optional<Opened> open(char* record, std::size_t size, TlsAlert& alert);

  // Handshake content from the peer after the handshake. Only KeyUpdate is allowed (§4.6.3): the read
  // key changes, and when the peer asks, our own KeyUpdate record is appended to `reply` and the write
  // key changes after it (once until we next send application data: many requests while we are
  // silent get one answer, so a peer cannot make us queue answers it never reads). Anything else sets
  // `alert`.
  bool onHandshakeData(std::string_view data, std::string& reply, TlsAlert& alert);
  // A handshake message is incomplete: no other content type may come before its end (§5.1).
  bool handshakePending() const { return !handshakeBuf_.empty(); }

  // Appends a protected alert (close_notify is a warning, everything else fatal) to `out`.
  bool sealAlert(TlsAlert alert, std::string& out);

  // §5.5: AES-GCM keys must not protect more than 2^24.5 full records. Once the write key has sealed
  // `interval` records, appendKeyUpdate() sends a KeyUpdate and switches to the next key.
  bool writeKeyDue() const { return writeSeq() >= keyUpdateInterval_; }
  bool appendKeyUpdate(std::string& out);
  void setKeyUpdateInterval(std::uint64_t records) { keyUpdateInterval_ = records; }

  std::uint64_t readSeq() const;
  std::uint64_t writeSeq() const;

 private:
  struct Direction;
  Tls13Records() = default;
  bool crypt(Direction& d, bool encrypt, unsigned char* header, unsigned char* data, std::size_t len,
             unsigned char* tag);
  bool updateSecret(Direction& d);
  bool appendKeyUpdateMessage(std::string& out, bool requestUpdate);

  std::unique_ptr<Direction> read_;
  std::unique_ptr<Direction> write_;
  std::uint64_t keyUpdateInterval_ = std::uint64_t{1} << 24;
  std::string handshakeBuf_;  // a handshake message split over records (rare)
  // §4.6.3: a peer asking again and again while we are silent gets a single KeyUpdate.
  bool answeredSinceData_ = false;
};

// What a connection collects during its handshake for the handover: the application traffic secrets
// (OpenSSL's key log) and the bytes OpenSSL wrote to the socket (to count the records it already
// protected with the server's application key: the first sequence number left to us).
struct Tls13Capture {
  ~Tls13Capture();  // wipes the secrets
  std::string clientSecret;
  std::string serverSecret;
  std::string written;
  bool overflow = false;  // more than a handshake's worth written: no handover
};

// Attaches `capture` to `ssl` (after SSL_set_fd): its key-log lines and socket writes land there.
// The SSL must read exactly what it needs during the handshake (no read-ahead), so the socket holds
// whatever the client sent after its Finished message.
void attachTls13Capture(SSL* ssl, Tls13Capture* capture);
void detachTls13Capture(SSL* ssl);
// For SSL_CTX_set_keylog_callback on every server context.
void tls13KeylogCallback(const SSL* ssl, const char* line);
// After SSL_do_handshake() returned 1: the record layer to continue with, or nullptr to keep OpenSSL's
// (TLS 1.2, another suite, bytes OpenSSL still holds, a capture that does not add up).
std::unique_ptr<Tls13Records> handOverTls13(SSL* ssl, Tls13Capture& capture);

}  // namespace parley::net
