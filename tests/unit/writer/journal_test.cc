#include "writer/journal.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>

#include "common/poll_reactor.h"
#include "tests/support/temp_dir.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

FileTaken taken(uint64_t id, std::optional<uint64_t> crc = std::nullopt) {
  return FileTaken{id,     "/ckpt/model-" + std::to_string(id) + ".bin",
                   "/spool/" + std::to_string(id),
                   "run1/model-" + std::to_string(id) + ".bin",
                   1000 + id, 1767322245000000000 + static_cast<int64_t>(id), crc};
}

std::vector<JournalRecord> one_of_each() {
  return {taken(1, 0xdeadbeefcafef00dull),
          taken(2),
          MultipartStarted{1, "upload-id-ABC", 8 << 20},
          PartUploaded{1, 1, "etag-1", 0x1111, 8 << 20},
          PartUploaded{1, 2, "etag-2", 0x2222, 1234},
          UploadCompleted{2, "etag-whole"},
          AppendAdvanced{7, "logs/train.log", 4096},
          DeletedLocally{2},
          taken(3),
          UploadCompleted{3, "e3"},
          RetiredRemotely{3}};
}

Status append_all(Journal& j, const std::vector<JournalRecord>& records) {
  for (const auto& r : records) SHOAL_TRY(j.append(r));
  return {};
}

TEST(JournalRecord, EveryTypeRoundTrips) {
  auto records = one_of_each();
  records.push_back(DeletedLocally{9});
  records.push_back(FileTaken{});  // empty strings and zeros
  std::set<uint8_t> types;
  for (const auto& r : records) {
    std::string payload;
    encode_journal_payload(r, payload);
    auto back = decode_journal_payload(journal_record_type(r), payload);
    ASSERT_TRUE(back.ok()) << back.error().describe();
    EXPECT_EQ(*back, r);
    types.insert(journal_record_type(r));
  }
  EXPECT_EQ(types.size(), std::variant_size_v<JournalRecord>);
}

TEST(JournalRecord, MalformedPayloadsAreRefused) {
  std::string payload;
  encode_journal_payload(taken(1, 5), payload);
  for (size_t n = 0; n < payload.size(); ++n) {
    auto r = decode_journal_payload(1, std::string_view(payload).substr(0, n));
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes";
    EXPECT_EQ(r.error().kind, ErrorKind::kCorrupt);
  }
  EXPECT_EQ(decode_journal_payload(1, payload + "x").error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(decode_journal_payload(0, payload).error().kind, ErrorKind::kCorrupt);
  EXPECT_EQ(decode_journal_payload(200, payload).error().kind, ErrorKind::kUnsupported);
}

class JournalTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_.path() + "/writer.journal"; }
  Journal open_ok(JournalOptions options = {}) {
    auto j = Journal::open(path(), options);
    if (!j.ok()) ADD_FAILURE() << j.error().describe();
    return std::move(j).value();
  }
  test::TempDir dir_{"shoal-journal"};
};

TEST_F(JournalTest, ReplaysEveryRecordTypeIntoState) {
  JournalState expected;
  {
    Journal j = open_ok();
    EXPECT_EQ(j.replay().records, 0u);
    ASSERT_TRUE(append_all(j, one_of_each()).ok());
    ASSERT_TRUE(j.commit().ok());
    expected = j.state();
  }
  Journal j = open_ok();
  EXPECT_EQ(j.replay().records, one_of_each().size());
  EXPECT_EQ(j.replay().bytes_cut, 0u);
  EXPECT_EQ(j.state(), expected);

  const auto& s = j.state();
  ASSERT_EQ(s.uploads.count(1), 1u);
  const UploadState& u1 = s.uploads.at(1);
  EXPECT_EQ(u1.taken, taken(1, 0xdeadbeefcafef00dull));
  ASSERT_TRUE(u1.multipart.has_value());
  EXPECT_EQ(u1.multipart->multipart_id, "upload-id-ABC");
  ASSERT_EQ(u1.parts.size(), 2u);
  EXPECT_EQ(u1.parts.at(2).etag, "etag-2");
  EXPECT_FALSE(u1.completed_etag.has_value());
  // Upload 2 was completed and deleted locally: nothing more is owed on it.
  EXPECT_EQ(s.uploads.count(2), 0u);
  // Upload 3 is completed but its spool copy still exists.
  ASSERT_EQ(s.uploads.count(3), 1u);
  EXPECT_EQ(s.uploads.at(3).completed_etag, "e3");
  EXPECT_TRUE(s.uploads.at(3).retired_remotely);
  EXPECT_EQ(s.streams.at(7), (AppendStreamState{"logs/train.log", 4096}));
  EXPECT_EQ(s.next_upload_id, 4u);
}

