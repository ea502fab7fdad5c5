// The writer end to end against the file:// backend, run as a child process: checkpoint
// streams with max_to_keep = 1, kill -9 and restart, a destination that is unavailable for a
// while with a spool budget that fills, flush semantics, files that cannot be taken, append
// mode and retention.
#include <sys/stat.h>

#include <iostream>

#include "writer_harness.h"

namespace shoal::testing_writer {
namespace {

constexpr size_t kMiB = 1u << 20;

class FileWriter : public ::testing::Test {
 protected:
  fs::path watch() const { return tmp_.path() / "ckpt"; }
  fs::path dest() const { return tmp_.path() / "bucket" / "run1"; }
  std::string dest_prefix() const { return dest().string().substr(1) + "/"; }

  // A config with small parts so multipart uploads happen at test sizes, and quick retries.
  WriterConfig config(const std::string& extra = "", bool watching = true) {
    std::string toml;
    if (watching) toml += "watch = [\"" + watch().string() + "\"]\n";
    toml += "destination = \"file://" + dest().string() + "/\"\n";
    toml += "journal = \"" + (tmp_.path() / "state" / "writer.journal").string() + "\"\n";
    toml += "spool = \"" + (tmp_.path() / "state" / "spool").string() + "\"\n";
    toml += "multipart_threshold = \"6MiB\"\npart_size = \"5MiB\"\n";
    toml += "retry_base_ms = 50\nretry_cap_ms = 400\n";
    toml += extra;  // last, since it may open tables
    fs::create_directories(tmp_.path() / "state");
    fs::create_directories(watch());
    auto parsed = parse_writer_config(toml, "test.toml");
    EXPECT_TRUE(parsed.ok()) << parsed.error().describe();
    return parsed.ok() ? *parsed : WriterConfig{};
  }

  BlockingStore store() {
    auto s = BlockingStore::open(ObjectUri{ObjectUri::Scheme::kFile, "", ""}, StoreConfig{});
    if (!s.ok()) throw std::runtime_error(s.error().describe());
    return std::move(*s);
  }

  std::map<std::string, uint64_t> remote() {
    if (!fs::exists(dest())) return {};
    BlockingStore s = store();
    return remote_contents(s, dest_prefix());
  }

  // Multipart uploads the file:// store holds under the destination: those with parts, or
  // (with_parts false) those without any.
  std::vector<fs::path> staged_uploads(bool with_parts) const {
    std::vector<fs::path> out;
    if (!fs::exists(dest())) return out;
    for (const auto& entry : fs::recursive_directory_iterator(dest())) {
      if (!entry.is_directory() || entry.path().parent_path().filename() != ".shoal-multipart")
        continue;
      bool has_parts = false;
      for (const auto& file : fs::directory_iterator(entry.path()))
        has_parts = has_parts || file.path().filename().string().starts_with("part-");
      if (has_parts == with_parts) out.push_back(entry.path());
    }
    return out;
  }
  // Writes in progress the file:// store leaves behind when the process writing them dies.
  int temp_files() const {
    int n = 0;
    if (!fs::exists(dest())) return n;
    for (const auto& entry : fs::recursive_directory_iterator(dest()))
      n += entry.path().filename().string().starts_with(".shoal-tmp-");
    return n;
  }

  static void flush(WriterProcess& w) {
    auto reply = w.call({"flush", "0"});
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    ASSERT_TRUE(reply->ok) << reply->error;
  }

