// The TLS 1.3 record layer after the handover from OpenSSL (server/net/tls13_records.h), against a real
// OpenSSL client. Both ends run in memory: an OpenSSL server does the handshake with the capture
// attached, hands over, and is freed; the client never knows.
#include "server/net/tls13_records.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace parley::net {
namespace {

// A self-signed P-256 certificate for the server context.
void useSelfSignedCertificate(SSL_CTX* ctx) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  SSL_CTX_use_certificate(ctx, cert);
  SSL_CTX_use_PrivateKey(ctx, key);
  X509_free(cert);
  EVP_PKEY_free(key);
}

std::string drain(BIO* bio) {
  std::string out;
  char buf[4096];
  int n;
  while ((n = BIO_read(bio, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

// What the server side made of the bytes the client sent.
struct Received {
  std::string data;                 // application data, in order
  std::string reply;                // protected records to send back (KeyUpdate)
  std::optional<TlsAlert> failure;  // the alert the server would send before closing
  std::optional<std::uint8_t> peerAlert;
  std::size_t handshakeRecords = 0;
};

class Tls13RecordsTest : public ::testing::Test {
 protected:
  // Handshake with `suite` (OpenSSL name) and `tickets` session tickets; the server hands over.
  void connect(const char* suite = "TLS_AES_128_GCM_SHA256", int tickets = 1, int maxVersion = 0,
               int clientPadding = 0, SSL_SESSION* resume = nullptr) {
    if (!sctx_) {  // a second connect() in one test reuses both contexts (and the ticket key)
      sctx_ = SSL_CTX_new(TLS_server_method());
      useSelfSignedCertificate(sctx_);
      SSL_CTX_set_num_tickets(sctx_, static_cast<std::size_t>(tickets));
      SSL_CTX_set_keylog_callback(sctx_, tls13KeylogCallback);
      SSL_CTX_set_ciphersuites(sctx_, suite);
      cctx_ = SSL_CTX_new(TLS_client_method());
      if (maxVersion) SSL_CTX_set_max_proto_version(cctx_, maxVersion);
    }
    server_ = SSL_new(sctx_);
    client_ = SSL_new(cctx_);
    if (resume) SSL_set_session(client_, resume);
    if (clientPadding) SSL_set_block_padding(client_, static_cast<std::size_t>(clientPadding));
    SSL_set_msg_callback(client_, [](int writeP, int, int type, const void* buf, std::size_t len, SSL*,
                                     void* arg) {
      // Handshake messages the client received after the handshake: our KeyUpdates.
      if (!writeP && type == SSL3_RT_HANDSHAKE && len > 0 && static_cast<const unsigned char*>(buf)[0] == 24)
        ++*static_cast<int*>(arg);
    });
    SSL_set_msg_callback_arg(client_, &keyUpdatesSeenByClient_);
    sIn_ = BIO_new(BIO_s_mem());
    sOut_ = BIO_new(BIO_s_mem());
    cIn_ = BIO_new(BIO_s_mem());
    cOut_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(sIn_, -1);
    BIO_set_mem_eof_return(cIn_, -1);
    SSL_set_bio(server_, sIn_, sOut_);
    SSL_set_bio(client_, cIn_, cOut_);
    SSL_set_accept_state(server_);
    SSL_set_connect_state(client_);
    SSL_set_read_ahead(server_, 0);
    attachTls13Capture(server_, &capture_);
    int s = 0, c = 0;
    // (TLS 1.3: the client is done first, the server on the client's Finished; TLS 1.2: the reverse.)
    for (int round = 0; round < 20 && (s != 1 || c != 1); ++round) {
      if (c != 1) c = SSL_do_handshake(client_);
      std::string flight = drain(cOut_);
      BIO_write(sIn_, flight.data(), static_cast<int>(flight.size()));
      if (s != 1) s = SSL_do_handshake(server_);
      toClient(drain(sOut_));
    }
    ASSERT_EQ(s, 1);
    ASSERT_EQ(c, 1);
    detachTls13Capture(server_);
    records_ = handOverTls13(server_, capture_);
    SSL_free(server_);  // and its memory BIOs: serverReads() takes the client's bytes from now on
    server_ = nullptr;
  }

  void TearDown() override {
    if (server_) SSL_free(server_);
    if (client_) SSL_free(client_);
    if (sctx_) SSL_CTX_free(sctx_);
    if (cctx_) SSL_CTX_free(cctx_);
  }

  // Back to no connection, for a test that makes several.
  void reset() {
    TearDown();
    sctx_ = cctx_ = nullptr;
    client_ = nullptr;
    records_.reset();
    capture_ = Tls13Capture{};
    pendingToServer_.clear();
    keyUpdatesSeenByClient_ = 0;
  }

  void toServer(const std::string& bytes) { pendingToServer_ += bytes; }
  void toClient(const std::string& bytes) {
    if (!bytes.empty()) BIO_write(cIn_, bytes.data(), static_cast<int>(bytes.size()));
  }

  // The server side of Connection::openRecords(), on everything the client wrote so far.
  Received serverReads() {
    pendingToServer_ += drain(cOut_);
    Received r;
    std::size_t off = 0;
    std::string& in = pendingToServer_;
    while (!r.failure && !r.peerAlert) {
      std::optional<TlsAlert> bad;
      std::size_t size = Tls13Records::recordSize(std::string_view(in).substr(off), bad);
      if (bad) {
        r.failure = bad;
        break;
      }
      if (size == 0 || size > in.size() - off) break;
      TlsAlert alert{};
      auto rec = records_->open(in.data() + off, size, alert);
      off += size;
      if (!rec) {
        r.failure = alert;
        break;
      }
      if (rec->type == Tls13Records::kApplicationData) {
        r.data.append(rec->data, rec->size);
      } else if (rec->type == Tls13Records::kHandshake) {
        ++r.handshakeRecords;
        if (!records_->onHandshakeData(std::string_view(rec->data, rec->size), r.reply, alert))
          r.failure = alert;
      } else if (rec->type == Tls13Records::kAlert && rec->size == 2) {
        r.peerAlert = static_cast<std::uint8_t>(rec->data[1]);
      } else {
        r.failure = TlsAlert::UnexpectedMessage;
      }
    }
    in.erase(0, off);
    return r;
  }

  // Protects `plain` (any size) as application data records, as Connection::flushRecords() does.
  std::string serverSeals(std::string_view plain) {
    std::string out;
    while (!plain.empty() || out.empty()) {
      if (records_->writeKeyDue()) {
        EXPECT_TRUE(records_->appendKeyUpdate(out));
      }
      auto piece = plain.substr(0, Tls13Records::kMaxPlaintext);
      EXPECT_TRUE(records_->sealTo(Tls13Records::kApplicationData, piece, out));
      plain.remove_prefix(piece.size());
      if (plain.empty()) break;
    }
    return out;
  }

  std::string clientReads(std::size_t want) {
    std::string out(want, '\0');
    std::size_t got = 0;
    while (got < want) {
      int n = SSL_read(client_, out.data() + got, static_cast<int>(want - got));
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
  }

  void clientWrites(std::string_view data) {
    ASSERT_EQ(SSL_write(client_, data.data(), static_cast<int>(data.size())), static_cast<int>(data.size()));
  }

  // The client's view of the secrets: a second record layer that protects what a client would send
  // (for inputs OpenSSL never produces).
  std::unique_ptr<Tls13Records> fakeClient(std::uint16_t suite = 0x1301) {
    return Tls13Records::create(suite, capture_.serverSecret, records_->writeSeq(), capture_.clientSecret,
                                records_->readSeq());
  }

  SSL_CTX* sctx_ = nullptr;
  SSL_CTX* cctx_ = nullptr;
  SSL* server_ = nullptr;
  SSL* client_ = nullptr;
  BIO *sIn_ = nullptr, *sOut_ = nullptr, *cIn_ = nullptr, *cOut_ = nullptr;
  Tls13Capture capture_;
  std::unique_ptr<Tls13Records> records_;
  std::string pendingToServer_;
  int keyUpdatesSeenByClient_ = 0;
};

struct SuiteCase {
  const char* name;
  std::uint16_t id;
};

class Tls13SuiteTest : public Tls13RecordsTest, public ::testing::WithParamInterface<SuiteCase> {};

TEST_P(Tls13SuiteTest, HandsOverAndCarriesDataBothWays) {
  connect(GetParam().name);
  ASSERT_NE(records_, nullptr);
  EXPECT_EQ(records_->readSeq(), 0u);   // the client's records after its Finished start at 0
  EXPECT_EQ(records_->writeSeq(), 1u);  // the one session ticket OpenSSL protected before the handover

  clientWrites("<stream:stream to='localhost'>");
  auto r = serverReads();
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.data, "<stream:stream to='localhost'>");

  toClient(serverSeals("<stream:features/>"));
  EXPECT_EQ(clientReads(18), "<stream:features/>");

  // More than one record each way (RFC 8446 §5.1: at most 2^14 bytes of plaintext per record).
  std::string big(100000, 'x');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  clientWrites(big);
  r = serverReads();
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.data, big);
  toClient(serverSeals(big));
  EXPECT_EQ(clientReads(big.size()), big);
  EXPECT_GE(records_->writeSeq(), 1u + 1u + 7u);
}

INSTANTIATE_TEST_SUITE_P(Suites, Tls13SuiteTest,
                         ::testing::Values(SuiteCase{"TLS_AES_128_GCM_SHA256", 0x1301},
                                           SuiteCase{"TLS_AES_256_GCM_SHA384", 0x1302},
                                           SuiteCase{"TLS_CHACHA20_POLY1305_SHA256", 0x1303}),
                         [](const auto& info) { return std::to_string(info.param.id); });

TEST_F(Tls13RecordsTest, ServerSequenceCountsTheTicketsOpenSslSent) {
  for (int tickets : {0, 3}) {
    reset();
    connect("TLS_AES_128_GCM_SHA256", tickets);
    ASSERT_NE(records_, nullptr);
    EXPECT_EQ(records_->writeSeq(), static_cast<std::uint64_t>(tickets));
    toClient(serverSeals("ping"));
    EXPECT_EQ(clientReads(4), "ping");  // a wrong sequence number would fail the client's AEAD check
  }
}

// A resumed handshake (the session ticket from the first connection, PSK with (EC)DHE) hands over too.
TEST_F(Tls13RecordsTest, ResumedSessionHandsOver) {
  connect();
  ASSERT_NE(records_, nullptr);
  toClient(serverSeals("first"));
  ASSERT_EQ(clientReads(5), "first");  // the client has read the ticket before this record
  SSL_SESSION* session = SSL_get1_session(client_);
  ASSERT_NE(session, nullptr);
  SSL_set_shutdown(client_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);  // a clean end keeps it resumable
  SSL_free(client_);
  client_ = nullptr;
  capture_ = Tls13Capture{};
  pendingToServer_.clear();
  connect("TLS_AES_128_GCM_SHA256", 1, 0, 0, session);
  SSL_SESSION_free(session);
  EXPECT_EQ(SSL_session_reused(client_), 1);
  ASSERT_NE(records_, nullptr);
  clientWrites("second");
  auto r = serverReads();
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.data, "second");
  toClient(serverSeals("again"));
  EXPECT_EQ(clientReads(5), "again");
}

TEST_F(Tls13RecordsTest, Tls12StaysWithOpenSsl) {
  connect("TLS_AES_128_GCM_SHA256", 1, TLS1_2_VERSION);
  EXPECT_EQ(records_, nullptr);
}

// RFC 8446 §4.6.3: a KeyUpdate with update_requested changes the read key and is answered with our
// own KeyUpdate before any more data.
TEST_F(Tls13RecordsTest, ClientKeyUpdateRequestedIsAnswered) {
  connect();
  ASSERT_NE(records_, nullptr);
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_REQUESTED), 1);
  clientWrites("after update");
  auto r = serverReads();
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.handshakeRecords, 1u);
  EXPECT_EQ(r.data, "after update");
  EXPECT_EQ(records_->readSeq(), 1u);  // the new key started at 0 and opened one record
  ASSERT_FALSE(r.reply.empty());
  toClient(r.reply);
  toClient(serverSeals("with the next key"));
  EXPECT_EQ(clientReads(17), "with the next key");
  EXPECT_EQ(keyUpdatesSeenByClient_, 1);
  EXPECT_EQ(records_->writeSeq(), 1u);
}

