// Pure conversions between PEP payloads and the older places the same data lives:
//  - XEP-0402 bookmarks (urn:xmpp:bookmarks:1, one item per room) and XEP-0048 bookmarks
//    (<storage xmlns='storage:bookmarks'/> in XEP-0049 private storage), XEP-0402 §5.2 compatibility;
//  - XEP-0084 avatars (urn:xmpp:avatar:data + urn:xmpp:avatar:metadata) and the vcard-temp PHOTO
//    (XEP-0054, XEP-0153), XEP-0398.
// No threads, no storage: the module calls them inside its storage jobs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "server/xml/element.h"

namespace parley::xep::pep {

inline constexpr std::string_view kBookmarksNs = "urn:xmpp:bookmarks:1";
inline constexpr std::string_view kLegacyBookmarksNs = "storage:bookmarks";
inline constexpr std::string_view kAvatarDataNs = "urn:xmpp:avatar:data";
inline constexpr std::string_view kAvatarMetadataNs = "urn:xmpp:avatar:metadata";

// XEP-0048 <storage/> -> XEP-0402 items by room JID (id) -> <conference xmlns='urn:xmpp:bookmarks:1'/>.
// A conference without a jid is skipped. `previous` (the current PEP items) lends its <extensions/>
// to the item of the same room, which XEP-0048 cannot carry.
std::map<std::string, xml::ElementPtr> legacyToBookmarks(const xml::Element& storage,
                                                         const std::map<std::string, xml::ElementPtr>& previous);

// XEP-0402 items -> XEP-0048 <storage/>; the <url/> bookmarks of `previousStorage` (if any) are kept.
xml::ElementPtr bookmarksToLegacy(const std::map<std::string, xml::ElementPtr>& items,
                                  const xml::Element* previousStorage);

// True when two XEP-0402 conferences say the same thing in XEP-0048 terms (name, autojoin, nick,
// password), so a sync from private storage does not republish unchanged rooms.
bool sameLegacyBookmark(const xml::Element& a, const xml::Element& b);

struct Photo {
  std::string type;    // MIME type ("image/png")
  std::string bytes;   // the image
  std::string sha1;    // lowercase hex SHA-1 of bytes: the XEP-0153 / XEP-0084 id
};

// The PHOTO of a vCard with inline BINVAL (an EXTVAL photo is not converted); nullopt when absent or
// not valid base64.
std::optional<Photo> vcardPhoto(const xml::Element& vcard);
// The vCard with its PHOTO replaced by `photo` (removed when nullopt).
xml::ElementPtr vcardWithPhoto(const xml::Element& vcard, const std::optional<Photo>& photo);

// Base64 as found in documents: whitespace (line breaks in vCards) ignored.
std::optional<std::string> decodeBase64Loose(std::string_view text);
std::string sha1Hex(std::string_view bytes);

}  // namespace parley::xep::pep