  TempDir tmp_;
};

TEST_F(FileWriter, CheckpointsDeletedRightAfterCloseArriveByteIdentical) {
  WriterProcess writer(config());
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  CheckpointJob job(watch(), {1024, 300 * 1024, 13 * kMiB, 7});
  for (int g = 0; g < 8; ++g) {
    // Generation g-1 is deleted the moment generation g is closed. A real job spends a
    // training step between checkpoints; this one waits until the writer has taken the last
    // one instead, since a file deleted before the writer could even link it is out of reach.
    job.write_generation(g);
    ASSERT_TRUE(eventually([&] { return writer.status_number("taken_files") == 2 * (g + 1); }));
  }
  // Only the newest generation is still on disk; the rest exists only in the spool or remotely.
  EXPECT_EQ(std::distance(fs::directory_iterator(watch()), fs::directory_iterator()), 2);
  flush(writer);
  EXPECT_EQ(remote(), job.expected());
  EXPECT_EQ(writer.status_number("pending_files"), 0);
  EXPECT_EQ(writer.status_number("spool_used_bytes"), 0);
  EXPECT_EQ(writer.stop(), 0);
  for (const auto& entry : fs::recursive_directory_iterator(tmp_.path() / "state" / "spool"))
    EXPECT_FALSE(entry.is_regular_file()) << entry.path() << " left in the spool";
}

// The crash test: kill -9 at 50 random moments while a job streams checkpoint
// generations (1 KB – 200 MB, two files each, the previous one deleted as soon as the next is
// acknowledged), restarting the writer each time. A third of the kills come 0–5 ms after the
// writer answers again (mid-journal-write, as it resumes uploads and records their steps); the
// others land anywhere in the stream, often inside multipart uploads (5 MiB parts). After every
// kill each object in the store is a whole file the job wrote; at the end every file is there
// exactly once, byte-identical, no multipart upload is left holding parts, and a clean restart
// redoes nothing.
TEST_F(FileWriter, FiftyKillsDuringACheckpointStreamLoseNothingAndLeaveNothingPartial) {
  const uint64_t seed = test_seed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with SHOAL_TEST_SEED)");
  WriterConfig c = config("", false);
  WriterProcess writer(c);
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  PutJobProcess job(tmp_.path() / "job",
                    {200 * kMiB, 1024, 23 * kMiB + 5, 300 * 1024, 11 * kMiB, 64 * 1024, 2 * kMiB},
                    c.control_socket, seed);
  job.start();
  std::mt19937_64 rng(seed);
  std::map<std::string, std::string> checked;  // key → the ETag already found whole
  int mid_multipart = 0;
  for (int kill = 0; kill < 50; ++kill) {
    bool tight = rng() % 3 == 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(tight ? rng() % 6 : 5 + rng() % 400));
    writer.kill_hard();
    if (!staged_uploads(true).empty()) ++mid_multipart;
    if (fs::exists(dest())) {
      BlockingStore s = store();
      expect_only_whole_files(s, dest_prefix(), job.written(), checked);
    }
    writer.start();
    ASSERT_TRUE(writer.wait_ready()) << "restart after kill " << kill;
  }
  EXPECT_EQ(job.stop(), 0) << "the writer refused a put";
  flush(writer);
  auto expected = job.manifest();
  EXPECT_EQ(remote(), expected);
  for (const auto& upload : staged_uploads(true))
    ADD_FAILURE() << "multipart upload " << upload << " of " << read_file(upload / "key")
                  << " left holding parts";
  std::cout << "50 kills, " << mid_multipart << " with a multipart upload holding parts, "
            << expected.size() << " files; left behind by kills: "
            << staged_uploads(false).size() << " empty multipart uploads (killed between "
            << "starting one and journaling it), " << temp_files() << " file:// temp files\n";

  // A clean restart redoes nothing: every object keeps its version (file:// ETags change with
  // every write).
  BlockingStore s = store();
  std::map<std::string, std::string> etags;
  for (const auto& [name, hash] : expected) etags[name] = s.head(dest_prefix() + name)->etag;
  EXPECT_EQ(writer.stop(), 0);
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  flush(writer);
  EXPECT_EQ(writer.status_number("uploaded_files"), 0);
  for (const auto& [name, etag] : etags) EXPECT_EQ(s.head(dest_prefix() + name)->etag, etag) << name;
}

