// KeyChecker: probes keys off the request path (SPEC 2.1 --recheck-invalid, 3.9 POST
// /admin/keys/{id}/check).
//
// It owns a thread with its own io_context and UpstreamPool, so that a probe never holds an
// I/O thread or one of its connections. With an interval S > 0, every tick (S/4, between
// 250 ms and 30 s) it lists the pool's invalid keys and probes each one whose last probe is
// at least S old; a key met invalid for the first time while serving counts as probed then
// (Google has just said it is invalid); keys already invalid at start are first probed a
// minute after it (or one interval, if shorter).
// Check() probes one key whatever its status, for the admin API. At most `concurrency`
// probes run at once, both kinds together, each bounded by the probe timeout.
//
// A probe's finding (proxy/probe.h EffectOf) goes to KeyPool::SetStatus: the status change
// reaches the store, /admin/keys and /metrics as any other. Logs name keys by id only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "config/config.h"
#include "keypool/key_pool.h"
#include "proxy/probe.h"
#include "upstream/upstream.h"

namespace gkm {

class KeyChecker {
 public:
  KeyChecker(const Config& config, KeyPool& pool, std::shared_ptr<boost::asio::ssl::context> tls,
             size_t concurrency = 4);
  ~KeyChecker();
  KeyChecker(const KeyChecker&) = delete;
  KeyChecker& operator=(const KeyChecker&) = delete;

  // Starts the thread (and the periodic re-check when the interval is not 0).
  void Start();
  // Stops it; probes under way are abandoned (their keys keep their status).
  void Stop();

  // Probes the key now and applies the finding: the admin answer as JSON
  // ({"id","key","status","verdict","http_status","reason","latency_ms"}), or nullopt when
  // the pool has no such key. Call from any thread's coroutine: the probe runs on the
  // checker's thread and the answer comes back on the caller's executor.
  boost::asio::awaitable<std::optional<std::string>> Check(std::string key_id);

  // Probes leave through each key's egress proxy, as requests do. Before Start().
  void SetEgress(std::shared_ptr<const Egress> egress) { upstream_.SetEgress(std::move(egress)); }

 private:
  boost::asio::awaitable<void> Loop();
  boost::asio::awaitable<std::optional<std::string>> CheckHere(std::string key_id);
  // Probes `key` within the concurrency bound and applies the finding to the pool.
  boost::asio::awaitable<ProbeResult> ProbeAndApply(std::shared_ptr<const ApiKey> key);
  boost::asio::awaitable<void> Acquire();
  void Release();

  const Config& config_;
  KeyPool& pool_;
  size_t concurrency_;
  boost::asio::io_context io_;
  UpstreamPool upstream_;
  std::thread thread_;
  // Touched on the checker's thread only.
  size_t in_flight_ = 0;
  std::deque<boost::asio::steady_timer*> waiters_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_probe_;
  std::unordered_set<std::string> probing_;  // periodic probes under way
};

// The admin answer for one probe of `key` (its status after the finding is applied).
// ("reason" is what the probe found; null after a success).
std::string KeyCheckJson(const ApiKey& key, const ProbeResult& r, bool invalid_now);

}  // namespace gkm
