// Usage history queries (SPEC 3.9 GET /admin/usage, SPEC 9 `usage`): what is asked, the
// rows that answer it, and the three ways of printing them (JSON, CSV, an aligned table).
//
// A query covers quota days `from`..`to` (inclusive, "YYYY-MM-DD", at most 366 days) and
// groups by a list of dimensions: key, model, day, client. Grouped by client, the rows come
// from the per-client table and carry only "requests" (client and key cannot be combined:
// the store does not know which key served which client). Rows are sorted by the
// dimensions in the order they were asked for. Pure: no I/O, no clock (today is given).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gkm {

enum class UsageDim { kKey, kModel, kDay, kClient };

// The name a dimension has in group_by ("key") and as a column ("key_id").
std::string_view UsageDimParam(UsageDim d);
std::string_view UsageDimColumn(UsageDim d);

// The metric columns of key usage, in their order; client usage has only the first.
inline constexpr std::array<std::string_view, 6> kUsageMetrics = {
    "requests", "rate_limited", "errors", "prompt_tokens", "candidate_tokens", "thought_tokens"};

struct UsageQuery {
  std::string from, to;  // quota days, inclusive
  std::vector<UsageDim> group_by;
  // True when the rows come from the per-client table.
  bool clients() const;
  // How many metric columns the rows carry: 1 for clients, else 6.
  size_t metric_count() const { return clients() ? 1 : kUsageMetrics.size(); }
};

// A bad parameter: its name ("from", "to", "group_by") and what is wrong with it (a message
// that reads after "<name>: ").
struct UsageQueryError {
  std::string param;
  std::string message;
};

// Builds a query from the raw parameters (absent ones take their defaults: to = today,
// from = to - 6 days, group_by = day). `today` is the current quota day.
std::variant<UsageQuery, UsageQueryError> ParseUsageQuery(
    const std::optional<std::string>& from, const std::optional<std::string>& to,
    const std::optional<std::string>& group_by, const std::string& today);

// True for a real calendar date written YYYY-MM-DD.
bool IsQuotaDay(std::string_view s);

struct UsageRow {
  std::vector<std::string> dims;  // in the query's group_by order
  std::array<int64_t, 6> metrics{};
};

// One day's usage at the finest grain (a key and model, or a client and model), as another
// source than the store holds it (SPEC 6: Redis's counters of today).
struct UsageFact {
  std::string key_id;  // empty for a client's row
  std::string client;  // empty for a key's row
  std::string model;
  std::string day;
  std::array<int64_t, 6> metrics{};  // a client's row: requests only
};

// The rows of `q` over `facts` (those of q's kind: clients or keys; any day, unfiltered),
// summed by its dimensions and sorted as the store sorts them.
std::vector<UsageRow> GroupUsage(const UsageQuery& q, const std::vector<UsageFact>& facts);

// Rows of `q` from two sources merged: equal dimensions summed, sorted.
std::vector<UsageRow> MergeUsageRows(std::vector<UsageRow> a, std::vector<UsageRow> b);

// A query for the store when quota day `today` comes from elsewhere: grouped by day too
// (so that today's rows can be told apart); with SplitOutDay, the rows of `q` of every other
// day.
UsageQuery WithDay(const UsageQuery& q);
std::vector<UsageRow> SplitOutDay(const UsageQuery& q, std::vector<UsageRow> with_day,
                                  const std::string& today);

// {"from","to","group_by":[...],"rows":[{dims..., metrics...}]}
std::string UsageJson(const UsageQuery& q, const std::vector<UsageRow>& rows);
// A header line (dimension columns, metric columns), then one line per row; RFC 4180
// quoting, CRLF line ends.
std::string UsageCsv(const UsageQuery& q, const std::vector<UsageRow>& rows);
// The same columns aligned for a terminal (numbers to the right), "\n" line ends, and a
// last line "(no usage between FROM and TO)" when there are no rows.
std::string UsageTable(const UsageQuery& q, const std::vector<UsageRow>& rows);

}  // namespace gkm