// A store can finish an object and die before dropping its parts (file:// completes with a
// rename, then deletes the staged parts): on restart the writer finds the object whole and
// aborts the multipart upload it journaled, so those parts do not linger.
TEST_F(FileWriter, ARestartAbortsTheMultipartUploadOfAnObjectFoundWhole) {
  WriterProcess writer(config("parallel_parts = 1\n", false));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  std::mt19937_64 rng(13);
  std::string bytes = random_bytes(rng, 60 * kMiB);
  write_file(tmp_.path() / "big.bin", bytes);
  ASSERT_TRUE(writer.call({"put", (tmp_.path() / "big.bin").string()})->ok);
  ASSERT_TRUE(eventually([&] { return !staged_uploads(true).empty(); }));
  writer.kill_hard();
  ASSERT_FALSE(fs::exists(dest() / "big.bin")) << "the upload finished before the kill";
  write_file(dest() / "big.bin", bytes);  // the store's completion, without its cleanup
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  flush(writer);
  EXPECT_EQ(writer.status_number("skipped_files"), 1);
  EXPECT_EQ(staged_uploads(true), std::vector<fs::path>{});
  EXPECT_EQ(remote(), (std::map<std::string, uint64_t>{{"big.bin", xxh3(bytes)}}));
}

TEST_F(FileWriter, ATornJournalTailIsCutAndNothingAcknowledgedIsLost) {
  WriterConfig c = config("", false);
  WriterProcess writer(c);
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  write_file(tmp_.path() / "a.bin", "acknowledged bytes");
  ASSERT_TRUE(writer.call({"put", (tmp_.path() / "a.bin").string()})->ok);
  writer.kill_hard();
  fs::remove(tmp_.path() / "a.bin");
  append_file(c.journal, std::string("\x2a\0\0\0\x01\0\0\0half a record", 21));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  flush(writer);
  EXPECT_EQ(remote(), (std::map<std::string, uint64_t>{{"a.bin", xxh3("acknowledged bytes")}}));
}

TEST_F(FileWriter, FilesWrittenWhileTheWriterIsDownAreTakenOnRestartAndNotRedone) {
  CheckpointJob job(watch(), {2048, 7 * kMiB});
  job.write_generation(0, false);
  WriterProcess writer(config());
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  ASSERT_TRUE(eventually([&] { return writer.status_number("uploaded_files") == 2; }));
  flush(writer);
  EXPECT_EQ(writer.stop(), 0);
  job.write_generation(1, false);  // while nobody watches
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  ASSERT_TRUE(eventually([&] {
    return writer.status_number("uploaded_files") == 2 && writer.status_number("skipped_files") == 2;
  }));
  flush(writer);
  EXPECT_EQ(remote(), job.expected());
}

TEST_F(FileWriter, UnavailableDestinationAndFullSpoolCatchUpWithoutLoss) {
  // A regular file where the destination directory belongs makes every upload fail, the way
  // an unreachable server does.
  fs::create_directories(dest().parent_path());
  write_file(dest(), "blocker");
  WriterProcess writer(config("spool_budget = \"100KiB\"\n"));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  std::mt19937_64 rng(3);
  std::map<std::string, uint64_t> expected;
  for (int i = 0; i < 12; ++i) {
    std::string name = "f" + std::to_string(i) + ".bin";
    std::string bytes = random_bytes(rng, 30 * 1024);
    write_file(watch() / name, bytes);
    expected[name] = xxh3(bytes);
  }
  ASSERT_TRUE(eventually([&] {
    auto reply = writer.call({"status"});
    return reply.ok() && reply->get("spool_full") == "yes" && !reply->get("last_error").empty();
  }));
  EXPECT_LE(writer.status_number("spool_used_bytes"), 100 * 1024);
  auto early = writer.call({"flush", "200"});
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->ok) << "flush must not report success while uploads fail";

  fs::remove(dest());
  fs::create_directories(dest());
  ASSERT_TRUE(eventually([&] { return remote().size() == expected.size(); }));
  flush(writer);
  EXPECT_EQ(remote(), expected);
  EXPECT_EQ(writer.call({"status"})->get("spool_full"), "no");
}

