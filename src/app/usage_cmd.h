// usage: the subcommand that prints usage history from the state database (SPEC 9):
// `gemini-key-manager usage [--from D] [--to D] [--group-by key,model,day,client]
// [--format table|csv|json]` and the proxy's --state-dir, --reset-timezone, --reset-time,
// --config (and their GKM_* variables).
//
// The rows are those of GET /admin/usage (common/usage_query.h), with the same defaults
// (the last 7 quota days, by day). The database is opened read-only and the state dir's
// lock is not taken, so it works while the proxy runs and when it does not. Exit status 0,
// 1 when the database cannot be read, 2 on bad arguments (one line on stderr).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace gkm {

// args: the arguments after "usage".
int RunUsage(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

}  // namespace gkm
