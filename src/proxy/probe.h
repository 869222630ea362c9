// Probe: one look at whether a key works, made off the request path (SPEC 2.1
// --recheck-invalid, 3.9 POST /admin/keys/{id}/check, 9 check-keys).
//
// ProbeKey() sends `GET {base}/v1beta/models?pageSize=1` with the key in x-goog-api-key
// (with a model: a one-token generateContent of that model instead) over a connection of
// the given UpstreamPool, and judges the answer exactly as the request path does: an error
// body is read whole through ReadBody (its content coding undone, the key masked) and
// Classify()d; no answer at all is a TransportFailure. Nothing of the body is kept.
//
// EffectOf() says what a probe proves about the key's status: a success makes it active,
// and so does a 429 (Google counts quota per project, so it had resolved the key to its
// project: the key is alive, its quota states are the pool's business); an invalid verdict
// makes it invalid; anything else (5xx, transport failures, other 4xx) proves nothing and
// the key keeps its status.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "common/api_key.h"
#include "upstream/upstream.h"
#include "verdict/verdict.h"

namespace gkm {

struct ProbeOptions {
  std::string model;  // empty: the models list; else a one-token generate of this model
  std::chrono::seconds timeout{30};
  Bare429 bare429 = Bare429::kDay;
};

struct ProbeResult {
  int status = 0;  // the HTTP status; 0 when no answer came
  Verdict verdict;
  double latency_ms = 0;
};

enum class ProbeEffect { kActive, kInvalid, kUnknown };

ProbeEffect EffectOf(const ProbeResult& r);

// The request head of a probe (wire bytes, with the real key): for tests and ProbeKey.
std::string ProbeHead(const UpstreamPool& up, const ApiKey& key, const ProbeOptions& o,
                      std::string_view body);
// The body of a probe: empty for the models list, a one-token generate otherwise.
std::string ProbeBody(const ProbeOptions& o);

// Runs on the pool's executor. Never throws for upstream failures (they are verdicts).
boost::asio::awaitable<ProbeResult> ProbeKey(UpstreamPool& up, std::shared_ptr<const ApiKey> key,
                                             ProbeOptions options);

}  // namespace gkm
