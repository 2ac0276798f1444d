// RFC 6120 §8.3 stanza errors and §4.9 stream errors.
#pragma once

#include <string>
#include <string_view>

#include "server/xml/element.h"
#include "server/xmpp/stanza.h"

namespace parley::xmpp {

enum class StanzaError {
  BadRequest,
  Conflict,
  FeatureNotImplemented,
  Forbidden,
  Gone,
  InternalServerError,
  ItemNotFound,
  JidMalformed,
  NotAcceptable,
  NotAllowed,
  NotAuthorized,
  PolicyViolation,
  RecipientUnavailable,
  Redirect,
  RegistrationRequired,
  RemoteServerNotFound,
  RemoteServerTimeout,
  ResourceConstraint,
  ServiceUnavailable,
  SubscriptionRequired,
  UndefinedCondition,
  UnexpectedRequest,
};

std::string_view conditionName(StanzaError e);
std::string_view defaultErrorType(StanzaError e);  // "cancel", "modify", "auth", "wait"

// The <error/> element: <error type='…'><condition xmlns='…stanzas'/><text>…</text>[extra]</error>.
xml::ElementPtr makeErrorElement(StanzaError e, std::string_view text = {}, xml::ElementPtr extra = nullptr,
                                 std::string_view type = {});

// The error reply to `original` (RFC 6120 §8.3.1): addresses swapped, same id, type='error'. For
// messages and presences the original payload is kept so the sender can tell which one failed.
// Callers must not answer an error with an error: check original.isError() first.
StanzaPtr makeErrorReply(const Stanza& original, StanzaError e, std::string_view text = {},
                         xml::ElementPtr extra = nullptr);
// An IQ result for `request` with an optional payload.
StanzaPtr makeIqResult(const Stanza& request, xml::ElementPtr payload = nullptr);

enum class StreamError {
  BadFormat,
  BadNamespacePrefix,
  Conflict,
  ConnectionTimeout,
  HostGone,
  HostUnknown,
  ImproperAddressing,
  InternalServerError,
  InvalidFrom,
  InvalidNamespace,
  InvalidXml,
  NotAuthorized,
  NotWellFormed,
  PolicyViolation,
  RemoteConnectionFailed,
  Reset,
  ResourceConstraint,
  RestrictedXml,
  SeeOtherHost,
  SystemShutdown,
  UndefinedCondition,
  UnsupportedEncoding,
  UnsupportedFeature,
  UnsupportedStanzaType,
  UnsupportedVersion,
};

std::string_view conditionName(StreamError e);
// "<stream:error><condition xmlns='…'/>[<text>…</text>]</stream:error>" (prefix 'stream' as opened).
std::string streamErrorXml(StreamError e, std::string_view text = {});

}  // namespace parley::xmpp
