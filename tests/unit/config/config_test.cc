#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

namespace gkm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Env = std::map<std::string, std::string>;
using Args = std::vector<std::string>;

constexpr unsigned kCores = 8;

ConfigResult Load(Args args, const Env& env = {}) {
  args.insert(args.begin(), "gemini-key-manager");
  return LoadConfig(args, env, kCores);
}

// Fails the test (and returns defaults) when the result is not a Config.
Config Ok(const ConfigResult& r) {
  if (auto* e = std::get_if<ConfigError>(&r)) {
    ADD_FAILURE() << "unexpected ConfigError: " << e->message;
    return Config{};
  }
  if (!std::holds_alternative<Config>(r)) {
    ADD_FAILURE() << "expected a Config";
    return Config{};
  }
  return std::get<Config>(r);
}

std::string Err(const ConfigResult& r) {
  if (auto* e = std::get_if<ConfigError>(&r)) return e->message;
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

// Removes the files WriteToml made when the test program ends.
struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    for (const std::string& p : paths) std::remove(p.c_str());
  }
};

// A fresh TOML file per call, so tests never see each other's files.
std::string WriteToml(const std::string& text) {
  static TempFiles files;
  static std::atomic<int> counter{0};
  std::string path = testing::TempDir() + "gkm_config_test_" + std::to_string(::getpid()) + "_" +
                     std::to_string(counter++) + ".toml";
  std::ofstream(path) << text;
  files.paths.push_back(path);
  return path;
}

TEST(ConfigDefaults, EveryDefault) {
  Config c = Ok(Load({}));
  EXPECT_FALSE(c.config_file);
  EXPECT_EQ(c.keys_file, "key.txt");
  EXPECT_EQ(c.listen.host, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 5000);
  EXPECT_TRUE(c.upstream.tls);
  EXPECT_EQ(c.upstream.host, "generativelanguage.googleapis.com");
  EXPECT_EQ(c.upstream.port, 443);
  EXPECT_EQ(c.upstream.base_path, "");
  EXPECT_TRUE(c.tokens.empty());
  EXPECT_FALSE(c.admin_token);
  EXPECT_EQ(c.state_dir, ".");
  EXPECT_FALSE(c.redis);
  EXPECT_EQ(c.log_dir, ".");
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  EXPECT_FALSE(c.log_json);
  EXPECT_EQ(c.reset_timezone, "America/Los_Angeles");
  EXPECT_EQ(c.reset_time, std::chrono::seconds(0));
  EXPECT_EQ(c.openai_mode, OpenAiMode::kTranslate);
  EXPECT_EQ(c.max_attempts, 0u);
  EXPECT_EQ(c.max_queue_wait, std::chrono::seconds(0));
  EXPECT_EQ(c.max_queued, 1000u);
  EXPECT_EQ(c.upstream_timeout, std::chrono::seconds(600));
  EXPECT_EQ(c.max_body_bytes, 104857600u);
  EXPECT_EQ(c.threads, kCores);  // 0 resolved to the number of cores
  EXPECT_EQ(c.client_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c.max_connections, 10000u);
  EXPECT_FALSE(c.bare_429_cooling);
  EXPECT_EQ(c.log_max_size, 10485760u);
  EXPECT_EQ(c.log_max_files, 5u);
  EXPECT_FALSE(c.upstream_ca);
  EXPECT_FALSE(c.metrics_per_key);
  EXPECT_EQ(c.recheck_invalid, std::chrono::seconds(3600));
  EXPECT_EQ(c.flush_interval, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.shutdown_grace, std::chrono::seconds(30));
}

TEST(ConfigDefaults, ThreadsZeroWithUnknownCoresIsOne) {
  Config c = Ok(LoadConfig({"gkm"}, {}, 0));
  EXPECT_EQ(c.threads, 1u);
}

TEST(ConfigDefaults, EmptyArgvIsAccepted) {
  EXPECT_TRUE(std::holds_alternative<Config>(LoadConfig({}, {}, 2)));
}

// ---------------------------------------------------------------------------------------
// Every setting from every source. Each case is the flag, a value as the command line and
// the environment carry it, the same value as a TOML right-hand side, and a check.

struct Case {
  std::string flag;
  std::string value;
  std::string toml;
  void (*check)(const Config&);
};

