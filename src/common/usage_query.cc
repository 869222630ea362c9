#include "common/usage_query.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>

#include "common/names.h"

namespace gkm {
namespace {

namespace chr = std::chrono;

constexpr int kMaxDays = 366;

std::optional<chr::sys_days> DayOf(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  size_t at[3][2] = {{0, 4}, {5, 2}, {8, 2}};
  for (int i = 0; i < 3; ++i) {
    for (size_t j = at[i][0]; j < at[i][0] + at[i][1]; ++j) {
      if (s[j] < '0' || s[j] > '9') return std::nullopt;
      parts[i] = parts[i] * 10 + (s[j] - '0');
    }
  }
  chr::year_month_day ymd{chr::year(parts[0]), chr::month(static_cast<unsigned>(parts[1])),
                          chr::day(static_cast<unsigned>(parts[2]))};
  if (!ymd.ok()) return std::nullopt;
  return chr::sys_days(ymd);
}

std::string NameOf(chr::sys_days d) {
  chr::year_month_day ymd(d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::optional<UsageDim> DimOf(std::string_view name) {
  for (UsageDim d : {UsageDim::kKey, UsageDim::kModel, UsageDim::kDay, UsageDim::kClient}) {
    if (name == UsageDimParam(d)) return d;
  }
  return std::nullopt;
}

// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string CsvField(std::string_view v) {
  if (v.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Header and cells of every row, as text, for CSV and the table.
std::vector<std::vector<std::string>> Cells(const UsageQuery& q,
                                            const std::vector<UsageRow>& rows) {
  std::vector<std::vector<std::string>> out;
  out.reserve(rows.size() + 1);
  std::vector<std::string> header;
  for (UsageDim d : q.group_by) header.emplace_back(UsageDimColumn(d));
  for (size_t m = 0; m < q.metric_count(); ++m) header.emplace_back(kUsageMetrics[m]);
  out.push_back(std::move(header));
  for (const UsageRow& r : rows) {
    std::vector<std::string> line = r.dims;
    for (size_t m = 0; m < q.metric_count(); ++m) line.push_back(std::to_string(r.metrics[m]));
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace

std::string_view UsageDimParam(UsageDim d) {
  switch (d) {
    case UsageDim::kKey:
      return "key";
    case UsageDim::kModel:
      return "model";
    case UsageDim::kDay:
      return "day";
    case UsageDim::kClient:
      return "client";
  }
  return "";
}

std::string_view UsageDimColumn(UsageDim d) {
  return d == UsageDim::kKey ? std::string_view("key_id") : UsageDimParam(d);
}

bool UsageQuery::clients() const {
  return std::find(group_by.begin(), group_by.end(), UsageDim::kClient) != group_by.end();
}

bool IsQuotaDay(std::string_view s) { return DayOf(s).has_value(); }

std::variant<UsageQuery, UsageQueryError> ParseUsageQuery(
    const std::optional<std::string>& from, const std::optional<std::string>& to,
    const std::optional<std::string>& group_by, const std::string& today) {
  UsageQuery q;
  auto bad_day = [](const char* param, const std::string& v) {
    return UsageQueryError{param, "must be a date YYYY-MM-DD, not '" + Printable(v, 40) + "'"};
  };
  std::optional<chr::sys_days> to_day = DayOf(to.value_or(today));
  if (!to_day) return bad_day("to", to.value_or(today));
  std::optional<chr::sys_days> from_day = from ? DayOf(*from) : *to_day - chr::days(6);
  if (!from_day) return bad_day("from", *from);
  if (*from_day > *to_day) {
    return UsageQueryError{"from", NameOf(*from_day) + " is after to (" + NameOf(*to_day) + ")"};
  }
  if ((*to_day - *from_day).count() + 1 > kMaxDays) {
    return UsageQueryError{"from", "the range to " + NameOf(*to_day) + " spans " +
                                       std::to_string((*to_day - *from_day).count() + 1) +
                                       " days; at most " + std::to_string(kMaxDays)};
  }
  q.from = NameOf(*from_day);
  q.to = NameOf(*to_day);
  std::string_view list = group_by ? std::string_view(*group_by) : std::string_view("day");
  for (;;) {
    size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    std::optional<UsageDim> d = DimOf(name);
    if (!d) {
      return UsageQueryError{"group_by", "unknown dimension '" + Printable(std::string(name), 40) +
                                             "' (key, model, day or client)"};
    }
    if (std::find(q.group_by.begin(), q.group_by.end(), *d) != q.group_by.end()) {
      return UsageQueryError{"group_by", std::string(name) + " is named twice"};
    }
    q.group_by.push_back(*d);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (q.clients() &&
      std::find(q.group_by.begin(), q.group_by.end(), UsageDim::kKey) != q.group_by.end()) {
    return UsageQueryError{"group_by",
                           "client cannot be combined with key (client usage is "
                           "kept per client, model and day)"};
  }
  return q;
}

std::string UsageJson(const UsageQuery& q, const std::vector<UsageRow>& rows) {
  namespace json = boost::json;
  json::object root;
  root["from"] = q.from;
  root["to"] = q.to;
  json::array dims;
  for (UsageDim d : q.group_by) dims.emplace_back(UsageDimParam(d));
  root["group_by"] = std::move(dims);
  json::array list;
  list.reserve(rows.size());
  for (const UsageRow& r : rows) {
    json::object o;
    for (size_t i = 0; i < q.group_by.size() && i < r.dims.size(); ++i) {
      o[UsageDimColumn(q.group_by[i])] = ValidUtf8(r.dims[i]);
    }
    for (size_t m = 0; m < q.metric_count(); ++m) o[kUsageMetrics[m]] = r.metrics[m];
    list.push_back(std::move(o));
  }
  root["rows"] = std::move(list);
  return json::serialize(root);
}

std::string UsageCsv(const UsageQuery& q, const std::vector<UsageRow>& rows) {
  std::string out;
  for (const auto& line : Cells(q, rows)) {
    for (size_t i = 0; i < line.size(); ++i) {
      if (i) out += ',';
      out += CsvField(line[i]);
    }
    out += "\r\n";
  }
  return out;
}

std::string UsageTable(const UsageQuery& q, const std::vector<UsageRow>& rows) {
  std::vector<std::vector<std::string>> cells = Cells(q, rows);
  for (auto& line : cells) {
    for (auto& c : line) c = Printable(c, 200);  // a terminal gets no control bytes
  }
  std::vector<size_t> width(cells[0].size(), 0);
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
  }
  const size_t dims = q.group_by.size();
  std::string out;
  for (const auto& line : cells) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      if (i) text += "  ";
      std::string pad(width[i] - line[i].size(), ' ');
      text += i < dims ? line[i] + pad : pad + line[i];
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  }
  if (rows.empty()) out += "(no usage between " + q.from + " and " + q.to + ")\n";
  return out;
}

std::vector<UsageRow> MergeUsageRows(std::vector<UsageRow> a, std::vector<UsageRow> b) {
  a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
  std::stable_sort(a.begin(), a.end(),
                   [](const UsageRow& x, const UsageRow& y) { return x.dims < y.dims; });
  std::vector<UsageRow> out;
  out.reserve(a.size());
  for (UsageRow& r : a) {
    if (!out.empty() && out.back().dims == r.dims) {
      for (size_t i = 0; i < r.metrics.size(); ++i) out.back().metrics[i] += r.metrics[i];
    } else {
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<UsageRow> GroupUsage(const UsageQuery& q, const std::vector<UsageFact>& facts) {
  std::vector<UsageRow> rows;
  for (const UsageFact& f : facts) {
    if (q.clients() == f.client.empty()) continue;  // the other kind
    UsageRow r;
    for (UsageDim d : q.group_by) {
      switch (d) {
        case UsageDim::kKey:
          r.dims.push_back(f.key_id);
          break;
        case UsageDim::kModel:
          r.dims.push_back(f.model);
          break;
        case UsageDim::kDay:
          r.dims.push_back(f.day);
          break;
        case UsageDim::kClient:
          r.dims.push_back(f.client);
          break;
      }
    }
    r.metrics = f.metrics;
    rows.push_back(std::move(r));
  }
  return MergeUsageRows(std::move(rows), {});
}

UsageQuery WithDay(const UsageQuery& q) {
  UsageQuery w = q;
  if (std::find(w.group_by.begin(), w.group_by.end(), UsageDim::kDay) == w.group_by.end()) {
    w.group_by.push_back(UsageDim::kDay);
  }
  return w;
}

std::vector<UsageRow> SplitOutDay(const UsageQuery& q, std::vector<UsageRow> with_day,
                                  const std::string& today) {
  const UsageQuery w = WithDay(q);
  const size_t day_at = static_cast<size_t>(
      std::find(w.group_by.begin(), w.group_by.end(), UsageDim::kDay) - w.group_by.begin());
  const bool asked = w.group_by.size() == q.group_by.size();
  std::vector<UsageRow> rows;
  rows.reserve(with_day.size());
  for (UsageRow& r : with_day) {
    if (r.dims.size() != w.group_by.size() || r.dims[day_at] == today) continue;
    if (!asked) r.dims.erase(r.dims.begin() + static_cast<std::ptrdiff_t>(day_at));
    rows.push_back(std::move(r));
  }
  return MergeUsageRows(std::move(rows), {});
}

}  // namespace gkm
