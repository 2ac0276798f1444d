#include "server/xmpp/errors.h"

#include "server/xml/writer.h"

namespace parley::xmpp {

namespace {
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
constexpr std::string_view kStreamsNs = "urn:ietf:params:xml:ns:xmpp-streams";
}  // namespace

std::string_view conditionName(StanzaError e) {
  switch (e) {
    case StanzaError::BadRequest:
      return "bad-request";
    case StanzaError::Conflict:
      return "conflict";
    case StanzaError::FeatureNotImplemented:
      return "feature-not-implemented";
    case StanzaError::Forbidden:
      return "forbidden";
    case StanzaError::Gone:
      return "gone";
    case StanzaError::InternalServerError:
      return "internal-server-error";
    case StanzaError::ItemNotFound:
      return "item-not-found";
    case StanzaError::JidMalformed:
      return "jid-malformed";
    case StanzaError::NotAcceptable:
      return "not-acceptable";
    case StanzaError::NotAllowed:
      return "not-allowed";
    case StanzaError::NotAuthorized:
      return "not-authorized";
    case StanzaError::PolicyViolation:
      return "policy-violation";
    case StanzaError::RecipientUnavailable:
      return "recipient-unavailable";
    case StanzaError::Redirect:
      return "redirect";
    case StanzaError::RegistrationRequired:
      return "registration-required";
    case StanzaError::RemoteServerNotFound:
      return "remote-server-not-found";
    case StanzaError::RemoteServerTimeout:
      return "remote-server-timeout";
    case StanzaError::ResourceConstraint:
      return "resource-constraint";
    case StanzaError::ServiceUnavailable:
      return "service-unavailable";
    case StanzaError::SubscriptionRequired:
      return "subscription-required";
    case StanzaError::UndefinedCondition:
      return "undefined-condition";
    case StanzaError::UnexpectedRequest:
      return "unexpected-request";
  }
  return "undefined-condition";
}

// RFC 6120 §8.3.3 gives the usual type of each condition.
std::string_view defaultErrorType(StanzaError e) {
  switch (e) {
    case StanzaError::BadRequest:
    case StanzaError::JidMalformed:
    case StanzaError::NotAcceptable:
    case StanzaError::PolicyViolation:
    case StanzaError::Redirect:
      return "modify";
    case StanzaError::Forbidden:
    case StanzaError::NotAuthorized:
    case StanzaError::RegistrationRequired:
    case StanzaError::SubscriptionRequired:
      return "auth";
    case StanzaError::RecipientUnavailable:
    case StanzaError::RemoteServerTimeout:
    case StanzaError::ResourceConstraint:
    case StanzaError::UnexpectedRequest:
      return "wait";
    default:
      return "cancel";
  }
}

xml::ElementPtr makeErrorElement(StanzaError e, std::string_view text, xml::ElementPtr extra,
                                 std::string_view type) {
  auto err = xml::make("error", "jabber:client");
  err->setAttr("type", type.empty() ? defaultErrorType(e) : type);
  err->addChild(xml::make(std::string(conditionName(e)), std::string(kStanzasNs)));
  if (!text.empty()) err->addTextChild("text", kStanzasNs, text);
  if (extra) err->addChild(std::move(extra));
  return err;
}

StanzaPtr makeErrorReply(const Stanza& original, StanzaError e, std::string_view text,
                         xml::ElementPtr extra) {
  const xml::Element& in = original.element();
  auto out = xml::make(in.name(), "jabber:client");
  if (auto id = in.findAttr("id")) out->setAttr("id", *id);
  out->setAttr("type", "error");
  if (!original.isIq()) {
    for (const auto& n : in.nodes())
      if (auto* el = std::get_if<xml::ElementPtr>(&n); el && (*el)->name() != "error") out->addChild(*el);
  }
  out->addChild(makeErrorElement(e, text, std::move(extra)));
  return Stanza::make(std::move(out), original.to(), original.from());
}

StanzaPtr makeIqResult(const Stanza& request, xml::ElementPtr payload) {
  auto out = xml::make("iq", "jabber:client");
  out->setAttr("id", request.id());
  out->setAttr("type", "result");
  if (payload) out->addChild(std::move(payload));
  return Stanza::make(std::move(out), request.to(), request.from());
}

std::string_view conditionName(StreamError e) {
  switch (e) {
    case StreamError::BadFormat:
      return "bad-format";
    case StreamError::BadNamespacePrefix:
      return "bad-namespace-prefix";
    case StreamError::Conflict:
      return "conflict";
    case StreamError::ConnectionTimeout:
      return "connection-timeout";
    case StreamError::HostGone:
      return "host-gone";
    case StreamError::HostUnknown:
      return "host-unknown";
    case StreamError::ImproperAddressing:
      return "improper-addressing";
    case StreamError::InternalServerError:
      return "internal-server-error";
    case StreamError::InvalidFrom:
      return "invalid-from";
    case StreamError::InvalidNamespace:
      return "invalid-namespace";
    case StreamError::InvalidXml:
      return "invalid-xml";
    case StreamError::NotAuthorized:
      return "not-authorized";
    case StreamError::NotWellFormed:
      return "not-well-formed";
    case StreamError::PolicyViolation:
      return "policy-violation";
    case StreamError::RemoteConnectionFailed:
      return "remote-connection-failed";
    case StreamError::Reset:
      return "reset";
    case StreamError::ResourceConstraint:
      return "resource-constraint";
    case StreamError::RestrictedXml:
      return "restricted-xml";
    case StreamError::SeeOtherHost:
      return "see-other-host";
    case StreamError::SystemShutdown:
      return "system-shutdown";
    case StreamError::UndefinedCondition:
      return "undefined-condition";
    case StreamError::UnsupportedEncoding:
      return "unsupported-encoding";
    case StreamError::UnsupportedFeature:
      return "unsupported-feature";
    case StreamError::UnsupportedStanzaType:
      return "unsupported-stanza-type";
    case StreamError::UnsupportedVersion:
      return "unsupported-version";
  }
  return "undefined-condition";
}

std::string streamErrorXml(StreamError e, std::string_view text) {
  std::string out = "<stream:error><";
  out += conditionName(e);
  out += " xmlns='";
  out += kStreamsNs;
  out += "'/>";
  if (!text.empty()) {
    out += "<text xmlns='";
    out += kStreamsNs;
    out += "'>";
    xml::appendEscapedText(out, text);
    out += "</text>";
  }
  out += "</stream:error>";
  return out;
}

}  // namespace parley::xmpp
