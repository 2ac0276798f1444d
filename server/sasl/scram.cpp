#include "server/sasl/scram.h"

#include <charconv>
#include <vector>

#include "server/util/utf8.h"

namespace parley::sasl {
namespace {

using util::base64Decode;
using util::base64Encode;

constexpr std::size_t kServerNonceBytes = 24;    // 32 base64 characters, never a ','
constexpr std::uint32_t kFakeIterations = 4096;  // RFC 7677 §4 minimum for SHA-256

// Splits at every ','; empty fields are kept so that ",," and a trailing ',' are seen (and refused).
std::vector<std::string_view> splitFields(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
}

// `field` is "<name>=<value>": returns the value.
std::optional<std::string_view> attribute(std::string_view field, char name) {
  if (field.size() < 2 || field[0] != name || field[1] != '=') return std::nullopt;
  return field.substr(2);
}

bool isAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// RFC 5802 §7: value-char = UTF8-char except NUL and ","; value = 1*value-char.
bool isValue(std::string_view v) {
  if (v.empty() || !util::isValidUtf8(v)) return false;
  for (char c : v) {
    if (c == '\0' || c == ',') return false;
  }
  return true;
}

// RFC 5802 §7: attr-val = ALPHA "=" value.
bool isExtension(std::string_view field) {
  return field.size() >= 3 && isAlpha(field[0]) && field[1] == '=' && isValue(field.substr(2));
}

// RFC 5802 §7: printable = %x21-2B / %x2D-7E (printable ASCII except ","); the nonce is 1*printable.
bool isNonce(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

// RFC 5802 §7: cb-name = 1*(ALPHA / DIGIT / "." / "-").
bool isCbName(std::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    if (!isAlpha(c) && !(c >= '0' && c <= '9') && c != '.' && c != '-') return false;
  }
  return true;
}

// RFC 5802 §5.1 / §7: saslname = 1*(value-safe-char / "=2C" / "=3D"). Any other '=' is malformed.
std::optional<std::string> decodeSaslname(std::string_view v) {
  if (!isValue(v)) return std::nullopt;
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '=') {
      out.push_back(v[i]);
      continue;
    }
    const std::string_view esc = v.substr(i + 1, 2);
    if (esc == "2C") {
      out.push_back(',');
    } else if (esc == "3D") {
      out.push_back('=');
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

std::string encodeSaslname(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string xorBytes(std::string_view a, std::string_view b) {
  std::string out(a.size(), '\0');
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) out[i] = static_cast<char>(a[i] ^ b[i]);
  return out;
}

std::optional<std::uint32_t> parseIterations(std::string_view v) {
  if (v.empty() || v.size() > 10 || v[0] == '0') return std::nullopt;
  std::uint32_t n = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || ptr != v.data() + v.size() || n == 0) return std::nullopt;
  return n;
}

}  // namespace

std::string_view saslErrorName(SaslError e) {
  switch (e) {
    case SaslError::None:
      return "";
    case SaslError::MalformedRequest:
      return "malformed-request";
    case SaslError::NotAuthorized:
      return "not-authorized";
    case SaslError::InvalidAuthzid:
      return "invalid-authzid";
    case SaslError::EncryptionRequired:
      return "encryption-required";
    case SaslError::Aborted:
      return "aborted";
  }
  return "not-authorized";
}

std::optional<std::string_view> ChannelBindings::get(std::string_view type) const {
  if (type == "tls-exporter" && !tlsExporter.empty()) return std::string_view(tlsExporter);
  if (type == "tls-server-end-point" && !tlsServerEndPoint.empty())
    return std::string_view(tlsServerEndPoint);
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------
// Server

ScramServer::ScramServer(util::HashAlg alg, bool plus, bool plusAdvertised, ChannelBindings bindings)
    : alg_(alg), plus_(plus), plusAdvertised_(plusAdvertised || plus), bindings_(std::move(bindings)) {}

ScramServer::FirstResult ScramServer::clientFirst(std::string_view message) {
  FirstResult result;
  if (state_ != State::Start) {
    state_ = State::Done;
    result.error = SaslError::MalformedRequest;
    return result;
  }
  state_ = State::Done;  // until the message is accepted
  auto malformed = [&result] {
    result.error = SaslError::MalformedRequest;
    return result;
  };

  // gs2-header = gs2-cbind-flag "," [ authzid ] ","  (RFC 5802 §7)
  const std::size_t c1 = message.find(',');
  if (c1 == std::string_view::npos) return malformed();
  const std::size_t c2 = message.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return malformed();
  const std::string_view flag = message.substr(0, c1);
  const std::string_view authzField = message.substr(c1 + 1, c2 - c1 - 1);
  const std::string_view bare = message.substr(c2 + 1);

  std::string cbName;
  if (flag != "n" && flag != "y") {
    auto name = attribute(flag, 'p');
    if (!name || !isCbName(*name)) return malformed();
    cbName = std::string(*name);
  }
  std::string authzid;
  if (!authzField.empty()) {
    auto value = attribute(authzField, 'a');
    if (!value) return malformed();
    auto decoded = decodeSaslname(*value);
    if (!decoded) return malformed();
    authzid = std::move(*decoded);
  }

  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  const auto fields = splitFields(bare);
  // RFC 5802 §5.1: "m" announces a mandatory extension; we support none, so authentication fails.
  if (attribute(fields[0], 'm')) return malformed();
  if (fields.size() < 2) return malformed();
  auto userValue = attribute(fields[0], 'n');
  if (!userValue) return malformed();
  auto username = decodeSaslname(*userValue);
  if (!username) return malformed();
  auto nonce = attribute(fields[1], 'r');
  if (!nonce || !isNonce(*nonce)) return malformed();
  for (std::size_t i = 2; i < fields.size(); ++i) {
    if (!isExtension(fields[i])) return malformed();
  }

  // Channel binding policy (RFC 5802 §6).
  if (plus_) {
    // -PLUS means the client binds: 'n' or 'y' contradict the mechanism it chose.
    if (cbName.empty()) return malformed();
    // RFC 5802 §7 answers an unsupported type with e=unsupported-channel-binding-type; in XMPP that
    // is a failed request.
    if (!bindings_.get(cbName)) return malformed();
  } else {
    // RFC 5802 §6: a client must not send 'p' with a mechanism without -PLUS.
    if (!cbName.empty()) return malformed();
    // 'y': the client could bind but believes we cannot. We offered -PLUS, so someone stripped it
    // from the feature list on the way: a downgrade attack.
    if (flag == "y" && plusAdvertised_) {
      result.error = SaslError::NotAuthorized;
      return result;
    }
  }

  gs2Header_ = std::string(message.substr(0, c2 + 1));
  cbName_ = std::move(cbName);
  clientFirstBare_ = std::string(bare);
  clientNonce_ = std::string(*nonce);
  username_ = *username;
  state_ = State::GotClientFirst;
  result.username = std::move(*username);
  result.authzid = std::move(authzid);
  return result;
}

std::string ScramServer::makeServerFirst(const util::ScramCredential& credential, bool fake) {
  credential_ = credential;
  fake_ = fake;
  const std::string serverNonce =
      testServerNonce_.empty() ? base64Encode(util::randomBytes(kServerNonceBytes)) : testServerNonce_;
  nonce_ = clientNonce_ + serverNonce;
  // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
  serverFirst_ =
      "r=" + nonce_ + ",s=" + base64Encode(credential.salt) + ",i=" + std::to_string(credential.iterations);
  state_ = State::SentServerFirst;
  return serverFirst_;
}

std::string ScramServer::serverFirst(const util::ScramCredential& credential) {
  if (state_ != State::GotClientFirst) {
    state_ = State::Done;
    return {};
  }
  const std::size_t n = util::hashSize(alg_);
  const bool usable = credential.alg == alg_ && credential.iterations > 0 && !credential.salt.empty() &&
                      credential.storedKey.size() == n && credential.serverKey.size() == n;
  if (usable) return makeServerFirst(credential, false);
  // A credential for another hash or a damaged row: carry on with a fake one so the exchange still
  // ends in not-authorized, the same way as for a wrong password.
  return serverFirstForUnknownUser(util::randomBytes(32), credential.iterations);
}

std::string ScramServer::serverFirstForUnknownUser(std::string_view secret, std::uint32_t iterations,
                                                   std::string_view normalizedUsername) {
  if (state_ != State::GotClientFirst) {
    state_ = State::Done;
    return {};
  }
  const std::string_view name = normalizedUsername.empty() ? std::string_view(username_) : normalizedUsername;
  util::ScramCredential fake;
  fake.alg = alg_;
  // Deterministic salt: a second attempt for the same unknown user must see the same salt, as it
  // would for a real account, or the difference reveals that the account does not exist.
  fake.salt =
      util::hmac(alg_, secret, "parley-scram-fake-salt:" + std::string(name)).substr(0, util::kScramSaltSize);
  fake.iterations = iterations == 0 ? kFakeIterations : iterations;
  // The keys need not be stable: no proof can match them (the exchange is failed regardless).
  fake.storedKey = util::randomBytes(util::hashSize(alg_));
  fake.serverKey = util::randomBytes(util::hashSize(alg_));
  return makeServerFirst(fake, true);
}

ScramServer::FinalResult ScramServer::clientFinal(std::string_view message) {
  FinalResult result;
  const bool ready = state_ == State::SentServerFirst && credential_.has_value();
  state_ = State::Done;  // one attempt only
  if (!ready) {
    result.error = SaslError::MalformedRequest;
    return result;
  }
  auto fail = [&result](SaslError e) {
    result.error = e;
    return result;
  };

  // client-final-message = channel-binding "," nonce ["," extensions] "," proof  (RFC 5802 §7)
  const auto fields = splitFields(message);
  if (fields.size() < 3) return fail(SaslError::MalformedRequest);
  auto cbValue = attribute(fields[0], 'c');
  auto nonce = attribute(fields[1], 'r');
  auto proofValue = attribute(fields.back(), 'p');
  if (!cbValue || !nonce || !proofValue || !isNonce(*nonce)) return fail(SaslError::MalformedRequest);
  for (std::size_t i = 2; i + 1 < fields.size(); ++i) {
    if (!isExtension(fields[i])) return fail(SaslError::MalformedRequest);
  }
  auto cb = base64Decode(*cbValue);
  auto proof = base64Decode(*proofValue);
  // c= always carries at least a GS2 header ("n,,"), so an empty one is malformed too.
  if (!cb || cb->empty() || !proof || proof->size() != util::hashSize(alg_)) {
    return fail(SaslError::MalformedRequest);
  }
  const std::string_view withoutProof = message.substr(0, message.size() - fields.back().size() - 1);

  // RFC 5802 §6: c= must repeat the GS2 header, followed by the binding data when 'p' was used, so a
  // man in the middle that changed either (or terminates TLS itself) is caught.
  std::string expectedCb = gs2Header_;
  if (!cbName_.empty()) {
    auto data = bindings_.get(cbName_);
    if (!data) return fail(SaslError::NotAuthorized);
    expectedCb += *data;
  }
  if (!util::constantTimeEqual(*cb, expectedCb)) return fail(SaslError::NotAuthorized);
  if (*nonce != nonce_) return fail(SaslError::NotAuthorized);

  // RFC 5802 §3.
  const std::string authMessage = clientFirstBare_ + "," + serverFirst_ + "," + std::string(withoutProof);
  const std::string clientSignature = util::hmac(alg_, credential_->storedKey, authMessage);
  const std::string clientKey = xorBytes(*proof, clientSignature);
  const bool match = util::constantTimeEqual(util::hash(alg_, clientKey), credential_->storedKey);
  if (!match || fake_) return fail(SaslError::NotAuthorized);

  result.serverFinal = "v=" + base64Encode(util::hmac(alg_, credential_->serverKey, authMessage));
  return result;
}

// ---------------------------------------------------------------------------------------------------
// Client

ScramClient::ScramClient(util::HashAlg alg, std::string username, std::string password, std::string cbType,
                         std::string cbData, std::string authzid)
    : alg_(alg),
      username_(std::move(username)),
      password_(std::move(password)),
      cbType_(std::move(cbType)),
      cbData_(std::move(cbData)),
      authzid_(std::move(authzid)) {}

std::string ScramClient::clientFirst() {
  if (clientNonce_.empty()) clientNonce_ = base64Encode(util::randomBytes(kServerNonceBytes));
  if (!cbType_.empty()) {
    gs2Header_ = "p=" + cbType_;
  } else {
    gs2Header_ = bindingSupported_ ? "y" : "n";
  }
  gs2Header_ += ",";
  if (!authzid_.empty()) gs2Header_ += "a=" + encodeSaslname(authzid_);
  gs2Header_ += ",";
  clientFirstBare_ = "n=" + encodeSaslname(username_) + ",r=" + clientNonce_;
  authMessage_.clear();
  saltedPassword_.clear();
  return gs2Header_ + clientFirstBare_;
}

std::optional<std::string> ScramClient::clientFinal(std::string_view serverFirst) {
  if (clientFirstBare_.empty()) return std::nullopt;
  const auto fields = splitFields(serverFirst);
  if (fields.size() < 3 || attribute(fields[0], 'm')) return std::nullopt;
  auto nonce = attribute(fields[0], 'r');
  auto saltValue = attribute(fields[1], 's');
  auto iterValue = attribute(fields[2], 'i');
  if (!nonce || !saltValue || !iterValue || !isNonce(*nonce)) return std::nullopt;
  // RFC 5802 §5.1: the server's nonce must extend ours.
  if (nonce->size() <= clientNonce_.size() || nonce->substr(0, clientNonce_.size()) != clientNonce_) {
    return std::nullopt;
  }
  for (std::size_t i = 3; i < fields.size(); ++i) {
    if (!isExtension(fields[i])) return std::nullopt;
  }
  auto salt = base64Decode(*saltValue);
  auto iterations = parseIterations(*iterValue);
  if (!salt || salt->empty() || !iterations) return std::nullopt;
  // A hostile server could ask for 4 billion PBKDF2 rounds (an hour of CPU): refuse beyond the bound.
  if (*iterations > kMaxClientIterations) return std::nullopt;

  // RFC 5802 §5.1: if SASLprep fails the client may use the password as is.
  const std::string prepared = util::saslPrep(password_).value_or(password_);
  saltedPassword_ = util::pbkdf2(alg_, prepared, *salt, *iterations);
  if (saltedPassword_.empty()) return std::nullopt;

  std::string cbInput = gs2Header_;
  if (!cbType_.empty()) cbInput += cbData_;
  const std::string withoutProof = "c=" + base64Encode(cbInput) + ",r=" + std::string(*nonce);
  authMessage_ = clientFirstBare_ + "," + std::string(serverFirst) + "," + withoutProof;
  const std::string clientKey = util::hmac(alg_, saltedPassword_, "Client Key");
  const std::string storedKey = util::hash(alg_, clientKey);
  const std::string clientSignature = util::hmac(alg_, storedKey, authMessage_);
  return withoutProof + ",p=" + base64Encode(xorBytes(clientKey, clientSignature));
}

bool ScramClient::verifyServerFinal(std::string_view serverFinal) const {
  if (authMessage_.empty() || saltedPassword_.empty()) return false;
  // server-final-message = (server-error / verifier) ["," extensions]
  const auto fields = splitFields(serverFinal);
  auto verifier = attribute(fields[0], 'v');
  if (!verifier) return false;
  auto signature = base64Decode(*verifier);
  if (!signature) return false;
  const std::string serverKey = util::hmac(alg_, saltedPassword_, "Server Key");
  return util::constantTimeEqual(*signature, util::hmac(alg_, serverKey, authMessage_));
}

}  // namespace parley::sasl
