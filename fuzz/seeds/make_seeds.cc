// Writes the seed corpora of fuzz/corpus/<target>/ with the production code itself: a real
// index file and EROFS metadata region, a real journal, NBD client transcripts that complete
// the handshake, valid configs and store answers. Seeds that parse let the fuzzer start past
// the checks an input must pass before the interesting code runs.
//
//   make_seeds OUTPUT_DIR SOURCE_DIR      (scripts/fuzz --seeds runs it)
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <linux/ublk_cmd.h>
#include <linux/virtio_blk.h>
#include <string>
#include <vector>

#include "common/control.h"
#include "daemon/frontends/nbd_protocol.h"
#include "daemon/frontends/vhost_user_protocol.h"
#include "fuzz/virtqueue_layout.h"
#include "index/build_info.h"
#include "index/erofs/file_tree.h"
#include "index/erofs/image_writer.h"
#include "index/index_file.h"
#include "writer/journal.h"

using namespace shoal;
namespace fs = std::filesystem;

namespace {

fs::path out_root;

void seed(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(out_root / target);
  std::ofstream(out_root / target / name, std::ios::binary) << bytes;
}
void seed(const std::string& target, const std::string& name, const std::vector<uint8_t>& b) {
  seed(target, name, std::string(b.begin(), b.end()));
}
std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "make_seeds: %s failed\n", what);
    std::exit(1);
  }
}

// A small tree with a nested directory, an empty file, an empty directory and a directory
// whose entries need more than one dirent block.
struct Image {
  index::erofs::FileTree tree;
  std::vector<uint8_t> metadata;
  uint32_t device_blocks = 0;
};
Image make_image(bool many) {
  using namespace index::erofs;
  Image image;
  NodeId docs = *image.tree.add_directory(kRootNode, "docs");
  check(image.tree.add_file(docs, "readme.txt", 5000).ok(), "add_file");
  check(image.tree.add_file(kRootNode, "+empty", 0).ok(), "add_file");
  check(image.tree.add_directory(kRootNode, "empty dir").ok(), "add_directory");
  check(image.tree.add_file(kRootNode, "a", 3).ok(), "add_file");
  if (many) {
    NodeId big = *image.tree.add_directory(kRootNode, "many");
    for (int i = 0; i < 150; ++i)
      check(image.tree.add_file(big, "file-" + std::to_string(i), i).ok(), "add_file");
  }
  check(image.tree.seal().ok(), "seal");
  ImageOptions options;
  options.keep_mtime = many;
  options.volume_name = "fuzz";
  auto writer = ImageWriter::plan(image.tree, options);
  check(writer.ok(), "plan");
  auto blocks = assign_data_blocks_contiguously(image.tree, writer->metadata_blocks());
  check(blocks.ok(), "assign_data_blocks");
  image.device_blocks = *blocks;
  auto metadata = writer->write_to_memory(image.tree);
  check(metadata.ok(), "write_to_memory");
  image.metadata = std::move(*metadata);
  return image;
}

void erofs_seeds() {
  seed("erofs_reader_fuzz", "small", make_image(false).metadata);
  seed("erofs_reader_fuzz", "many", make_image(true).metadata);
}

