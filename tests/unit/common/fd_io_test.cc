#include "common/fd_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>
#include <thread>

#include "common/unique_fd.h"
#include "support/temp_dir.h"

namespace shoal {
namespace {

class FdIo : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  UniqueFd open_file(int flags = O_RDWR | O_CREAT) {
    return UniqueFd(::open((dir_.path() + "/f").c_str(), flags | O_CLOEXEC, 0600));
  }
  std::string path() const { return dir_.path() + "/f"; }
  test::TempDir dir_{"shoal-fd-io"};
};

TEST_F(FdIo, PwriteAllAndPreadExactRoundTrip) {
  UniqueFd fd = open_file();
  ASSERT_TRUE(fd);
  std::string big(3 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(pwrite_all(fd.get(), big, 10, "write").ok());
  auto back = pread_exact(fd.get(), 10, big.size(), path());
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(*back, big);
}

TEST_F(FdIo, PreadExactNamesWhereAShortFileEnded) {
  UniqueFd fd = open_file();
  ASSERT_TRUE(pwrite_all(fd.get(), "hello", 0, "write").ok());
  auto r = pread_exact(fd.get(), 2, 10, path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kIntegrity);
  EXPECT_NE(r.error().message.find("ended at byte 5"), std::string::npos) << r.error().message;
}

TEST_F(FdIo, PreadvExactFillsScatteredMemoryAndRefusesTooLittle) {
  UniqueFd fd = open_file();
  ASSERT_TRUE(pwrite_all(fd.get(), "0123456789", 0, "write").ok());
  char a[3], b[4], c[8] = {};
  std::vector<iovec> into{{a, sizeof a}, {b, sizeof b}, {c, sizeof c}};
  ASSERT_TRUE(preadv_exact(fd.get(), 1, 9, into, path()).ok());
  EXPECT_EQ(std::string(a, 3) + std::string(b, 4) + std::string(c, 2), "123456789");
  EXPECT_EQ(c[2], 0) << "only `length` bytes are filled";

  Status shrunk = preadv_exact(fd.get(), 5, 9, into, path());
  ASSERT_FALSE(shrunk.ok());
  EXPECT_EQ(shrunk.error().kind, ErrorKind::kIntegrity);
  EXPECT_NE(shrunk.error().message.find("ended at byte 10"), std::string::npos);
  Status small = preadv_exact(fd.get(), 0, 20, {{a, sizeof a}}, path());
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.error().kind, ErrorKind::kInvalidArgument);
}

TEST_F(FdIo, PreadFullStopsAtEndOfFile) {
  UniqueFd fd = open_file();
  ASSERT_TRUE(pwrite_all(fd.get(), "hello", 0, "write").ok());
  char buf[16];
  auto n = pread_full(fd.get(), buf, sizeof buf, 1, "read");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(std::string(buf, 4), "ello");
}

TEST_F(FdIo, ErrorsCarryWhatAndErrno) {
  UniqueFd fd = open_file(O_RDONLY | O_CREAT);
  Status s = pwrite_all(fd.get(), "x", 0, "write " + path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("write " + path()), std::string::npos) << s.error().message;
}

TEST_F(FdIo, WriteAllAppendsToAFile) {
  UniqueFd fd = open_file(O_RDWR | O_CREAT | O_APPEND);
  ASSERT_TRUE(write_all(fd.get(), "ab", "write").ok());
  ASSERT_TRUE(write_all(fd.get(), "cd", "write").ok());
  auto back = pread_exact(fd.get(), 0, 4, path());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "abcd");
}

TEST(FdIoSocket, WriteAllAndReadToEndOverASocketPair) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]);
  UniqueFd b(sv[1]);
  std::string data(1 << 20, 'q');  // more than a socket buffer: the writer must loop
  std::thread writer([&] {
    EXPECT_TRUE(write_all(a.get(), data, "send").ok());
    a.reset();
  });
  auto got = read_to_end(b.get(), "receive");
  writer.join();
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(*got, data);
}

TEST(FdIoSocket, WriteAllToAClosedPeerIsAnErrorNotASignal) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]);
  ::close(sv[1]);
  Status s = write_all(a.get(), "hello", "send to the peer");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("send to the peer"), std::string::npos);
}

}  // namespace
}  // namespace shoal
