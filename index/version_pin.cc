#include "index/version_pin.h"

namespace shoal::index {

GetQuery pinned_get(const IndexFile& index, const ObjectRecord& object, std::string key,
                    ByteRange range, bool if_match_supported) {
  GetQuery query;
  query.key = std::move(key);
  query.range = range;
  if (if_match_supported) query.if_match = std::string(index.etag(object));
  return query;
}

bool means_changed(ErrorKind kind) {
  return kind == ErrorKind::kPreconditionFailed || kind == ErrorKind::kNotFound ||
         kind == ErrorKind::kRangeNotSatisfiable;
}

std::optional<std::string> version_mismatch(const IndexFile& index, const ObjectRecord& object,
                                            const ObjectInfo& reply) {
  if (reply.size != object.size)
    return "its size is " + std::to_string(reply.size) + ", the index says " +
           std::to_string(object.size);
  std::string_view etag = index.etag(object);
  if (!etag.empty() && reply.etag != etag)
    return "its ETag is '" + reply.etag + "', the index says '" + std::string(etag) + "'";
  return std::nullopt;
}

}  // namespace shoal::index
