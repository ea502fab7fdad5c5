#include "writer/config.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

constexpr const char* kMinimal = R"(
watch = ["/ckpt"]
destination = "oss://bucket/run1"
journal = "/var/lib/shoal/writer.journal"
spool = "/var/lib/shoal/spool"
)";

Result<WriterConfig> parse(const std::string& extra_top, const std::string& tables = "") {
  return parse_writer_config(std::string(kMinimal) + extra_top + "\n" + tables, "w.toml");
}

void expect_error(const Result<WriterConfig>& r, const std::string& fragment) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(r.error().message.find(fragment), std::string::npos) << r.error().message;
}

TEST(WriterConfig, MinimalConfigGetsDefaults) {
  auto c = parse("");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->watch, std::vector<std::string>{"/ckpt"});
  EXPECT_EQ(c->destination.scheme, ObjectUri::Scheme::kOss);
  EXPECT_EQ(c->destination.bucket, "bucket");
  EXPECT_EQ(c->destination.prefix, "run1/");  // a trailing '/' is added
  EXPECT_EQ(c->control_socket, "/var/lib/shoal/writer.journal.sock");
  EXPECT_EQ(c->spool_budget, 0u);
  EXPECT_FALSE(c->retention);
  EXPECT_TRUE(c->append.empty());
  EXPECT_EQ(destination_key(*c, "sub/model.ckpt-1.data"), "run1/sub/model.ckpt-1.data");
}

TEST(WriterConfig, EverySettingIsRead) {
  auto c = parse(R"(spool_budget = "2GiB"
control_socket = "/run/w.sock"
multipart_threshold = 1048576
part_size = "16MiB"
parallel_uploads = 8
parallel_parts = 3
retry_base_ms = 10
retry_cap_ms = 20
ignore = ["*.tmp"])",
                 R"([retention]
keep = 3
pattern = 'model\.ckpt-(\d+)'
[[append]]
file = "/logs/train.log"
key = "logs/train.log"
roll_size = "1MiB"
roll_seconds = 60
poll_ms = 250
[store]
endpoint = "http://127.0.0.1:9000"
region = "cn-hangzhou"
)");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->spool_budget, 2ull << 30);
  EXPECT_EQ(c->control_socket, "/run/w.sock");
  EXPECT_EQ(c->multipart_threshold, 1048576u);
  EXPECT_EQ(c->part_size, 16u << 20);
  EXPECT_EQ(c->parallel_uploads, 8);
  EXPECT_EQ(c->parallel_parts, 3);
  EXPECT_EQ(c->retry_base.count(), 10);
  EXPECT_EQ(c->retry_cap.count(), 20);
  EXPECT_EQ(c->ignore, std::vector<std::string>{"*.tmp"});
  ASSERT_TRUE(c->retention);
  EXPECT_EQ(c->retention->keep, 3);
  ASSERT_EQ(c->append.size(), 1u);
  EXPECT_EQ(c->append[0].file, "/logs/train.log");
  EXPECT_EQ(c->append[0].key, "logs/train.log");
  EXPECT_EQ(c->append[0].roll_size, 1u << 20);
  EXPECT_EQ(c->append[0].roll_interval.count(), 60);
  EXPECT_EQ(c->append[0].poll_interval.count(), 250);
  EXPECT_EQ(c->store.endpoint, "http://127.0.0.1:9000");
}

