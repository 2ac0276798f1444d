#include "server/sasl/scram.h"

#include <random>
#include <tuple>

#include <gtest/gtest.h>

namespace parley::sasl {
namespace {

using util::HashAlg;

constexpr std::string_view kSalt = "0123456789abcdef";

util::ScramCredential credentialFor(HashAlg alg, std::string_view password = "pencil",
                                    std::uint32_t iterations = 64) {
  return util::deriveScramCredential(alg, password, kSalt, iterations).value();
}

ChannelBindings testBindings() {
  ChannelBindings b;
  b.tlsExporter = std::string(32, '\x11') + "exporter";
  b.tlsServerEndPoint = std::string(32, '\x22') + "endpoint";
  return b;
}

std::string b64(std::string_view s) {
  return util::base64Encode(s);
}

// The value of attribute `name` in a comma-separated SCRAM message, or "".
std::string attr(std::string_view message, char name) {
  std::size_t pos = 0;
  while (pos <= message.size()) {
    const std::size_t comma = std::min(message.find(',', pos), message.size());
    const std::string_view field = message.substr(pos, comma - pos);
    if (field.size() >= 2 && field[0] == name && field[1] == '=') return std::string(field.substr(2));
    pos = comma + 1;
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------
// RFC test vectors

// RFC 5802 §5.
constexpr std::string_view kRfc5802ClientFirst = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
constexpr std::string_view kRfc5802ServerFirst =
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
constexpr std::string_view kRfc5802ClientFinal =
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
constexpr std::string_view kRfc5802ServerFinal = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

// RFC 7677 §3.
constexpr std::string_view kRfc7677ClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfc7677ServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfc7677ClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfc7677ServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

struct RfcVector {
  HashAlg alg;
  std::string_view clientNonce, serverNonce, salt;
  std::string_view clientFirst, serverFirst, clientFinal, serverFinal;
};

const RfcVector kRfcVectors[] = {
    {HashAlg::Sha1, "fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j", "QSXCR+Q6sek8bf92", kRfc5802ClientFirst,
     kRfc5802ServerFirst, kRfc5802ClientFinal, kRfc5802ServerFinal},
    {HashAlg::Sha256, "rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "W22ZaJ0SNY7soEsUEjb6gQ==",
     kRfc7677ClientFirst, kRfc7677ServerFirst, kRfc7677ClientFinal, kRfc7677ServerFinal},
};

TEST(ScramRfcTest, ServerReproducesRfcExchanges) {
  for (const auto& v : kRfcVectors) {
    SCOPED_TRACE(util::hashName(v.alg));
    ScramServer server(v.alg, false, false, {});
    server.setServerNonceForTesting(std::string(v.serverNonce));
    auto first = server.clientFirst(v.clientFirst);
    ASSERT_EQ(first.error, SaslError::None);
    EXPECT_EQ(first.username, "user");
    EXPECT_EQ(first.authzid, "");
    auto credential = util::deriveScramCredential(v.alg, "pencil", *util::base64Decode(v.salt), 4096);
    ASSERT_TRUE(credential);
    EXPECT_EQ(server.serverFirst(*credential), v.serverFirst);
    auto final = server.clientFinal(v.clientFinal);
    EXPECT_EQ(final.error, SaslError::None);
    EXPECT_EQ(final.serverFinal, v.serverFinal);
  }
}

TEST(ScramRfcTest, ClientReproducesRfcExchanges) {
  for (const auto& v : kRfcVectors) {
    SCOPED_TRACE(util::hashName(v.alg));
    ScramClient client(v.alg, "user", "pencil");
    client.setNonceForTesting(std::string(v.clientNonce));
    EXPECT_EQ(client.clientFirst(), v.clientFirst);
    auto final = client.clientFinal(v.serverFirst);
    ASSERT_TRUE(final);
    EXPECT_EQ(*final, v.clientFinal);
    EXPECT_TRUE(client.verifyServerFinal(v.serverFinal));
    EXPECT_FALSE(client.verifyServerFinal("v=" + b64(std::string(util::hashSize(v.alg), 'x'))));
    EXPECT_FALSE(client.verifyServerFinal("e=other-error"));
    EXPECT_FALSE(client.verifyServerFinal(""));
  }
}

TEST(ScramRfcTest, WrongPasswordAgainstRfcVector) {
  ScramServer server(HashAlg::Sha1, false, false, {});
  server.setServerNonceForTesting("3rfcNHYJY1ZVvWVs7j");
  ASSERT_EQ(server.clientFirst(kRfc5802ClientFirst).error, SaslError::None);
  auto credential =
      util::deriveScramCredential(HashAlg::Sha1, "pencil2", *util::base64Decode("QSXCR+Q6sek8bf92"), 4096);
  ASSERT_EQ(server.serverFirst(*credential), kRfc5802ServerFirst);
  auto final = server.clientFinal(kRfc5802ClientFinal);
  EXPECT_EQ(final.error, SaslError::NotAuthorized);
  EXPECT_EQ(final.serverFinal, "");
}

// ---------------------------------------------------------------------------------------------------
// Round trips

enum class Binding { None, NoneWhilePlusAdvertised, ClientCouldBind, TlsExporter, TlsServerEndPoint };

struct Exchange {
  SaslError firstError = SaslError::None;
  SaslError finalError = SaslError::None;
  bool clientAcceptedServer = false;
  ScramServer::FirstResult first;
};

Exchange run(ScramServer& server, ScramClient& client, const util::ScramCredential& credential) {
  Exchange e;
  e.first = server.clientFirst(client.clientFirst());
  e.firstError = e.first.error;
  if (e.firstError != SaslError::None) return e;
  auto clientFinal = client.clientFinal(server.serverFirst(credential));
  if (!clientFinal) {
    e.finalError = SaslError::Aborted;
    return e;
  }
  auto final = server.clientFinal(*clientFinal);
  e.finalError = final.error;
  if (final.error == SaslError::None) e.clientAcceptedServer = client.verifyServerFinal(final.serverFinal);
  return e;
}

class ScramRoundTripTest : public ::testing::TestWithParam<std::tuple<HashAlg, Binding>> {};

TEST_P(ScramRoundTripTest, Succeeds) {
  const auto [alg, binding] = GetParam();
  const ChannelBindings bindings = testBindings();
  std::string cbType, cbData;
  bool plus = false, advertised = false;
  switch (binding) {
    case Binding::None:
      break;
    case Binding::NoneWhilePlusAdvertised:
      advertised = true;  // a client without channel binding support says 'n': allowed
      break;
    case Binding::ClientCouldBind:
      break;
    case Binding::TlsExporter:
      plus = advertised = true;
      cbType = "tls-exporter";
      cbData = bindings.tlsExporter;
      break;
    case Binding::TlsServerEndPoint:
      plus = advertised = true;
      cbType = "tls-server-end-point";
      cbData = bindings.tlsServerEndPoint;
      break;
  }
  // A username and authzid that need saslname escaping, and a non-ASCII password.
  ScramClient client(alg, "ro,me=o", "p\xC3\xA4ss w\xC3\xB6rd", cbType, cbData, "juliet@example.com/a,b=c");
  if (binding == Binding::ClientCouldBind) client.setChannelBindingSupported(true);
  ScramServer server(alg, plus, advertised, bindings);
  const auto e = run(server, client, credentialFor(alg, "p\xC3\xA4ss w\xC3\xB6rd"));
  EXPECT_EQ(e.firstError, SaslError::None);
  EXPECT_EQ(e.finalError, SaslError::None);
  EXPECT_TRUE(e.clientAcceptedServer);
  EXPECT_EQ(e.first.username, "ro,me=o");
  EXPECT_EQ(e.first.authzid, "juliet@example.com/a,b=c");
}

INSTANTIATE_TEST_SUITE_P(AllHashesAndBindings, ScramRoundTripTest,
                         ::testing::Combine(::testing::Values(HashAlg::Sha1, HashAlg::Sha256,
                                                              HashAlg::Sha512),
                                            ::testing::Values(Binding::None, Binding::NoneWhilePlusAdvertised,
                                                              Binding::ClientCouldBind, Binding::TlsExporter,
                                                              Binding::TlsServerEndPoint)));

TEST(ScramWrongPasswordTest, FailsForEveryHashWithAndWithoutBinding) {
  const ChannelBindings bindings = testBindings();
  for (HashAlg alg : {HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha512}) {
    for (bool plus : {false, true}) {
      ScramClient client(alg, "romeo", "wrong", plus ? "tls-exporter" : "", plus ? bindings.tlsExporter : "");
      ScramServer server(alg, plus, plus, bindings);
      const auto e = run(server, client, credentialFor(alg, "right"));
      EXPECT_EQ(e.firstError, SaslError::None);
      EXPECT_EQ(e.finalError, SaslError::NotAuthorized);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Channel binding policy

TEST(ScramBindingTest, TamperedBindingDataFails) {
  const ChannelBindings bindings = testBindings();
  for (std::string type : {"tls-exporter", "tls-server-end-point"}) {
    // The client sees a different TLS session (a man in the middle terminating TLS).
    ScramClient client(HashAlg::Sha256, "romeo", "pencil", type, std::string(40, '\x33'));
    ScramServer server(HashAlg::Sha256, true, true, bindings);
    const auto e = run(server, client, credentialFor(HashAlg::Sha256));
    EXPECT_EQ(e.firstError, SaslError::None);
    EXPECT_EQ(e.finalError, SaslError::NotAuthorized) << type;
  }
  // Right data, but for the other type.
  ScramClient client(HashAlg::Sha256, "romeo", "pencil", "tls-exporter", bindings.tlsServerEndPoint);
  ScramServer server(HashAlg::Sha256, true, true, bindings);
  EXPECT_EQ(run(server, client, credentialFor(HashAlg::Sha256)).finalError, SaslError::NotAuthorized);
}

TEST(ScramBindingTest, DowngradeWithYFlagIsRefused) {
  // RFC 5802 §6: the client can bind, but the -PLUS offer was stripped on the way.
  ScramClient client(HashAlg::Sha256, "romeo", "pencil");
  client.setChannelBindingSupported(true);
  ScramServer server(HashAlg::Sha256, false, true, testBindings());
  EXPECT_EQ(server.clientFirst(client.clientFirst()).error, SaslError::NotAuthorized);
  // Hand-written, with an authzid.
  ScramServer server2(HashAlg::Sha1, false, true, testBindings());
  EXPECT_EQ(server2.clientFirst("y,a=admin,n=user,r=abc").error, SaslError::NotAuthorized);
}

TEST(ScramBindingTest, YFlagWithoutPlusOfferIsFine) {
  ScramServer server(HashAlg::Sha256, false, false, {});
  EXPECT_EQ(server.clientFirst("y,,n=user,r=abc").error, SaslError::None);
}

TEST(ScramBindingTest, PFlagWithNonPlusMechanismIsMalformed) {
  for (bool advertised : {false, true}) {
    ScramServer server(HashAlg::Sha256, false, advertised, testBindings());
    EXPECT_EQ(server.clientFirst("p=tls-exporter,,n=user,r=abc").error, SaslError::MalformedRequest);
  }
}

TEST(ScramBindingTest, PlusMechanismNeedsPFlag) {
  for (std::string_view m : {"n,,n=user,r=abc", "y,,n=user,r=abc"}) {
    ScramServer server(HashAlg::Sha256, true, true, testBindings());
    EXPECT_EQ(server.clientFirst(m).error, SaslError::MalformedRequest) << m;
  }
}

TEST(ScramBindingTest, UnknownOrUnavailableBindingType) {
  {
    ScramServer server(HashAlg::Sha256, true, true, testBindings());
    EXPECT_EQ(server.clientFirst("p=tls-unique,,n=user,r=abc").error, SaslError::MalformedRequest);
  }
  {
    ChannelBindings onlyEndPoint;
    onlyEndPoint.tlsServerEndPoint = "cert-hash";
    ScramServer server(HashAlg::Sha256, true, true, onlyEndPoint);
    EXPECT_EQ(server.clientFirst("p=tls-exporter,,n=user,r=abc").error, SaslError::MalformedRequest);
  }
  {
    ScramServer server(HashAlg::Sha256, true, true, {});
    EXPECT_EQ(server.clientFirst("p=tls-server-end-point,,n=user,r=abc").error, SaslError::MalformedRequest);
  }
  {
    ScramServer server(HashAlg::Sha256, true, true, testBindings());
    EXPECT_EQ(server.clientFirst("p=tls_exporter,,n=user,r=abc").error, SaslError::MalformedRequest);
  }
}

TEST(ScramBindingTest, BindingFlagInCMustMatchHeader) {
  // The client says 'n' in the header and then claims 'y' (or sends binding data) in c=.
  for (std::string cbInput : {"y,,", "n,,extra", "p=tls-exporter,,", "n,"}) {
    ScramServer server(HashAlg::Sha256, false, false, {});
    ASSERT_EQ(server.clientFirst("n,,n=user,r=abc").error, SaslError::None);
    const std::string sf = server.serverFirst(credentialFor(HashAlg::Sha256));
    const std::string proof = b64(std::string(32, 'x'));
    auto final = server.clientFinal("c=" + b64(cbInput) + ",r=" + attr(sf, 'r') + ",p=" + proof);
    EXPECT_EQ(final.error, SaslError::NotAuthorized) << cbInput;
  }
}

TEST(ScramBindingTest, ChannelBindingsGet) {
  const ChannelBindings b = testBindings();
  EXPECT_EQ(b.get("tls-exporter"), b.tlsExporter);
  EXPECT_EQ(b.get("tls-server-end-point"), b.tlsServerEndPoint);
  EXPECT_FALSE(b.get("tls-unique"));
  EXPECT_FALSE(b.get(""));
  EXPECT_TRUE(b.anyAvailable());
  EXPECT_FALSE(ChannelBindings{}.anyAvailable());
  EXPECT_FALSE(ChannelBindings{}.get("tls-exporter"));
}

// ---------------------------------------------------------------------------------------------------
// client-first-message parsing

TEST(ScramParseTest, ClientFirstAccepted) {
  struct Case {
    std::string_view message, username, authzid;
  };
  const Case cases[] = {
      {"n,,n=user,r=abc", "user", ""},
      {"n,,n=a=2Cb=3Dc,r=abc", "a,b=c", ""},
      {"n,a=admin=3D,n=user,r=abc", "user", "admin="},
      {"n,,n=user,r=abc,x=ext,y=more=stuff", "user", ""},
      {"n,,n=us\xC3\xA9r,r=!\"#$%&'()*+-./09:;<=>?@AZ[\\]^_`az{|}~", "us\xC3\xA9r", ""},
      {"n,,n=user,r=a", "user", ""},
  };
  for (const auto& c : cases) {
    ScramServer server(HashAlg::Sha256, false, false, {});
    auto r = server.clientFirst(c.message);
    EXPECT_EQ(r.error, SaslError::None) << c.message;
    EXPECT_EQ(r.username, c.username);
    EXPECT_EQ(r.authzid, c.authzid);
  }
}

TEST(ScramParseTest, ClientFirstMalformed) {
  const std::string_view cases[] = {
      "",
      "n",
      "n,",
      "n,,",
      ",,n=user,r=abc",
      "x,,n=user,r=abc",
      "N,,n=user,r=abc",
      "nn,,n=user,r=abc",
      " n,,n=user,r=abc",
      "p,,n=user,r=abc",
      "n,,,n=user,r=abc",
      "n,,n=,r=abc",
      "n,,n=user",
      "n,,n=user,",
      "n,,n=user,r=",
      "n,,n=user,r=abc,",
      "n,,n=user,,r=abc",
      "n,,r=abc,n=user",
      "n,,user,r=abc",
      "n,,N=user,r=abc",
      "n,,n=us=2Xer,r=abc",
      "n,,n=us=2cer,r=abc",  // escapes are upper case
      "n,,n=us=er,r=abc",
      "n,,n=user=,r=abc",
      "n,,n=user=2,r=abc",
      "n,,n=user=3,r=abc",
      "n,a=,n=user,r=abc",
      "n,b=x,n=user,r=abc",
      "n,a=x=2y,n=user,r=abc",
      "n,a,n=user,r=abc",
      "n,,m=ext,n=user,r=abc",  // RFC 5802 §5.1: unknown mandatory extension
      "n,,n=user,r=ab c",
      "n,,n=user,r=ab\x01",
      "n,,n=user,r=ab\x7f",
      "n,,n=user,r=ab\xc3\xa9",
      "n,,n=user,r=abc,1=x",
      "n,,n=user,r=abc,x=",
      "n,,n=user,r=abc,xy=z",
      "n,,n=user,r=abc,=z",
      "n,,n=us\xffr,r=abc",
      "n,,n=us\xc3r,r=abc",
      "n,,n=user,r=abc,x=\xff",
      "n,a=\xed\xa0\x80,n=user,r=abc",
  };
  for (std::string_view m : cases) {
    ScramServer server(HashAlg::Sha256, false, false, {});
    auto r = server.clientFirst(m);
    EXPECT_EQ(r.error, SaslError::MalformedRequest) << "'" << m << "'";
    EXPECT_EQ(r.username, "");
  }
  // Embedded NUL bytes.
  for (const std::string& m : {std::string("n,,n=us\0er,r=abc", 16), std::string("n,,n=user,r=ab\0c", 16),
                               std::string("n,a=a\0,n=user,r=abc", 19)}) {
    ScramServer server(HashAlg::Sha256, false, false, {});
    EXPECT_EQ(server.clientFirst(m).error, SaslError::MalformedRequest);
  }
  // p= with a bad name, on a PLUS mechanism.
  for (std::string_view m : {"p=,,n=user,r=abc", "p=tls exporter,,n=user,r=abc", "p,,n=user,r=abc"}) {
    ScramServer server(HashAlg::Sha256, true, true, testBindings());
    EXPECT_EQ(server.clientFirst(m).error, SaslError::MalformedRequest) << m;
  }
}

// ---------------------------------------------------------------------------------------------------
// client-final-message parsing and verification

class ScramFinalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = std::make_unique<ScramClient>(HashAlg::Sha256, "user", "pencil");
    good_ = prepare();
  }
  // A fresh server waiting for client-final; returns the client's correct client-final.
  std::string prepare() {
    server_ = std::make_unique<ScramServer>(HashAlg::Sha256, false, false, ChannelBindings{});
    client_ = std::make_unique<ScramClient>(HashAlg::Sha256, "user", "pencil");
    EXPECT_EQ(server_->clientFirst(client_->clientFirst()).error, SaslError::None);
    serverFirst_ = server_->serverFirst(credentialFor(HashAlg::Sha256));
    nonce_ = attr(serverFirst_, 'r');
    return client_->clientFinal(serverFirst_).value();
  }
  SaslError finalError(std::string_view message) {
    prepare();
    return server_->clientFinal(message).error;
  }

  std::unique_ptr<ScramServer> server_;
  std::unique_ptr<ScramClient> client_;
  std::string good_, serverFirst_, nonce_;
};

TEST_F(ScramFinalTest, ServerFirstShape) {
  // r= our nonce + at least 24 random bytes in base64; s= the salt; i= the count.
  EXPECT_EQ(nonce_.find(','), std::string::npos);
  EXPECT_GE(nonce_.size(), 32u + 1);
  EXPECT_EQ(attr(serverFirst_, 's'), b64(kSalt));
  EXPECT_EQ(attr(serverFirst_, 'i'), "64");
  const std::string first = nonce_;
  prepare();
  EXPECT_NE(nonce_, first);  // fresh server nonce every time
}

TEST_F(ScramFinalTest, Malformed) {
  const std::string p = attr(good_, 'p');
  const std::string cases[] = {
      "",
      "garbage",
      "c=biws",
      "c=biws,r=" + nonce_,
      "c=biws,r=" + nonce_ + ",p=",
      "c=biws,r=" + nonce_ + ",p=!!!!",
      "c=biws,r=" + nonce_ + ",p=AAAA",  // proof of the wrong length
      "c=biws,r=" + nonce_ + ",p=" + p + ",",
      "c=biws,r=" + nonce_ + ",p=" + p + "\n",
      ",c=biws,r=" + nonce_ + ",p=" + p,
      "r=" + nonce_ + ",c=biws,p=" + p,
      "c=biws,,r=" + nonce_ + ",p=" + p,
      "c=biws,r=" + nonce_ + ",,p=" + p,
      "c=biws,r=" + nonce_ + ",1=x,p=" + p,
      "c=biws,r=" + nonce_ + ",x=,p=" + p,
      "c=biws,r=" + nonce_,
      "c=biws,r=" + nonce_ + ",p=" + p.substr(1),
      "c=biw,r=" + nonce_ + ",p=" + p,
      "c=bi ws,r=" + nonce_ + ",p=" + p,
      "c=,r=" + nonce_ + ",p=" + p,
      "c=biws,r=,p=" + p,
      "c=biws,r=" + nonce_ + " ,p=" + p,
      "c=biws,p=" + p + ",r=" + nonce_,
      "C=biws,r=" + nonce_ + ",p=" + p,
  };
  for (const auto& m : cases) EXPECT_EQ(finalError(m), SaslError::MalformedRequest) << "'" << m << "'";
}

TEST_F(ScramFinalTest, WrongNonceOrProofIsNotAuthorized) {
  std::string good = prepare();
  EXPECT_EQ(server_->clientFinal(good).error, SaslError::None);

  // Each message needs its own exchange: the server gives one attempt only.
  good = prepare();
  std::string m = good;
  m.replace(m.find(nonce_), nonce_.size(), nonce_ + "X");
  EXPECT_EQ(server_->clientFinal(m).error, SaslError::NotAuthorized);

  good = prepare();
  m = good;
  m.replace(m.find(nonce_), nonce_.size(), nonce_.substr(0, nonce_.size() - 1));
  EXPECT_EQ(server_->clientFinal(m).error, SaslError::NotAuthorized);

  // The client nonce alone (the server part missing).
  good = prepare();
  m = "c=biws,r=" + nonce_.substr(0, nonce_.size() - 32) + ",p=" + attr(good, 'p');
  EXPECT_EQ(server_->clientFinal(m).error, SaslError::NotAuthorized);

  // A flipped bit in the proof.
  good = prepare();
  auto proof = util::base64Decode(attr(good, 'p')).value();
  proof[0] = static_cast<char>(proof[0] ^ 1);
  m = "c=biws,r=" + nonce_ + ",p=" + b64(proof);
  EXPECT_EQ(server_->clientFinal(m).error, SaslError::NotAuthorized);

  // A valid proof with an extension added after signing: AuthMessage changes, the proof no longer fits.
  good = prepare();
  m = "c=biws,r=" + nonce_ + ",x=added,p=" + attr(good, 'p');
  EXPECT_EQ(server_->clientFinal(m).error, SaslError::NotAuthorized);
}

TEST_F(ScramFinalTest, OneAttemptOnlyAndOrderEnforced) {
  const std::string good = prepare();
  EXPECT_EQ(server_->clientFinal(good).error, SaslError::None);
  EXPECT_EQ(server_->clientFinal(good).error, SaslError::MalformedRequest);  // no replay on one object

  ScramServer early(HashAlg::Sha256, false, false, {});
  EXPECT_EQ(early.clientFinal(good).error, SaslError::MalformedRequest);
  EXPECT_EQ(early.serverFirst(credentialFor(HashAlg::Sha256)), "");

  ScramServer twice(HashAlg::Sha256, false, false, {});
  EXPECT_EQ(twice.clientFirst("n,,n=user,r=abc").error, SaslError::None);
  EXPECT_EQ(twice.clientFirst("n,,n=user,r=abc").error, SaslError::MalformedRequest);
  EXPECT_EQ(twice.serverFirst(credentialFor(HashAlg::Sha256)), "");

  ScramServer failed(HashAlg::Sha256, false, false, {});
  EXPECT_EQ(failed.clientFirst("garbage").error, SaslError::MalformedRequest);
  EXPECT_EQ(failed.serverFirst(credentialFor(HashAlg::Sha256)), "");
  EXPECT_EQ(failed.clientFinal(good).error, SaslError::MalformedRequest);
}

TEST(ScramCredentialMismatchTest, CredentialForAnotherHashFails) {
  ScramClient client(HashAlg::Sha256, "user", "pencil");
  ScramServer server(HashAlg::Sha256, false, false, {});
  const auto e = run(server, client, credentialFor(HashAlg::Sha1));
  EXPECT_EQ(e.firstError, SaslError::None);
  EXPECT_EQ(e.finalError, SaslError::NotAuthorized);

  util::ScramCredential broken = credentialFor(HashAlg::Sha256);
  broken.iterations = 0;
  ScramClient client2(HashAlg::Sha256, "user", "pencil");
  ScramServer server2(HashAlg::Sha256, false, false, {});
  const auto e2 = run(server2, client2, broken);
  EXPECT_EQ(e2.finalError, SaslError::NotAuthorized);
}

// ---------------------------------------------------------------------------------------------------
// Unknown users

TEST(ScramUnknownUserTest, LooksStableAndAlwaysFails) {
  auto attempt = [](std::string_view user, std::string_view normalized = {}) {
    ScramServer server(HashAlg::Sha256, false, false, {});
    ScramClient client(HashAlg::Sha256, std::string(user), "pencil");
    EXPECT_EQ(server.clientFirst(client.clientFirst()).error, SaslError::None);
    std::string sf = server.serverFirstForUnknownUser("server-secret", 4096, normalized);
    auto cf = client.clientFinal(sf);
    EXPECT_TRUE(cf);
    EXPECT_EQ(server.clientFinal(cf.value_or("")).error, SaslError::NotAuthorized);
    return sf;
  };
  const std::string a = attempt("ghost"), b = attempt("ghost"), c = attempt("phantom");
  EXPECT_EQ(attr(a, 's'), attr(b, 's'));
  EXPECT_NE(attr(a, 'r'), attr(b, 'r'));
  EXPECT_NE(attr(a, 's'), attr(c, 's'));
  EXPECT_EQ(attr(a, 'i'), "4096");
  EXPECT_EQ(util::base64Decode(attr(a, 's'))->size(), util::kScramSaltSize);
  // The caller's normalised name decides the salt, so spelling variants look like one account.
  EXPECT_EQ(attr(attempt("GHOST", "ghost"), 's'), attr(a, 's'));
  EXPECT_NE(attr(attempt("GHOST"), 's'), attr(a, 's'));
}

TEST(ScramUnknownUserTest, DifferentSecretDifferentSalt) {
  ScramServer s1(HashAlg::Sha1, false, false, {}), s2(HashAlg::Sha1, false, false, {});
  ASSERT_EQ(s1.clientFirst("n,,n=ghost,r=abc").error, SaslError::None);
  ASSERT_EQ(s2.clientFirst("n,,n=ghost,r=abc").error, SaslError::None);
  EXPECT_NE(attr(s1.serverFirstForUnknownUser("one", 0), 's'),
            attr(s2.serverFirstForUnknownUser("two", 0), 's'));
}

// ---------------------------------------------------------------------------------------------------
// ScramClient against a malformed or hostile server

TEST(ScramClientTest, RejectsMalformedServerFirst) {
  const std::string salt = b64("salt");
  const std::string cases[] = {
      "",
      "garbage",
      "r=abc",
      "r=abcdef,s=" + salt,
      "r=abc,s=" + salt + ",i=4096",     // nonce not extended
      "r=xbcdef,s=" + salt + ",i=4096",  // nonce not ours
      "r=abcdef,s=,i=4096",
      "r=abcdef,s=!!!,i=4096",
      "r=abcdef,s=" + salt + ",i=0",
      "r=abcdef,s=" + salt + ",i=-1",
      "r=abcdef,s=" + salt + ",i=01",
      "r=abcdef,s=" + salt + ",i=4096x",
      "r=abcdef,s=" + salt + ",i=99999999999",
      "r=abcdef,s=" + salt + ",i=",
      "m=x,r=abcdef,s=" + salt + ",i=4096",
      "s=" + salt + ",r=abcdef,i=4096",
      "r=abcdef,s=" + salt + ",i=4096,",
      "e=other-error",
  };
  for (const auto& m : cases) {
    ScramClient client(HashAlg::Sha256, "user", "pencil");
    client.setNonceForTesting("abc");
    client.clientFirst();
    EXPECT_FALSE(client.clientFinal(m)) << m;
    EXPECT_FALSE(client.verifyServerFinal("v=AAAA"));
  }
  ScramClient early(HashAlg::Sha256, "user", "pencil");
  EXPECT_FALSE(early.clientFinal("r=abcdef,s=" + salt + ",i=1"));
}

TEST(ScramClientTest, GeneratesEscapedFirstMessage) {
  ScramClient client(HashAlg::Sha256, "a,b=c", "pencil", "tls-exporter", "data", "x=y,z");
  client.setNonceForTesting("nonce");
  EXPECT_EQ(client.clientFirst(), "p=tls-exporter,a=x=3Dy=2Cz,n=a=2Cb=3Dc,r=nonce");
  ScramClient y(HashAlg::Sha256, "u", "p");
  y.setChannelBindingSupported(true);
  y.setNonceForTesting("n");
  EXPECT_EQ(y.clientFirst(), "y,,n=u,r=n");
}

// ---------------------------------------------------------------------------------------------------
// Hostile input: nothing crashes, throws or trips the sanitizers.

TEST(ScramRobustnessTest, MutatedAndRandomInput) {
  std::mt19937 rng(5802);
  auto mutate = [&rng](std::string s) {
    if (s.empty()) return std::string(1, static_cast<char>(rng()));
    switch (rng() % 4) {
      case 0:
        s[rng() % s.size()] = static_cast<char>(rng());
        break;
      case 1:
        s.erase(rng() % s.size(), 1 + rng() % 4);
        break;
      case 2:
        s.insert(rng() % s.size(), 1, ",=\0\xff"[rng() % 4]);
        break;
      default:
        s.resize(rng() % s.size());
        break;
    }
    return s;
  };
  const ChannelBindings bindings = testBindings();
  const auto credential = credentialFor(HashAlg::Sha256, "pencil", 2);
  for (int i = 0; i < 1500; ++i) {
    const bool plus = i % 2 == 0;
    ScramClient client(HashAlg::Sha256, "user", "pencil", plus ? "tls-exporter" : "",
                       plus ? bindings.tlsExporter : "");
    ScramServer server(HashAlg::Sha256, plus, plus, bindings);
    std::string first = client.clientFirst();
    if (i % 3 == 0) first = mutate(first);
    if (server.clientFirst(first).error != SaslError::None) continue;
    const std::string sf = server.serverFirst(credential);
    auto cf = client.clientFinal(i % 5 == 0 ? mutate(sf) : sf);
    if (!cf) continue;
    const std::string final = i % 3 == 0 ? *cf : mutate(*cf);
    const auto r = server.clientFinal(final);
    if (final != *cf) {
      EXPECT_NE(r.error, SaslError::None) << final;
    }
    client.verifyServerFinal(mutate(r.serverFinal));
  }
  for (int i = 0; i < 500; ++i) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    ScramServer server(HashAlg::Sha512, false, false, {});
    server.clientFirst(junk);
    ScramServer server2(HashAlg::Sha512, false, false, {});
    if (server2.clientFirst("n,,n=u,r=x").error == SaslError::None) {
      server2.serverFirst(credentialFor(HashAlg::Sha512, "p", 1));
      EXPECT_NE(server2.clientFinal(junk).error, SaslError::None);
    }
  }
}

TEST(ScramErrorNameTest, Names) {
  EXPECT_EQ(saslErrorName(SaslError::MalformedRequest), "malformed-request");
  EXPECT_EQ(saslErrorName(SaslError::NotAuthorized), "not-authorized");
  EXPECT_EQ(saslErrorName(SaslError::InvalidAuthzid), "invalid-authzid");
  EXPECT_EQ(saslErrorName(SaslError::EncryptionRequired), "encryption-required");
  EXPECT_EQ(saslErrorName(SaslError::Aborted), "aborted");
  EXPECT_EQ(saslErrorName(SaslError::None), "");
}

}  // namespace
}  // namespace parley::sasl

namespace parley::sasl {
namespace {

// Found by fuzzing (tests/fuzz/corpus/scram/regress-*): a server-first asking for 99,999,998 PBKDF2
// rounds kept the client hashing for minutes. Above kMaxClientIterations the client gives up.
TEST(ScramClientTest, RefusesAHugeIterationCount) {
  ScramClient client(util::HashAlg::Sha256, "user", "pencil");
  client.setNonceForTesting("rOprNGfwEbeRWgbNEkqO");
  (void)client.clientFirst();
  const auto tooMany = std::to_string(ScramClient::kMaxClientIterations + 1);
  EXPECT_FALSE(client.clientFinal("r=rOprNGfwEbeRWgbNEkqOserver,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=" + tooMany));
  EXPECT_FALSE(client.clientFinal("r=rOprNGfwEbeRWgbNEkqOserver,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4294967295"));
}

}  // namespace
}  // namespace parley::sasl
