#include "admin/metrics.h"

#include <cstdio>

#include "common/names.h"

namespace gkm {
namespace {

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Label values are route names and model names, both from fixed or checked sets (wire.h,
// common/names.h); escape what the format requires anyway, and keep the page valid UTF-8
// whatever reaches here.
std::string Escape(std::string_view raw) {
  std::string valid = ValidUtf8(raw);
  std::string out;
  for (char c : valid) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

constexpr Outcome kOutcomes[] = {Outcome::kSuccess, Outcome::kDayExhausted, Outcome::kCooling,
                                 Outcome::kInvalid, Outcome::kTransient,    Outcome::kClientError};

}  // namespace

void Histogram::Observe(double seconds) {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void Histogram::Render(std::string& out, std::string_view name, std::string_view labels) const {
  uint64_t cumulative = 0;
  std::string sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::string le = i < kBounds.size() ? FormatDouble(kBounds[i]) : "+Inf";
    out += std::string(name) + "_bucket{" + std::string(labels) + sep + "le=\"" + le + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  out += std::string(name) + "_sum" + braces + " " +
         FormatDouble(sum_micros_.load(std::memory_order_relaxed) / 1e6) + "\n";
  out += std::string(name) + "_count" + braces + " " +
         std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

void Metrics::RequestDone(const std::string& route, int code, double seconds) {
  Histogram* h = nullptr;
  {
    std::lock_guard lock(mu_);
    ++requests_[{route, code}];
    auto& slot = request_duration_[route];
    if (!slot) slot = std::make_unique<Histogram>();
    h = slot.get();
  }
  h->Observe(seconds);
}

void Metrics::UpstreamAttempt(Outcome outcome, double seconds) {
  attempts_[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  upstream_duration_.Observe(seconds);
}

void Metrics::QueueLeft(QueueResult result, double seconds) {
  queued_.fetch_sub(1, std::memory_order_relaxed);
  queue_wait_[static_cast<size_t>(result)].Observe(seconds);
}

std::string Metrics::Render(const PoolGauges& g, const PoolView* per_key) const {
  std::string out;
  out.reserve(8192);
  out += "# HELP gkm_requests_total Client requests answered, by route and status code.\n";
  out += "# TYPE gkm_requests_total counter\n";
  {
    std::lock_guard lock(mu_);
    for (const auto& [rc, n] : requests_) {
      out += "gkm_requests_total{route=\"" + Escape(rc.first) + "\",code=\"" +
             std::to_string(rc.second) + "\"} " + std::to_string(n) + "\n";
    }
    out += "# HELP gkm_request_duration_seconds Time from request headers to the last byte.\n";
    out += "# TYPE gkm_request_duration_seconds histogram\n";
    for (const auto& [route, h] : request_duration_) {
      h->Render(out, "gkm_request_duration_seconds", "route=\"" + Escape(route) + "\"");
    }
  }
  out += "# HELP gkm_upstream_attempts_total Upstream attempts by outcome.\n";
  out += "# TYPE gkm_upstream_attempts_total counter\n";
  for (Outcome o : kOutcomes) {
    out += "gkm_upstream_attempts_total{outcome=\"" + std::string(OutcomeName(o)) + "\"} " +
           std::to_string(attempts_[static_cast<size_t>(o)].load()) + "\n";
  }
  out += "# HELP gkm_upstream_duration_seconds Time from sending to upstream to its status line.\n";
  out += "# TYPE gkm_upstream_duration_seconds histogram\n";
  upstream_duration_.Render(out, "gkm_upstream_duration_seconds", "");
  out += "# HELP gkm_session_affinity_total Requests of named sessions by the key that served: ";
  out += "the session's last (hit), another (moved), none known (miss).\n";
  out += "# TYPE gkm_session_affinity_total counter\n";
  for (auto [result, name] :
       {std::pair{SessionResult::kHit, "hit"}, std::pair{SessionResult::kMoved, "moved"},
        std::pair{SessionResult::kMiss, "miss"}}) {
    out += "gkm_session_affinity_total{result=\"" + std::string(name) + "\"} " +
           std::to_string(sessions_[static_cast<size_t>(result)].load()) + "\n";
  }
  out += "# HELP gkm_inflight_requests Client requests being served.\n";
  out += "# TYPE gkm_inflight_requests gauge\n";
  out += "gkm_inflight_requests " + std::to_string(inflight_.load()) + "\n";
  out += "# HELP gkm_queue_length Requests waiting for a key now (--max-queue-wait).\n";
  out += "# TYPE gkm_queue_length gauge\n";
  out += "gkm_queue_length " + std::to_string(queued_.load()) + "\n";
  out += "# HELP gkm_queue_wait_seconds Time requests waited for a key, by how the wait ended.\n";
  out += "# TYPE gkm_queue_wait_seconds histogram\n";
  for (auto [result, name] :
       {std::pair{QueueResult::kServed, "served"}, std::pair{QueueResult::kTimeout, "timeout"},
        std::pair{QueueResult::kNoKey, "no_key"}, std::pair{QueueResult::kGone, "gone"}}) {
    queue_wait_[static_cast<size_t>(result)].Render(out, "gkm_queue_wait_seconds",
                                                    std::string("result=\"") + name + "\"");
  }
  out += "# HELP gkm_queue_rejected_total Requests that would have waited but found the queue ";
  out += "full (--max-queued).\n";
  out += "# TYPE gkm_queue_rejected_total counter\n";
  out += "gkm_queue_rejected_total " + std::to_string(queue_rejected_.load()) + "\n";
  out += "# HELP gkm_keys Keys in the pool by status.\n";
  out += "# TYPE gkm_keys gauge\n";
  out += "gkm_keys{status=\"active\"} " + std::to_string(g.keys_active) + "\n";
  out += "gkm_keys{status=\"invalid\"} " + std::to_string(g.keys_invalid) + "\n";
  out += "# HELP gkm_key_models Key-model pairs that may not be used now, by state.\n";
  out += "# TYPE gkm_key_models gauge\n";
  out += "gkm_key_models{state=\"cooling\"} " + std::to_string(g.key_models_cooling) + "\n";
  out += "gkm_key_models{state=\"exhausted\"} " + std::to_string(g.key_models_exhausted) + "\n";
  out +=
      "# HELP gkm_project_models Project-model pairs out of the rotation, by state "
      "(paced: at a known limit until its window ends).\n";
  out += "# TYPE gkm_project_models gauge\n";
  out += "gkm_project_models{state=\"cooling\"} " + std::to_string(g.project_models_cooling) + "\n";
  out += "gkm_project_models{state=\"exhausted\"} " + std::to_string(g.project_models_exhausted) +
         "\n";
  out += "gkm_project_models{state=\"paced\"} " + std::to_string(g.project_models_paced) + "\n";
  out += "# HELP gkm_pool_models Models the key pool keeps per-key state for (bounded).\n";
  out += "# TYPE gkm_pool_models gauge\n";
  out += "gkm_pool_models " + std::to_string(g.models_tracked) + "\n";
  out += "# HELP gkm_requests_today_total Upstream requests in the current quota day by model.\n";
  out += "# TYPE gkm_requests_today_total counter\n";
  for (const auto& [model, n] : g.requests_today_by_model) {
    out += "gkm_requests_today_total{model=\"" + Escape(model) + "\"} " + std::to_string(n) + "\n";
  }
  if (per_key) {
    out += "# HELP gkm_key_requests_today Upstream requests today per key and model.\n";
    out += "# TYPE gkm_key_requests_today gauge\n";
    for (const auto& k : per_key->keys) {
      for (const auto& m : k.models) {
        out += "gkm_key_requests_today{key_id=\"" + k.id + "\",model=\"" + Escape(m.model) +
               "\"} " + std::to_string(m.requests) + "\n";
      }
    }
    out += "# HELP gkm_key_active Whether a key is active (1) or invalid (0).\n";
    out += "# TYPE gkm_key_active gauge\n";
    for (const auto& k : per_key->keys) {
      out += "gkm_key_active{key_id=\"" + k.id + "\"} " + (k.status == "active" ? "1" : "0") + "\n";
    }
  }
  return out;
}

void AppendClientMetrics(std::string& out, const std::vector<ClientView>& clients) {
  if (clients.empty()) return;
  auto label = [](const ClientView& c) { return "client=\"" + Escape(c.spec.name) + "\""; };
  out += "# HELP gkm_client_requests_total Requests of each client answered, by status code.\n";
  out += "# TYPE gkm_client_requests_total counter\n";
  for (const ClientView& c : clients) {
    for (const auto& [code, n] : c.codes) {
      out += "gkm_client_requests_total{" + label(c) + ",code=\"" + std::to_string(code) + "\"} " +
             std::to_string(n) + "\n";
    }
  }
  out += "# HELP gkm_client_refused_total Requests refused by the client's own limits.\n";
  out += "# TYPE gkm_client_refused_total counter\n";
  for (const ClientView& c : clients) {
    for (Refusal r : {Refusal::kMinute, Refusal::kDay, Refusal::kModel}) {
      out += "gkm_client_refused_total{" + label(c) + ",reason=\"" + std::string(RefusalName(r)) +
             "\"} " + std::to_string(c.refused[static_cast<size_t>(r)]) + "\n";
    }
  }
  out += "# HELP gkm_client_requests_today Requests admitted for the client this quota day.\n";
  out += "# TYPE gkm_client_requests_today gauge\n";
  for (const ClientView& c : clients) {
    out += "gkm_client_requests_today{" + label(c) + "} " + std::to_string(c.today_requests) + "\n";
  }
}

}  // namespace gkm
