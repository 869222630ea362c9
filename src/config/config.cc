#include "config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>

// toml++ reports parse errors by exception only when TOML_EXCEPTIONS is on; set it here
// rather than in CMake so that no other target's view of toml++ changes.
#ifndef TOML_EXCEPTIONS
#define TOML_EXCEPTIONS 1
#endif
#include <toml++/toml.h>

#include <openssl/sha.h>

#include "common/proxy_url.h"

#ifndef GKM_VERSION
#define GKM_VERSION "unknown"
#endif

namespace gkm {
namespace {

// Error text without the "--flag: " prefix; nullopt means the value was accepted.
using Problem = std::optional<std::string>;

// How a setting is spelled in TOML, and how a bare command-line flag behaves.
enum class Kind {
  kString,   // TOML string
  kInteger,  // TOML integer
  kTime,     // TOML string "HH:MM[:SS]" or a TOML local time
  kSwitch,   // flag without value; env/TOML boolean
  kList,     // repeatable flag; env comma separated; TOML array of strings (or one string)
};

using Setter = Problem (*)(std::string_view value, Config& config);
using ListSetter = Problem (*)(const std::vector<std::string>& values, Config& config);

// One row per setting. The TOML key and the environment variable are derived from `flag`
// so the three spellings can never drift apart.
struct Option {
  std::string_view flag;  // without the leading "--"
  std::string_view metavar;
  Kind kind;
  std::string_view default_text;
  std::string_view help;
  Setter set = nullptr;           // every kind but kList
  ListSetter set_list = nullptr;  // kList
  bool in_file = true;            // false: may not appear in the TOML file
};

// ---------------------------------------------------------------------------------------
// Small helpers.

// Values are echoed in one-line messages: keep them on one line and of bounded length.
std::string Quote(std::string_view v) {
  std::string out = "'";
  size_t n = 0;
  for (unsigned char ch : v) {
    if (++n > 120) {
      out += "...";
      break;
    }
    if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "'";
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

bool HasSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](unsigned char ch) { return std::isspace(ch) || std::iscntrl(ch); });
}

std::string TomlKey(std::string_view flag) {
  std::string out(flag);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

std::string EnvName(std::string_view flag) {
  std::string out = "GKM_";
  for (char ch : flag) {
    out += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  return out;
}

// A repeatable flag's environment variable holds a list: GKM_TOKENS, GKM_MODEL_ALIASES.
std::string ListEnvName(std::string_view flag) {
  std::string name = EnvName(flag);
  if (name.ends_with('Y')) return name.substr(0, name.size() - 1) + "IES";  // PROXY: PROXIES
  return name + (name.ends_with('S') ? "ES" : "S");
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Digits only: no sign, no spaces, no "0x", so that "-1" or "5 " never sneak through as
// something else.
Problem ParseUint(std::string_view v, uint64_t lo, uint64_t hi, uint64_t& out) {
  if (!v.empty() && v.front() == '-') return Quote(v) + " must not be negative";
  if (v.empty() ||
      !std::all_of(v.begin(), v.end(), [](unsigned char ch) { return std::isdigit(ch); })) {
    return Quote(v) + " is not a whole number";
  }
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi) {
    return Quote(v) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi);
  }
  out = n;
  return std::nullopt;
}

Problem ParsePort(std::string_view v, uint64_t lo, uint16_t& port) {
  uint64_t n = 0;
  if (auto p = ParseUint(v, lo, 65535, n)) return "port " + *p;
  port = static_cast<uint16_t>(n);
  return std::nullopt;
}

bool IsHostName(std::string_view h) {
  return !h.empty() && std::all_of(h.begin(), h.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
  });
}

bool IsIpv6(std::string_view h) {
  // A zone ("fe80::1%eth0") is legal in a listen address; inet_pton does not know it.
  std::string addr(h.substr(0, h.find('%')));
  in6_addr a;
  return !addr.empty() && inet_pton(AF_INET6, addr.c_str(), &a) == 1;
}

// "[v6]:port" or "host:port" (also "[v6]" / "host" when the port is optional) into host and
// the text after the colon; nullopt on a malformed bracket or an unbracketed IPv6 address.
struct HostPort {
  std::string host;
  std::optional<std::string_view> port;
};
std::optional<HostPort> SplitHostPort(std::string_view s) {
  HostPort hp;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || !IsIpv6(s.substr(1, close - 1))) return std::nullopt;
    hp.host = std::string(s.substr(1, close - 1));
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) return hp;
    if (rest.front() != ':') return std::nullopt;
    hp.port = rest.substr(1);
    return hp;
  }
  size_t colon = s.rfind(':');
  std::string_view host = colon == std::string_view::npos ? s : s.substr(0, colon);
  if (!IsHostName(host)) return std::nullopt;  // also rejects bare IPv6 (contains ':')
  hp.host = std::string(host);
  if (colon != std::string_view::npos) hp.port = s.substr(colon + 1);
  return hp;
}

// ---------------------------------------------------------------------------------------
// Setters: parse one value into Config, or say what is wrong with it.

