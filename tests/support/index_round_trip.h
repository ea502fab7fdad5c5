// The listing round trip every S3 server's index test makes: put `objects` under data/ of
// bucket "idx", build an index of s3://idx/data/ with the `shoal` binary (parallel listing),
// check `index info` names exactly `expected_skips`, export the image, fsck.erofs it, mount it
// and compare every file's bytes and every directory with what the objects imply. Runs as
// root; fails (never skips) when something it needs is missing.
#pragma once

#include <map>
#include <string>

#include "common/poll_reactor.h"
#include "common/result.h"
#include "store/config.h"
#include "store/object_store.h"

namespace shoal::test {

struct IndexServer {
  StoreConfig config;   // how the test itself opens the bucket (to put the objects)
  std::string endpoint;  // what the `shoal` binary is pointed at
  std::string region;
  std::string access_key;
  std::string secret_key;
};

// `size` pseudo-random bytes, the same for the same `index`.
std::string content_of(size_t index, size_t size);

// PUTs every (key, bytes) with up to 8 in flight.
Status put_all(PollReactor& loop, ObjectStore& store, const std::map<std::string, std::string>& objects);

// key (under data/) → content, markers ending in '/'; expected_skips: key → rule tag.
void check_index_round_trip(const IndexServer& server,
                            const std::map<std::string, std::string>& objects,
                            const std::map<std::string, std::string>& expected_skips);

}  // namespace shoal::test
