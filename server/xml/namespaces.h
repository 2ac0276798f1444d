// XML namespace names used by the server, in one place so a typo is a compile error.
#pragma once

#include <string_view>

namespace parley::xml::ns {

// RFC 6120 / RFC 6121 core.
inline constexpr std::string_view kClient = "jabber:client";
inline constexpr std::string_view kServer = "jabber:server";
inline constexpr std::string_view kStream = "http://etherx.jabber.org/streams";
inline constexpr std::string_view kStreams = "urn:ietf:params:xml:ns:xmpp-streams";  // stream errors
inline constexpr std::string_view kStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";  // stanza errors
inline constexpr std::string_view kTls = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view kSasl = "urn:ietf:params:xml:ns:xmpp-sasl";
inline constexpr std::string_view kBind = "urn:ietf:params:xml:ns:xmpp-bind";
inline constexpr std::string_view kSession = "urn:ietf:params:xml:ns:xmpp-session";  // RFC 3921, legacy
inline constexpr std::string_view kRoster = "jabber:iq:roster";
inline constexpr std::string_view kRosterVer = "urn:xmpp:features:rosterver";        // RFC 6121 §2.6
inline constexpr std::string_view kPreApproval = "urn:xmpp:features:pre-approval";   // RFC 6121 §3.4
inline constexpr std::string_view kFraming = "urn:ietf:params:xml:ns:xmpp-framing";  // RFC 7395 WebSocket
inline constexpr std::string_view kXml = "http://www.w3.org/XML/1998/namespace";     // xml: prefix
inline constexpr std::string_view kXmlns = "http://www.w3.org/2000/xmlns/";          // xmlns: prefix

// XEPs.
inline constexpr std::string_view kDiscoInfo = "http://jabber.org/protocol/disco#info";    // XEP-0030
inline constexpr std::string_view kDiscoItems = "http://jabber.org/protocol/disco#items";  // XEP-0030
inline constexpr std::string_view kDataForms = "jabber:x:data";                            // XEP-0004
inline constexpr std::string_view kRsm = "http://jabber.org/protocol/rsm";                 // XEP-0059
inline constexpr std::string_view kPrivate = "jabber:iq:private";                          // XEP-0049
inline constexpr std::string_view kVcard = "vcard-temp";                                   // XEP-0054
inline constexpr std::string_view kVcardUpdate = "vcard-temp:x:update";                    // XEP-0153
inline constexpr std::string_view kLast = "jabber:iq:last";                                // XEP-0012
inline constexpr std::string_view kRegister = "jabber:iq:register";                        // XEP-0077
inline constexpr std::string_view kRegisterFeature = "http://jabber.org/features/iq-register";
inline constexpr std::string_view kVersion = "jabber:iq:version";                         // XEP-0092
inline constexpr std::string_view kCaps = "http://jabber.org/protocol/caps";              // XEP-0115
inline constexpr std::string_view kPing = "urn:xmpp:ping";                                // XEP-0199
inline constexpr std::string_view kTime = "urn:xmpp:time";                                // XEP-0202
inline constexpr std::string_view kDelay = "urn:xmpp:delay";                              // XEP-0203
inline constexpr std::string_view kBlocking = "urn:xmpp:blocking";                        // XEP-0191
inline constexpr std::string_view kBlockingErrors = "urn:xmpp:blocking:errors";           // XEP-0191
inline constexpr std::string_view kSm = "urn:xmpp:sm:3";                                  // XEP-0198
inline constexpr std::string_view kCsi = "urn:xmpp:csi:0";                                // XEP-0352
inline constexpr std::string_view kCarbons = "urn:xmpp:carbons:2";                        // XEP-0280
inline constexpr std::string_view kForward = "urn:xmpp:forward:0";                        // XEP-0297
inline constexpr std::string_view kMam = "urn:xmpp:mam:2";                                // XEP-0313
inline constexpr std::string_view kStanzaId = "urn:xmpp:sid:0";                           // XEP-0359
inline constexpr std::string_view kHints = "urn:xmpp:hints";                              // XEP-0334
inline constexpr std::string_view kReceipts = "urn:xmpp:receipts";                        // XEP-0184
inline constexpr std::string_view kChatStates = "http://jabber.org/protocol/chatstates";  // XEP-0085
inline constexpr std::string_view kPush = "urn:xmpp:push:0";                              // XEP-0357
inline constexpr std::string_view kHttpUpload = "urn:xmpp:http:upload:0";                 // XEP-0363
inline constexpr std::string_view kCommands = "http://jabber.org/protocol/commands";      // XEP-0050
inline constexpr std::string_view kMuc = "http://jabber.org/protocol/muc";                // XEP-0045
inline constexpr std::string_view kMucUser = "http://jabber.org/protocol/muc#user";
inline constexpr std::string_view kMucAdmin = "http://jabber.org/protocol/muc#admin";
inline constexpr std::string_view kMucOwner = "http://jabber.org/protocol/muc#owner";
inline constexpr std::string_view kPubsub = "http://jabber.org/protocol/pubsub";  // XEP-0060
inline constexpr std::string_view kPubsubEvent = "http://jabber.org/protocol/pubsub#event";
inline constexpr std::string_view kPubsubOwner = "http://jabber.org/protocol/pubsub#owner";
inline constexpr std::string_view kSaslCb = "urn:xmpp:sasl-cb:0";  // XEP-0440

}  // namespace parley::xml::ns