Problem SetListen(std::string_view v, Config& c) {
  auto hp = SplitHostPort(v);
  if (!hp || !hp->port) {
    // Two colons and no bracket: most likely an IPv6 address written the usual way.
    bool bare_v6 = v.find('[') == std::string_view::npos && std::count(v.begin(), v.end(), ':') > 1;
    return Quote(v) +
           (bare_v6 ? " is not HOST:PORT; write IPv6 as [::1]:5000" : " is not HOST:PORT");
  }
  ListenAddress a;
  a.host = hp->host;
  // Port 0 asks the kernel for a free port, which tests use.
  if (auto p = ParsePort(*hp->port, 0, a.port)) return Quote(v) + ": " + *p;
  c.listen = a;
  return std::nullopt;
}

Problem SetUpstream(std::string_view v, Config& c) {
  UpstreamUrl u;
  std::string lower = ToLower(v.substr(0, 8));
  std::string_view rest;
  if (lower.rfind("https://", 0) == 0) {
    u.tls = true;
    u.port = 443;
    rest = v.substr(8);
  } else if (lower.rfind("http://", 0) == 0) {
    u.tls = false;
    u.port = 80;
    rest = v.substr(7);
  } else {
    return Quote(v) + " is not an http:// or https:// URL";
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Quote(v) + " must not have a query or fragment";
  }
  if (HasSpace(rest)) return Quote(v) + " must not contain whitespace";
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  // Credentials would be sent to Google in clear text in logs; nothing here needs them.
  if (authority.find('@') != std::string_view::npos) {
    return Quote(v) + " must not contain user:password@";
  }
  auto hp = SplitHostPort(authority);
  if (!hp || hp->host.empty()) return Quote(v) + " has no valid host";
  u.host = hp->host;
  if (hp->port) {
    if (auto p = ParsePort(*hp->port, 1, u.port)) return Quote(v) + ": " + *p;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  u.base_path = std::string(path);
  c.upstream = u;
  return std::nullopt;
}

Problem SetLogLevel(std::string_view v, Config& c) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {{"trace", LogLevel::kTrace},
                                                                      {"debug", LogLevel::kDebug},
                                                                      {"info", LogLevel::kInfo},
                                                                      {"warn", LogLevel::kWarn},
                                                                      {"error", LogLevel::kError}};
  std::string lower = ToLower(v);
  for (auto [name, level] : kLevels) {
    if (lower == name) {
      c.log_level = level;
      return std::nullopt;
    }
  }
  return Quote(v) + " is not one of trace, debug, info, warn, error";
}

Problem SetResetTime(std::string_view v, Config& c) {
  // HH:MM or HH:MM:SS, each field two digits, within one day.
  auto two = [](std::string_view s, int max, int& out) {
    if (s.size() != 2 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
        !std::isdigit(static_cast<unsigned char>(s[1]))) {
      return false;
    }
    out = (s[0] - '0') * 10 + (s[1] - '0');
    return out <= max;
  };
  int h = 0, m = 0, s = 0;
  bool ok = (v.size() == 5 || (v.size() == 8 && v[5] == ':')) && v[2] == ':' &&
            two(v.substr(0, 2), 23, h) && two(v.substr(3, 2), 59, m) &&
            (v.size() == 5 || two(v.substr(6, 2), 59, s));
  if (!ok) return Quote(v) + " is not a time of day HH:MM or HH:MM:SS (00:00..23:59:59)";
  c.reset_time = std::chrono::seconds(h * 3600 + m * 60 + s);
  return std::nullopt;
}

Problem SetResetTimezone(std::string_view v, Config& c) {
  // Whether the zone exists is checked against the tz database by the quota-day code.
  if (v.empty() || HasSpace(v)) return Quote(v) + " is not a time zone name";
  c.reset_timezone = std::string(v);
  return std::nullopt;
}

Problem SetOpenAiMode(std::string_view v, Config& c) {
  if (v == "translate") {
    c.openai_mode = OpenAiMode::kTranslate;
  } else if (v == "google") {
    c.openai_mode = OpenAiMode::kGoogle;
  } else {
    return Quote(v) + " is not translate or google";
  }
  return std::nullopt;
}

Problem SetStrategy(std::string_view v, Config& c) {
  if (v == "round_robin") {
    c.strategy = PoolStrategy::kRoundRobin;
  } else if (v == "least_used") {
    c.strategy = PoolStrategy::kLeastUsed;
  } else if (v == "fill_first") {
    c.strategy = PoolStrategy::kFillFirst;
  } else {
    return Quote(v) + " is not round_robin, least_used or fill_first";
  }
  return std::nullopt;
}

Problem SetLogFormat(std::string_view v, Config& c) {
  if (v == "text") {
    c.log_json = false;
  } else if (v == "json") {
    c.log_json = true;
  } else {
    return Quote(v) + " is not text or json";
  }
  return std::nullopt;
}

Problem SetBare429(std::string_view v, Config& c) {
  if (v == "day") {
    c.bare_429_cooling = false;
  } else if (v == "cooling") {
    c.bare_429_cooling = true;
  } else {
    return Quote(v) + " is not day or cooling";
  }
  return std::nullopt;
}

