#include "app/usage_cmd.h"

#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include "common/names.h"
#include "common/usage_query.h"
#include "config/config.h"
#include "quotaday/quota_clock.h"
#include "store/usage_reader.h"

namespace gkm {
namespace {

constexpr const char* kUsage =
    "Usage: gemini-key-manager usage [--from D] [--to D] [--group-by DIMS] [--format F]\n"
    "                                [--state-dir DIR] [OPTIONS]\n"
    "\n"
    "Prints usage history from the state database in --state-dir, whether the proxy runs\n"
    "or not (the database is opened read-only). The rows are those of GET /admin/usage.\n"
    "\n"
    "  --from D           first quota day, YYYY-MM-DD (default: 6 days before --to)\n"
    "  --to D             last quota day, YYYY-MM-DD (default: today's quota day)\n"
    "  --group-by DIMS    comma list of key, model, day, client (default: day);\n"
    "                     client cannot be combined with key\n"
    "  --format F         table (default), csv or json\n"
    "\n"
    "OPTIONS are the proxy's (see gemini-key-manager --help): --state-dir, --reset-timezone,\n"
    "--reset-time, --config ...\n";

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "gemini-key-manager usage: %s\n", message.c_str());
  return code;
}

struct Args {
  std::optional<std::string> from, to, group_by;
  std::string format = "table";
  std::vector<std::string> rest{"gemini-key-manager"};  // for LoadConfig
};

// Takes this subcommand's own flags out of `args`; false with *error on a bad one.
bool ParseArgs(const std::vector<std::string>& args, Args* out, std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string name(a.substr(0, a.find('=')));
    std::optional<std::string> value;
    if (a.find('=') != std::string_view::npos) value = std::string(a.substr(a.find('=') + 1));
    std::optional<std::string>* slot = name == "--from"       ? &out->from
                                       : name == "--to"       ? &out->to
                                       : name == "--group-by" ? &out->group_by
                                                              : nullptr;
    if (!slot && name != "--format") {
      out->rest.push_back(args[i]);
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size() || args[i + 1].starts_with("--")) {
        *error = name + ": missing value";
        return false;
      }
      value = args[++i];
    }
    if (slot) {
      *slot = *value;
    } else if (*value == "table" || *value == "csv" || *value == "json") {
      out->format = *value;
    } else {
      *error = "--format: expected table, csv or json, got \"" + Printable(*value) + "\"";
      return false;
    }
  }
  return true;
}

}  // namespace

int RunUsage(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
  }
  Args parsed;
  std::string error;
  if (!ParseArgs(args, &parsed, &error)) return Fail(2, error);
  ConfigResult loaded = LoadConfig(parsed.rest, env, std::thread::hardware_concurrency());
  if (auto* e = std::get_if<ConfigError>(&loaded)) return Fail(2, e->message);
  if (!std::holds_alternative<Config>(loaded)) return Fail(2, "unexpected argument (see --help)");
  const Config& cfg = std::get<Config>(loaded);
  auto clock = QuotaClock::Make(cfg.reset_timezone, cfg.reset_time, &error);
  if (!clock) return Fail(2, "--reset-timezone: " + error);

  auto query = ParseUsageQuery(parsed.from, parsed.to, parsed.group_by, clock->DayOf(NowMs()));
  if (auto* bad = std::get_if<UsageQueryError>(&query)) {
    return Fail(
        2, (bad->param == "group_by" ? "--group-by" : "--" + bad->param) + ": " + bad->message);
  }
  const UsageQuery& q = std::get<UsageQuery>(query);
  auto reader = UsageReader::Open(cfg.state_dir, &error);
  if (!reader) return Fail(1, error);
  std::vector<UsageRow> rows;
  if (!reader->Read(q, SIZE_MAX, &rows, &error)) return Fail(1, error);
  if (parsed.format == "json") {
    std::cout << UsageJson(q, rows) << "\n";
  } else if (parsed.format == "csv") {
    std::cout << UsageCsv(q, rows);
  } else {
    std::cout << UsageTable(q, rows);
  }
  std::cout.flush();
  return std::cout.good() ? 0 : 1;
}

}  // namespace gkm
