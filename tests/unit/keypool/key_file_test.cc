#include "keypool/key_file.h"

#include <gtest/gtest.h>

namespace gkm {
namespace {

TEST(KeyFile, TrimsSkipsCommentsAndBlankLinesAndDropsDuplicates) {
  KeyFile f = ParseKeyFile("  test-key-a  \n\n# a comment\r\ntest-key-b\r\n\t\ntest-key-a\n");
  ASSERT_EQ(f.keys.size(), 2u);
  EXPECT_EQ(f.keys[0].reveal(), "test-key-a");
  EXPECT_EQ(f.keys[1].reveal(), "test-key-b");
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("line 6"), std::string::npos);
  EXPECT_EQ(f.warnings[0].find("test-key-a"), std::string::npos) << "a warning shows a key";
}

TEST(KeyFile, MissingOrEmptyFileIsAClearError) {
  KeyFile f;
  std::string error;
  EXPECT_FALSE(LoadKeyFile("/nonexistent/key.txt", &f, &error));
  EXPECT_NE(error.find("/nonexistent/key.txt"), std::string::npos);
  std::string path = testing::TempDir() + "/empty-keys.txt";
  FILE* out = fopen(path.c_str(), "w");
  fputs("# only a comment\n\n", out);
  fclose(out);
  EXPECT_FALSE(LoadKeyFile(path, &f, &error));
  EXPECT_NE(error.find("no key"), std::string::npos);
}

}  // namespace
}  // namespace gkm