Problem SetRedis(std::string_view v, Config& c) {
  // The URL may hold a password: never echo it.
  const bool plain = v.rfind("redis://", 0) == 0, tls = v.rfind("rediss://", 0) == 0;
  if ((!plain && !tls) || v.size() == (plain ? 8u : 9u) || HasSpace(v)) {
    return std::string("value is not a redis:// or rediss://[:password@]host:port[/db] URL");
  }
  c.redis = std::string(v);
  return std::nullopt;
}

Problem SetRedisPrefix(std::string_view v, Config& c) {
  if (v.empty() || v.size() > 64 || HasSpace(v)) {
    return Quote(v) + " is not 1..64 characters without spaces";
  }
  c.redis_prefix = std::string(v);
  return std::nullopt;
}

template <bool Config::*Field>
Problem SetSwitch(std::string_view v, Config& c) {
  std::string lower = ToLower(v);
  if (lower == "true" || lower == "1") {
    c.*Field = true;
  } else if (lower == "false" || lower == "0") {
    c.*Field = false;
  } else {
    return Quote(v) + " is not true or false";
  }
  return std::nullopt;
}

// Secrets are not echoed in messages: they end up in terminals and service logs.
Problem CheckSecret(std::string_view v) {
  if (v.empty()) return std::string("a token must not be empty");
  if (HasSpace(v) || v.find(',') != std::string_view::npos) {
    return std::string("a token must not contain whitespace or commas");
  }
  return std::nullopt;
}

Problem SetTokens(const std::vector<std::string>& values, Config& c) {
  for (const std::string& t : values) {
    if (auto p = CheckSecret(t)) return p;
  }
  c.tokens = values;
  return std::nullopt;
}

Problem SetLimits(const std::vector<std::string>& values, Config& c) {
  LimitTable limits;
  for (const std::string& v : values) {
    if (std::string problem = limits.Add(Trim(v)); !problem.empty()) {
      return Quote(v) + ": " + problem;
    }
  }
  c.limits = std::move(limits);
  return std::nullopt;
}

// Egress proxy URLs: the message names the problem, never the password.
Problem SetUpstreamProxies(const std::vector<std::string>& values, Config& c) {
  std::vector<std::string> urls;
  for (const std::string& v : values) {
    std::string_view url = Trim(v);
    if (url.empty()) continue;
    std::string why;
    auto parsed = ParseProxyUrl(url, &why);
    if (!parsed) {
      const size_t at = url.rfind('@');
      const std::string shown =
          at == std::string_view::npos ? std::string(url) : "..." + std::string(url.substr(at));
      return Quote(shown) + " " + why;
    }
    urls.emplace_back(url);
  }
  c.upstream_proxies = std::move(urls);
  return std::nullopt;
}

Problem SetModelAliases(const std::vector<std::string>& values, Config& c) {
  ModelAliases aliases;
  for (const std::string& v : values) {
    if (std::string problem = aliases.Add(Trim(v)); !problem.empty()) {
      return Quote(v) + ": " + problem;
    }
  }
  c.model_aliases = std::move(aliases);
  return std::nullopt;
}

Problem SetAdminToken(std::string_view v, Config& c) {
  if (auto p = CheckSecret(v)) return p;
  c.admin_token = std::string(v);
  return std::nullopt;
}

// A file or directory name; existence is checked by whoever opens it.
template <auto Member>
Problem SetPath(std::string_view v, Config& c) {
  if (v.empty()) return std::string("must not be empty");
  c.*Member = std::string(v);
  return std::nullopt;
}

template <typename T>
void AssignCount(T& field, uint64_t n) {
  if constexpr (std::is_integral_v<T>) {
    field = static_cast<T>(n);
  } else {  // a std::chrono::duration
    field = T(static_cast<typename T::rep>(n));
  }
}

template <auto Member, uint64_t kLo, uint64_t kHi>
Problem SetCount(std::string_view v, Config& c) {
  uint64_t n = 0;
  if (auto p = ParseUint(v, kLo, kHi, n)) return p;
  AssignCount(c.*Member, n);
  return std::nullopt;
}

constexpr uint64_t kGiB = uint64_t{1} << 30;

// ---------------------------------------------------------------------------------------
// The table. Order is the order of --help and of error checking.