const Case kCases[] = {
    {"keys", "/etc/keys.txt", "\"/etc/keys.txt\"",
     [](const Config& c) { EXPECT_EQ(c.keys_file, "/etc/keys.txt"); }},
    {"listen", "[::1]:6000", "\"[::1]:6000\"",
     [](const Config& c) {
       EXPECT_EQ(c.listen.host, "::1");
       EXPECT_EQ(c.listen.port, 6000);
     }},
    {"upstream", "http://mock:8080/base/", "\"http://mock:8080/base/\"",
     [](const Config& c) {
       EXPECT_FALSE(c.upstream.tls);
       EXPECT_EQ(c.upstream.host, "mock");
       EXPECT_EQ(c.upstream.port, 8080);
       EXPECT_EQ(c.upstream.base_path, "/base");
     }},
    {"token", "tok1", "[\"tok1\"]",
     [](const Config& c) { EXPECT_EQ(c.tokens, std::vector<std::string>{"tok1"}); }},
    {"admin-token", "adm", "\"adm\"", [](const Config& c) { EXPECT_EQ(c.admin_token, "adm"); }},
    {"state-dir", "/var/lib/gkm", "\"/var/lib/gkm\"",
     [](const Config& c) { EXPECT_EQ(c.state_dir, "/var/lib/gkm"); }},
    {"redis", "redis://:pw@r:6379/2", "\"redis://:pw@r:6379/2\"",
     [](const Config& c) { EXPECT_EQ(c.redis, "redis://:pw@r:6379/2"); }},
    {"redis-prefix", "team-a:", "\"team-a:\"",
     [](const Config& c) { EXPECT_EQ(c.redis_prefix, "team-a:"); }},
    {"redis-ca", "/etc/gkm/redis-ca.pem", "\"/etc/gkm/redis-ca.pem\"",
     [](const Config& c) { EXPECT_EQ(c.redis_ca, "/etc/gkm/redis-ca.pem"); }},
    {"log-dir", "/var/log/gkm", "\"/var/log/gkm\"",
     [](const Config& c) { EXPECT_EQ(c.log_dir, "/var/log/gkm"); }},
    {"log-level", "debug", "\"debug\"",
     [](const Config& c) { EXPECT_EQ(c.log_level, LogLevel::kDebug); }},
    {"log-format", "json", "\"json\"", [](const Config& c) { EXPECT_TRUE(c.log_json); }},
    {"reset-timezone", "Europe/Paris", "\"Europe/Paris\"",
     [](const Config& c) { EXPECT_EQ(c.reset_timezone, "Europe/Paris"); }},
    {"reset-time", "07:30:15", "\"07:30:15\"",
     [](const Config& c) {
       EXPECT_EQ(c.reset_time, std::chrono::seconds(7 * 3600 + 30 * 60 + 15));
     }},
    {"openai-mode", "google", "\"google\"",
     [](const Config& c) { EXPECT_EQ(c.openai_mode, OpenAiMode::kGoogle); }},
    {"max-attempts", "7", "7", [](const Config& c) { EXPECT_EQ(c.max_attempts, 7u); }},
    {"max-queue-wait", "30", "30",
     [](const Config& c) { EXPECT_EQ(c.max_queue_wait, std::chrono::seconds(30)); }},
    {"max-queued", "5", "5", [](const Config& c) { EXPECT_EQ(c.max_queued, 5u); }},
    {"upstream-timeout", "120", "120",
     [](const Config& c) { EXPECT_EQ(c.upstream_timeout, std::chrono::seconds(120)); }},
    {"max-body-bytes", "2048", "2048", [](const Config& c) { EXPECT_EQ(c.max_body_bytes, 2048u); }},
    {"threads", "3", "3", [](const Config& c) { EXPECT_EQ(c.threads, 3u); }},
    {"client-timeout", "45", "45",
     [](const Config& c) { EXPECT_EQ(c.client_timeout, std::chrono::seconds(45)); }},
    {"max-connections", "64", "64", [](const Config& c) { EXPECT_EQ(c.max_connections, 64u); }},
    {"bare-429", "cooling", "\"cooling\"",
     [](const Config& c) { EXPECT_TRUE(c.bare_429_cooling); }},
    {"log-max-size", "4096", "4096", [](const Config& c) { EXPECT_EQ(c.log_max_size, 4096u); }},
    {"log-max-files", "9", "9", [](const Config& c) { EXPECT_EQ(c.log_max_files, 9u); }},
    {"upstream-ca", "/etc/ca.pem", "\"/etc/ca.pem\"",
     [](const Config& c) { EXPECT_EQ(c.upstream_ca, "/etc/ca.pem"); }},
    {"upstream-proxy", "socks5h://p:1080", "[\"socks5h://p:1080\"]",
     [](const Config& c) {
       EXPECT_EQ(c.upstream_proxies, std::vector<std::string>{"socks5h://p:1080"});
     }},
    {"model-alias", "claude-*=gemini-2.5-flash", "[\"claude-*=gemini-2.5-flash\"]",
     [](const Config& c) {
       EXPECT_EQ(c.model_aliases.Map("claude-sonnet-4-5"), "gemini-2.5-flash");
     }},
    {"recheck-invalid", "5", "5",
     [](const Config& c) { EXPECT_EQ(c.recheck_invalid, std::chrono::seconds(5)); }},
    {"metrics-per-key", "true", "true", [](const Config& c) { EXPECT_TRUE(c.metrics_per_key); }},
    {"flush-interval-ms", "250", "250",
     [](const Config& c) { EXPECT_EQ(c.flush_interval, std::chrono::milliseconds(250)); }},
    {"shutdown-grace", "5", "5",
     [](const Config& c) { EXPECT_EQ(c.shutdown_grace, std::chrono::seconds(5)); }},
};

