#include "store/rest/rest_xml.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <sstream>

#include <pugixml.hpp>

#include "store/url_encode.h"

namespace shoal {
namespace {

Error unreadable(std::string_view what, std::string_view why) {
  return Error(ErrorKind::kServer,
               "cannot read the " + std::string(what) + " answer: " + std::string(why));
}

Result<pugi::xml_node> parse_root(pugi::xml_document& doc, std::string_view xml,
                                  const char* root_name) {
  pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) return unreadable(root_name, parsed.description());
  pugi::xml_node root = doc.child(root_name);
  if (!root) return unreadable(root_name, std::string("no <") + root_name + "> element");
  return root;
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string text_of(pugi::xml_node node, const char* child) {
  return node.child(child).text().as_string();
}

bool is_true(pugi::xml_node node, const char* child) { return text_of(node, child) == "true"; }

// A bad escape in an answer is the service's fault, like any other unreadable answer.
Result<std::string> decode_listed(const std::string& text) {
  auto decoded = uri_decode(text, /*plus_as_space=*/true);
  if (!decoded.ok()) return unreadable("ListObjectsV2", decoded.error().message);
  return decoded;
}

Result<ObjectInfo> parse_contents(pugi::xml_node c, bool url_encoded) {
  ObjectInfo info;
  info.key = text_of(c, "Key");
  if (url_encoded) {
    SHOAL_ASSIGN(info.key, decode_listed(info.key));
  }
  auto size = parse_number<uint64_t>(text_of(c, "Size"));
  if (!size) return unreadable("ListObjectsV2", "bad <Size> for key " + info.key);
  info.size = *size;
  info.etag = unquote_etag(text_of(c, "ETag"));
  info.mtime_ns = parse_iso8601_ns(text_of(c, "LastModified")).value_or(0);
  return info;
}

}  // namespace

std::optional<ServiceErrorBody> parse_error_body(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return std::nullopt;
  pugi::xml_node root = doc.child("Error");
  if (!root) return std::nullopt;
  return ServiceErrorBody{text_of(root, "Code"), text_of(root, "Message"),
                          text_of(root, "RequestId")};
}

Result<ListPage> parse_list_objects_v2(std::string_view xml) {
  pugi::xml_document doc;
  SHOAL_ASSIGN(pugi::xml_node root, parse_root(doc, xml, "ListBucketResult"));
  bool url_encoded = text_of(root, "EncodingType") == "url";
  ListPage page;
  for (pugi::xml_node c : root.children("Contents")) {
    SHOAL_ASSIGN(ObjectInfo info, parse_contents(c, url_encoded));
    page.objects.push_back(std::move(info));
  }
  for (pugi::xml_node p : root.children("CommonPrefixes")) {
    std::string prefix = text_of(p, "Prefix");
    if (url_encoded) {
      SHOAL_ASSIGN(prefix, decode_listed(prefix));
    }
    page.common_prefixes.push_back(std::move(prefix));
  }
  if (is_true(root, "IsTruncated")) {
    page.next_token = text_of(root, "NextContinuationToken");
    // Without a token the next page cannot be asked for; ending here would silently drop keys.
    if (page.next_token.empty())
      return unreadable("ListObjectsV2", "truncated page without <NextContinuationToken>");
  }
  return page;
}

Result<std::string> parse_initiate_multipart(std::string_view xml) {
  pugi::xml_document doc;
  SHOAL_ASSIGN(pugi::xml_node root, parse_root(doc, xml, "InitiateMultipartUploadResult"));
  std::string id = text_of(root, "UploadId");
  if (id.empty()) return unreadable("InitiateMultipartUpload", "no <UploadId>");
  return id;
}

Result<std::string> parse_complete_multipart(std::string_view xml) {
  pugi::xml_document doc;
  SHOAL_ASSIGN(pugi::xml_node root, parse_root(doc, xml, "CompleteMultipartUploadResult"));
  return unquote_etag(text_of(root, "ETag"));
}

Result<PartsPage> parse_list_parts(std::string_view xml) {
  pugi::xml_document doc;
  SHOAL_ASSIGN(pugi::xml_node root, parse_root(doc, xml, "ListPartsResult"));
  PartsPage page;
  for (pugi::xml_node p : root.children("Part")) {
    PartInfo part;
    auto number = parse_number<int>(text_of(p, "PartNumber"));
    auto size = parse_number<uint64_t>(text_of(p, "Size"));
    if (!number || !size) return unreadable("ListParts", "bad <PartNumber> or <Size>");
    part.number = *number;
    part.size = *size;
    part.etag = unquote_etag(text_of(p, "ETag"));
    part.crc64 = parse_number<uint64_t>(text_of(p, "HashCrc64ecma"));
    page.parts.push_back(std::move(part));
  }
  if (is_true(root, "IsTruncated")) {
    page.next_marker = parse_number<int>(text_of(root, "NextPartNumberMarker"));
    if (!page.next_marker)
      return unreadable("ListParts", "truncated page without <NextPartNumberMarker>");
  }
  return page;
}

std::string complete_multipart_xml(const std::vector<PartInfo>& parts) {
  pugi::xml_document doc;
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node root = doc.append_child("CompleteMultipartUpload");
  for (const PartInfo& part : parts) {
    pugi::xml_node p = root.append_child("Part");
    p.append_child("PartNumber").text().set(part.number);
    p.append_child("ETag").text().set(("\"" + part.etag + "\"").c_str());
  }
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw);
  return out.str();
}

std::optional<int64_t> parse_iso8601_ns(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return std::nullopt;
  // sscanf takes signs and timegm normalizes anything, so a hostile or broken answer could give
  // a year whose nanoseconds overflow int64 (years 1678-2261 fit).
  if (tm.tm_year < 1678 || tm.tm_year > 2261 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
      tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
      tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t nanos = 0;
  size_t pos = static_cast<size_t>(consumed);
  if (pos < s.size() && s[pos] == '.') {
    int64_t scale = 100000000;
    for (++pos; pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])); ++pos) {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
    }
  }
  if (pos >= s.size() || s[pos] != 'Z') return std::nullopt;  // services answer in UTC
  return static_cast<int64_t>(timegm(&tm)) * 1000000000 + nanos;
}

std::string unquote_etag(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
    etag = etag.substr(1, etag.size() - 2);
  return std::string(etag);
}

}  // namespace shoal