const Option kOptions[] = {
    {"config", "FILE", Kind::kString, "none",
     "TOML file with the same keys as the flags, in snake_case (token = [\"a\", \"b\"]), and "
     "[[client]] tables naming clients with their own token and limits (README)",
     &SetPath<&Config::config_file>, nullptr, /*in_file=*/false},
    {"keys", "FILE", Kind::kString, "key.txt",
     "Gemini API keys, one per line; blank lines and lines starting with # are ignored",
     &SetPath<&Config::keys_file>},
    {"listen", "HOST:PORT", Kind::kString, "127.0.0.1:5000",
     "address to listen on; IPv6 as [::1]:5000; port 0 picks a free port", &SetListen},
    {"upstream", "URL", Kind::kString, "https://generativelanguage.googleapis.com",
     "base URL of the Gemini API: http:// or https://, optional port and base path", &SetUpstream},
    {"token", "T", Kind::kList, "none: one is generated and stored in the state dir",
     "client token accepted by the proxy; repeatable (env: comma separated, also GKM_TOKEN; "
     "TOML: array)",
     nullptr, &SetTokens},
    {"admin-token", "T", Kind::kString, "none",
     "bearer token for /admin/*; without it the admin API answers 404", &SetAdminToken},
    {"state-dir", "DIR", Kind::kString, ".", "directory of the SQLite state database",
     &SetPath<&Config::state_dir>},
    {"redis", "URL", Kind::kString, "none",
     "redis://[:password@]host:port[/db] (rediss:// for TLS): state shared by several instances",
     &SetRedis},
    {"redis-prefix", "P", Kind::kString, "gkm:", "prefix of every Redis key and channel",
     &SetRedisPrefix},
    {"redis-optional", "", Kind::kSwitch, "false",
     "start on local state with a warning when Redis does not answer at start, and join when "
     "it does",
     &SetSwitch<&Config::redis_optional>},
    {"redis-ca", "FILE", Kind::kString, "none",
     "extra CA certificates (PEM) to trust for a rediss:// server; system CAs are always trusted",
     &SetPath<&Config::redis_ca>},
    {"log-dir", "DIR", Kind::kString, ".", "directory of the rotating log files",
     &SetPath<&Config::log_dir>},
    {"log-level", "L", Kind::kString, "info", "trace, debug, info, warn or error", &SetLogLevel},
    {"log-format", "F", Kind::kString, "text",
     "text: one line per event; json: one JSON object per line with the same fields",
     &SetLogFormat},
    {"reset-timezone", "TZ", Kind::kString, "America/Los_Angeles",
     "IANA time zone in which the daily quota resets", &SetResetTimezone},
    {"reset-time", "HH:MM[:SS]", Kind::kTime, "00:00",
     "local time of the daily quota reset in that zone", &SetResetTime},
    {"openai-mode", "M", Kind::kString, "translate",
     "translate: turn OpenAI requests into native Gemini ones; google: forward them to "
     "Google's /v1beta/openai/ endpoint",
     &SetOpenAiMode},
    {"max-attempts", "N", Kind::kInteger, "0 (= number of keys)",
     "most upstream attempts for one client request, 0..1000",
     &SetCount<&Config::max_attempts, 0, 1000>},
    {"max-queue-wait", "S", Kind::kInteger, "0 (= never wait)",
     "seconds a request may wait for a key that will serve within them, instead of a 503; "
     "waiters go out first come, first served per model; 0..3600",
     &SetCount<&Config::max_queue_wait, 0, 3600>},
    {"max-queued", "N", Kind::kInteger, "1000",
     "requests waiting for a key at once; beyond it, 503 at once; 0..1000000",
     &SetCount<&Config::max_queued, 0, 1000000>},
    {"upstream-timeout", "S", Kind::kInteger, "600",
     "seconds to wait for upstream response headers, and between streamed chunks, 1..86400",
     &SetCount<&Config::upstream_timeout, 1, 86400>},
    {"max-body-bytes", "N", Kind::kInteger, "104857600 (100 MiB)",
     "larger request bodies get 413; 1..17179869184 (16 GiB)",
     &SetCount<&Config::max_body_bytes, 1, 16 * kGiB>},
    {"threads", "N", Kind::kInteger, "0 (= number of cores)", "I/O threads, 0..256",
     &SetCount<&Config::threads, 0, 256>},
    {"client-timeout", "S", Kind::kInteger, "30",
     "seconds a client may take to send its headers or body, or to take our bytes, 1..3600",
     &SetCount<&Config::client_timeout, 1, 3600>},
    {"max-connections", "N", Kind::kInteger, "10000",
     "client connections at once; beyond it new ones wait in the kernel backlog, 1..1000000",
     &SetCount<&Config::max_connections, 1, 1000000>},
    {"bare-429", "V", Kind::kString, "day",
     "verdict for a 429 without quota details: day or cooling", &SetBare429},
    {"log-max-size", "BYTES", Kind::kInteger, "10485760 (10 MiB)",
     "rotate a log file when it reaches this size, at least 4096",
     &SetCount<&Config::log_max_size, 4096, std::numeric_limits<uint64_t>::max()>},
    {"log-max-files", "N", Kind::kInteger, "5", "rotated log files to keep, 1..1000",
     &SetCount<&Config::log_max_files, 1, 1000>},
    {"upstream-ca", "FILE", Kind::kString, "none",
     "extra CA certificates (PEM) to trust for the upstream; system CAs are always trusted",
     &SetPath<&Config::upstream_ca>},
    {"upstream-proxy", "URL", Kind::kList, "none (HTTPS_PROXY / NO_PROXY when unset)",
     "egress proxy for upstream connections: http://[user:pass@]host:port (CONNECT), "
     "socks5://... or socks5h://... (the proxy resolves the name); with several, each key is "
     "pinned to one by rendezvous hashing of its id; a key's proxy= in the key file wins; "
     "repeatable (env: comma separated; TOML: array)",
     nullptr, &SetUpstreamProxies},
    {"model-alias", "FROM=TO", Kind::kList, "none",
     "model name clients send (claude-sonnet-4-5, gpt-5-codex) served by a Gemini model; "
     "'*' in FROM matches any run of characters; exact names before globs, then the first "
     "glob given; repeatable (env: comma separated; TOML: array)",
     nullptr, &SetModelAliases},
    {"limit", "MODEL=RPM/RPD[/TPM]", Kind::kList, "none",
     "known per-project quota of a model (requests per minute / per quota day / input tokens "
     "per minute; '-' for not known), e.g. gemini-2.5-pro=5/100/250000; '*' globs; overrides "
     "what the proxy learns from 429s; repeatable (env GKM_LIMITS: comma separated; TOML: array)",
     nullptr, &SetLimits},
    {"strategy", "S", Kind::kString, "round_robin",
     "how a key is chosen among those that can serve: round_robin (projects in turn, then "
     "their keys), least_used (the project with the lowest share of its known per-day limit "
     "used), fill_first (one project, in key-file order, until it is spent)",
     &SetStrategy},
    {"recheck-invalid", "S", Kind::kInteger, "3600",
     "seconds between probes of each invalid key (GET models?pageSize=1); a key that answers "
     "is active again; 0 = never, else 1..31536000",
     &SetCount<&Config::recheck_invalid, 0, 31536000>},
    {"metrics-per-key", "", Kind::kSwitch, "false",
     "export metrics per key (a switch; env and TOML: true or false)",
     &SetSwitch<&Config::metrics_per_key>},
    {"fetch-image-urls", "", Kind::kSwitch, "false",
     "OpenAI routes: fetch remote http(s) image URLs (20 MiB, 10 s limits) instead of refusing "
     "them",
     &SetSwitch<&Config::fetch_image_urls>},
    {"fetch-allow-private", "", Kind::kSwitch, "false",
     "let --fetch-image-urls reach loopback and private addresses (tests, trusted networks)",
     &SetSwitch<&Config::fetch_allow_private>},
    {"flush-interval-ms", "N", Kind::kInteger, "1000",
     "milliseconds between counter flushes to the state store, 10..60000",
     &SetCount<&Config::flush_interval, 10, 60000>},
    {"shutdown-grace", "S", Kind::kInteger, "30",
     "seconds a graceful shutdown waits for in-flight requests, 0..3600",
     &SetCount<&Config::shutdown_grace, 0, 3600>},
};

