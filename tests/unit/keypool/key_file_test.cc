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

TEST(KeyFile, AttributesAndCommentsAfterTheKey) {
  KeyFile f = ParseKeyFile(
      "test-key-a project=team-a proxy=socks5h://10.0.0.7:1080 # Alice's key\n"
      "test-key-b\t project=team-b\r\n"
      "test-key-c # proxy=http://not-an-attribute:1\n"
      "test-key-d#glued comment\n"
      "test-key-e proxy=http://user:s3cret@10.0.0.8:3128 project=team-a#c\n");
  ASSERT_EQ(f.keys.size(), 5u);
  ASSERT_EQ(f.attributes.size(), 5u);
  EXPECT_EQ(f.keys[0].reveal(), "test-key-a");
  EXPECT_EQ(f.attributes[0].project, "team-a");
  EXPECT_EQ(f.attributes[0].proxy, "socks5h://10.0.0.7:1080");
  EXPECT_EQ(f.keys[1].reveal(), "test-key-b");
  EXPECT_EQ(f.attributes[1].project, "team-b");
  EXPECT_EQ(f.attributes[1].proxy, "");
  EXPECT_EQ(f.keys[2].reveal(), "test-key-c");
  EXPECT_EQ(f.attributes[2].proxy, "") << "an attribute inside the comment is no attribute";
  EXPECT_EQ(f.keys[3].reveal(), "test-key-d");
  EXPECT_EQ(f.attributes[3].project, "");
  EXPECT_EQ(f.keys[4].reveal(), "test-key-e");
  EXPECT_EQ(f.attributes[4].project, "team-a");
  EXPECT_EQ(f.attributes[4].proxy, "http://user:s3cret@10.0.0.8:3128");
  EXPECT_TRUE(f.warnings.empty()) << f.warnings[0];
}

TEST(KeyFile, BadAttributesAreWarningsAndTheKeyStays) {
  KeyFile f = ParseKeyFile(
      "test-key-a colour=blue\n"
      "test-key-b project= proxy=ftp://user:pw@host:21\n"
      "test-key-c test-key-x-pasted-second-key\n"
      "test-key-d project=has/slash\n");
  ASSERT_EQ(f.keys.size(), 4u);
  for (const KeyAttributes& a : f.attributes) {
    EXPECT_EQ(a.project, "");
    EXPECT_EQ(a.proxy, "");
  }
  ASSERT_EQ(f.warnings.size(), 5u);
  EXPECT_NE(f.warnings[0].find("line 1: unknown attribute 'colour'"), std::string::npos);
  EXPECT_NE(f.warnings[1].find("line 2: project= is empty"), std::string::npos);
  EXPECT_NE(f.warnings[2].find("line 2: proxy=ftp://user:***@host:21 must start with"),
            std::string::npos)
      << f.warnings[2];
  EXPECT_NE(f.warnings[3].find("line 3: 'test...' after the key"), std::string::npos);
  EXPECT_EQ(f.warnings[3].find("pasted-second-key"), std::string::npos) << "shows the word whole";
  EXPECT_NE(f.warnings[4].find("line 4: project= may hold only"), std::string::npos);
  for (const std::string& w : f.warnings) EXPECT_EQ(w.find("pw@"), std::string::npos) << w;
}

TEST(KeyFile, DuplicateWithOtherAttributesKeepsTheFirst) {
  KeyFile f = ParseKeyFile("test-key-a project=one\ntest-key-a project=two\n");
  ASSERT_EQ(f.keys.size(), 1u);
  EXPECT_EQ(f.attributes[0].project, "one");
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("line 2: duplicate key"), std::string::npos);
}

TEST(KeyFile, RedactProxyHidesOnlyThePassword) {
  EXPECT_EQ(RedactProxy("http://u:p@h:1"), "http://u:***@h:1");
  EXPECT_EQ(RedactProxy("socks5h://h:1080"), "socks5h://h:1080");
  EXPECT_EQ(RedactProxy("http://u@h:1"), "http://u@h:1");
  EXPECT_EQ(RedactProxy("http://h:1/a@b"), "http://h:1/a@b");
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
