#include "writer/control.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

TEST(ControlProtocol, RequestsRoundTripAnyBytes) {
  std::vector<std::string> words = {"put", "/ckpt/a file\nwith newline%and percent", ""};
  std::string line = encode_control_request(words);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto decoded = decode_control_request(line.substr(0, line.size() - 1));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, words);
}

TEST(ControlProtocol, RepliesRoundTrip) {
  ControlReply ok;
  ok.add("pending_files", "3");
  ok.add("last_error", "upload of a b failed:\nHTTP 503");
  auto back = decode_control_reply(encode_control_reply(ok));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(back->fields, ok.fields);
  EXPECT_EQ(back->get("pending_files"), "3");
  EXPECT_EQ(back->get("absent"), "");

  auto failed = decode_control_reply(encode_control_reply(ControlReply::failure("spool full")));
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->ok);
  EXPECT_EQ(failed->error, "spool full");
}

TEST(ControlProtocol, GarbageIsRefused) {
  EXPECT_FALSE(decode_control_reply("").ok());
  EXPECT_FALSE(decode_control_reply("maybe\n").ok());
  EXPECT_FALSE(decode_control_reply("ok\nnovalue\n").ok());
  EXPECT_FALSE(decode_control_request("put %zz").ok());
}

TEST(ControlSocket, NoWriterListeningIsNotFound) {
  auto r = control_call("/nonexistent-dir/writer.sock", {"status"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kNotFound);
}

}  // namespace
}  // namespace shoal