const Option* FindByFlag(std::string_view flag) {
  for (const Option& o : kOptions) {
    if (o.flag == flag) return &o;
  }
  return nullptr;
}

const Option* FindByTomlKey(std::string_view key) {
  for (const Option& o : kOptions) {
    if (TomlKey(o.flag) == key) return &o;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// Help and version.

// Word-wraps `text` to 100 columns for a block that starts at column `indent`.
std::string Wrap(std::string_view text, size_t indent) {
  constexpr size_t kWidth = 100;
  std::string out;
  size_t col = indent;
  while (!text.empty()) {
    size_t space = text.find(' ');
    std::string_view word = text.substr(0, space);
    text = space == std::string_view::npos ? "" : text.substr(space + 1);
    if (col > indent && col + 1 + word.size() > kWidth) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
    } else if (col > indent) {
      out += ' ';
      ++col;
    }
    out += word;
    col += word.size();
  }
  return out;
}

std::string HelpText() {
  std::string out =
      "Usage: gemini-key-manager [OPTIONS]\n"
      "\n"
      "A proxy in front of the Google Gemini API that holds a pool of API keys.\n"
      "\n"
      "Every option FLAG can also be set by the environment variable GKM_FLAG (upper case,\n"
      "'-' as '_') or by the key flag (snake_case) in the TOML file given by --config.\n"
      "Precedence: command line > environment > config file > default. Options take\n"
      "--flag VALUE or --flag=VALUE. An empty environment variable counts as unset.\n"
      "\n"
      "Options:\n";
  constexpr size_t kColumn = 30;
  for (const Option& o : kOptions) {
    std::string head = "  --" + std::string(o.flag);
    if (!o.metavar.empty()) head += " " + std::string(o.metavar);
    head += head.size() + 2 <= kColumn ? std::string(kColumn - head.size(), ' ')
                                       : "\n" + std::string(kColumn, ' ');
    std::string env = o.kind == Kind::kList ? ListEnvName(o.flag) : EnvName(o.flag);
    out += head + Wrap(o.help, kColumn) + "\n";
    out += std::string(kColumn, ' ') +
           Wrap("env " + env + (o.in_file ? ", toml " + TomlKey(o.flag) : "") +
                    ", default: " + std::string(o.default_text),
                kColumn) +
           "\n";
  }
  out += "  -h, --help" + std::string(kColumn - 12, ' ') + "show this help and exit\n";
  out += "  --version" + std::string(kColumn - 11, ' ') + "show the version and exit\n";
  return out;
}

// ---------------------------------------------------------------------------------------
// Sources.

// Values found for one option in one source, and where, for messages.
struct Found {
  std::vector<std::string> values;  // exactly one for all kinds but kList
  std::string from;                 // "" (command line), "GKM_LISTEN", "/etc/gkm.toml:3"
};
using Layer = std::map<const Option*, Found>;

std::string Fail(const Option& o, const std::string& problem, const std::string& from) {
  std::string msg = "--" + std::string(o.flag) + ": " + problem;
  if (!from.empty()) msg += " (from " + from + ")";
  return msg;
}

// Splits "a, b,c" for GKM_TOKENS. Empty items are kept so that validation reports them.
std::vector<std::string> SplitCommas(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    size_t comma = s.find(',');
    out.emplace_back(Trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

struct CommandLine {
  Layer layer;
  std::optional<ConfigResult> early;  // help, version or an error: stop here
};

CommandLine ParseCommandLine(const std::vector<std::string>& argv) {
  CommandLine cl;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      cl.early = ShowHelp{HelpText()};
      return cl;
    }
    if (arg == "--version") {
      cl.early = ShowVersion{std::string("gemini-key-manager ") + GKM_VERSION};
      return cl;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      cl.early = ConfigError{"unexpected argument " + Quote(arg) + " (see --help)"};
      return cl;
    }
    std::string_view name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string_view::npos) {
      value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
    }
    const Option* o = FindByFlag(name);
    if (!o) {
      cl.early = ConfigError{"unknown flag --" + std::string(name) + " (see --help)"};
      return cl;
    }
    if (o->kind == Kind::kSwitch) {
      if (!value) value = "true";
    } else if (!value) {
      // A following flag is not taken as the value: "--token --listen x" is a mistake, and
      // --flag=VALUE remains for values that really start with "--".
      if (i + 1 >= argv.size() || argv[i + 1].rfind("--", 0) == 0) {
        cl.early = ConfigError{"--" + std::string(o->flag) + ": missing value (" +
                               std::string(o->metavar) + ")"};
        return cl;
      }
      value = argv[++i];
    }
    Found& f = cl.layer[o];
    if (o->kind != Kind::kList) f.values.clear();  // the last one wins
    f.values.push_back(*value);
  }
  return cl;
}

