// Logging: console plus size-rotated files in --log-dir (SPEC 7), through spdlog.
// Keys never reach a log: ApiKey cannot be formatted; code logs key ids or masked keys.
//
// With --log-format json every line is one JSON object: {"ts","level","msg"} for a line of
// text, and for a line logged with LogFields its members ({"ts","level","msg":"request",
// "id":7,...}). Objects are written as text, escaped as they go: no JSON tree per line.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"

namespace gkm {

// Makes the default logger write to stderr and <log_dir>/gemini-key-manager.log.
// False and *error when the log dir cannot be written.
bool SetupLogging(const Config& config, std::string* error);

// The formatter of every line: what the pattern "%Y-%m-%dT%H:%M:%S.%e%z %l %v" gives
// (local time with milliseconds and UTC offset, level, text, newline), done faster.
// With `json`: {"ts":"<that time>","level":"<level>","msg":"<text, escaped>"} and a newline;
// lines logged by LogFields carry their members instead of "msg".
std::unique_ptr<spdlog::formatter> MakeLineFormatter(bool json = false);

// True after SetupLogging with --log-format json.
bool JsonLogging();

// Logs a line made of JSON object members, e.g. `"msg":"request","id":7` (no braces), for
// the json format; the caller writes them, escaping strings with AppendJsonString.
void LogFields(spdlog::level::level_enum level, std::string_view members);

// The JSON object line (with its newline) LogFields would write now, for output that does
// not go through the log (the generated token on stdout).
std::string JsonLine(spdlog::level::level_enum level, std::string_view members);

// Appends `s` as a JSON string, quotes included: '"', '\\' and control characters escaped,
// bytes that are not UTF-8 written as \u00XX (the byte's value) so that the line stays
// valid JSON whatever a client sent.
void AppendJsonString(spdlog::memory_buf_t& out, std::string_view s);

}  // namespace gkm
