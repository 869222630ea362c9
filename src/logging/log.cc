#include "logging/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace gkm {
namespace {

spdlog::level::level_enum LevelOf(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void SetupEarlyLogging() {
  auto logger = spdlog::stderr_color_mt("gkm-early");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  spdlog::set_default_logger(logger);
}

bool SetupLogging(const Config& config, std::string* error) {
  try {
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        config.log_dir + "/gemini-key-manager.log", config.log_max_size, config.log_max_files);
    // Formatting and writing happen on spdlog's own thread, so that the per-request line
    // costs an I/O thread only a queue push. When the queue is full, callers wait rather
    // than lose lines.
    spdlog::init_thread_pool(16384, 1);
    auto logger = std::make_shared<spdlog::async_logger>(
        "gkm", spdlog::sinks_init_list{console, file}, spdlog::thread_pool(),
        spdlog::async_overflow_policy::block);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
    logger->set_level(LevelOf(config.log_level));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
    return true;
  } catch (const spdlog::spdlog_ex& e) {
    *error = "--log-dir: cannot write logs in '" + config.log_dir + "': " + e.what();
    return false;
  }
}

}  // namespace gkm