TEST_F(JournalTest, FoldingFollowsTheUploadLifecycle) {
  Journal j = open_ok(JournalOptions{.keep_until_retired = true});
  ASSERT_TRUE(j.append(taken(1)).ok());
  ASSERT_TRUE(j.append(MultipartStarted{1, "first", 100}).ok());
  ASSERT_TRUE(j.append(PartUploaded{1, 1, "a", 1, 100}).ok());
  ASSERT_TRUE(j.append(PartUploaded{1, 1, "a-retry", 2, 100}).ok());
  EXPECT_EQ(j.state().uploads.at(1).parts.at(1).etag, "a-retry");
  // A restarted multipart upload forgets the parts of the aborted one.
  ASSERT_TRUE(j.append(MultipartStarted{1, "second", 100}).ok());
  EXPECT_TRUE(j.state().uploads.at(1).parts.empty());
  ASSERT_TRUE(j.append(PartUploaded{1, 1, "b", 3, 100}).ok());
  ASSERT_TRUE(j.append(UploadCompleted{1, "whole"}).ok());
  EXPECT_FALSE(j.state().uploads.at(1).multipart.has_value());
  EXPECT_TRUE(j.state().uploads.at(1).parts.empty());
  ASSERT_TRUE(j.append(DeletedLocally{1}).ok());
  EXPECT_EQ(j.state().uploads.count(1), 1u) << "kept until retention retires it";
  ASSERT_TRUE(j.append(RetiredRemotely{1}).ok());
  EXPECT_EQ(j.state().uploads.count(1), 0u);
  ASSERT_TRUE(j.append(AppendAdvanced{4, "log.1", 10}).ok());
  ASSERT_TRUE(j.append(AppendAdvanced{4, "log.2", 0}).ok());
  EXPECT_EQ(j.state().streams.at(4), (AppendStreamState{"log.2", 0}));
}