std::string EnvOf(const std::string& flag) {
  std::string out = "GKM_";
  for (char ch : flag) out += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  return out;
}

std::string TomlOf(const std::string& flag) {
  std::string out = flag;
  for (char& ch : out) ch = ch == '-' ? '_' : ch;
  return out;
}

TEST(ConfigSources, EachFlagFromTheCommandLine) {
  for (const Case& k : kCases) {
    SCOPED_TRACE(k.flag);
    Args args = {"--" + k.flag};
    if (k.flag != "metrics-per-key") args.push_back(k.value);
    k.check(Ok(Load(args)));
  }
}

TEST(ConfigSources, EachFlagInEqualsForm) {
  for (const Case& k : kCases) {
    SCOPED_TRACE(k.flag);
    k.check(Ok(Load({"--" + k.flag + "=" + k.value})));
  }
}

TEST(ConfigSources, EachFlagFromTheEnvironment) {
  for (const Case& k : kCases) {
    SCOPED_TRACE(k.flag);
    std::string name = EnvOf(k.flag);
    if (k.flag == "token") name = "GKM_TOKENS";
    k.check(Ok(Load({}, {{name, k.value}})));
  }
}

TEST(ConfigSources, EachFlagFromTheConfigFile) {
  for (const Case& k : kCases) {
    SCOPED_TRACE(k.flag);
    std::string path = WriteToml(TomlOf(k.flag) + " = " + k.toml + "\n");
    Config c = Ok(Load({"--config", path}));
    EXPECT_EQ(c.config_file, path);
    k.check(c);
  }
}

TEST(ConfigSources, AllSettingsInOneFile) {
  std::string text;
  for (const Case& k : kCases) text += TomlOf(k.flag) + " = " + k.toml + "\n";
  Config c = Ok(Load({"--config", WriteToml(text)}));
  for (const Case& k : kCases) {
    SCOPED_TRACE(k.flag);
    k.check(c);
  }
}

TEST(ConfigSources, ConfigFileFromEnvironment) {
  std::string path = WriteToml("threads = 4\n");
  Config c = Ok(Load({}, {{"GKM_CONFIG", path}}));
  EXPECT_EQ(c.config_file, path);
  EXPECT_EQ(c.threads, 4u);
}

TEST(ConfigSources, ConfigFlagBeatsConfigEnv) {
  std::string from_flag = WriteToml("threads = 4\n");
  std::string from_env = WriteToml("threads = 5\n");
  Config c = Ok(Load({"--config", from_flag}, {{"GKM_CONFIG", from_env}}));
  EXPECT_EQ(c.config_file, from_flag);
  EXPECT_EQ(c.threads, 4u);
}

TEST(ConfigSources, EmptyEnvironmentVariableCountsAsUnset) {
  Config c = Ok(Load({}, {{"GKM_LISTEN", ""}, {"GKM_TOKENS", ""}}));
  EXPECT_EQ(c.listen.port, 5000);
  EXPECT_TRUE(c.tokens.empty());
}

TEST(ConfigSources, UnrelatedEnvironmentIsIgnored) {
  Ok(Load({}, {{"PATH", "/bin"}, {"GKM_SOMETHING_ELSE", "x"}}));
}

// ---------------------------------------------------------------------------------------
// Precedence.

TEST(ConfigPrecedence, ScalarFlagBeatsEnvBeatsFileBeatsDefault) {
  std::string path = WriteToml("client_timeout = 11\n");
  EXPECT_EQ(Ok(Load({})).client_timeout.count(), 30);
  EXPECT_EQ(Ok(Load({"--config", path})).client_timeout.count(), 11);
  EXPECT_EQ(Ok(Load({"--config", path}, {{"GKM_CLIENT_TIMEOUT", "12"}})).client_timeout.count(),
            12);
  EXPECT_EQ(Ok(Load({"--config", path, "--client-timeout", "13"}, {{"GKM_CLIENT_TIMEOUT", "12"}}))
                .client_timeout.count(),
            13);
}

