#include "common/socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "support/temp_dir.h"

namespace shoal {
namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

class UnixSocket : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  std::string path(const char* name = "s.sock") const { return dir_.path() + "/" + name; }
  test::TempDir dir_{"shoal-socket"};
};

TEST_F(UnixSocket, ListenAcceptsAConnectAndRemovesItsFileWhenClosed) {
  auto listener = UnixListener::listen(path(), "test", {.backlog = 4, .mode = 0600});
  ASSERT_TRUE(listener.ok()) << listener.error().describe();
  struct stat st {};
  ASSERT_EQ(::stat(path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto client = connect_unix(path(), "test");
  ASSERT_TRUE(client.ok()) << client.error().describe();
  listener->close();
  EXPECT_FALSE(exists(path()));
}

TEST_F(UnixSocket, DestructionRemovesTheFileAndMoveKeepsOneOwner) {
  {
    auto listener = UnixListener::listen(path(), "test");
    ASSERT_TRUE(listener.ok());
    UnixListener moved = std::move(*listener);
    EXPECT_TRUE(moved.listening());
    EXPECT_TRUE(exists(path()));
  }
  EXPECT_FALSE(exists(path()));
}

TEST_F(UnixSocket, AStaleSocketIsReplaced) {
  // A bound socket whose server is gone: the file stays, nobody accepts.
  {
    UniqueFd dead(::socket(AF_UNIX, SOCK_STREAM, 0));
    auto addr = unix_socket_address(path(), "test");
    ASSERT_TRUE(addr.ok());
    ASSERT_EQ(::bind(dead.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof(*addr)), 0);
  }
  ASSERT_TRUE(exists(path()));
  auto listener = UnixListener::listen(path(), "test");
  ASSERT_TRUE(listener.ok()) << listener.error().describe();
  EXPECT_TRUE(connect_unix(path(), "test").ok());
}

TEST_F(UnixSocket, ALiveSocketIsRefusedAndKept) {
  auto first = UnixListener::listen(path(), "NBD");
  ASSERT_TRUE(first.ok());
  auto second = UnixListener::listen(path(), "NBD");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  EXPECT_NE(second.error().message.find("NBD"), std::string::npos);
  EXPECT_TRUE(connect_unix(path(), "test").ok());  // the first server still answers
}

TEST_F(UnixSocket, AnotherKindOfFileIsRefusedAndKept) {
  std::ofstream(path()) << "not a socket";
  auto listener = UnixListener::listen(path(), "test");
  ASSERT_FALSE(listener.ok());
  EXPECT_NE(listener.error().message.find("not a socket"), std::string::npos);
  EXPECT_TRUE(exists(path()));
}

TEST_F(UnixSocket, TooLongAPathIsInvalid) {
  std::string long_path = dir_.path() + "/" + std::string(sizeof(sockaddr_un::sun_path), 'x');
  auto listener = UnixListener::listen(long_path, "test");
  ASSERT_FALSE(listener.ok());
  EXPECT_EQ(listener.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(listener.error().message.find("too long"), std::string::npos);
}

TEST_F(UnixSocket, ConnectingToNothingIsNotFound) {
  auto client = connect_unix(path("absent.sock"), "test");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().kind, ErrorKind::kNotFound);
}

TEST(TcpSocket, ListenOnPortZeroReportsThePickedPort) {
  auto listener = listen_tcp("127.0.0.1", 0, "test");
  ASSERT_TRUE(listener.ok()) << listener.error().describe();
  EXPECT_NE(listener->port, 0);
  EXPECT_TRUE(listener->fd.valid());
}

TEST(TcpSocket, AHostNameIsNotAnAddress) {
  auto listener = listen_tcp("localhost", 0, "test");
  ASSERT_FALSE(listener.ok());
  EXPECT_EQ(listener.error().kind, ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace shoal
