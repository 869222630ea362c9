// --upstream-proxy and the HTTPS_PROXY / NO_PROXY environment (SPEC 2.1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace gkm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Env = std::map<std::string, std::string>;

ConfigResult Load(std::vector<std::string> args, const Env& env = {}) {
  args.insert(args.begin(), "gemini-key-manager");
  return LoadConfig(args, env, 4);
}

Config Ok(const ConfigResult& r) {
  if (auto* e = std::get_if<ConfigError>(&r)) ADD_FAILURE() << e->message;
  return std::holds_alternative<Config>(r) ? std::get<Config>(r) : Config{};
}

std::string Err(const ConfigResult& r) {
  if (auto* e = std::get_if<ConfigError>(&r)) return e->message;
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(ConfigEgress, RepeatableFlagAndCommaSeparatedEnvironment) {
  Config c = Ok(Load({"--upstream-proxy", "http://a:3128", "--upstream-proxy", "socks5://b:1080"}));
  EXPECT_EQ(c.upstream_proxies, (std::vector<std::string>{"http://a:3128", "socks5://b:1080"}));
  c = Ok(Load({}, {{"GKM_UPSTREAM_PROXIES", "http://a:3128, socks5h://u:p@b:1080"}}));
  EXPECT_EQ(c.upstream_proxies,
            (std::vector<std::string>{"http://a:3128", "socks5h://u:p@b:1080"}));
}

TEST(ConfigEgress, BadUrlsAreOneLineErrorsWithoutThePassword) {
  std::string e = Err(Load({"--upstream-proxy", "https://u:hunter2@p:443"}));
  EXPECT_THAT(e, HasSubstr("--upstream-proxy"));
  EXPECT_THAT(e, HasSubstr("not supported"));
  EXPECT_THAT(e, Not(HasSubstr("hunter2")));
  EXPECT_THAT(Err(Load({"--upstream-proxy", "http://p"})), HasSubstr("port"));
  EXPECT_THAT(Err(Load({"--upstream-proxy", "gopher://p:70"})), HasSubstr("must start with"));
  EXPECT_EQ(Err(Load({"--upstream-proxy", "http://p"})).find('\n'), std::string::npos);
}

TEST(ConfigEgress, HttpsProxyWithoutTheFlag) {
  Config c = Ok(Load({}, {{"HTTPS_PROXY", "http://corp:3128"}}));
  EXPECT_EQ(c.env_proxy, "http://corp:3128");
  EXPECT_EQ(c.env_proxy_name, "HTTPS_PROXY");
  c = Ok(Load({}, {{"HTTPS_PROXY", "http://upper:1"}, {"https_proxy", "http://lower:1"}}));
  EXPECT_EQ(c.env_proxy, "http://lower:1");  // the lower case first, as curl
  EXPECT_EQ(c.env_proxy_name, "https_proxy");
  // The flag wins: the environment is not even read (a bad value there is no error).
  c = Ok(Load({"--upstream-proxy", "http://a:1"}, {{"HTTPS_PROXY", "ftp://bad"}}));
  EXPECT_EQ(c.env_proxy, "");
  // A plain http upstream (a local mock) ignores the environment.
  c = Ok(Load({"--upstream", "http://127.0.0.1:9"}, {{"HTTPS_PROXY", "http://corp:3128"}}));
  EXPECT_EQ(c.env_proxy, "");
}

TEST(ConfigEgress, NoProxyExemptsTheUpstream) {
  Config c = Ok(Load({}, {{"HTTPS_PROXY", "http://corp:3128"}, {"NO_PROXY", ".googleapis.com"}}));
  EXPECT_EQ(c.env_proxy, "");
  c = Ok(Load({}, {{"HTTPS_PROXY", "http://corp:3128"}, {"no_proxy", "example.com,*"}}));
  EXPECT_EQ(c.env_proxy, "");
  c = Ok(Load({}, {{"HTTPS_PROXY", "http://corp:3128"}, {"NO_PROXY", "example.com"}}));
  EXPECT_EQ(c.env_proxy, "http://corp:3128");
  // An exempted upstream makes even a bad HTTPS_PROXY harmless.
  Ok(Load({}, {{"HTTPS_PROXY", "https://corp:3128"}, {"NO_PROXY", "googleapis.com"}}));
}

TEST(ConfigEgress, BadHttpsProxyIsAnError) {
  std::string e = Err(Load({}, {{"HTTPS_PROXY", "https://u:hunter2@corp:3128"}}));
  EXPECT_THAT(e, HasSubstr("HTTPS_PROXY"));
  EXPECT_THAT(e, HasSubstr("not supported"));
  EXPECT_THAT(e, Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace gkm