TEST(ConfigPrecedence, TokensFromAHigherSourceReplaceTheLowerList) {
  std::string path = WriteToml("token = [\"f1\", \"f2\"]\n");
  using V = std::vector<std::string>;
  EXPECT_EQ(Ok(Load({"--config", path})).tokens, (V{"f1", "f2"}));
  EXPECT_EQ(Ok(Load({"--config", path}, {{"GKM_TOKENS", "e1, e2,e3"}})).tokens,
            (V{"e1", "e2", "e3"}));
  EXPECT_EQ(
      Ok(Load({"--config", path, "--token", "c1", "--token=c2"}, {{"GKM_TOKENS", "e1,e2"}})).tokens,
      (V{"c1", "c2"}));
}

TEST(ConfigPrecedence, TokenEnvSingularAndPlural) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Ok(Load({}, {{"GKM_TOKEN", "a,b"}})).tokens, (V{"a", "b"}));
  EXPECT_EQ(Ok(Load({}, {{"GKM_TOKEN", "a"}, {"GKM_TOKENS", "b"}})).tokens, (V{"b"}));
}

TEST(ConfigPrecedence, ModelAliasesFromEveryListSource) {
  EXPECT_TRUE(Ok(Load({})).model_aliases.empty());
  Config env =
      Ok(Load({}, {{"GKM_MODEL_ALIASES", "gpt-4o=gemini-2.5-flash, claude-*=gemini-2.5-pro"}}));
  EXPECT_EQ(env.model_aliases.Map("gpt-4o"), "gemini-2.5-flash");
  EXPECT_EQ(env.model_aliases.Map("claude-x"), "gemini-2.5-pro");
  std::string path = WriteToml("model_alias = [\"a=gemini-2.5-flash\", \"b*=gemini-2.5-pro\"]\n");
  Config file = Ok(Load({"--config", path}));
  EXPECT_EQ(file.model_aliases.Map("a"), "gemini-2.5-flash");
  EXPECT_EQ(file.model_aliases.Map("bee"), "gemini-2.5-pro");
  // A higher source replaces the whole list, as with tokens.
  Config flags = Ok(Load(
      {"--config", path, "--model-alias", "c=gemini-2.5-flash", "--model-alias=d=gemini-2.5-pro"}));
  EXPECT_EQ(flags.model_aliases.Map("a"), std::nullopt);
  EXPECT_EQ(flags.model_aliases.Map("c"), "gemini-2.5-flash");
  EXPECT_EQ(flags.model_aliases.Map("d"), "gemini-2.5-pro");
}

TEST(ConfigErrors, BadModelAliasSaysWhatIsWrong) {
  EXPECT_EQ(Err(Load({"--model-alias", "claude-sonnet-4-5"})),
            "--model-alias: 'claude-sonnet-4-5': expected FROM=TO (e.g. "
            "claude-*=gemini-2.5-flash)");
  EXPECT_THAT(
      Err(Load({"--model-alias", "a=gemini-2.5-flash", "--model-alias", "a=gemini-2.5-pro"})),
      HasSubstr("aliased twice"));
  EXPECT_THAT(Err(Load({}, {{"GKM_MODEL_ALIASES", "a=gemini-2.5-flash,b="}})),
              HasSubstr("TO is empty: expected FROM=TO (from GKM_MODEL_ALIASES)"));
  EXPECT_THAT(Err(Load({"--config", WriteToml("model_alias = [\"x=gemini-*\"]\n")})),
              HasSubstr("not a glob"));
}

TEST(ConfigPrecedence, TomlTokenMayBeASingleString) {
  EXPECT_EQ(Ok(Load({"--config", WriteToml("token = \"solo\"\n")})).tokens,
            std::vector<std::string>{"solo"});
}

TEST(ConfigPrecedence, LastScalarFlagWins) {
  EXPECT_EQ(Ok(Load({"--threads", "2", "--threads=3"})).threads, 3u);
}

TEST(ConfigPrecedence, SwitchCanBeTurnedOffByAHigherSource) {
  std::string path = WriteToml("metrics_per_key = true\n");
  EXPECT_TRUE(Ok(Load({"--config", path})).metrics_per_key);
  EXPECT_FALSE(Ok(Load({"--config", path}, {{"GKM_METRICS_PER_KEY", "false"}})).metrics_per_key);
  EXPECT_FALSE(Ok(Load({"--config", path, "--metrics-per-key=false"})).metrics_per_key);
}

