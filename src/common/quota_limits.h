// Quota limits of a (project, model): requests per minute, requests per quota day, input
// tokens per minute (SPEC 4.6), and the --limit table that gives them up front (SPEC 2.1).
//
// A limit is -1 when it is not known, 0 when Google grants nothing (a "limit: 0" 429: no
// free tier for that model on that project), else the number. The pool paces a project
// by the limits it knows: a --limit value wins over a learned one for the same metric (the
// operator's word is final, e.g. to keep headroom), learned values fill in the rest.
//
// LimitTable is built once at startup (Add), then read-only: const methods are thread-safe.
// Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gkm {

// How the pool chooses among the projects that can serve now (SPEC 4.8, --strategy).
enum class PoolStrategy : uint8_t {
  kRoundRobin,  // each project in turn, then each of its keys in turn
  kLeastUsed,   // the project with the lowest share of its known per-day limit used
  kFillFirst,   // the first project in key-file order until it is spent, then the next
};

struct QuotaLimits {
  int64_t rpm = -1;  // requests per minute window
  int64_t rpd = -1;  // requests per quota day
  int64_t tpm = -1;  // input (prompt) tokens per minute window
  bool any() const { return rpm >= 0 || rpd >= 0 || tpm >= 0; }
  // Each metric of `over` that is known replaces this one's.
  QuotaLimits Over(const QuotaLimits& over) const {
    return {over.rpm >= 0 ? over.rpm : rpm, over.rpd >= 0 ? over.rpd : rpd,
            over.tpm >= 0 ? over.tpm : tpm};
  }
  friend bool operator==(const QuotaLimits&, const QuotaLimits&) = default;
};

class LimitTable {
 public:
  // Adds "MODEL=RPM/RPD[/TPM]" (MODEL may hold '*' globs; a field may be '-' for "not
  // given"). Returns why it cannot be added, or "" when it was.
  std::string Add(std::string_view spec);
  // The limits for `model` (without "models/"): an exact MODEL wins over globs, among globs
  // the first given wins. All -1 when nothing matches.
  QuotaLimits Resolve(std::string_view model) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    std::string model;
    bool glob = false;
    QuotaLimits limits;
  };
  std::vector<Rule> rules_;
};

}  // namespace gkm