// §4.6.3: "an implementation which receives multiple KeyUpdates while it is silent [responds] with a
// single update": requests piling up while we send nothing get one answer.
TEST_F(Tls13RecordsTest, RepeatedKeyUpdateRequestsWhileSilentGetOneAnswer) {
  connect();
  ASSERT_NE(records_, nullptr);
  std::string replies;
  std::string data;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_REQUESTED), 1);
    clientWrites("x");
    auto r = serverReads();
    ASSERT_FALSE(r.failure);
    data += r.data;
    replies += r.reply;
  }
  EXPECT_EQ(data, "xxxxx");
  std::size_t records = 0;
  for (std::size_t off = 0; off < replies.size(); ++records) {
    std::optional<TlsAlert> bad;
    const std::size_t n = Tls13Records::recordSize(std::string_view(replies).substr(off), bad);
    ASSERT_GT(n, 0u);
    off += n;
  }
  EXPECT_EQ(records, 1u);
  toClient(replies);
  toClient(serverSeals("in step"));
  EXPECT_EQ(clientReads(7), "in step");
  EXPECT_EQ(keyUpdatesSeenByClient_, 1);
  // Once we have sent application data, the next request is answered again.
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_REQUESTED), 1);
  clientWrites("y");
  auto r = serverReads();
  EXPECT_EQ(r.data, "y");
  EXPECT_FALSE(r.reply.empty());
  toClient(r.reply);
  toClient(serverSeals("again"));
  EXPECT_EQ(clientReads(5), "again");
  EXPECT_EQ(keyUpdatesSeenByClient_, 2);
}

