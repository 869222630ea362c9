// The records of the proxy's durable state, as the key pool hands them to the store and
// the store hands them back at start. Plain data; keys appear only as ids.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gkm {

struct UsageDelta {
  std::string key_id;
  std::string model;
  std::string day;  // "YYYY-MM-DD"
  int64_t requests = 0;
  int64_t rate_limited = 0;  // 429s
  int64_t errors = 0;        // other failed attempts
  int64_t prompt_tokens = 0;
  int64_t candidate_tokens = 0;
  int64_t thought_tokens = 0;
};

struct KeyModelState {
  std::string key_id;
  std::string model;
  std::string state;  // "cooling" | "exhausted" | "ok" ("ok" deletes the row)
  int64_t until_ms = 0;
  std::string reason;
};

struct KeyStatusRow {
  std::string key_id;
  std::string status;  // "active" | "invalid"
  std::string reason;
};

// A (project, model) state that came from Google's answer or from pacing (SPEC 4.5, 4.6).
struct ProjectModelState {
  std::string project;
  std::string model;
  std::string state;  // "cooling" | "exhausted" | "ok" ("ok" deletes the row)
  int64_t until_ms = 0;
  std::string reason;
};

// A limit Google reported for a (project, model) in a 429's QuotaFailure (SPEC 4.6).
struct LearnedLimit {
  std::string project;
  std::string model;
  std::string window;  // "minute" | "day"
  std::string metric;  // "requests" | "input_tokens"
  int64_t value = 0;
  int64_t updated_ms = 0;
};

struct Binding {
  std::string kind;  // "upload" | "file" | "cache"
  std::string name;  // upload id, "files/abc", "cachedContents/xyz"
  std::string key_id;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // when Google has dropped the resource; 0: not known (older rows)
};

// Requests a named client (SPEC 2.3) was admitted for, per model and quota day: a delta
// when written, the day's total when loaded. model "-": requests that named none.
struct ClientUsageDelta {
  std::string client;
  std::string model;
  std::string day;  // "YYYY-MM-DD"
  int64_t requests = 0;
};

// Requests and input tokens sent for a (project, model) in one minute window (index: minutes
// since the epoch, counted from the window's phase): a delta when taken from the pool, a
// total of other instances when given back (SPEC 6, per-minute pacing across instances).
struct MinuteCount {
  std::string project;
  std::string model;
  int64_t minute = 0;
  int64_t requests = 0;
  int64_t tokens = 0;
};

// Requests a named client was admitted for in one wall-clock minute (minutes since the
// epoch): a delta when taken from Clients, a total of other instances when given back.
struct ClientMinuteCount {
  std::string client;
  int64_t minute = 0;
  int64_t requests = 0;
};

struct Batch {
  std::vector<UsageDelta> usage;
  std::vector<ClientUsageDelta> client_usage;
  std::vector<KeyModelState> states;
  std::vector<KeyStatusRow> statuses;
  std::vector<Binding> bindings;
  std::vector<std::pair<std::string, int64_t>> cursors;  // model -> position
  std::vector<ProjectModelState> project_states;
  std::vector<LearnedLimit> limits;
  // When not 0, bindings that expired at or before this time are deleted (affinity expiry).
  int64_t bindings_expired_by_ms = 0;
  bool empty() const {
    return usage.empty() && client_usage.empty() && states.empty() && statuses.empty() &&
           bindings.empty() && cursors.empty() && project_states.empty() && limits.empty() &&
           bindings_expired_by_ms == 0;
  }
};

// What the proxy needs back at start.
struct Loaded {
  std::vector<UsageDelta> usage;               // the rows of the requested day only
  std::vector<ClientUsageDelta> client_usage;  // the rows of the requested day only
  std::vector<KeyModelState> states;
  std::vector<KeyStatusRow> statuses;
  std::vector<Binding> bindings;
  std::vector<std::pair<std::string, int64_t>> cursors;
  std::vector<ProjectModelState> project_states;
  std::vector<LearnedLimit> limits;
};

}  // namespace gkm
