// Logging: console plus size-rotated files in --log-dir (SPEC 7), through spdlog.
// Keys never reach a log: ApiKey cannot be formatted; code logs key ids or masked keys.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "config/config.h"

namespace gkm {

// Makes the default logger write to stderr and <log_dir>/gemini-key-manager.log.
// False and *error when the log dir cannot be written.
bool SetupLogging(const Config& config, std::string* error);

}  // namespace gkm