// ---------------------------------------------------------------------------------------
// Accepted forms.

TEST(ConfigValues, ListenForms) {
  Config c = Ok(Load({"--listen", "0.0.0.0:0"}));
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 0);
  c = Ok(Load({"--listen", "localhost:65535"}));
  EXPECT_EQ(c.listen.host, "localhost");
  EXPECT_EQ(c.listen.port, 65535);
  c = Ok(Load({"--listen", "[::]:80"}));
  EXPECT_EQ(c.listen.host, "::");
}

TEST(ConfigValues, UpstreamForms) {
  Config c = Ok(Load({"--upstream", "https://example.com"}));
  EXPECT_TRUE(c.upstream.tls);
  EXPECT_EQ(c.upstream.host, "example.com");
  EXPECT_EQ(c.upstream.port, 443);
  EXPECT_EQ(c.upstream.base_path, "");
  c = Ok(Load({"--upstream", "http://127.0.0.1/"}));
  EXPECT_FALSE(c.upstream.tls);
  EXPECT_EQ(c.upstream.port, 80);
  EXPECT_EQ(c.upstream.base_path, "");
  c = Ok(Load({"--upstream", "https://[::1]:8443/a/b"}));
  EXPECT_EQ(c.upstream.host, "::1");
  EXPECT_EQ(c.upstream.port, 8443);
  EXPECT_EQ(c.upstream.base_path, "/a/b");
}

TEST(ConfigValues, ResetTimeForms) {
  EXPECT_EQ(Ok(Load({"--reset-time", "23:59"})).reset_time.count(), 23 * 3600 + 59 * 60);
  EXPECT_EQ(Ok(Load({"--reset-time", "00:00:59"})).reset_time.count(), 59);
  std::string path = WriteToml("reset_time = 07:30:00\n");  // a TOML local time
  EXPECT_EQ(Ok(Load({"--config", path})).reset_time.count(), 7 * 3600 + 30 * 60);
}

TEST(ConfigValues, AllLogLevelsAndLimits) {
  EXPECT_EQ(Ok(Load({"--log-level", "trace"})).log_level, LogLevel::kTrace);
  EXPECT_EQ(Ok(Load({"--log-level", "info"})).log_level, LogLevel::kInfo);
  EXPECT_EQ(Ok(Load({"--log-level", "warn"})).log_level, LogLevel::kWarn);
  EXPECT_EQ(Ok(Load({"--log-level", "error"})).log_level, LogLevel::kError);
  EXPECT_FALSE(Ok(Load({"--log-format", "text"})).log_json);
  EXPECT_EQ(Ok(Load({"--openai-mode", "translate"})).openai_mode, OpenAiMode::kTranslate);
  EXPECT_FALSE(Ok(Load({"--bare-429", "day"})).bare_429_cooling);
  EXPECT_EQ(Ok(Load({"--max-attempts", "1000"})).max_attempts, 1000u);
  EXPECT_EQ(Ok(Load({"--max-queue-wait", "3600"})).max_queue_wait.count(), 3600);
  EXPECT_EQ(Ok(Load({"--max-queued", "0"})).max_queued, 0u);
  EXPECT_EQ(Ok(Load({"--max-queued", "1000000"})).max_queued, 1000000u);
  EXPECT_EQ(Ok(Load({"--max-body-bytes", "17179869184"})).max_body_bytes, 17179869184u);
  EXPECT_EQ(Ok(Load({"--threads", "256"})).threads, 256u);
  EXPECT_EQ(Ok(Load({"--threads", "0"})).threads, kCores);
  EXPECT_EQ(Ok(Load({"--upstream-timeout", "86400"})).upstream_timeout.count(), 86400);
  EXPECT_EQ(Ok(Load({"--flush-interval-ms", "10"})).flush_interval.count(), 10);
  EXPECT_EQ(Ok(Load({"--flush-interval-ms", "60000"})).flush_interval.count(), 60000);
  EXPECT_EQ(Ok(Load({"--shutdown-grace", "0"})).shutdown_grace.count(), 0);
  EXPECT_EQ(Ok(Load({"--recheck-invalid", "0"})).recheck_invalid.count(), 0);
  EXPECT_EQ(Ok(Load({"--recheck-invalid", "31536000"})).recheck_invalid.count(), 31536000);
}

TEST(ConfigValues, ValueMayStartWithDashesInEqualsForm) {
  EXPECT_EQ(Ok(Load({"--keys=--odd-name"})).keys_file, "--odd-name");
}