TEST_F(JournalTest, AppendRefusesRecordsThatDoNotFitTheState) {
  Journal j = open_ok();
  EXPECT_EQ(j.append(PartUploaded{5, 1, "e", 0, 1}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(j.append(UploadCompleted{5, "e"}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(j.append(DeletedLocally{5}).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(j.append(taken(0)).error().kind, ErrorKind::kInvalidArgument);
  ASSERT_TRUE(j.append(taken(5)).ok());
  EXPECT_EQ(j.append(taken(5)).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(j.append(taken(3)).error().kind, ErrorKind::kInvalidArgument) << "ids never reused";
  EXPECT_EQ(j.append(PartUploaded{5, 1, "e", 0, 1}).error().kind, ErrorKind::kInvalidArgument)
      << "a part needs a multipart upload";
  FileTaken huge = taken(6);
  huge.source_path.assign(2u << 20, 'x');
  EXPECT_EQ(j.append(huge).error().kind, ErrorKind::kInvalidArgument);
  EXPECT_EQ(j.state().uploads.size(), 1u);
}

TEST_F(JournalTest, UncommittedRecordsAreNotDurable) {
  {
    Journal j = open_ok();
    ASSERT_TRUE(j.append(taken(1)).ok());
    ASSERT_TRUE(j.commit().ok());
    ASSERT_TRUE(j.append(taken(2)).ok());
    EXPECT_TRUE(j.has_pending());
  }
  Journal j = open_ok();
  EXPECT_EQ(j.state().uploads.size(), 1u);
  EXPECT_EQ(j.state().next_upload_id, 2u);
}

TEST_F(JournalTest, ReservedIdsMayBeTakenInAnyOrder) {
  {
    Journal j = open_ok();
    uint64_t first = j.reserve_upload_id();
    uint64_t second = j.reserve_upload_id();
    uint64_t abandoned = j.reserve_upload_id();
    j.abandon_upload_id(abandoned);
    ASSERT_TRUE(j.append(taken(second)).ok()) << "the later capture finished first";
    ASSERT_TRUE(j.append(taken(first)).ok());
    EXPECT_FALSE(j.append(taken(first)).ok()) << "an id is taken once";
    EXPECT_FALSE(j.append(taken(abandoned)).ok()) << "an abandoned id is not taken";
    ASSERT_TRUE(j.commit().ok());
  }
  Journal reopened = open_ok();
  EXPECT_EQ(reopened.state().uploads.size(), 2u);
  EXPECT_GT(reopened.state().next_upload_id, 2u);
}

TEST_F(JournalTest, MissingDirectoriesAreCreated) {
  std::string nested = dir_.path() + "/var/lib/shoal/writer.journal";
  auto j = Journal::open(nested);
  ASSERT_TRUE(j.ok()) << j.error().describe();
  EXPECT_TRUE(fs::is_regular_file(nested));
}

TEST_F(JournalTest, SecondOpenOfALockedJournalFails) {
  Journal j = open_ok();
  auto second = Journal::open(path());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use"), std::string::npos);
}

// The journal as it was after each of two commits; the second holds exactly one record.
struct TwoCommits {
  JournalState after_first;
  uint64_t first_size = 0;
  std::string bytes;
};

TwoCommits write_two_commits(const std::string& path) {
  TwoCommits out;
  auto j = Journal::open(path);
  EXPECT_TRUE(j.ok());
  EXPECT_TRUE(append_all(*j, one_of_each()).ok());
  EXPECT_TRUE(j->commit().ok());
  out.after_first = j->state();
  out.first_size = j->file_size();
  EXPECT_TRUE(j->append(PartUploaded{1, 3, "etag-3", 0x3333, 77}).ok());
  EXPECT_TRUE(j->commit().ok());
  out.bytes = read_file(path);
  EXPECT_EQ(out.bytes.size(), j->file_size());
  return out;
}

TEST_F(JournalTest, TornTailAtEveryByteOfTheLastRecordIsCut) {
  TwoCommits base = write_two_commits(path());
  size_t last_record = base.bytes.size() - base.first_size;
  ASSERT_GT(last_record, 16u);
  for (size_t kept = 0; kept < last_record; ++kept) {
    SCOPED_TRACE("bytes of the last record kept: " + std::to_string(kept));
    write_file(path(), base.bytes.substr(0, base.first_size + kept));
    auto j = Journal::open(path());
    ASSERT_TRUE(j.ok()) << j.error().describe();
    EXPECT_EQ(j->replay().bytes_cut, kept);
    if (kept > 0) {
      EXPECT_EQ(j->replay().cut_offset, base.first_size);
    }
    EXPECT_EQ(j->state(), base.after_first);
    EXPECT_EQ(fs::file_size(path()), base.first_size);
  }
  // After a cut the journal keeps working: append, commit, replay.
  JournalState expected;
  {
    Journal j = open_ok();
    ASSERT_TRUE(j.append(DeletedLocally{1}).ok());
    ASSERT_TRUE(j.commit().ok());
    expected = j.state();
  }
  Journal j = open_ok();
  EXPECT_EQ(j.replay().bytes_cut, 0u);
  EXPECT_EQ(j.state(), expected);
}

TEST_F(JournalTest, GarbledLastCommitIsCut) {
  TwoCommits base = write_two_commits(path());
  for (size_t at = base.first_size; at < base.bytes.size(); ++at) {
    SCOPED_TRACE("flipped byte at " + std::to_string(at));
    std::string damaged = base.bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x40);
    write_file(path(), damaged);
    auto j = Journal::open(path());
    ASSERT_TRUE(j.ok()) << j.error().describe();
    EXPECT_EQ(j->replay().bytes_cut, base.bytes.size() - base.first_size);
    EXPECT_EQ(j->state(), base.after_first);
  }
}

TEST_F(JournalTest, DamageBeforeACompleteCommitIsCorruptionNamingTheOffset) {
  TwoCommits base = write_two_commits(path());
  // The first commit's records start right after the 32-byte header; damage the second one.
  std::string payload;
  encode_journal_payload(one_of_each()[0], payload);
  size_t second_record = 32 + 16 + payload.size();
  for (size_t at : {second_record, second_record + 9, second_record + 30}) {
    SCOPED_TRACE("flipped byte at " + std::to_string(at));
    std::string damaged = base.bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    write_file(path(), damaged);
    auto j = Journal::open(path());
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.error().kind, ErrorKind::kCorrupt);
    EXPECT_NE(j.error().message.find("offset " + std::to_string(second_record)), std::string::npos)
        << j.error().message;
    EXPECT_EQ(read_file(path()), damaged) << "a refused journal is left untouched";
  }
}

TEST_F(JournalTest, DamagedHeaderIsRefused) {
  write_two_commits(path());
  std::string bytes = read_file(path());
  for (size_t at : {0u, 10u, 20u, 30u}) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    write_file(path(), damaged);
    auto j = Journal::open(path());
    ASSERT_FALSE(j.ok()) << "flipped byte " << at;
    EXPECT_EQ(j.error().kind, ErrorKind::kCorrupt) << j.error().describe();
  }
  write_file(path(), bytes.substr(0, 20));
  EXPECT_EQ(Journal::open(path()).error().kind, ErrorKind::kCorrupt);
}

// Many superseded append positions and finished uploads: mostly dead records.
void churn(Journal& j, uint64_t first_id, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    uint64_t id = first_id + static_cast<uint64_t>(i);
    ASSERT_TRUE(j.append(taken(id)).ok());
    ASSERT_TRUE(j.append(UploadCompleted{id, "e"}).ok());
    ASSERT_TRUE(j.append(DeletedLocally{id}).ok());
    ASSERT_TRUE(j.append(AppendAdvanced{1, "log", static_cast<uint64_t>(i) * 100}).ok());
    ASSERT_TRUE(j.commit().ok());
  }
}

TEST_F(JournalTest, CompactionKeepsTheLiveStateAndShrinksTheFile) {
  JournalOptions options{.compact_min_bytes = 4096, .compact_dead_fraction = 0.5};
  JournalState expected;
  uint64_t compacted_size = 0;
  {
    Journal j = open_ok(options);
    ASSERT_TRUE(append_all(j, one_of_each()).ok());
    churn(j, 10, 200);
    ASSERT_TRUE(j.compaction_due());
    uint64_t before = j.file_size();
    expected = j.state();
    auto ran = j.compact_if_due();
    ASSERT_TRUE(ran.ok()) << ran.error().describe();
    EXPECT_TRUE(*ran);
    EXPECT_LT(j.file_size() * 10, before);
    EXPECT_EQ(j.file_size(), fs::file_size(path()));
    EXPECT_EQ(j.records_in_file(), j.live_records());
    EXPECT_FALSE(j.compaction_due());
    EXPECT_EQ(j.state(), expected);
    compacted_size = j.file_size();
  }
  {
    Journal j = open_ok(options);
    EXPECT_EQ(j.state(), expected);
    EXPECT_EQ(j.file_size(), compacted_size);
    EXPECT_EQ(j.state().next_upload_id, 210u) << "ids of forgotten uploads are not reused";
    // Appending after a compaction goes to the new file.
    ASSERT_TRUE(j.append(taken(210)).ok());
    ASSERT_TRUE(j.commit().ok());
    expected = j.state();
  }
  Journal j = open_ok(options);
  EXPECT_EQ(j.state(), expected);
  EXPECT_EQ(j.replay().bytes_cut, 0u);
}

TEST_F(JournalTest, CompactionIsNotDueBelowTheThresholds) {
  Journal j = open_ok(JournalOptions{.compact_min_bytes = 1u << 20});
  churn(j, 1, 20);
  EXPECT_FALSE(j.compaction_due()) << "small file";
  auto ran = j.compact_if_due();
  ASSERT_TRUE(ran.ok());
  EXPECT_FALSE(*ran);

  Journal live = Journal::open(dir_.path() + "/live.journal",
                               JournalOptions{.compact_min_bytes = 0})
                     .value();
  for (uint64_t id = 1; id <= 20; ++id) ASSERT_TRUE(live.append(taken(id)).ok());
  ASSERT_TRUE(live.commit().ok());
  EXPECT_FALSE(live.compaction_due()) << "every record is live";
}

TEST_F(JournalTest, CrashBeforeCompactionRenameLeavesTheOldJournal) {
  JournalState expected;
  {
    Journal j = open_ok();
    ASSERT_TRUE(append_all(j, one_of_each()).ok());
    ASSERT_TRUE(j.commit().ok());
    expected = j.state();
  }
  // A compaction that died mid-write left its temp file behind.
  write_file(path() + ".compact", "SHOALJNL half written");
  Journal j = open_ok();
  EXPECT_EQ(j.state(), expected);
  EXPECT_FALSE(fs::exists(path() + ".compact"));
}

// Counts the frames of a journal file that end a commit (flag bit 0 at frame byte 5).
int commits_in(const std::string& bytes) {
  int commits = 0;
  size_t at = 32;
  while (at + 16 <= bytes.size()) {
    uint32_t length;
    std::memcpy(&length, bytes.data() + at, 4);
    commits += bytes[at + 5] & 1;
    at += 16 + length;
  }
  return commits;
}

TEST_F(JournalTest, CommitterSharesOneFsyncPerLoopTurn) {
  Journal j = open_ok();
  PollReactor loop;
  JournalCommitter committer(loop, j);
  std::vector<Status> results;
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_TRUE(j.append(taken(id)).ok());
    committer.request([&](Status s) { results.push_back(std::move(s)); });
  }
  EXPECT_TRUE(results.empty()) << "never completes inline";
  ASSERT_TRUE(loop.run_until([&] { return results.size() == 3; }));
  for (const auto& s : results) EXPECT_TRUE(s.ok());
  EXPECT_FALSE(j.has_pending());
  EXPECT_EQ(commits_in(read_file(path())), 1);

  ASSERT_TRUE(j.append(taken(4)).ok());
  committer.request([&](Status s) { results.push_back(std::move(s)); });
  ASSERT_TRUE(loop.run_until([&] { return results.size() == 4; }));
  EXPECT_EQ(commits_in(read_file(path())), 2);
}

// A tiny tmpfs mounted for one test; unmounted (and its directory removed) on scope exit.
class TinyTmpfs {
 public:
  explicit TinyTmpfs(const fs::path& where) : where_(where) {
    fs::create_directories(where_);
    if (::mount("tmpfs", where_.c_str(), "tmpfs", 0, "size=64k") != 0) {
      error_ = std::string("mount tmpfs (needs root): ") + std::strerror(errno);
    }
  }
  ~TinyTmpfs() {
    if (error_.empty()) ::umount2(where_.c_str(), MNT_DETACH);
  }
  const std::string& error() const { return error_; }

 private:
  fs::path where_;
  std::string error_;
};

TEST_F(JournalTest, DiskFullIsReportedAndRecoverable) {
  fs::path mnt = fs::path(dir_.path()) / "tiny";
  TinyTmpfs tmpfs(mnt);
  ASSERT_TRUE(tmpfs.error().empty()) << tmpfs.error();
  std::string journal_path = (mnt / "writer.journal").string();
  write_file(mnt / "filler", std::string(16 << 10, 'f'));

  JournalState committed;
  JournalState after_retry;
  {
    auto opened = Journal::open(journal_path);
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    Journal& j = *opened;
    Status failed;
    for (uint64_t id = 1; id < 100 && failed.ok(); ++id) {
      committed = j.state();
      FileTaken t = taken(id);
      t.source_path.assign(3000, 'p');
      ASSERT_TRUE(j.append(t).ok());
      failed = j.commit();
    }
    ASSERT_FALSE(failed.ok()) << "64 KiB tmpfs never filled";
    EXPECT_EQ(failed.error().kind, ErrorKind::kNoSpace) << failed.error().describe();
    EXPECT_NE(failed.error().message.find("writer.journal"), std::string::npos);
    EXPECT_TRUE(j.has_pending());
    EXPECT_EQ(fs::file_size(journal_path), j.file_size()) << "partial write cut back";

    // Space frees: the same records commit on retry.
    fs::remove(mnt / "filler");
    Status retried = j.commit();
    ASSERT_TRUE(retried.ok()) << retried.error().describe();
    after_retry = j.state();
    EXPECT_EQ(after_retry.uploads.size(), committed.uploads.size() + 1);
  }
  auto reopened = Journal::open(journal_path);
  ASSERT_TRUE(reopened.ok()) << reopened.error().describe();
  EXPECT_EQ(reopened->state(), after_retry);
  EXPECT_EQ(reopened->replay().bytes_cut, 0u);
}

}  // namespace
}  // namespace shoal