Layer ReadEnvironment(const std::map<std::string, std::string>& env) {
  Layer layer;
  for (const Option& o : kOptions) {
    std::vector<std::string> names = {EnvName(o.flag)};
    if (o.kind == Kind::kList)
      names.insert(names.begin(), ListEnvName(o.flag));  // GKM_TOKENS first
    for (const std::string& name : names) {
      auto it = env.find(name);
      // Empty counts as unset, as with "GKM_REDIS=" in a compose file; no setting accepts
      // an empty value anyway.
      if (it == env.end() || it->second.empty()) continue;
      Found f;
      f.from = name;
      if (o.kind == Kind::kList) {
        f.values = SplitCommas(it->second);
      } else {
        f.values.push_back(it->second);
      }
      layer[&o] = std::move(f);
      break;
    }
  }
  return layer;
}

std::string_view TypeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string TwoDigits(unsigned v) {
  return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
}

// One TOML value as the string the command line would carry, or a type error.
Problem FromToml(const Option& o, const toml::node& node, std::vector<std::string>& values) {
  auto expected = [&](std::string_view what) {
    return "expected " + std::string(what) + ", got " + std::string(TypeName(node.type()));
  };
  switch (o.kind) {
    case Kind::kString:
      if (!node.is_string()) return expected("a string");
      values.push_back(node.as_string()->get());
      return std::nullopt;
    case Kind::kInteger:
      if (!node.is_integer()) return expected("an integer");
      values.push_back(std::to_string(node.as_integer()->get()));
      return std::nullopt;
    case Kind::kTime:
      if (node.is_string()) {
        values.push_back(node.as_string()->get());
      } else if (node.is_time()) {
        // TOML's own local time (reset_time = 07:30:00); sub-second parts are not wanted.
        toml::time t = node.as_time()->get();
        if (t.nanosecond != 0) return std::string("fractional seconds are not supported");
        values.push_back(TwoDigits(t.hour) + ":" + TwoDigits(t.minute) + ":" + TwoDigits(t.second));
      } else {
        return expected("a string \"HH:MM[:SS]\" or a time");
      }
      return std::nullopt;
    case Kind::kSwitch:
      if (!node.is_boolean()) return expected("true or false");
      values.push_back(node.as_boolean()->get() ? "true" : "false");
      return std::nullopt;
    case Kind::kList:
      if (node.is_string()) {
        values.push_back(node.as_string()->get());
        return std::nullopt;
      }
      if (!node.is_array()) return expected("an array of strings");
      for (const toml::node& item : *node.as_array()) {
        if (!item.is_string()) {
          return "expected an array of strings, got " + std::string(TypeName(item.type())) +
                 " in it";
        }
        values.push_back(item.as_string()->get());
      }
      return std::nullopt;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Named clients: the [[client]] tables of the config file (SPEC 2.3). File only: a client
// has several fields, which flags and variables would spell badly.

std::string Sha256Hex(std::string_view text) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : d) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

bool IsClientName(std::string_view n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](unsigned char ch) {
    return std::isalnum(ch) || ch == '.' || ch == '_' || ch == '-';
  });
}