TEST_F(Tls13RecordsTest, ClientKeyUpdateNotRequestedChangesOnlyTheReadKey) {
  connect();
  ASSERT_NE(records_, nullptr);
  ASSERT_EQ(SSL_key_update(client_, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  clientWrites("x");
  auto r = serverReads();
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.data, "x");
  EXPECT_TRUE(r.reply.empty());
  toClient(serverSeals("y"));
  EXPECT_EQ(clientReads(1), "y");
  EXPECT_EQ(keyUpdatesSeenByClient_, 0);
}

// RFC 8446 §5.5: the server changes its own key before the key has protected too many records.
TEST_F(Tls13RecordsTest, OwnKeyUpdateAtTheInterval) {
  connect();
  ASSERT_NE(records_, nullptr);
  records_->setKeyUpdateInterval(3);
  std::string expected;
  for (int i = 0; i < 10; ++i) {
    std::string msg = "message " + std::to_string(i);
    expected += msg;
    toClient(serverSeals(msg));
  }
  EXPECT_EQ(clientReads(expected.size()), expected);
  EXPECT_EQ(keyUpdatesSeenByClient_, 3);  // seq 3 after the ticket and 2 messages, then every 3
}

// RFC 8446 §5.4: the client may pad its records; the content type is the last non-zero byte.
TEST_F(Tls13RecordsTest, PaddedRecordsAreUnpadded) {
  connect("TLS_AES_128_GCM_SHA256", 1, 0, 512);
  ASSERT_NE(records_, nullptr);
  clientWrites("short");
  auto r = serverReads();
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.data, "short");
}