// ---------------------------------------------------------------------------------------
// Help and version.

TEST(ConfigHelp, HelpMentionsEveryFlagEnvAndDefault) {
  for (const char* arg : {"--help", "-h"}) {
    ConfigResult r = Load({"--threads", "2", arg});
    ASSERT_TRUE(std::holds_alternative<ShowHelp>(r)) << arg;
    const std::string& text = std::get<ShowHelp>(r).text;
    for (size_t eol, pos = 0; (eol = text.find('\n', pos)) != std::string::npos; pos = eol + 1) {
      EXPECT_LE(eol - pos, 100u) << text.substr(pos, eol - pos);
    }
    for (const Case& k : kCases) {
      EXPECT_THAT(text, HasSubstr("--" + k.flag + " ")) << k.flag;
      EXPECT_THAT(text, HasSubstr(k.flag == "token"            ? "GKM_TOKENS"
                                  : k.flag == "upstream-proxy" ? "GKM_UPSTREAM_PROXIES"
                                                               : EnvOf(k.flag)));
    }
    EXPECT_THAT(text, HasSubstr("--config FILE"));
    EXPECT_THAT(text, HasSubstr("GKM_CONFIG"));
    EXPECT_THAT(text, HasSubstr("env GKM_MODEL_ALIASES, toml model_alias"));
    EXPECT_THAT(text, HasSubstr("--version"));
    for (const char* def :
         {"key.txt", "127.0.0.1:5000", "https://generativelanguage.googleapis.com",
          "America/Los_Angeles", "104857600", "10485760", "translate"}) {
      EXPECT_THAT(text, HasSubstr(def));
    }
  }
}

TEST(ConfigHelp, HelpWinsOverABadConfigFile) {
  EXPECT_TRUE(std::holds_alternative<ShowHelp>(Load({"--help"}, {{"GKM_CONFIG", "/nonexistent"}})));
}

TEST(ConfigHelp, Version) {
  ConfigResult r = Load({"--version"});
  ASSERT_TRUE(std::holds_alternative<ShowVersion>(r));
  EXPECT_EQ(std::get<ShowVersion>(r).text, std::string("gemini-key-manager ") + GKM_VERSION);
}

// ---------------------------------------------------------------------------------------
// Errors. Each must name the flag.

struct Bad {
  std::string flag;
  std::string value;
};

const Bad kBad[] = {
    {"listen", "abc"},
    {"listen", "127.0.0.1"},
    {"listen", "127.0.0.1:"},
    {"listen", ":5000"},
    {"listen", "::1:5000"},
    {"listen", "[::1]5000"},
    {"listen", "[zz]:5000"},
    {"listen", "host:65536"},
    {"listen", "host:-1"},
    {"listen", "host:http"},
    {"upstream", "ftp://example.com"},
    {"upstream", "example.com"},
    {"upstream", "https://"},
    {"upstream", "https:///path"},
    {"upstream", "https://example.com?x=1"},
    {"upstream", "https://example.com/p#frag"},
    {"upstream", "https://example.com:0"},
    {"upstream", "https://example.com:99999"},
    {"upstream", "https://example.com:abc"},
    {"upstream", "https://user:pw@example.com"},
    {"log-level", "verbose"},
    {"log-level", ""},
    {"log-format", "JSON"},
    {"log-format", "logfmt"},
    {"reset-time", "24:00"},
    {"reset-time", "12:60"},
    {"reset-time", "12:00:60"},
    {"reset-time", "7:30"},
    {"reset-time", "12"},
    {"reset-time", "12:00:00:00"},
    {"reset-timezone", ""},
    {"openai-mode", "openai"},
    {"bare-429", "week"},
    {"max-attempts", "-1"},
    {"max-attempts", "1001"},
    {"max-attempts", "ten"},
    {"max-attempts", "5x"},
    {"max-attempts", " 5"},
    {"max-attempts", "+5"},
    {"max-queue-wait", "-1"},
    {"max-queue-wait", "3601"},
    {"max-queue-wait", "1.5"},
    {"max-queued", "-1"},
    {"max-queued", "1000001"},
    {"upstream-timeout", "0"},
    {"upstream-timeout", "86401"},
    {"client-timeout", "0"},
    {"max-connections", "0"},
    {"client-timeout", "3601"},
    {"max-body-bytes", "0"},
    {"max-body-bytes", "17179869185"},
    {"max-body-bytes", "99999999999999999999999999"},
    {"threads", "257"},
    {"threads", "-4"},
    {"log-max-size", "4095"},
    {"log-max-size", "18446744073709551616"},
    {"log-max-files", "0"},
    {"log-max-files", "1001"},
    {"flush-interval-ms", "9"},
    {"flush-interval-ms", "60001"},
    {"shutdown-grace", "3601"},
    {"redis", "http://r:6379"},
    {"redis", "redis://"},
    {"redis", "rediss://"},
    {"redis-prefix", ""},
    {"redis-prefix", "a b"},
    {"redis-ca", ""},
    {"redis-optional", "maybe"},
    {"token", ""},
    {"token", "a b"},
    {"token", "a,b"},
    {"admin-token", ""},
    {"admin-token", "a\tb"},
    {"keys", ""},
    {"state-dir", ""},
    {"log-dir", ""},
    {"upstream-ca", ""},
    {"recheck-invalid", "31536001"},
    {"recheck-invalid", "-1"},
    {"recheck-invalid", "1h"},
    {"metrics-per-key", "maybe"},
    {"model-alias", "claude-sonnet-4-5"},
    {"model-alias", "=gemini-2.5-flash"},
    {"model-alias", "claude-*="},
    {"model-alias", "claude-*=gemini-*"},
    {"model-alias", "claude-*=gemini 2.5"},
    {"model-alias", "claude-*=gpt-4o"},
    {"model-alias", "claude sonnet=gemini-2.5-flash"},
};