// One [[client]] table into *out, or the problem ("rpm: ..."), naming the field.
Problem ClientFromToml(const toml::table& t, ClientConfig* out) {
  static constexpr std::string_view kFields[] = {"name", "token", "token_sha256",
                                                 "rpm",  "rpd",   "models"};
  auto type = [](const toml::node& n) { return std::string(TypeName(n.type())); };
  const toml::node* name = t.get("name");
  if (!name) return std::string("name: missing");
  if (!name->is_string()) return "name: expected a string, got " + type(*name);
  out->name = name->as_string()->get();
  if (!IsClientName(out->name)) {
    return "name: " + Quote(out->name) + " is not 1 to 64 of A-Z a-z 0-9 . _ -";
  }
  for (auto&& [key, node] : t) {
    if (std::find(std::begin(kFields), std::end(kFields), key.str()) == std::end(kFields)) {
      return "unknown key " + Quote(key.str()) +
             " (a client has name, token or token_sha256, rpm, rpd, models)";
    }
  }
  const toml::node* token = t.get("token");
  const toml::node* digest = t.get("token_sha256");
  if (!token == !digest) return std::string("give exactly one of token and token_sha256");
  if (token) {
    if (!token->is_string()) return "token: expected a string, got " + type(*token);
    if (auto p = CheckSecret(token->as_string()->get())) return "token: " + *p;
    out->token_sha256 = Sha256Hex(token->as_string()->get());
  } else {
    if (!digest->is_string()) return "token_sha256: expected a string, got " + type(*digest);
    std::string hex = ToLower(digest->as_string()->get());
    if (hex.size() != 64 ||
        !std::all_of(hex.begin(), hex.end(), [](unsigned char ch) { return std::isxdigit(ch); })) {
      return "token_sha256: " + Quote(hex) + " is not 64 hex digits (sha256sum of the token)";
    }
    out->token_sha256 = std::move(hex);
  }
  for (auto [field, member] : {std::pair{"rpm", &ClientConfig::rpm}, {"rpd", &ClientConfig::rpd}}) {
    const toml::node* n = t.get(field);
    if (!n) continue;
    if (!n->is_integer()) return std::string(field) + ": expected an integer, got " + type(*n);
    uint64_t v = 0;
    if (auto p = ParseUint(std::to_string(n->as_integer()->get()), 0, 1000000000, v)) {
      return std::string(field) + ": " + *p;
    }
    out->*member = static_cast<uint32_t>(v);
  }
  if (const toml::node* models = t.get("models")) {
    if (!models->is_array()) return "models: expected an array of strings, got " + type(*models);
    for (const toml::node& m : *models->as_array()) {
      if (!m.is_string()) return "models: expected an array of strings, got " + type(m) + " in it";
      std::string_view glob = m.as_string()->get();
      if (glob.starts_with("models/")) glob.remove_prefix(7);
      if (glob.empty() || HasSpace(glob)) return "models: " + Quote(glob) + " is not a model glob";
      out->models.emplace_back(glob);
    }
  }
  return std::nullopt;
}

// The `client` key of the file: [[client]] tables, each checked, names unique.
std::optional<std::string> ReadClientTables(const toml::node& node, const std::string& path,
                                            std::vector<ClientConfig>* clients) {
  std::string at = "--config: " + Quote(path) + " line ";
  if (!node.is_array_of_tables()) {
    return at + std::to_string(node.source().begin.line) +
           ": client must be [[client]] tables, got " + std::string(TypeName(node.type()));
  }
  for (const toml::node& item : *node.as_array()) {
    const toml::table& t = *item.as_table();
    std::string where = at + std::to_string(t.source().begin.line) + ": [[client]]";
    ClientConfig c;
    Problem p = ClientFromToml(t, &c);
    if (!c.name.empty() && IsClientName(c.name)) where += " " + Quote(c.name);
    if (p) return where + ": " + *p;
    for (const ClientConfig& other : *clients) {
      if (other.name == c.name) return where + ": name: another client has this name";
      if (other.token_sha256 == c.token_sha256) {
        return where + ": its token is also the token of client " + Quote(other.name);
      }
    }
    clients->push_back(std::move(c));
  }
  return std::nullopt;
}

// --token's tokens are the client "default": neither its name nor a token may be shared.
std::optional<std::string> CheckClientsAgainstTokens(const Config& c) {
  if (c.tokens.empty()) return std::nullopt;
  for (const ClientConfig& client : c.clients) {
    std::string where = "--config: [[client]] " + Quote(client.name) + ": ";
    if (client.name == "default") {
      return where + "the name default is the client of --token / GKM_TOKENS";
    }
    for (const std::string& t : c.tokens) {
      if (Sha256Hex(t) == client.token_sha256) {
        return where + "its token is also given by --token / GKM_TOKENS";
      }
    }
  }
  return std::nullopt;
}

