// Logging: console plus size-rotated files in --log-dir (SPEC 7), through spdlog.
// Keys never reach a log: ApiKey cannot be formatted; code logs key ids or masked keys.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "config/config.h"

namespace gkm {

// Makes the default logger write to stderr and <log_dir>/gemini-key-manager.log.
// False and *error when the log dir cannot be written.
bool SetupLogging(const Config& config, std::string* error);

// The formatter of every line: what the pattern "%Y-%m-%dT%H:%M:%S.%e%z %l %v" gives
// (local time with milliseconds and UTC offset, level, text, newline), done faster.
std::unique_ptr<spdlog::formatter> MakeLineFormatter();

}  // namespace gkm
