// check-keys: the subcommand that probes every key of the key file once and reports
// (SPEC 9): `gemini-key-manager check-keys [--json] [--model M] [--concurrency N]` and
// any option of the proxy (--keys, --upstream, --upstream-ca, --config, ...).
//
// Each key gets the probe of proxy/probe.h (the models list; with --model, a one-token
// generate of that model), at most N at once (default 4), each within --upstream-timeout
// (at most 30 s). Prints a table (id, masked key, project, verdict, latency, HTTP status
// and reason) or, with --json, one JSON document. Exit status: 0 when every key is usable
// (its probe succeeded), 1 when some is not, 2 on bad arguments or configuration. No
// server, no state dir, no log files.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace gkm {

// args: the arguments after "check-keys".
int RunCheckKeys(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env);

}  // namespace gkm