void index_seeds(const fs::path& tmp) {
  using namespace index;
  Image image = make_image(false);
  // One object per non-empty file, in device order, as the builder lays them out.
  std::vector<Extent> extents;
  std::vector<ObjectRecord> objects;
  std::string strings;
  image.tree.visit_depth_first([&](erofs::NodeId node) {
    if (image.tree.is_directory(node)) return;
    std::string key = image.tree.path(node).substr(1);
    std::string etag = "etag-" + std::to_string(node);
    ObjectRecord r{};
    r.size = image.tree.file_size(node);
    r.mtime_ns = 1700000000000000000;
    r.key_offset = static_cast<uint32_t>(strings.size());
    r.key_length = static_cast<uint16_t>(key.size());
    strings += key;
    r.etag_offset = static_cast<uint32_t>(strings.size());
    r.etag_length = static_cast<uint8_t>(etag.size());
    strings += etag;
    r.first_block = r.size ? image.tree.data_block(node) : 0;
    if (r.size) extents.push_back({r.first_block, static_cast<uint32_t>(objects.size())});
    objects.push_back(r);
  });
  IndexContents c;
  c.summary = {image.device_blocks, static_cast<uint32_t>(image.metadata.size() / kBlockSize),
               objects.size(), extents.size(), 1700000000};
  c.metadata = image.metadata;
  c.extents = extents;
  c.objects = objects;
  c.strings = std::span(strings.data(), strings.size());
  c.build_info.source = "s3://bucket/data/";
  c.build_info.prefix = "data/";
  c.build_info.objects = objects.size();
  c.build_info.files = objects.size();
  c.build_info.directories = 3;
  c.build_info.skipped.push_back({SkipReason::kOutsidePrefix, "other/x"});
  fs::path path = tmp / "seed.shix";
  Status written = write_index_file(path, c);
  check(written.ok(), "write_index_file");
  check(IndexFile::open(path).ok(), "IndexFile::open");
  seed("index_file_fuzz", "small", read_file(path));

  seed("build_info_fuzz", "full", encode_build_info(c.build_info));
  BuildInfo minimal;
  minimal.source = "file:///x";
  seed("build_info_fuzz", "minimal", encode_build_info(minimal));
}

void journal_seeds(const fs::path& tmp) {
  fs::path path = tmp / "seed.journal";
  {
    auto journal = Journal::open(path);
    check(journal.ok(), "Journal::open");
    uint64_t a = journal->reserve_upload_id(), b = journal->reserve_upload_id();
    check(journal->append(FileTaken{a, "/ckpt/a", "/spool/1", "run/a", 10, 5, 77}).ok(), "append");
    check(journal->append(FileTaken{b, "/ckpt/b", "/spool/2", "run/b", 1 << 24, 6, {}}).ok(),
          "append");
    check(journal->append(MultipartStarted{b, "upload-id", 8 << 20}).ok(), "append");
    check(journal->append(PartUploaded{b, 1, "\"e1\"", 42, 8 << 20}).ok(), "append");
    check(journal->commit().ok(), "commit");
    check(journal->append(UploadCompleted{a, "\"ea\""}).ok(), "append");
    check(journal->append(DeletedLocally{a}).ok(), "append");
    check(journal->append(AppendAdvanced{7, "logs/train.log", 4096}).ok(), "append");
    check(journal->commit().ok(), "commit");
  }
  seed("journal_fuzz", "file", "\x00" + read_file(path));
  // The framed form: [type][flags][length u16 LE][payload] after the next-id byte.
  std::string framed = std::string("\x01", 1) + "\x03";
  auto add = [&](const JournalRecord& record, uint8_t flags) {
    std::string payload;
    encode_journal_payload(record, payload);
    framed += static_cast<char>(journal_record_type(record));
    framed += static_cast<char>(flags);
    framed += static_cast<char>(payload.size() & 0xff);
    framed += static_cast<char>(payload.size() >> 8);
    framed += payload;
  };
  add(FileTaken{1, "/ckpt/a", "/spool/1", "run/a", 10, 5, 77}, 0);
  add(FileTaken{2, "/ckpt/b", "/spool/2", "run/b", 100, 6, {}}, 1);
  add(MultipartStarted{2, "mp", 64}, 0);
  add(PartUploaded{2, 1, "e", 1, 64}, 0);
  add(PartUploaded{2, 2, "f", 2, 36}, 1);
  add(UploadCompleted{1, "ea"}, 0);
  add(DeletedLocally{1}, 0);
  add(RetiredRemotely{1}, 0);
  add(AppendAdvanced{3, "logs/x", 9}, 1);
  seed("journal_fuzz", "framed", framed);
}

