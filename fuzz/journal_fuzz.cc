// Writer journal replay (writer/journal.h). The first byte picks the form of the rest:
//   even: the journal file's bytes as they are (header, framing, torn-tail cutting);
//   odd:  records as [type u8][flags u8][length u16 LE][payload], framed and checksummed here
//         exactly as the format says, behind a valid header, so that record decoding and the
//         replay's state checks see inputs that get past the checksums.
// A replay that succeeded must be stable: opening the (possibly cut) file again gives the
// same state with nothing more cut, and a decoded record re-encodes to one that decodes equal.
#include <unistd.h>
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "fuzz/temp_file.h"
#include "writer/journal.h"

using namespace shoal;

namespace {

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

std::string framed_journal(const uint8_t* data, size_t size) {
  std::string file("SHOALJNL", 8);
  put<uint32_t>(file, 1);   // version
  put<uint32_t>(file, 32);  // header size
  uint64_t next_id = 1;
  if (size >= 1) {
    next_id = data[0];
    ++data;
    --size;
  }
  put<uint64_t>(file, next_id);
  put<uint64_t>(file, XXH3_64bits(file.data(), 24));
  while (size >= 4) {
    uint8_t type = data[0], flags = data[1];
    size_t length = data[2] | size_t{data[3]} << 8;
    data += 4;
    size -= 4;
    length = std::min(length, size);
    std::string_view payload(reinterpret_cast<const char*>(data), length);
    data += length;
    size -= length;

    auto decoded = decode_journal_payload(type, payload);
    if (decoded.ok()) {
      FUZZ_CHECK(journal_record_type(*decoded) == type);
      std::string again;
      encode_journal_payload(*decoded, again);
      auto redecoded = decode_journal_payload(type, again);
      FUZZ_CHECK(redecoded.ok() && *redecoded == *decoded);
    }

    size_t start = file.size();
    put<uint32_t>(file, static_cast<uint32_t>(length));
    put<uint8_t>(file, type);
    put<uint8_t>(file, flags);
    put<uint16_t>(file, 0);
    file.append(payload);
    put<uint64_t>(file, XXH3_64bits(file.data() + start, file.size() - start));
  }
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = shoal::fuzz::scratch_dir() + "/writer.journal";
  std::string file = data[0] & 1 ? framed_journal(data + 1, size - 1)
                                 : std::string(reinterpret_cast<const char*>(data + 1), size - 1);
  for (bool keep : {false, true}) {
    shoal::fuzz::write_file(path, reinterpret_cast<const uint8_t*>(file.data()), file.size());
    JournalOptions options;
    options.keep_until_retired = keep;
    JournalState first;
    {
      auto journal = Journal::open(path, options);
      if (!journal.ok()) {
        FUZZ_CHECK(!journal.error().message.empty());
        continue;
      }
      first = journal->state();
      FUZZ_CHECK(journal->file_size() <= file.size());
    }
    JournalState compacted;
    {
      auto again = Journal::open(path, options);
      FUZZ_CHECK(again.ok());
      FUZZ_CHECK(again->replay().bytes_cut == 0);
      FUZZ_CHECK(again->state() == first);
      // Compaction rewrites the live state; replaying the result must give it back.
      FUZZ_CHECK(again->compact().ok());
      compacted = again->state();
    }
    auto reopened = Journal::open(path, options);
    FUZZ_CHECK(reopened.ok());
    FUZZ_CHECK(reopened->state() == compacted);
  }
  ::unlink(path.c_str());
  return 0;
}
