// FileTree: name rules, EROFS name order, duplicate detection, depth-first order.
#include "index/erofs/file_tree.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shoal::index::erofs {
namespace {

TEST(ErofsNameOrder, IsUnsignedByteOrderWithPrefixesFirst) {
  EXPECT_TRUE(name_less("a", "b"));
  EXPECT_TRUE(name_less("a", "ab"));    // a prefix sorts first
  EXPECT_FALSE(name_less("ab", "a"));
  EXPECT_FALSE(name_less("a", "a"));
  EXPECT_TRUE(name_less("Z", "a"));     // bytes, not locale
  EXPECT_TRUE(name_less("+", "."));     // 0x2b < 0x2e: may sort before "."
  EXPECT_TRUE(name_less(".", ".."));
  EXPECT_TRUE(name_less("..", "0"));
  EXPECT_TRUE(name_less("z", "\xc3\xa9"));  // UTF-8 bytes >= 0x80 compare unsigned
  EXPECT_TRUE(name_less("", "a"));
}

TEST(ErofsFileTree, NameLengthLimitIs255Bytes) {
  FileTree tree;
  EXPECT_TRUE(tree.add_file(kRootNode, std::string(255, 'x'), 1).ok());
  Result<NodeId> too_long = tree.add_file(kRootNode, std::string(256, 'y'), 1);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(too_long.error().message.find("255"), std::string::npos);
}

TEST(ErofsFileTree, RefusesNamesEROFSCannotHold) {
  FileTree tree;
  for (std::string_view bad : {std::string_view(""), std::string_view("."),
                               std::string_view(".."), std::string_view("a/b"),
                               std::string_view("nul\0byte", 8)}) {
    Result<NodeId> r = tree.add_directory(kRootNode, bad);
    ASSERT_FALSE(r.ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
  }
  EXPECT_TRUE(tree.add_file(kRootNode, "...", 0).ok());
  EXPECT_TRUE(tree.add_file(kRootNode, "with space + 100% \xe2\x9c\x93", 0).ok());
  EXPECT_EQ(tree.size(), 3u);
}

TEST(ErofsFileTree, ParentMustBeADirectory) {
  FileTree tree;
  NodeId file = *tree.add_file(kRootNode, "f", 1);
  EXPECT_FALSE(tree.add_file(file, "child", 1).ok());
  EXPECT_FALSE(tree.add_file(99, "orphan", 1).ok());
}

TEST(ErofsFileTree, SealSortsChildrenInErofsOrder) {
  FileTree tree;
  for (std::string_view name : {"b", "a", "\xc3\xa9", "B", "ab", "+x", "a b"}) {
    ASSERT_TRUE(tree.add_file(kRootNode, name, 1).ok());
  }
  ASSERT_TRUE(tree.seal().ok());
  std::vector<std::string> names;
  for (NodeId child : tree.children(kRootNode)) names.emplace_back(tree.name(child));
  EXPECT_EQ(names,
            (std::vector<std::string>{"+x", "B", "a", "a b", "ab", "b", "\xc3\xa9"}));
  ASSERT_TRUE(tree.find_child(kRootNode, "ab").has_value());
  EXPECT_EQ(tree.name(*tree.find_child(kRootNode, "ab")), "ab");
  EXPECT_FALSE(tree.find_child(kRootNode, "c").has_value());
}

TEST(ErofsFileTree, SealRefusesDuplicateNamesWithThePath) {
  FileTree tree;
  NodeId dir = *tree.add_directory(kRootNode, "data");
  ASSERT_TRUE(tree.add_file(dir, "x", 1).ok());
  ASSERT_TRUE(tree.add_directory(dir, "x").ok());
  Status sealed = tree.seal();
  ASSERT_FALSE(sealed.ok());
  EXPECT_NE(sealed.error().message.find("'x'"), std::string::npos);
  EXPECT_NE(sealed.error().message.find("/data"), std::string::npos);
  EXPECT_FALSE(tree.sealed());
}

TEST(ErofsFileTree, VisitsDepthFirstInNameOrder) {
  FileTree tree;
  NodeId b = *tree.add_directory(kRootNode, "b");
  ASSERT_TRUE(tree.add_file(kRootNode, "c", 1).ok());
  NodeId a = *tree.add_directory(kRootNode, "a");
  ASSERT_TRUE(tree.add_file(b, "y", 1).ok());
  ASSERT_TRUE(tree.add_file(a, "z", 1).ok());
  NodeId a_sub = *tree.add_directory(a, "sub");
  ASSERT_TRUE(tree.add_file(a_sub, "deep", 1).ok());
  ASSERT_TRUE(tree.add_file(b, "x", 1).ok());
  ASSERT_TRUE(tree.seal().ok());
  std::vector<std::string> order;
  tree.visit_depth_first([&](NodeId node) { order.push_back(tree.path(node)); });
  EXPECT_EQ(order, (std::vector<std::string>{"/", "/a", "/a/sub", "/a/sub/deep", "/a/z", "/b",
                                             "/b/x", "/b/y", "/c"}));
}

TEST(ErofsFileTree, AddingAfterSealUnseals) {
  FileTree tree;
  ASSERT_TRUE(tree.seal().ok());
  EXPECT_TRUE(tree.sealed());
  ASSERT_TRUE(tree.add_file(kRootNode, "late", 1).ok());
  EXPECT_FALSE(tree.sealed());
}

TEST(ErofsFileTree, PermissionsAndMtimes) {
  FileTree tree;
  NodeId f = *tree.add_file(kRootNode, "f", 1);
  NodeId d = *tree.add_directory(kRootNode, "d");
  EXPECT_EQ(tree.mode(f), 0100644);
  EXPECT_EQ(tree.mode(d), 040755);
  tree.set_permissions(f, 0600);
  EXPECT_EQ(tree.mode(f), 0100600);
  EXPECT_FALSE(tree.mtime(f).has_value());
  tree.set_mtime(f, {1700000000, 5});
  NodeId g = *tree.add_file(kRootNode, "g", 1);  // added after the first mtime
  ASSERT_TRUE(tree.mtime(f).has_value());
  EXPECT_EQ(tree.mtime(f)->seconds, 1700000000);
  EXPECT_EQ(tree.mtime(f)->nanoseconds, 5u);
  EXPECT_FALSE(tree.mtime(g).has_value());
  EXPECT_FALSE(tree.mtime(d).has_value());
}

}  // namespace
}  // namespace shoal::index::erofs