// NBD client transcripts: fixed newstyle flags, options, then transmission requests.
struct Nbd {
  std::vector<uint8_t> b;
  Nbd& flags(uint32_t f) { nbd::append_be32(b, f); return *this; }
  Nbd& option(uint32_t opt, const std::vector<uint8_t>& data) {
    nbd::append_be64(b, nbd::kOptionMagic);
    nbd::append_be32(b, opt);
    nbd::append_be32(b, static_cast<uint32_t>(data.size()));
    b.insert(b.end(), data.begin(), data.end());
    return *this;
  }
  Nbd& request(uint16_t type, uint64_t offset, uint32_t length, uint16_t cmd_flags = 0) {
    nbd::append_be32(b, nbd::kRequestMagic);
    nbd::append_be16(b, cmd_flags);
    nbd::append_be16(b, type);
    nbd::append_be64(b, 0x1000 + b.size());  // handle
    nbd::append_be64(b, offset);
    nbd::append_be32(b, length);
    if (type == nbd::kCmdWrite) b.insert(b.end(), length, 0x5a);
    return *this;
  }
};
std::vector<uint8_t> name_and_infos(const std::string& name, std::vector<uint16_t> infos) {
  std::vector<uint8_t> d;
  nbd::append_be32(d, static_cast<uint32_t>(name.size()));
  d.insert(d.end(), name.begin(), name.end());
  nbd::append_be16(d, static_cast<uint16_t>(infos.size()));
  for (uint16_t i : infos) nbd::append_be16(d, i);
  return d;
}

void nbd_seeds() {
  const uint32_t both = nbd::kClientFlagFixedNewstyle | nbd::kClientFlagNoZeroes;
  Nbd go;
  go.flags(both)
      .option(nbd::kOptGo, name_and_infos("shoal", {nbd::kInfoBlockSize, nbd::kInfoName}))
      .request(nbd::kCmdRead, 0, 4096)
      .request(nbd::kCmdRead, 1000, 10, nbd::kCmdFlagFua)
      .request(nbd::kCmdFlush, 0, 0)
      .request(nbd::kCmdWrite, 0, 16)
      .request(nbd::kCmdTrim, 0, 4096)
      .request(nbd::kCmdWriteZeroes, 0, 4096)
      .request(nbd::kCmdRead, (1u << 20) - 512, 4096)
      .request(nbd::kCmdDisc, 0, 0);
  seed("nbd_server_fuzz", "go", go.b);

  Nbd haggle;
  haggle.flags(nbd::kClientFlagFixedNewstyle)
      .option(nbd::kOptList, {})
      .option(nbd::kOptInfo, name_and_infos("", {nbd::kInfoExport}))
      .option(nbd::kOptInfo, name_and_infos("other", {}))
      .option(8, {})  // STRUCTURED_REPLY: not offered
      .option(nbd::kOptAbort, {});
  seed("nbd_server_fuzz", "haggle", haggle.b);

  Nbd old;
  std::vector<uint8_t> name{'s', 'h', 'o', 'a', 'l'};
  old.flags(nbd::kClientFlagFixedNewstyle).option(nbd::kOptExportName, name);
  old.request(nbd::kCmdRead, 4096, 512).request(nbd::kCmdDisc, 0, 0);
  seed("nbd_server_fuzz", "export_name", old.b);
}

void ublk_seeds() {
  auto desc = [](uint8_t op, uint64_t sector, uint32_t sectors, uint64_t device, uint32_t max) {
    ublksrv_io_desc d{};
    d.op_flags = op;
    d.nr_sectors = sectors;
    d.start_sector = sector;
    std::string s(reinterpret_cast<const char*>(&d), sizeof d);
    s.append(reinterpret_cast<const char*>(&device), sizeof device);
    s.append(reinterpret_cast<const char*>(&max), sizeof max);
    return s;
  };
  seed("ublk_request_fuzz", "read", desc(UBLK_IO_OP_READ, 8, 8, 1 << 20, 512 << 10));
  seed("ublk_request_fuzz", "read_end", desc(UBLK_IO_OP_READ, 2040, 16, 1 << 20, 512 << 10));
  seed("ublk_request_fuzz", "write", desc(UBLK_IO_OP_WRITE, 0, 8, 1 << 20, 512 << 10));
  seed("ublk_request_fuzz", "flush", desc(UBLK_IO_OP_FLUSH, 0, 0, 1 << 20, 512 << 10));
}

