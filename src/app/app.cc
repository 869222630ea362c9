#include "app/app.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "app/check_keys.h"
#include "app/key_checker.h"
#include "app/usage_cmd.h"
#include "app/usage_history.h"
#include "clients/clients.h"
#include "config/config.h"
#include "keypool/affinity.h"
#include "keypool/key_file.h"
#include "keypool/key_pool.h"
#include "logging/log.h"
#include "proxy/exchange.h"
#include "proxy/signature_cache.h"
#include "proxy/wait_queue.h"
#include "server/server.h"
#include "store/flusher.h"
#include "store/legacy_import.h"
#include "store/redis_sync.h"
#include "store/sqlite_store.h"
#include "upstream/egress.h"
#include "upstream/fetch.h"
#include "upstream/upstream.h"

extern char** environ;

namespace gkm {
namespace {

namespace asio = boost::asio;
constexpr const char* kLegacyToken = "PLACEHOLDER_GEMINI_TOKEN";

// Once the log is set up as json, failures are log lines too: every line of stderr is then
// one JSON object.
int Fail(int code, const std::string& message) {
  if (JsonLogging()) {
    spdlog::error("{}", message);
    return code;
  }
  std::fprintf(stderr, "gemini-key-manager: %s\n", message.c_str());
  return code;
}

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return env;
}

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.starts_with("127.");
}

