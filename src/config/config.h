// Config: the validated configuration of one proxy process (SPEC 2).
//
// LoadConfig() merges, for every setting, the command line, the GKM_* environment, the
// TOML file named by --config, and the default, in that order of precedence, and checks
// every value. It never exits and never prints: it returns either a Config or a one-line
// error for the caller to print (exit code 2), or asks for --help / --version.
// Pure apart from reading the --config file.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/model_aliases.h"
#include "common/quota_limits.h"

namespace gkm {

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0", "localhost"
  uint16_t port = 5000;
};

struct UpstreamUrl {
  bool tls = true;
  std::string host;  // "generativelanguage.googleapis.com"
  uint16_t port = 443;
  std::string base_path;  // "" or "/prefix" (no trailing slash)
};

enum class OpenAiMode { kTranslate, kGoogle };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// A named client from a [[client]] table of the --config file (SPEC 2.3); the file is the
// only place clients are named. The token itself is not kept: only its SHA-256.
struct ClientConfig {
  std::string name;          // [A-Za-z0-9._-]{1,64}, unique, not "default" beside --token
  std::string token_sha256;  // 64 lowercase hex digits: of `token`, or `token_sha256` as given
  uint32_t rpm = 0;          // 0 = no limit
  uint32_t rpd = 0;          // 0 = no limit
  std::vector<std::string> models;  // globs without "models/"; empty = all
};

struct Config {
  std::optional<std::string> config_file;
  std::string keys_file = "key.txt";
  ListenAddress listen{"127.0.0.1", 5000};
  UpstreamUrl upstream{true, "generativelanguage.googleapis.com", 443, ""};
  std::vector<std::string> tokens;  // empty: generate one (stored in the state dir)
  // [[client]] tables; --token's tokens are the client "default" beside them. Neither
  // tokens nor clients: a token is generated.
  std::vector<ClientConfig> clients;
  std::optional<std::string> admin_token;
  std::string state_dir = ".";
  std::optional<std::string> redis;  // redis://[:password@]host:port[/db]
  std::string redis_prefix = "gkm:";
  bool redis_optional = false;          // start without Redis (a warning) rather than exit 1
  std::optional<std::string> redis_ca;  // extra CAs (PEM) for rediss://; needs rediss://
  std::string log_dir = ".";
  LogLevel log_level = LogLevel::kInfo;
  bool log_json = false;  // --log-format json: one JSON object per line
  std::string reset_timezone = "America/Los_Angeles";
  std::chrono::seconds reset_time{0};  // since local midnight, < 24h
  OpenAiMode openai_mode = OpenAiMode::kTranslate;
  uint32_t max_attempts = 0;  // 0 = number of keys
  // Waiting instead of failing (SPEC 4.7): how long a request may wait for a key (0: never),
  // and how many may wait at once.
  std::chrono::seconds max_queue_wait{0};
  uint32_t max_queued = 1000;
  std::chrono::seconds upstream_timeout{600};
  uint64_t max_body_bytes = 104857600;
  uint32_t threads = 0;  // 0 = number of cores (resolved by LoadConfig)
  std::chrono::seconds client_timeout{30};
  // Client connections at once; beyond it new connections wait in the kernel's backlog.
  uint32_t max_connections = 10000;
  bool bare_429_cooling = false;  // --bare-429 cooling; default day
  uint64_t log_max_size = 10485760;
  uint32_t log_max_files = 5;
  std::optional<std::string> upstream_ca;
  // Egress proxies (SPEC 2.1): --upstream-proxy URLs (validated; each key pinned to one by
  // rendezvous hashing). Without them, HTTPS_PROXY (or https_proxy) for an https upstream
  // unless NO_PROXY (no_proxy) exempts its host: the URL and the variable's name, or empty.
  std::vector<std::string> upstream_proxies;
  std::string env_proxy;
  std::string env_proxy_name;
  // --model-alias FROM=TO: the model names agents send, as Gemini models (SPEC 2.1).
  ModelAliases model_aliases;
  // --limit MODEL=RPM/RPD[/TPM]: per-project quotas known up front (SPEC 2.1, 4.6).
  LimitTable limits;
  PoolStrategy strategy = PoolStrategy::kRoundRobin;
  bool metrics_per_key = false;
  // OpenAI routes: fetch remote image URLs (else they are refused with a 400).
  bool fetch_image_urls = false;
  // Let those fetches reach loopback and private addresses (tests, trusted networks).
  bool fetch_allow_private = false;
  // Seconds between probes of each invalid key (GET models?pageSize=1); 0 = never.
  std::chrono::seconds recheck_invalid{3600};
  // Seconds between counter flushes to the state store (not in SPEC; default 1).
  std::chrono::milliseconds flush_interval{1000};
  // Seconds a graceful shutdown waits for in-flight requests.
  std::chrono::seconds shutdown_grace{30};
};

struct ShowHelp {
  std::string text;
};
struct ShowVersion {
  std::string text;
};
struct ConfigError {
  std::string message;
};  // one line, names the flag or file and the value

using ConfigResult = std::variant<Config, ShowHelp, ShowVersion, ConfigError>;

// argv as main() gets it; env as "NAME" -> value (the caller passes the process
// environment; tests pass their own). hardware_threads resolves --threads 0.
ConfigResult LoadConfig(const std::vector<std::string>& argv,
                        const std::map<std::string, std::string>& env, unsigned hardware_threads);

}  // namespace gkm