// A driver that made four requests available: a read, GET_ID, a write and an indirect read
// whose data buffer crosses from one memory region into the next.
// Guest memory up to the last byte in use: the rings at 0, 0x100 and 0x200, 16 entries.
std::vector<uint8_t> virtqueue_memory() {
  namespace L = fuzz::virtqueue;
  std::vector<uint8_t> m(L::kMemoryBytes, 0);
  auto put = [&](size_t at, const void* p, size_t n) { std::memcpy(m.data() + at, p, n); };
  auto desc = [&](size_t table, int i, uint64_t offset, uint32_t len, uint16_t flags,
                  uint16_t next) {
    uint64_t addr = L::kGuestPhys + offset;
    put(table + 16 * i, &addr, 8);
    put(table + 16 * i + 8, &len, 4);
    put(table + 16 * i + 12, &flags, 2);
    put(table + 16 * i + 14, &next, 2);
  };
  auto header = [&](size_t at, uint32_t type, uint64_t sector) {
    virtio_blk_outhdr h{type, 0, sector};
    put(at, &h, sizeof h);
  };
  constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;
  desc(0, 0, 0x1000, 16, kNext, 1);
  desc(0, 1, 0x2000, 4096, kNext | kWrite, 2);
  desc(0, 2, 0x3000, 1, kWrite, 0);
  desc(0, 3, 0x1010, 16, kNext, 4);
  desc(0, 4, 0x3010, 21, kWrite, 0);
  desc(0, 5, 0x1020, 16, kNext, 6);
  desc(0, 6, 0x2000, 512, kNext, 7);
  desc(0, 7, 0x3020, 1, kWrite, 0);
  desc(0, 8, 0x4000, 48, kIndirect, 0);
  desc(0x4000, 0, 0x1030, 16, kNext, 1);
  desc(0x4000, 1, L::kRegionBytes - 0x100, 512, kNext | kWrite, 2);
  desc(0x4000, 2, 0x3030, 1, kWrite, 0);
  header(0x1000, VIRTIO_BLK_T_IN, 0);
  header(0x1010, VIRTIO_BLK_T_GET_ID, 0);
  header(0x1020, VIRTIO_BLK_T_OUT, 8);
  header(0x1030, VIRTIO_BLK_T_IN, 2040);
  uint16_t avail[] = {0, 4, 0, 3, 5, 8};  // flags, idx, ring
  put(0x100, avail, sizeof avail);
  m.resize(0x4000 + 48);
  return m;
}

void virtqueue_seeds() {
  namespace L = fuzz::virtqueue;
  std::vector<uint8_t> m = virtqueue_memory();

  std::string input;
  auto add16 = [&](uint16_t v) { input.append(reinterpret_cast<const char*>(&v), 2); };
  input += static_cast<char>(4);  // 16 entries
  input += static_cast<char>(L::kFeatureEventIdx | L::kFeatureIndirect);
  add16(0);
  add16(0);
  add16(0x100);
  add16(0x200);
  // Only the bytes up to the last one in use: the target zero-fills the rest.
  input.append(reinterpret_cast<const char*>(m.data()), m.size());
  seed("virtqueue_fuzz", "requests", input);
  input[1] = 0;  // the same without EVENT_IDX and INDIRECT_DESC
  seed("virtqueue_fuzz", "no_features", input);
}

