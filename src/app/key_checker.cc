#include "app/key_checker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>

#include "common/names.h"

namespace gkm {
namespace {

namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

constexpr std::chrono::seconds kStartDelay{60};

// How often the invalid keys are looked at: a quarter of the interval, within bounds.
Steady::duration TickOf(std::chrono::seconds interval) {
  auto quarter = std::chrono::duration_cast<std::chrono::milliseconds>(interval) / 4;
  return std::clamp<std::chrono::milliseconds>(quarter, std::chrono::milliseconds(250),
                                               std::chrono::milliseconds(30000));
}

ProbeOptions OptionsOf(const Config& c) {
  ProbeOptions o;
  // A models list answers at once; a probe must not sit on a slot for --upstream-timeout.
  o.timeout = std::min<std::chrono::seconds>(c.upstream_timeout, std::chrono::seconds(30));
  o.bare429 = c.bare_429_cooling ? Bare429::kCooling : Bare429::kDay;
  return o;
}

}  // namespace

std::string KeyCheckJson(const ApiKey& key, const ProbeResult& r, bool invalid_now) {
  boost::json::object o;
  o["id"] = key.id();
  o["key"] = key.masked();
  o["status"] = invalid_now ? "invalid" : "active";
  o["verdict"] = std::string(OutcomeName(r.verdict.outcome));
  o["http_status"] = r.status;
  o["reason"] = r.verdict.reason.empty() ? boost::json::value(nullptr)
                                         : boost::json::value(ValidUtf8(r.verdict.reason));
  o["latency_ms"] = std::round(r.latency_ms * 10) / 10;
  return boost::json::serialize(o);
}

KeyChecker::KeyChecker(const Config& config, KeyPool& pool, std::shared_ptr<asio::ssl::context> tls,
                       size_t concurrency)
    : config_(config),
      pool_(pool),
      concurrency_(std::max<size_t>(1, concurrency)),
      upstream_(io_.get_executor(), config.upstream, std::move(tls), std::chrono::seconds(10),
                concurrency_) {}

KeyChecker::~KeyChecker() { Stop(); }

void KeyChecker::Start() {
  if (thread_.joinable()) return;
  if (config_.recheck_invalid.count() > 0) {
    // Keys invalid at start (restored from the store) are due a minute after it (or one
    // interval, if shorter): restarts more frequent than the interval do not starve them,
    // and a start does not probe at once what the store has just said.
    const auto interval = config_.recheck_invalid;
    const auto first = Steady::now() - interval + std::min<Steady::duration>(interval, kStartDelay);
    for (const auto& key : pool_.InvalidKeys()) last_probe_[key->id()] = first;
    asio::co_spawn(io_, Loop(), asio::detached);
  }
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

void KeyChecker::Stop() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
}

asio::awaitable<void> KeyChecker::Acquire() {
  while (in_flight_ >= concurrency_) {
    asio::steady_timer wake(io_, Steady::time_point::max());
    waiters_.push_back(&wake);
    co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));  // Release() cancels it
    std::erase(waiters_, &wake);
  }
  ++in_flight_;
}

void KeyChecker::Release() {
  --in_flight_;
  if (!waiters_.empty()) {
    waiters_.front()->cancel();
    waiters_.pop_front();
  }
}

asio::awaitable<ProbeResult> KeyChecker::ProbeAndApply(std::shared_ptr<const ApiKey> key) {
  co_await Acquire();
  ProbeResult r;
  try {
    r = co_await ProbeKey(upstream_, key, OptionsOf(config_));
  } catch (const std::exception& e) {
    r.verdict = TransportFailure(std::string("probe failed: ") + e.what());
  }
  Release();
  last_probe_[key->id()] = Steady::now();
  switch (EffectOf(r)) {
    case ProbeEffect::kActive:
      if (pool_.SetStatus(key->id(), false, "", NowMs())) {
        spdlog::debug("probe of key {}: {} {}", key->id(), r.status,
                      OutcomeName(r.verdict.outcome));
      }
      break;
    case ProbeEffect::kInvalid:
      pool_.SetStatus(key->id(), true, r.verdict.reason, NowMs());
      spdlog::debug("probe of key {}: {} {} ({})", key->id(), r.status,
                    OutcomeName(r.verdict.outcome), r.verdict.reason);
      break;
    case ProbeEffect::kUnknown:
      spdlog::debug("probe of key {} proved nothing: {} {} ({})", key->id(), r.status,
                    OutcomeName(r.verdict.outcome), r.verdict.reason);
      break;
  }
  co_return r;
}

asio::awaitable<void> KeyChecker::Loop() {
  const auto interval = config_.recheck_invalid;
  asio::steady_timer timer(io_);
  for (;;) {
    const auto now = Steady::now();
    // Rebuilt on every tick from the keys invalid now, so it holds no more than those.
    std::unordered_map<std::string, Steady::time_point> still;
    for (auto& key : pool_.InvalidKeys()) {
      auto it = last_probe_.find(key->id());
      // Met invalid for the first time: Google has just said so; the first probe is due
      // one interval later.
      Steady::time_point last = it == last_probe_.end() ? now : it->second;
      if (now - last >= interval && !probing_.count(key->id())) {
        last = now;
        probing_.insert(key->id());
        asio::co_spawn(
            io_,
            [this, key]() -> asio::awaitable<void> {
              ProbeResult r = co_await ProbeAndApply(key);
              probing_.erase(key->id());
              if (EffectOf(r) == ProbeEffect::kActive) {
                spdlog::info("invalid key {} answered {} to a re-check: active again", key->id(),
                             r.status);
              }
            },
            asio::detached);
      }
      still.emplace(key->id(), last);
    }
    last_probe_.swap(still);
    timer.expires_after(TickOf(interval));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<std::optional<std::string>> KeyChecker::CheckHere(std::string key_id) {
  auto key = pool_.KeyById(key_id);
  if (!key) co_return std::nullopt;
  ProbeResult r = co_await ProbeAndApply(key);
  bool invalid = false;
  for (const auto& k : pool_.InvalidKeys()) invalid |= k->id() == key->id();
  spdlog::info("admin check of key {}: {} {}: {}", key->id(), r.status,
               OutcomeName(r.verdict.outcome), invalid ? "invalid" : "active");
  co_return KeyCheckJson(*key, r, invalid);
}

asio::awaitable<std::optional<std::string>> KeyChecker::Check(std::string key_id) {
  return asio::co_spawn(io_, CheckHere(std::move(key_id)), asio::use_awaitable);
}

}  // namespace gkm
