// The [[client]] tables of the config file (SPEC 2.3).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "config/config.h"

namespace gkm {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Loads a config file with `toml` as its text, and the extra flags.
ConfigResult LoadClients(const std::string& toml, std::vector<std::string> flags = {}) {
  static int n = 0;
  std::string path = testing::TempDir() + "gkm_clients_" + std::to_string(::getpid()) + "_" +
                     std::to_string(n++) + ".toml";
  std::ofstream(path) << toml;
  std::vector<std::string> argv = {"gemini-key-manager", "--config", path};
  argv.insert(argv.end(), flags.begin(), flags.end());
  ConfigResult r = LoadConfig(argv, {}, 2);
  std::remove(path.c_str());
  return r;
}

std::string ErrorOf(const ConfigResult& r) {
  const auto* e = std::get_if<ConfigError>(&r);
  return e ? e->message : "(no error)";
}

TEST(ConfigClients, TwoClientsWithEveryField) {
  ConfigResult r = LoadClients(std::string(R"(
[[client]]
name = "ci-bots"
token = "gkm-ci-token"
rpm = 60
rpd = 5000
models = ["gemini-2.5-flash*", "models/text-embedding-004"]

[[client]]
name = "alice.laptop_2"
token_sha256 = ")") + std::string(64, 'A') +
                               R"("
)");
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << ErrorOf(r);
  const Config& c = std::get<Config>(r);
  ASSERT_EQ(c.clients.size(), 2u);
  EXPECT_EQ(c.clients[0].name, "ci-bots");
  EXPECT_EQ(c.clients[0].rpm, 60u);
  EXPECT_EQ(c.clients[0].rpd, 5000u);
  EXPECT_EQ(c.clients[0].models,
            (std::vector<std::string>{"gemini-2.5-flash*", "text-embedding-004"}));
  EXPECT_EQ(c.clients[0].token_sha256.size(), 64u);
  EXPECT_EQ(c.clients[1].token_sha256, std::string(64, 'a'));  // lower-cased
  EXPECT_EQ(c.clients[1].rpm, 0u);
  EXPECT_TRUE(c.clients[1].models.empty());
  EXPECT_TRUE(c.tokens.empty());
}

TEST(ConfigClients, TheTokenIsKeptOnlyAsItsSha256) {
  ConfigResult a = LoadClients("[[client]]\nname = \"a\"\ntoken = \"abc\"\n");
  ASSERT_TRUE(std::holds_alternative<Config>(a)) << ErrorOf(a);
  // printf %s abc | sha256sum
  EXPECT_EQ(std::get<Config>(a).clients[0].token_sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ConfigClients, TokensOfTheCommandLineSitBesideTheClients) {
  ConfigResult r = LoadClients("[[client]]\nname = \"a\"\ntoken = \"abc\"\n", {"--token", "other"});
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << ErrorOf(r);
  EXPECT_EQ(std::get<Config>(r).tokens, std::vector<std::string>{"other"});
  EXPECT_EQ(std::get<Config>(r).clients.size(), 1u);
}

struct BadClient {
  std::string toml;
  std::vector<std::string> flags;
  std::string message;  // a part of the one-line error
};

TEST(ConfigClients, EveryMistakeIsOneLineNamingTheClientAndField) {
  const std::string a = "[[client]]\nname = \"a\"\ntoken = \"t1\"\n";
  const BadClient cases[] = {
      {"[[client]]\ntoken = \"t\"\n", {}, "line 1: [[client]]: name: missing"},
      {"[[client]]\nname = 5\ntoken = \"t\"\n", {}, "name: expected a string, got an integer"},
      {"[[client]]\nname = \"a b\"\ntoken = \"t\"\n", {}, "name: 'a b' is not 1 to 64 of"},
      {"[[client]]\nname = \"" + std::string(65, 'x') + "\"\ntoken = \"t\"\n",
       {},
       "is not 1 to 64"},
      {"[[client]]\nname = \"a\"\n",
       {},
       "[[client]] 'a': give exactly one of token and token_sha256"},
      {"[[client]]\nname = \"a\"\ntoken = \"t\"\ntoken_sha256 = \"" + std::string(64, 'a') + "\"\n",
       {},
       "give exactly one of token and token_sha256"},
      {"[[client]]\nname = \"a\"\ntoken_sha256 = \"abc\"\n",
       {},
       "token_sha256: 'abc' is not 64 hex"},
      {"[[client]]\nname = \"a\"\ntoken_sha256 = \"" + std::string(64, 'g') + "\"\n",
       {},
       "is not 64 hex digits"},
      {"[[client]]\nname = \"a\"\ntoken = \"t t\"\n", {}, "token: a token must not contain"},
      {a + "rpm = -1\n", {}, "[[client]] 'a': rpm: '-1' must not be negative"},
      {a + "rpd = 1.5\n", {}, "rpd: expected an integer, got a float"},
      {a + "rpd = 1000000001\n", {}, "rpd: '1000000001' is out of range 0..1000000000"},
      {a + "models = \"gemini-*\"\n", {}, "models: expected an array of strings, got a string"},
      {a + "models = [1]\n", {}, "models: expected an array of strings, got an integer in it"},
      {a + "models = [\"\"]\n", {}, "models: '' is not a model glob"},
      {a + "rate = 5\n", {}, "[[client]] 'a': unknown key 'rate'"},
      {"client = \"a\"\n", {}, "line 1: client must be [[client]] tables, got a string"},
      {a + "[[client]]\nname = \"a\"\ntoken = \"t2\"\n",
       {},
       "line 4: [[client]] 'a': name: another client has this name"},
      {a + "[[client]]\nname = \"b\"\ntoken = \"t1\"\n",
       {},
       "[[client]] 'b': its token is also the token of client 'a'"},
      {a, {"--token", "t1"}, "[[client]] 'a': its token is also given by --token"},
      {"[[client]]\nname = \"default\"\ntoken = \"t\"\n",
       {"--token", "u"},
       "the name default is the client of --token"},
  };
  for (const BadClient& c : cases) {
    std::string m = ErrorOf(LoadClients(c.toml, c.flags));
    EXPECT_THAT(m, HasSubstr(c.message)) << c.toml;
    EXPECT_THAT(m, StartsWith("--config: ")) << c.toml;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(m.find("t1\""), std::string::npos) << "a token echoed: " << m;
  }
}

TEST(ConfigClients, ADefaultClientWithoutCommandLineTokensIsAnOrdinaryName) {
  ConfigResult r = LoadClients("[[client]]\nname = \"default\"\ntoken = \"t\"\nrpm = 1\n");
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << ErrorOf(r);
  EXPECT_EQ(std::get<Config>(r).clients[0].rpm, 1u);
}

}  // namespace
}  // namespace gkm
