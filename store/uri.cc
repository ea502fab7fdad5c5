#include "store/uri.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace shoal {
namespace {

Error bad_uri(std::string_view text, std::string_view why) {
  return Error(ErrorKind::kInvalidArgument,
               "bad URI '" + std::string(text) + "': " + std::string(why));
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// Lenient on purpose (legacy S3 buckets allow upper case and '_'); the server has the last word.
bool valid_bucket_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

Result<ObjectUri> parse_bucket_uri(std::string_view text, ObjectUri::Scheme scheme,
                                   std::string_view rest) {
  size_t slash = rest.find('/');
  std::string_view bucket = rest.substr(0, slash);
  if (bucket.empty()) return bad_uri(text, "the bucket name is empty");
  if (!std::all_of(bucket.begin(), bucket.end(), valid_bucket_char))
    return bad_uri(text, "the bucket name may hold only letters, digits, '-', '.' and '_'");
  ObjectUri uri;
  uri.scheme = scheme;
  uri.bucket = std::string(bucket);
  if (slash != std::string_view::npos) uri.prefix = std::string(rest.substr(slash + 1));
  return uri;
}

// file:///abs/dir (RFC 8089; "localhost" is the only host allowed).
Result<ObjectUri> parse_file_uri(std::string_view text, std::string_view rest) {
  if (rest.starts_with("localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (!rest.starts_with('/'))
    return bad_uri(text, "a file URI needs an absolute path: file:///abs/dir (three slashes)");
  ObjectUri uri;
  uri.scheme = ObjectUri::Scheme::kFile;
  uri.prefix = std::string(rest.substr(1));
  return uri;
}

}  // namespace

std::string_view scheme_name(ObjectUri::Scheme scheme) {
  switch (scheme) {
    case ObjectUri::Scheme::kOss: return "oss";
    case ObjectUri::Scheme::kS3: return "s3";
    case ObjectUri::Scheme::kFile: return "file";
  }
  return "?";
}

std::string ObjectUri::to_string() const {
  if (scheme == Scheme::kFile) return "file:///" + prefix;
  return std::string(scheme_name(scheme)) + "://" + bucket + "/" + prefix;
}

Result<ObjectUri> parse_object_uri(std::string_view text) {
  if (text.empty())
    return bad_uri(text, "empty; expected oss://bucket/prefix, s3://bucket/prefix or file:///dir");
  if (text.find('\0') != std::string_view::npos)
    return bad_uri("(with NUL)", "contains a NUL byte");
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    if (text.starts_with('/'))
      return bad_uri(text, "not a URI; for a local directory write file://" + std::string(text));
    return bad_uri(text, "no scheme; expected oss://, s3:// or file://");
  }
  std::string_view scheme = text.substr(0, sep);
  std::string_view rest = text.substr(sep + 3);
  if (iequals(scheme, "oss")) return parse_bucket_uri(text, ObjectUri::Scheme::kOss, rest);
  if (iequals(scheme, "s3")) return parse_bucket_uri(text, ObjectUri::Scheme::kS3, rest);
  if (iequals(scheme, "file")) return parse_file_uri(text, rest);
  return bad_uri(text, "unknown scheme '" + std::string(scheme) + "'; expected oss, s3 or file");
}

}  // namespace shoal