TEST(ConfigErrors, EveryBadValueFromTheCommandLineNamesTheFlag) {
  for (const Bad& b : kBad) {
    SCOPED_TRACE(b.flag + "=" + b.value);
    std::string msg = Err(Load({"--" + b.flag + "=" + b.value}));
    EXPECT_THAT(msg, HasSubstr("--" + b.flag + ":"));
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
}

TEST(ConfigErrors, BadValuesFromTheEnvironmentNameFlagAndVariable) {
  for (const Bad& b : kBad) {
    if (b.value.empty() || b.flag == "token") continue;  // empty env = unset; token below
    SCOPED_TRACE(b.flag + "=" + b.value);
    std::string msg = Err(Load({}, {{EnvOf(b.flag), b.value}}));
    EXPECT_THAT(msg, HasSubstr("--" + b.flag + ":"));
    EXPECT_THAT(msg, HasSubstr("(from " + EnvOf(b.flag) + ")"));
  }
}

TEST(ConfigErrors, ListenMessageShape) {
  EXPECT_EQ(Err(Load({}, {{"GKM_LISTEN", "abc"}})),
            "--listen: 'abc' is not HOST:PORT (from GKM_LISTEN)");
  EXPECT_THAT(Err(Load({"--listen", "::1:5000"})), HasSubstr("[::1]:5000"));
}

TEST(ConfigErrors, BadValueInTheFileNamesFlagFileAndLine) {
  std::string path = WriteToml("# comment\nlisten = \"nope\"\n");
  std::string msg = Err(Load({"--config", path}));
  EXPECT_THAT(msg, HasSubstr("--listen:"));
  EXPECT_THAT(msg, HasSubstr(path + ":2"));
}

TEST(ConfigErrors, NegativeIntegerInTheFile) {
  std::string msg = Err(Load({"--config", WriteToml("threads = -1\n")}));
  EXPECT_THAT(msg, HasSubstr("--threads:"));
  EXPECT_THAT(msg, HasSubstr("negative"));
}

TEST(ConfigErrors, BadTokensFromEnvAndFile) {
  EXPECT_THAT(Err(Load({}, {{"GKM_TOKENS", "a,,b"}})), HasSubstr("--token:"));
  EXPECT_THAT(Err(Load({}, {{"GKM_TOKENS", "a,"}})), HasSubstr("(from GKM_TOKENS)"));
  EXPECT_THAT(Err(Load({}, {{"GKM_TOKEN", "a b"}})), HasSubstr("(from GKM_TOKEN)"));
  EXPECT_THAT(Err(Load({"--config", WriteToml("token = [\"ok\", \"x y\"]\n")})),
              HasSubstr("--token:"));
  EXPECT_THAT(Err(Load({"--config", WriteToml("token = [\"ok\", 3]\n")})), HasSubstr("--token:"));
}

TEST(ConfigSources, RedisDefaultsAndSwitch) {
  Config c = Ok(Load({}));
  EXPECT_EQ(c.redis_prefix, "gkm:");
  EXPECT_FALSE(c.redis_optional);
  EXPECT_TRUE(Ok(Load({"--redis", "rediss://h:6380", "--redis-optional"})).redis_optional);
  EXPECT_EQ(Ok(Load({"--redis", "rediss://h:6380"})).redis, "rediss://h:6380");
}

TEST(ConfigErrors, SecretsAreNotEchoed) {
  EXPECT_THAT(Err(Load({"--token", "secret value"})), Not(HasSubstr("secret")));
  EXPECT_THAT(Err(Load({"--admin-token", "secret value"})), Not(HasSubstr("secret")));
  EXPECT_THAT(Err(Load({"--redis", "rediss://:secretpw@h:1 x"})), Not(HasSubstr("secretpw")));
}

TEST(ConfigErrors, MessageStaysOnOneLine) {
  std::string msg = Err(Load({}, {{"GKM_LOG_LEVEL", "in\nfo"}}));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(ConfigErrors, MissingValue) {
  EXPECT_THAT(Err(Load({"--listen"})), HasSubstr("--listen:"));
  EXPECT_THAT(Err(Load({"--token", "--listen", "1.2.3.4:5"})), HasSubstr("--token:"));
  EXPECT_THAT(Err(Load({"--config"})), HasSubstr("--config:"));
}

TEST(ConfigErrors, UnknownFlagAndStrayArgument) {
  EXPECT_THAT(Err(Load({"--no-such-flag"})), HasSubstr("--no-such-flag"));
  EXPECT_THAT(Err(Load({"--no-such-flag=1"})), HasSubstr("--no-such-flag"));
  EXPECT_THAT(Err(Load({"-x"})), HasSubstr("-x"));
  EXPECT_THAT(Err(Load({"stray"})), HasSubstr("stray"));
  EXPECT_THAT(Err(Load({"--"})), HasSubstr("--"));
}

TEST(ConfigErrors, UnknownTomlKey) {
  std::string path = WriteToml("listen = \"127.0.0.1:1\"\nno_such_key = 1\n");
  std::string msg = Err(Load({"--config", path}));
  EXPECT_THAT(msg, HasSubstr("no_such_key"));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("line 2"));
  // The flag spelling instead of snake_case gets a hint.
  EXPECT_THAT(Err(Load({"--config", WriteToml("max-attempts = 1\n")})),
              HasSubstr("did you mean max_attempts"));
  // Tables are not part of the format.
  EXPECT_THAT(Err(Load({"--config", WriteToml("[server]\nlisten = \"x:1\"\n")})),
              HasSubstr("server"));
  // A config file does not name another config file.
  EXPECT_THAT(Err(Load({"--config", WriteToml("config = \"other.toml\"\n")})),
              HasSubstr("--config:"));
}

TEST(ConfigErrors, TomlTypeErrors) {
  const std::pair<std::string, std::string> kWrong[] = {
      {"threads", "\"4\""},
      {"threads", "4.0"},
      {"listen", "5000"},
      {"metrics_per_key", "\"true\""},
      {"token", "1"},
      {"reset_time", "1979-05-27"},
      {"max_body_bytes", "[1]"},
      {"log_level", "{ a = 1 }"},
  };
  for (const auto& [key, value] : kWrong) {
    SCOPED_TRACE(key);
    std::string path = WriteToml(key + " = " + value + "\n");
    std::string msg = Err(Load({"--config", path}));
    std::string flag = key;
    for (char& ch : flag) ch = ch == '_' ? '-' : ch;
    EXPECT_THAT(msg, HasSubstr("--" + flag + ": expected"));
    EXPECT_THAT(msg, HasSubstr(path + ":1"));
  }
}

TEST(ConfigErrors, TomlSyntaxErrorNamesFileAndLine) {
  std::string path = WriteToml("threads = 4\nlisten = \"unterminated\n");
  std::string msg = Err(Load({"--config", path}));
  EXPECT_THAT(msg, HasSubstr("--config:"));
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("line 2"));
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(ConfigErrors, MissingOrUnreadableConfigFile) {
  std::string missing = testing::TempDir() + "gkm_definitely_missing.toml";
  std::string msg = Err(Load({"--config", missing}));
  EXPECT_THAT(msg, HasSubstr("--config:"));
  EXPECT_THAT(msg, HasSubstr(missing));
  msg = Err(Load({}, {{"GKM_CONFIG", missing}}));
  EXPECT_THAT(msg, HasSubstr("(from GKM_CONFIG)"));
  msg = Err(Load({"--config", testing::TempDir()}));  // a directory
  EXPECT_THAT(msg, HasSubstr("--config:"));
  EXPECT_THAT(Err(Load({"--config="})), HasSubstr("--config:"));
}

TEST(ConfigErrors, EmptyConfigFileIsFine) {
  Config c = Ok(Load({"--config", WriteToml("")}));
  EXPECT_EQ(c.listen.port, 5000);
}

}  // namespace
}  // namespace gkm