// What QEMU sends to start a vhost-user-blk disk with one ring, then a kick's worth of
// requests (the guest memory of the virtqueue seeds) and the ring stopped again.
void vhost_user_seeds() {
  namespace L = fuzz::virtqueue;
  std::vector<uint8_t> guest = virtqueue_memory();
  std::string in;
  in += static_cast<char>(guest.size() & 0xff);
  in += static_cast<char>(guest.size() >> 8);
  in.append(guest.begin(), guest.end());
  auto message = [&](uint32_t request, const void* payload, uint32_t size,
                     uint32_t flags = vhost::kVersion) {
    vhost::Header h{request, flags, size};
    in.append(reinterpret_cast<const char*>(&h), sizeof h);
    in.append(static_cast<const char*>(payload), size);
  };
  auto u64 = [&](uint32_t request, uint64_t v, uint32_t flags = vhost::kVersion) {
    message(request, &v, sizeof v, flags);
  };
  message(vhost::kGetFeatures, nullptr, 0);
  u64(vhost::kSetFeatures, vhost::kFeatureVersion1 | vhost::kFeatureProtocolFeatures |
                               vhost::kFeatureEventIdx | vhost::kFeatureIndirectDesc |
                               vhost::kFeatureBlkRo);
  message(vhost::kGetProtocolFeatures, nullptr, 0);
  u64(vhost::kSetProtocolFeatures,
      vhost::kProtocolReplyAck | vhost::kProtocolConfig | vhost::kProtocolMq);
  message(vhost::kGetQueueNum, nullptr, 0);
  uint8_t config[sizeof(vhost::ConfigHeader) + 60] = {};
  vhost::ConfigHeader ch{0, 60, 0};
  std::memcpy(config, &ch, sizeof ch);
  message(vhost::kGetConfig, config, sizeof config);
  message(vhost::kSetOwner, nullptr, 0, vhost::kVersion | vhost::kFlagNeedReply);
  struct {
    vhost::MemoryHeader head;
    vhost::MemoryRegion region;
  } table{{1, 0}, {L::kGuestPhys, 64 << 10, L::kUserAddr, 0}};
  message(vhost::kSetMemTable, &table, sizeof table, vhost::kVersion | vhost::kFlagNeedReply);
  vhost::VringState num{0, 16}, base{0, 0}, enable{0, 1};
  message(vhost::kSetVringNum, &num, sizeof num);
  message(vhost::kSetVringBase, &base, sizeof base);
  vhost::VringAddr addr{0, 0, L::kUserAddr, L::kUserAddr + 0x200, L::kUserAddr + 0x100, 0};
  message(vhost::kSetVringAddr, &addr, sizeof addr, vhost::kVersion | vhost::kFlagNeedReply);
  u64(vhost::kSetVringCall, 0);
  u64(vhost::kSetVringKick, 0);
  message(vhost::kSetVringEnable, &enable, sizeof enable);
  message(vhost::kGetVringBase, &base, sizeof base);
  seed("vhost_user_fuzz", "start_ring", in);
}

void control_seeds() {
  seed("control_codec_fuzz", "status", encode_control_line({"status"}));
  seed("control_codec_fuzz", "hints", encode_control_line({"hints", "a b", "%"}) + "/a\n/b\n");
  ControlReply reply;
  reply.add("volume", "train set");
  reply.add("path", "/mnt/x\ty");
  seed("control_codec_fuzz", "reply", encode_control_reply(reply));
  seed("control_codec_fuzz", "error", encode_control_reply(ControlReply::failure("no such\n")));
  seed("control_codec_fuzz", "document",
       encode_control_reply(ControlReply::document("# HELP x\nx 1\n")));
}

// What clients send the control server: a command with arguments, one with a body, one whose
// answer is a document, an unknown one, a request cut off before its newline.
void control_server_seeds() {
  seed("control_server_fuzz", "status", encode_control_line({"status", "a b", ""}));
  seed("control_server_fuzz", "hints", encode_control_line({"hints"}) + "/a\n/b c\n");
  seed("control_server_fuzz", "stats", encode_control_line({"stats"}) + "ignored");
  seed("control_server_fuzz", "unknown", encode_control_line({"frobnicate", "%"}));
  seed("control_server_fuzz", "cut_off", "status");
}