TEST_F(Tls13RecordsTest, AlteredRecordIsBadRecordMac) {
  connect();
  ASSERT_NE(records_, nullptr);
  clientWrites("hello");
  std::string wire = drain(cOut_);
  wire[wire.size() - 20] ^= 1;
  toServer(wire);
  auto r = serverReads();
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(*r.failure, TlsAlert::BadRecordMac);
  EXPECT_TRUE(r.data.empty());
}

TEST_F(Tls13RecordsTest, ReplayedRecordIsBadRecordMac) {
  connect();
  ASSERT_NE(records_, nullptr);
  clientWrites("once");
  std::string wire = drain(cOut_);
  toServer(wire + wire);
  auto r = serverReads();
  EXPECT_EQ(r.data, "once");
  ASSERT_TRUE(r.failure);
  EXPECT_EQ(*r.failure, TlsAlert::BadRecordMac);
}

TEST_F(Tls13RecordsTest, ClientCloseNotifyIsReported) {
  connect();
  ASSERT_NE(records_, nullptr);
  SSL_shutdown(client_);
  auto r = serverReads();
  ASSERT_TRUE(r.peerAlert);
  EXPECT_EQ(*r.peerAlert, 0);
}

TEST_F(Tls13RecordsTest, OurAlertsReachTheClient) {
  connect();
  ASSERT_NE(records_, nullptr);
  std::string out;
  ASSERT_TRUE(records_->sealAlert(TlsAlert::CloseNotify, out));
  toClient(out);
  char c;
  EXPECT_EQ(SSL_read(client_, &c, 1), 0);
  EXPECT_EQ(SSL_get_error(client_, 0), SSL_ERROR_ZERO_RETURN);
}