std::string RandomToken() {
  unsigned char bytes[24];
  RAND_bytes(bytes, sizeof bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string t = "gkm-";
  for (unsigned char b : bytes) {
    t += kHex[b >> 4];
    t += kHex[b & 15];
  }
  return t;
}

using Digest = std::array<unsigned char, 32>;

Digest DigestOfToken(std::string_view token) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

// 64 hex digits (the config has checked them) as the 32 bytes they spell.
Digest DigestOfHex(std::string_view hex) {
  auto nibble = [](char c) {
    return static_cast<unsigned char>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  };
  Digest d{};
  for (size_t i = 0; i < d.size() && 2 * i + 1 < hex.size(); ++i) {
    d[i] = static_cast<unsigned char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return d;
}

std::string LocalDateToday() {
  std::time_t now = std::time(nullptr);
  std::tm tm;
  localtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// key_usage.txt beside the key file, once, when it is today's (SPEC 5).
void ImportLegacyUsage(const Config& cfg, SqliteStore& store, const QuotaClock& clock) {
  std::filesystem::path path = std::filesystem::path(cfg.keys_file).parent_path() / "key_usage.txt";
  std::error_code fec;
  if (!std::filesystem::exists(path, fec)) return;
  if (store.GetMeta("legacy_import")) {
    spdlog::debug("{} was imported before; not again", path.string());
    return;
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  TimePoint now = NowMs();
  LegacyUsage legacy;
  std::string error;
  if (!ParseLegacyUsage(ss.str(), clock.DayOf(now), ToUnixMs(clock.NextReset(now)), &legacy,
                        &error)) {
    spdlog::warn("{} not imported: {}", path.string(), error);
    return;
  }
  for (const auto& w : legacy.warnings) spdlog::warn("{}: {}", path.string(), w);
  std::string today = LocalDateToday();
  if (legacy.date != today) {
    spdlog::info("{} is from {}, not today ({}): ignored", path.string(), legacy.date, today);
    return;
  }
  if (!store.Write(legacy.batch, &error) ||
      !store.SetMeta("legacy_import", legacy.date + " from " + path.string(), &error)) {
    spdlog::error("{} not imported: {}", path.string(), error);
    return;
  }
  spdlog::info("imported {} ({} keys, {} usage rows, {} exhausted states) from the Python proxy",
               path.string(), legacy.keys, legacy.batch.usage.size(), legacy.batch.states.size());
}

}  // namespace

std::map<std::string, std::string> ProxyPins(const KeyFile& file) {
  std::map<std::string, std::string> pins;
  for (size_t i = 0; i < file.keys.size() && i < file.attributes.size(); ++i) {
    if (!file.attributes[i].proxy.empty())
      pins.emplace(file.keys[i].id(), file.attributes[i].proxy);
  }
  return pins;
}

int RunApp(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv, argv + argc);
  if (args.size() > 1 && args[1] == "check-keys") {
    return RunCheckKeys({args.begin() + 2, args.end()}, Environment());
  }
  if (args.size() > 1 && args[1] == "usage") {
    return RunUsage({args.begin() + 2, args.end()}, Environment());
  }
  ConfigResult loaded = LoadConfig(args, Environment(), std::thread::hardware_concurrency());
  if (auto* h = std::get_if<ShowHelp>(&loaded)) {
    std::cout << h->text;
    return 0;
  }
  if (auto* v = std::get_if<ShowVersion>(&loaded)) {
    std::cout << v->text << "\n";
    return 0;
  }
  if (auto* e = std::get_if<ConfigError>(&loaded)) return Fail(2, e->message);
  Config cfg = std::get<Config>(std::move(loaded));

  std::string error;
  auto clock = QuotaClock::Make(cfg.reset_timezone, cfg.reset_time, &error);
  if (!clock) return Fail(2, "--reset-timezone: " + error);
  std::optional<RedisUrl> redis_url;
  if (cfg.redis) {
    redis_url = ParseRedisUrl(*cfg.redis, &error);
    if (!redis_url) return Fail(2, "--redis: " + error);
  }
  std::shared_ptr<const RedisTls> redis_tls;
  if (cfg.redis_ca && !(redis_url && redis_url->tls)) {
    return Fail(2, "--redis-ca: needs a rediss:// URL in --redis");
  }
  if (redis_url && redis_url->tls) {
    redis_tls = RedisTls::Make(cfg.redis_ca.value_or(""), &error);
    if (!redis_tls) return Fail(2, error);
  }
  std::error_code fec;
  std::filesystem::create_directories(cfg.log_dir, fec);
  if (!SetupLogging(cfg, &error)) return Fail(1, error);
  // Log lines are buffered: write them out on every way out.
  struct LogFlush {
    ~LogFlush() { spdlog::shutdown(); }
  } log_flush;

  KeyFile keys;
  if (!LoadKeyFile(cfg.keys_file, &keys, &error)) return Fail(1, error);
  for (const auto& w : keys.warnings) spdlog::warn("{}: {}", cfg.keys_file, w);

  auto store = SqliteStore::Open(cfg.state_dir, &error);
  if (!store) return Fail(1, "--state-dir: " + error);

  std::vector<std::string> tokens = cfg.tokens;
  if (tokens.empty() && cfg.clients.empty()) {
    auto stored = store->GetMeta("client_token");
    if (stored && !stored->empty()) {
      tokens.push_back(*stored);
      spdlog::info("using the client token stored in {}", store->path());
    } else {
      std::string token = RandomToken();
      if (!store->SetMeta("client_token", token, &error)) {
        return Fail(1, "--state-dir: cannot store the generated token: " + error);
      }
      if (JsonLogging()) {
        spdlog::memory_buf_t members;
        fmt::format_to(std::back_inserter(members),
                       R"("msg":"no client token configured; generated one","kept_in":)");
        AppendJsonString(members, store->path());
        fmt::format_to(std::back_inserter(members), R"(,"token":)");
        AppendJsonString(members, token);
        std::fputs(JsonLine(spdlog::level::info, {members.data(), members.size()}).c_str(), stdout);
      } else {
        std::printf("No client token configured; generated one (kept in %s):\n  %s\n",
                    store->path().c_str(), token.c_str());
      }
      std::fflush(stdout);
      tokens.push_back(token);
    }
  }
  for (const auto& t : tokens) {
    if (t == kLegacyToken && !IsLoopback(cfg.listen.host)) {
      spdlog::warn(
          "the well-known token {} is accepted on {}, which is not a loopback address: "
          "anyone who can reach the port can use the keys",
          kLegacyToken, cfg.listen.host);
    }
  }

  ImportLegacyUsage(cfg, *store, *clock);

  std::shared_ptr<Egress> egress = Egress::Make(cfg, &error);
  if (!egress) return Fail(2, error);
  for (const auto& p : egress->SetKeyProxies(ProxyPins(keys))) {
    spdlog::error("{}: {}", cfg.keys_file, p);
  }

  size_t key_count = keys.keys.size();
  std::vector<std::string> projects;
  for (const auto& a : keys.attributes) projects.push_back(a.project);
  PoolOptions pool_options;
  pool_options.limits = cfg.limits;
  pool_options.strategy = cfg.strategy;
  KeyPool pool(std::move(keys.keys), *clock, std::move(pool_options), std::move(projects));
  Affinity affinity;
  Metrics metrics;
  TimePoint now = NowMs();
  Loaded state = store->Load(clock->DayOf(now));
  pool.Restore(state, now);
  affinity.Restore(state.bindings);
  // The named clients (SPEC 2.3), and the tokens of --token as the client "default".
  std::vector<ClientSpec> specs;
  for (const ClientConfig& c : cfg.clients) specs.push_back({c.name, c.rpm, c.rpd, c.models});
  if (!tokens.empty()) specs.push_back({"default", 0, 0, {}});
  Clients clients(std::move(specs), *clock);
  clients.Restore(state.client_usage, now);

  // Shared state (SPEC 6): Redis gets a copy of every batch SQLite gets, and other
  // instances' changes come back into the pool and the affinity table.
  std::unique_ptr<RedisSync> redis;
  if (redis_url) {
    RedisOptions ro;
    ro.url = *redis_url;
    ro.prefix = cfg.redis_prefix;
    ro.tls = redis_tls;
    RedisSync::Sink sink;
    sink.apply = [&](const Loaded& changes) {
      pool.ApplyShared(changes, NowMs());
      if (!changes.bindings.empty()) affinity.Restore(changes.bindings);
    };
    sink.counts = [&](const std::vector<UsageDelta>& others) {
      pool.SetSharedCounts(others, NowMs());
    };
    sink.today = [&] { return clock->DayOf(NowMs()); };
    sink.take_minutes = [&] { return pool.TakeMinuteCounts(); };
    sink.minutes = [&](const std::vector<MinuteCount>& others) {
      pool.SetSharedMinuteCounts(others, NowMs());
    };
    sink.take_client_minutes = [&] { return clients.TakeMinuteCounts(); };
    sink.client_today = [&](const std::string& day, const std::map<std::string, int64_t>& n) {
      clients.SetOthersToday(day, n, NowMs());
    };
    sink.client_minute = [&](const std::map<std::string, int64_t>& n) {
      clients.SetOthersMinute(n);
    };
    redis = std::make_unique<RedisSync>(std::move(ro), std::move(sink));
    pool.OnMinuteCount([r = redis.get()] { r->MinutesChanged(); });
    clients.OnCount([r = redis.get()] { r->MinutesChanged(); });
    redis->SetOwnBaseline(state.usage, state.client_usage);
    if (!redis->Connect(&error)) {
      if (!cfg.redis_optional) return Fail(1, "--redis: " + error);
      spdlog::warn(
          "--redis: {}; starting on this instance's state (--redis-optional), joining when "
          "Redis answers",
          error);
    } else {
      spdlog::info("redis: sharing state through {} (db {}, prefix {}) as instance {}",
                   redis_url->Where(), redis_url->db, cfg.redis_prefix, redis->instance());
    }
  }

  Flusher flusher(
      *store,
      [&] {
        Batch b = pool.TakeBatch(NowMs());
        b.bindings = affinity.TakePending();
        b.bindings_expired_by_ms = affinity.TakeExpiredBy();
        b.client_usage = clients.TakePending();
        if (redis) redis->Enqueue(b);
        return b;
      },
      cfg.flush_interval);
  pool.SetOnStateChange([&] { flusher.Wake(); });
  affinity.SetOnChange([&] { flusher.Wake(); });

  Services svc;
  svc.config = &cfg;
  svc.clients = &clients;
  for (size_t i = 0; i < cfg.clients.size(); ++i) {
    svc.client_tokens.push_back({DigestOfHex(cfg.clients[i].token_sha256), &clients.at(i)});
  }
  for (const std::string& t : tokens) {
    svc.client_tokens.push_back({DigestOfToken(t), clients.Find("default")});
  }
  svc.pool = &pool;
  svc.affinity = &affinity;
  svc.egress = egress;
  MemorySessions sessions;  // in memory only: see docs/DECISIONS.md (soft session affinity)
  svc.sessions = &sessions;
  svc.metrics = &metrics;
  if (redis) svc.redis_up = &redis->up_flag();
  WaitQueue queue(WaitQueue::Options{cfg.max_queue_wait, cfg.max_queued});
  svc.queue = &queue;
  if (const char* f = std::getenv("GKM_FAULT_INJECTION"); f && std::string_view(f) == "1") {
    svc.fault_injection = true;
    spdlog::warn("GKM_FAULT_INJECTION=1: requests may ask for injected faults (tests only)");
  }
  if (const char* p = std::getenv("GKM_TEST_PING_MS"); p && *p) {
    int64_t ms = std::strtoll(p, nullptr, 10);
    if (ms > 0) {
      svc.ping_every = std::chrono::milliseconds(ms);
      spdlog::warn("GKM_TEST_PING_MS={}: stream pings after {} ms of upstream silence (tests only)",
                   ms, ms);
    }
  }
  svc.request_flush = [&] { return flusher.RequestFlush(); };
  svc.flushed = [&](uint64_t ticket) { return flusher.Flushed(ticket); };
  SignatureCache signatures;
  svc.signatures = &signatures;
  if (cfg.fetch_image_urls) svc.fetch_tls = MakeFetchTls();
  std::mutex reload_mu;
  svc.reload = [&]() -> std::string {
    std::lock_guard lock(reload_mu);
    KeyFile next;
    std::string err;
    if (!LoadKeyFile(cfg.keys_file, &next, &err)) {
      spdlog::error("reload refused, keeping the current keys: {}", err);
      return "error: " + err;
    }
    for (const auto& w : next.warnings) spdlog::warn("{}: {}", cfg.keys_file, w);
    for (const auto& p : egress->SetKeyProxies(ProxyPins(next))) {
      spdlog::error("{}: {}", cfg.keys_file, p);
    }
    // SPEC 4.2: a key is invalid "until reload or admin reset"; a reload is how an operator
    // says "I fixed these keys" without naming each one.
    std::vector<std::string> next_projects;
    for (const auto& a : next.attributes) next_projects.push_back(a.project);
    auto [added, removed] = pool.Reload(std::move(next.keys), /*revive_invalid=*/true, NowMs(),
                                        std::move(next_projects));
    std::string summary = "reloaded " + cfg.keys_file + ": " + std::to_string(pool.size()) +
                          " keys (" + std::to_string(added) + " added, " + std::to_string(removed) +
                          " removed)";
    spdlog::info("{}", summary);
    return summary;
  };

  auto tls = MakeUpstreamTls(cfg, &error);
  if (cfg.upstream.tls && !tls) return Fail(2, error);
  // Probes of invalid keys (--recheck-invalid) and POST /admin/keys/{id}/check, on a thread
  // of their own.
  KeyChecker checker(cfg, pool, tls);
  checker.SetEgress(egress);
  svc.check_key = [&](std::string id) { return checker.Check(std::move(id)); };
  // GET /admin/usage reads the database on a connection and a thread of its own.
  HistoryReader history(cfg.state_dir);
  std::unique_ptr<RedisDayReader> day_reader;
  if (redis_url) {
    RedisOptions ro;
    ro.url = *redis_url;
    ro.prefix = cfg.redis_prefix;
    ro.tls = redis_tls;
    day_reader = std::make_unique<RedisDayReader>(std::move(ro));
    history.SetSharedToday(
        [&] { return clock->DayOf(NowMs()); },
        [r = day_reader.get()](const std::string& day, std::vector<UsageFact>* out,
                               std::string* error) { return r->Read(day, out, error); });
  }
  svc.usage_history = [&](UsageQuery q) { return history.Read(std::move(q)); };
  svc.quota_day = [&] { return clock->DayOf(NowMs()); };
  Server server(svc, tls);
  if (!server.Listen(&error)) return Fail(1, error);
  flusher.Start();
  if (redis) redis->Start();
  server.Start();
  checker.Start();
  spdlog::info(
      "gemini-key-manager {} listening on {}:{} with {} keys, {} I/O threads, upstream "
      "{}://{}:{}{}",
      GKM_VERSION, cfg.listen.host, server.port(), key_count, cfg.threads,
      cfg.upstream.tls ? "https" : "http", cfg.upstream.host, cfg.upstream.port,
      cfg.upstream.base_path);
  spdlog::info("upstream connections go {}", egress->Describe());
  spdlog::default_logger()->flush();  // the start-up lines at once, not within a second

  // The main thread waits for signals: SIGHUP reloads, SIGTERM/SIGINT drain and stop.
  asio::io_context control;
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  bool stopping = false;
  auto lifecycle = [&]() -> asio::awaitable<void> {
    for (;;) {
      int sig = co_await signals.async_wait(asio::use_awaitable);
      if (sig == SIGHUP) {
        svc.reload();
        continue;
      }
      break;
    }
    stopping = true;
    spdlog::info("draining ({} connections open, grace {} s)", server.open_connections(),
                 cfg.shutdown_grace.count());
    server.Drain();
    auto deadline = std::chrono::steady_clock::now() + cfg.shutdown_grace;
    asio::steady_timer timer(control);
    while (server.open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(asio::use_awaitable);
    }
  };
  asio::co_spawn(control, lifecycle(), asio::detached);
  control.run();

  if (server.open_connections() > 0) {
    spdlog::warn("{} connections still open after the grace time; closing them",
                 server.open_connections());
  }
  queue.Close();  // no wake-up may reach an I/O thread that is stopping
  server.Stop();
  checker.Stop();
  flusher.Stop();
  if (redis) redis->Stop();  // after the flusher's last batch
  spdlog::info("stopped (state flushed to {})", store->path());
  return stopping ? 0 : 1;
}

}  // namespace gkm
