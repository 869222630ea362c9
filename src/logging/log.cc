#include "logging/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

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

// Writes a message's text as it is: the line was formatted already.
class VerbatimFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    dest.append(msg.payload.begin(), msg.payload.end());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<VerbatimFormatter>();
  }
};

// Formats a line as the pattern "%Y-%m-%dT%H:%M:%S.%e%z %l %v" would (ISO local time with
// milliseconds and offset, level, text), with the date, time and offset written once per
// second: spdlog's pattern formatter ran a formatter per flag, more work than the request's
// own line. Used under the sink's lock, so the cache needs none.
class LineFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto since = msg.time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since);
    if (secs.count() != second_) Cache(static_cast<std::time_t>(secs.count()));
    const auto ms = static_cast<int>(duration_cast<milliseconds>(since - secs).count());
    const char millis[4] = {'.', static_cast<char>('0' + ms / 100),
                            static_cast<char>('0' + ms / 10 % 10),
                            static_cast<char>('0' + ms % 10)};
    dest.append(stamp_, stamp_ + stamp_size_);
    dest.append(millis, millis + 4);
    dest.append(zone_, zone_ + 6);
    dest.push_back(' ');
    auto level = spdlog::level::to_string_view(msg.level);
    dest.append(level.begin(), level.end());
    dest.push_back(' ');
    dest.append(msg.payload.begin(), msg.payload.end());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>();
  }

 private:
  void Cache(std::time_t t) {
    std::tm tm{};
    localtime_r(&t, &tm);
    stamp_size_ = std::strftime(stamp_, sizeof stamp_, "%Y-%m-%dT%H:%M:%S", &tm);
    long offset = tm.tm_gmtoff / 60;  // minutes east of UTC
    zone_[0] = offset < 0 ? '-' : '+';
    offset = offset < 0 ? -offset : offset;
    zone_[1] = static_cast<char>('0' + offset / 600 % 10);
    zone_[2] = static_cast<char>('0' + offset / 60 % 10);
    zone_[3] = ':';
    zone_[4] = static_cast<char>('0' + offset % 60 / 10);
    zone_[5] = static_cast<char>('0' + offset % 10);
    second_ = t;
  }

  std::time_t second_ = -1;
  char stamp_[32] = {};
  size_t stamp_size_ = 0;
  char zone_[6] = {'+', '0', '0', ':', '0', '0'};
};

// Every line to stderr and to the rotating log file, formatted once under one lock.
// Console output goes through stdio's buffer: spdlog's console sinks flush (one write(2))
// per line, which at one line per request costs more than the request itself. Lines reach
// the console when the buffer fills, at every warning or error (flush_on), and at least
// once a second (flush_every).
class StderrAndFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  StderrAndFileSink(const std::string& path, size_t max_size, size_t max_files)
      : file_(path, max_size, max_files, false, FileHandlers(file_buffer_.get())) {
    file_.set_formatter(std::make_unique<VerbatimFormatter>());
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::fwrite(formatted.data(), 1, formatted.size(), stderr);
    spdlog::details::log_msg line = msg;
    line.payload = spdlog::string_view_t(formatted.data(), formatted.size());
    file_.log(line);
  }
  // The log file gets a 64 KiB stdio buffer, as stderr does: with the default 4 KiB one a
  // write(2) went out every twenty requests or so. (glibc ignores the size unless given the
  // buffer.) Each reopened file after a rotation takes the same buffer: the old one is
  // closed first.
  static constexpr size_t kFileBuffer = 1 << 16;
  static spdlog::file_event_handlers FileHandlers(char* buffer) {
    spdlog::file_event_handlers handlers;
    handlers.after_open = [buffer](const spdlog::filename_t&, std::FILE* file) {
      std::setvbuf(file, buffer, _IOFBF, kFileBuffer);
    };
    return handlers;
  }

  void flush_() override {
    std::fflush(stderr);
    file_.flush();
  }

 private:
  std::unique_ptr<char[]> file_buffer_ = std::make_unique<char[]>(kFileBuffer);  // outlives file_
  spdlog::sinks::rotating_file_sink_st file_;  // guarded by this sink's mutex
};

}  // namespace

std::unique_ptr<spdlog::formatter> MakeLineFormatter() { return std::make_unique<LineFormatter>(); }

bool SetupLogging(const Config& config, std::string* error) {
  try {
    static char stderr_buffer[1 << 16];
    std::setvbuf(stderr, stderr_buffer, _IOFBF, sizeof stderr_buffer);
    auto sink = std::make_shared<StderrAndFileSink>(config.log_dir + "/gemini-key-manager.log",
                                                    config.log_max_size, config.log_max_files);
    // Synchronous: formatting a line and copying it into two stdio buffers is cheaper than
    // waking a logging thread for it.
    auto logger = std::make_shared<spdlog::logger>("gkm", sink);
    logger->set_formatter(MakeLineFormatter());
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