// Reads and checks the whole file; on failure returns the one-line message.
std::variant<Layer, std::string> ReadConfigFile(const std::string& path, const std::string& from,
                                                std::vector<ClientConfig>* clients) {
  std::string suffix = from.empty() ? "" : " (from " + from + ")";
  // Read it ourselves so that the message carries errno's reason, not toml++'s generic one.
  std::string text;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return "--config: cannot read " + Quote(path) + ": " + std::strerror(errno) + suffix;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    int err = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (err != 0) {
      return "--config: cannot read " + Quote(path) + ": " + std::strerror(err) + suffix;
    }
  }
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    std::string desc(e.description());
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    return "--config: " + Quote(path) + " line " + std::to_string(e.source().begin.line) +
           ", column " + std::to_string(e.source().begin.column) + ": " + desc + suffix;
  }
  Layer layer;
  for (auto&& [key, node] : table) {
    std::string line = std::to_string(node.source().begin.line);
    std::string where = path + ":" + line;
    if (key.str() == "client") {
      if (auto err = ReadClientTables(node, path, clients)) return *err + suffix;
      continue;
    }
    const Option* o = FindByTomlKey(key.str());
    if (!o) {
      std::string msg =
          "--config: " + Quote(path) + " line " + line + ": unknown key " + Quote(key.str());
      if (const Option* near = FindByTomlKey(TomlKey(key.str()))) {
        msg += " (did you mean " + TomlKey(near->flag) + "?)";
      }
      return msg + suffix;
    }
    if (!o->in_file) {
      return "--config: " + Quote(path) + " line " + line + ": " + Quote(key.str()) +
             " cannot be set inside a config file" + suffix;
    }
    Found f;
    f.from = where;
    if (auto p = FromToml(*o, node, f.values)) return Fail(*o, *p, where);
    layer[o] = std::move(f);
  }
  return layer;
}

// Without --upstream-proxy, an https upstream honours HTTPS_PROXY / https_proxy (the lower
// case first, as curl) unless NO_PROXY / no_proxy exempts its host. Plain http upstreams
// (local mocks) ignore the environment.
std::optional<std::string> ReadEnvironmentProxy(const std::map<std::string, std::string>& env,
                                                Config& c) {
  if (!c.upstream_proxies.empty() || !c.upstream.tls) return std::nullopt;
  auto get = [&env](const char* name) -> const std::string* {
    auto it = env.find(name);
    return it != env.end() && !Trim(it->second).empty() ? &it->second : nullptr;
  };
  const char* name = "https_proxy";
  const std::string* url = get(name);
  if (!url) url = get(name = "HTTPS_PROXY");
  if (!url) return std::nullopt;
  const std::string* no_proxy = get("no_proxy");
  if (!no_proxy) no_proxy = get("NO_PROXY");
  if (no_proxy && NoProxyMatches(*no_proxy, c.upstream.host, c.upstream.port)) {
    return std::nullopt;
  }
  std::string why;
  if (!ParseProxyUrl(Trim(*url), &why)) {
    return std::string(name) + ": the proxy URL " + why +
           " (set --upstream-proxy, or unset it, or exempt the upstream in NO_PROXY)";
  }
  c.env_proxy = std::string(Trim(*url));
  c.env_proxy_name = name;
  return std::nullopt;
}

}  // namespace

ConfigResult LoadConfig(const std::vector<std::string>& argv,
                        const std::map<std::string, std::string>& env, unsigned hardware_threads) {
  CommandLine cl = ParseCommandLine(argv);
  if (cl.early) return *cl.early;
  Layer env_layer = ReadEnvironment(env);

  // The file is found before anything else is decided, from the two layers above it.
  Layer file_layer;
  std::vector<ClientConfig> clients;
  const Option* config_opt = FindByFlag("config");
  const Found* config_found = cl.layer.count(config_opt)    ? &cl.layer[config_opt]
                              : env_layer.count(config_opt) ? &env_layer[config_opt]
                                                            : nullptr;
  if (config_found) {
    const std::string& path = config_found->values.back();
    if (path.empty()) {
      return ConfigError{Fail(*config_opt, "must not be empty", config_found->from)};
    }
    auto read = ReadConfigFile(path, config_found->from, &clients);
    if (auto* err = std::get_if<std::string>(&read)) return ConfigError{*err};
    file_layer = std::move(std::get<Layer>(read));
  }

  Config config;
  for (const Option& o : kOptions) {
    const Found* found = nullptr;
    for (Layer* layer : {&cl.layer, &env_layer, &file_layer}) {
      if (auto it = layer->find(&o); it != layer->end()) {
        found = &it->second;
        break;
      }
    }
    if (!found) continue;
    Problem p = o.kind == Kind::kList ? o.set_list(found->values, config)
                                      : o.set(found->values.back(), config);
    if (p) return ConfigError{Fail(o, *p, found->from)};
  }
  config.clients = std::move(clients);
  if (auto err = CheckClientsAgainstTokens(config)) return ConfigError{*err};
  if (auto err = ReadEnvironmentProxy(env, config)) return ConfigError{*err};
  if (config.threads == 0) config.threads = std::max(1u, hardware_threads);
  return config;
}

}  // namespace gkm