TEST(WriterConfig, ErrorsNameTheFileAndTheKey) {
  expect_error(parse("spool_budgett = 1"), "w.toml: spool_budgett: unknown setting");
  expect_error(parse("parallel_uploads = 0"), "parallel_uploads: must be a positive integer");
  expect_error(parse("spool_budget = \"12 parsecs\""), "spool_budget");
  expect_error(parse("", "[retention]\nkeep = 1\npattern = 'no-group'\n"),
               "[retention] pattern: must have exactly one capture group");
  expect_error(parse("", "[retention]\nkeep = 1\npattern = '(unclosed'\n"),
               "[retention] pattern: is not a valid regex");
  expect_error(parse("", "[retention]\nkeep = 2\n"), "[retention] pattern: is required");
  // Found by fuzzing (fuzz/corpus/writer_config_fuzz/regression-regex-count-overflow):
  // libstdc++ overflows on long numbers, and nested counts multiply the compiled size.
  expect_error(parse("", "[retention]\nkeep = 1\npattern = 'a(\\d{99999999999999999999})'\n"),
               "[retention] pattern: has a repetition count over 4 digits");
  expect_error(parse("", "[retention]\nkeep = 1\npattern = '(\\d)\\99999999999999999999'\n"),
               "[retention] pattern: has a back-reference number over 4 digits");
  expect_error(parse("", "[retention]\nkeep = 1\npattern = '((a{100}){100})'\n"),
               "[retention] pattern: repeats too much");
  expect_error(parse("", "[retention]\nkeep = 1\npattern = '(" + std::string(300, 'a') + ")'\n"),
               "[retention] pattern: is longer than 256 bytes");
  expect_error(parse("", "[[append]]\nfile = \"/a.log\"\n"), "[append 1] key: is required");
  expect_error(parse("", "[[append]]\nfile = \"rel.log\"\nkey = \"k\"\n"),
               "[append 1] file: must be an absolute path");
  expect_error(parse("", "[store]\nendpiont = \"x\"\n"), "endpiont");
  expect_error(parse("retry_base_ms = 100\nretry_cap_ms = 10"), "retry_cap_ms");
  expect_error(parse("control_socket = \"/" + std::string(200, 'x') + "\""), "control_socket");
  expect_error(parse_writer_config("destination = \"s3://b/p\"\njournal = \"/j\"\n", "w.toml"),
               "w.toml: spool: is required");
  expect_error(parse_writer_config("journal = \"/j\"\nspool = \"/s\"\n", "w.toml"),
               "destination: is required");
  expect_error(parse_writer_config("watch = [\"/ckpt\"]\ndestination = \"s3://b/p\"\n"
                                   "journal = \"/j\"\nspool = \"/ckpt/spool\"\n", "w.toml"),
               "spool: must not lie inside the watched directory /ckpt");
  expect_error(parse_writer_config("destination = \"ftp://b/p\"\njournal = \"/j\"\nspool = \"/s\"",
                                   "w.toml"),
               "destination");
  expect_error(parse_writer_config("destination = [", "w.toml"), "w.toml: line 1");
}

TEST(WriterConfig, DatedGenerationPatternsAreWithinTheRegexLimits) {
  auto config = parse("", "[retention]\nkeep = 1\npattern = 'ckpt-(\\d{8}-\\d{6})\\.pt'\n");
  ASSERT_TRUE(config.ok()) << config.error().describe();
  EXPECT_EQ(config->retention->pattern, "ckpt-(\\d{8}-\\d{6})\\.pt");
}

TEST(WriterConfig, TheExampleConfigParses) {
  auto c = load_writer_config(SHOAL_SOURCE_DIR "/configs/writer.example.toml");
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_TRUE(c->retention);
  EXPECT_EQ(c->append.size(), 1u);
}

TEST(WriterConfig, ByteSizes) {
  EXPECT_EQ(*parse_byte_size("123"), 123u);
  EXPECT_EQ(*parse_byte_size("4KiB"), 4096u);
  EXPECT_EQ(*parse_byte_size("64MiB"), 64u << 20);
  EXPECT_EQ(*parse_byte_size("3 GB"), 3ull << 30);
  EXPECT_EQ(*parse_byte_size("1T"), 1ull << 40);
  EXPECT_FALSE(parse_byte_size("").ok());
  EXPECT_FALSE(parse_byte_size("MiB").ok());
  EXPECT_FALSE(parse_byte_size("5 furlongs").ok());
  EXPECT_FALSE(parse_byte_size("99999999999999TiB").ok());
}

}  // namespace
}  // namespace shoal