TEST_F(Tls13RecordsTest, HeadersThatCannotStartAProtectedRecord) {
  std::optional<TlsAlert> alert;
  // §5: change_cipher_spec after the handshake, and a plaintext handshake record.
  EXPECT_EQ(Tls13Records::recordSize(std::string("\x14\x03\x03\x00\x01\x01", 6), alert), 0u);
  EXPECT_EQ(alert, TlsAlert::UnexpectedMessage);
  alert.reset();
  EXPECT_EQ(Tls13Records::recordSize(std::string("\x16\x03\x03\x00\x04", 5), alert), 0u);
  EXPECT_EQ(alert, TlsAlert::UnexpectedMessage);
  alert.reset();
  EXPECT_EQ(Tls13Records::recordSize(std::string("\x17\x03\x01\x00\x20", 5), alert), 0u);
  EXPECT_EQ(alert, TlsAlert::DecodeError);
  alert.reset();
  // §5.2: at most 2^14 + 256 bytes of ciphertext.
  EXPECT_EQ(Tls13Records::recordSize(std::string("\x17\x03\x03\x41\x01", 5), alert), 0u);
  EXPECT_EQ(alert, TlsAlert::RecordOverflow);
  alert.reset();
  EXPECT_EQ(Tls13Records::recordSize(std::string("\x17\x03\x03\x41\x00", 5), alert), 5u + 16640u);
  EXPECT_FALSE(alert);
  EXPECT_EQ(Tls13Records::recordSize(std::string("\x17\x03", 2), alert), 0u);  // header incomplete
  EXPECT_FALSE(alert);
}

// Inputs OpenSSL's client never sends, protected with the client's key by a second record layer.
// Each case: one record of `type` holding `plain`, protected with the client's key, and the alert the
// server must answer it with.
struct BadRecordCase {
  const char* what;
  std::uint8_t type;
  std::string plain;
  TlsAlert alert;
};

TEST_F(Tls13RecordsTest, BadContentAfterTheHandshakeGetsItsAlert) {
  const BadRecordCase cases[] = {
      // Only KeyUpdate may follow the handshake (no post-handshake authentication is ever asked).
      {"NewSessionTicket from a client", Tls13Records::kHandshake, std::string("\x04\0\0\x01\0", 5),
       TlsAlert::UnexpectedMessage},
      // §5.1: a message that changes keys must end its record.
      {"two KeyUpdates in one record", Tls13Records::kHandshake,
       std::string("\x18\0\0\x01\0\x18\0\0\x01\0", 10), TlsAlert::UnexpectedMessage},
      {"KeyUpdate value 2", Tls13Records::kHandshake, std::string("\x18\0\0\x01\x02", 5),
       TlsAlert::IllegalParameter},
      {"KeyUpdate of length 2", Tls13Records::kHandshake, std::string("\x18\0\0\x02\0\0", 6),
       TlsAlert::DecodeError},
      // §5.4: an inner plaintext of zeros has no content type ("\0\0\0" sealed as type 0).
      {"inner plaintext of zeros", 0, std::string(3, '\0'), TlsAlert::UnexpectedMessage},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    reset();
    connect();
    ASSERT_NE(records_, nullptr);
    auto client = fakeClient();
    ASSERT_NE(client, nullptr);
    std::string wire;
    ASSERT_TRUE(client->sealTo(c.type, c.plain, wire));
    toServer(wire);
    auto r = serverReads();
    ASSERT_TRUE(r.failure);
    EXPECT_EQ(*r.failure, c.alert);
  }
}