void text_seeds(const fs::path& source) {
  seed("manifest_fuzz", "header",
       "key,size,etag,mtime\n"
       "train/a.jpg,1234,\"\"\"5d41\"\"\",2026-01-02T03:04:05.000Z\r\n"
       "\"with,comma\",0,e,2026-01-02T03:04:05+08:00\n\n"
       "\"multi\nline\",7,\"x\",2026-01-02T03:04:05.123456789Z\n");
  seed("manifest_fuzz", "bare",
       "a,1,e,2026-01-02T03:04:05Z\nb,x,e,2026\nc,2,f,1970-01-01T00:00:00Z\n");
  seed("manifest_fuzz", "reordered", "mtime,etag,extra,size,key\n2026-01-02T03:04:05Z,e,z,5,k\n");

  for (const char* name : {"backtest.toml", "demo.toml", "training.toml"})
    seed("volume_config_fuzz", name, read_file(source / "configs" / name));
  seed("writer_config_fuzz", "example.toml", read_file(source / "configs" / "writer.example.toml"));
  seed("writer_config_fuzz", "full.toml",
       "watch = [\"/ckpt\"]\ndestination = \"s3://b/run/\"\njournal = \"/var/j\"\n"
       "spool = \"/ckpt/../spool\"\nspool_budget = \"10GiB\"\nignore = [\"*.tmp\"]\n"
       "[retention]\nkeep = 2\npattern = 'model\\.ckpt-(\\d+)'\n"
       "[[append]]\nfile = \"/logs/train.log\"\nkey = \"logs/train.log\"\nroll_size = \"64MiB\"\n"
       "[store]\nregion = \"us-east-1\"\n");

  seed("store_uri_fuzz", "oss", "oss://bucket/run1/");
  seed("store_uri_fuzz", "s3", "s3://b/a%20b+c/");
  seed("store_uri_fuzz", "file", "file:///data/set/");
  seed("store_uri_fuzz", "endpoint", "https://oss-cn-hangzhou.aliyuncs.com:443/");

  auto xml = [](char which, const std::string& body) { return std::string(1, which) + body; };
  seed("rest_xml_fuzz", "list", xml(0,
       "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
       "<NextContinuationToken>tok</NextContinuationToken><Contents><Key>a%2Bb</Key>"
       "<LastModified>2024-03-01T12:34:56.789Z</LastModified><ETag>&quot;9b&quot;</ETag>"
       "<Size>1234</Size></Contents><CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes>"
       "</ListBucketResult>"));
  seed("rest_xml_fuzz", "initiate", xml(1,
       "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXB</UploadId>"
       "</InitiateMultipartUploadResult>"));
  seed("rest_xml_fuzz", "complete", xml(2,
       "<CompleteMultipartUploadResult><ETag>\"38-9\"</ETag></CompleteMultipartUploadResult>"));
  seed("rest_xml_fuzz", "parts", xml(3,
       "<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2"
       "</NextPartNumberMarker><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag>"
       "<Size>5242880</Size><HashCrc64ecma>1234567890123</HashCrc64ecma></Part>"
       "</ListPartsResult>"));
  seed("rest_xml_fuzz", "error", xml(4,
       "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message>"
       "<RequestId>5F</RequestId></Error>"));
  seed("rest_xml_fuzz", "time", xml(5, "2024-03-01T12:34:56.789Z"));
  seed("rest_xml_fuzz", "service_error", xml(6,
       "<Error><Code>SlowDown</Code><Message>slow</Message><StringToSign>x</StringToSign>"
       "</Error>"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds OUTPUT_DIR SOURCE_DIR\n");
    return 2;
  }
  out_root = argv[1];
  fs::path tmp = fs::temp_directory_path() / ("shoal-seeds-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  erofs_seeds();
  index_seeds(tmp);
  journal_seeds(tmp);
  nbd_seeds();
  ublk_seeds();
  virtqueue_seeds();
  vhost_user_seeds();
  control_seeds();
  control_server_seeds();
  text_seeds(argv[2]);
  fs::remove_all(tmp);
  return 0;
}