TEST_F(FileWriter, UnreadableOrMissingFilesGiveClearErrorsAndOthersContinue) {
  WriterProcess writer(config("", false));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  fs::path dir = tmp_.path() / "a-directory";
  fs::create_directories(dir);
  auto not_file = writer.call({"put", dir.string()});
  ASSERT_TRUE(not_file.ok());
  EXPECT_FALSE(not_file->ok);
  EXPECT_NE(not_file->error.find(dir.string()), std::string::npos) << not_file->error;
  auto missing = writer.call({"put", (tmp_.path() / "nope.bin").string()});
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->ok);
  EXPECT_NE(missing->error.find("nope.bin"), std::string::npos) << missing->error;

  write_file(tmp_.path() / "good.bin", "good bytes");
  auto good = writer.call({"put", (tmp_.path() / "good.bin").string()});
  ASSERT_TRUE(good.ok() && good->ok);
  EXPECT_EQ(good->get("key"), dest_prefix() + "good.bin");
  flush(writer);
  EXPECT_EQ(remote(), (std::map<std::string, uint64_t>{{"good.bin", xxh3("good bytes")}}));
  EXPECT_EQ(writer.status_number("refused_files"), 2);
}

TEST_F(FileWriter, FlushWaitsForEverythingTakenBeforeIt) {
  WriterProcess writer(config("", false));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  std::mt19937_64 rng(11);
  std::map<std::string, uint64_t> expected;
  for (int i = 0; i < 4; ++i) {
    std::string name = "big" + std::to_string(i) + ".bin";
    std::string bytes = random_bytes(rng, 12 * kMiB);
    write_file(tmp_.path() / name, bytes);
    expected[name] = xxh3(bytes);
    ASSERT_TRUE(writer.call({"put", (tmp_.path() / name).string()})->ok);
  }
  flush(writer);
  // Everything acknowledged before the flush is in the store the moment it returns.
  EXPECT_EQ(remote(), expected);
}

TEST_F(FileWriter, AppendStreamFollowsAGrowingLogAcrossKills) {
  fs::path log = tmp_.path() / "logs" / "train.log";
  fs::create_directories(log.parent_path());
  WriterConfig c = config("[[append]]\nfile = \"" + log.string() +
                          "\"\nkey = \"logs/train.log\"\npoll_ms = 20\n", false);
  WriterProcess writer(c);
  std::string all;
  std::mt19937_64 rng(5);
  for (int round = 0; round < 5; ++round) {
    writer.start();
    ASSERT_TRUE(writer.wait_ready());
    for (int i = 0; i < 20; ++i) {
      std::string line = "step " + std::to_string(round * 100 + i) + " loss " +
                         std::to_string(rng() % 1000) + "\n";
      append_file(log, line);
      all += line;
      if (i % 7 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
    }
    if (round % 2 == 0) {
      writer.kill_hard();
    } else {
      flush(writer);
      EXPECT_EQ(read_file(dest() / "logs" / "train.log"), all);
      EXPECT_EQ(writer.stop(), 0);
    }
  }
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  flush(writer);
  EXPECT_EQ(read_file(dest() / "logs" / "train.log"), all);
}

TEST_F(FileWriter, RetentionKeepsTheNewestCompleteGenerations) {
  WriterProcess writer(config("[retention]\nkeep = 2\npattern = 'model\\.ckpt-(\\d+)'\n"));
  writer.start();
  ASSERT_TRUE(writer.wait_ready());
  // An object the pattern does not match is never touched.
  fs::create_directories(dest());
  write_file(dest() / "notes.txt", "keep me");
  CheckpointJob job(watch(), {4096, 8 * kMiB});
  for (int g = 1; g <= 11; ++g) {
    job.write_generation(g);
    ASSERT_TRUE(eventually([&] { return writer.status_number("taken_files") == 2 * g; }));
  }
  flush(writer);
  ASSERT_TRUE(eventually([&] { return remote().size() == 5; }));
  auto left = remote();
  for (const char* name : {"model.ckpt-10.data", "model.ckpt-10.index", "model.ckpt-11.data",
                           "model.ckpt-11.index", "notes.txt"})
    EXPECT_EQ(left.count(name), 1u) << name;
  EXPECT_EQ(left["model.ckpt-11.data"], job.expected().at("model.ckpt-11.data"));
}

}  // namespace
}  // namespace shoal::testing_writer