TEST_F(Tls13RecordsTest, KeyUpdateSplitOverTwoRecords) {
  connect();
  ASSERT_NE(records_, nullptr);
  auto client = fakeClient();
  std::string wire;
  const char msg[] = {24, 0, 0, 1, 1};
  ASSERT_TRUE(client->sealTo(Tls13Records::kHandshake, std::string_view(msg, 2), wire));
  ASSERT_TRUE(client->sealTo(Tls13Records::kHandshake, std::string_view(msg + 2, 3), wire));
  toServer(wire);
  auto r = serverReads();
  EXPECT_FALSE(r.failure);
  EXPECT_EQ(r.handshakeRecords, 2u);
  EXPECT_FALSE(records_->handshakePending());
  EXPECT_FALSE(r.reply.empty());  // update_requested was 1
}

TEST_F(Tls13RecordsTest, UnsupportedSuiteOrSecretLength) {
  EXPECT_EQ(Tls13Records::create(0x1304, std::string(32, 'a'), 0, std::string(32, 'b'), 0), nullptr);  // CCM
  EXPECT_EQ(Tls13Records::create(0x1301, std::string(48, 'a'), 0, std::string(48, 'b'), 0), nullptr);
  EXPECT_NE(Tls13Records::create(0x1302, std::string(48, 'a'), 0, std::string(48, 'b'), 0), nullptr);
}

// A network thread seals and opens for many connections in turn (a room's fan-out: a different key at
// every record) with one cipher context per direction, re-keyed in place while the cipher stays the
// same and set up anew when another suite comes along. Every record must still open with its own
// connection's keys, and only with them.
TEST_F(Tls13RecordsTest, ConnectionsTakingTurnsOnOneThreadKeepTheirOwnKeys) {
  struct Pair {
    std::unique_ptr<Tls13Records> server, client;
  };
  std::vector<Pair> pairs;
  const std::uint16_t suites[] = {0x1301, 0x1301, 0x1302, 0x1301, 0x1303, 0x1302};
  for (std::size_t i = 0; i < std::size(suites); ++i) {
    const std::size_t len = suites[i] == 0x1302 ? 48 : 32;
    const std::string ours(len, static_cast<char>('a' + i)), theirs(len, static_cast<char>('A' + i));
    pairs.push_back({Tls13Records::create(suites[i], theirs, 0, ours, 0),
                     Tls13Records::create(suites[i], ours, 0, theirs, 0)});
    ASSERT_TRUE(pairs.back().server && pairs.back().client);
  }
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const std::string text = "<message id='" + std::to_string(round) + "-" + std::to_string(i) + "'/>";
      for (bool serverWrites : {true, false}) {
        Tls13Records& writer = serverWrites ? *pairs[i].server : *pairs[i].client;
        Tls13Records& reader = serverWrites ? *pairs[i].client : *pairs[i].server;
        std::string record;
        ASSERT_TRUE(writer.sealTo(Tls13Records::kApplicationData, text, record));
        // The next connection's reader must refuse it (same suite or not).
        Tls13Records& other =
            serverWrites ? *pairs[(i + 1) % pairs.size()].client : *pairs[(i + 1) % pairs.size()].server;
        std::string copy = record;
        TlsAlert alert{};
        EXPECT_FALSE(other.open(copy.data(), copy.size(), alert)) << i;
        EXPECT_EQ(alert, TlsAlert::BadRecordMac);
        auto opened = reader.open(record.data(), record.size(), alert);
        ASSERT_TRUE(opened) << "round " << round << ", connection " << i;
        EXPECT_EQ(std::string(opened->data, opened->size), text);
      }
    }
  }
}

}  // namespace
}  // namespace parley::net
