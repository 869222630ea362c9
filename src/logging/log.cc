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

// The name of the logger that LogFields writes through: its lines are JSON members.
constexpr std::string_view kFieldsLogger = "gkm.fields";

bool json_logging = false;
std::shared_ptr<spdlog::logger> fields_logger;  // set by SetupLogging

// Formats a line as the pattern "%Y-%m-%dT%H:%M:%S.%e%z %l %v" would (ISO local time with
// milliseconds and offset, level, text), with the date, time and offset written once per
// second: spdlog's pattern formatter ran a formatter per flag, more work than the request's
// own line. Used under the sink's lock, so the cache needs none. With `json`, the same time
// and level as members of a JSON object (log.h).
class LineFormatter : public spdlog::formatter {
 public:
  explicit LineFormatter(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    const auto since = msg.time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since);
    if (secs.count() != second_) Cache(static_cast<std::time_t>(secs.count()));
    const auto ms = static_cast<int>(duration_cast<milliseconds>(since - secs).count());
    const char millis[4] = {'.', static_cast<char>('0' + ms / 100),
                            static_cast<char>('0' + ms / 10 % 10),
                            static_cast<char>('0' + ms % 10)};
    auto level = spdlog::level::to_string_view(msg.level);
    if (json_) Append(dest, R"({"ts":")");
    dest.append(stamp_, stamp_ + stamp_size_);
    dest.append(millis, millis + 4);
    dest.append(zone_, zone_ + 6);
    if (json_) {
      Append(dest, R"(","level":")");
      dest.append(level.begin(), level.end());
      Append(dest, R"(",)");
      std::string_view payload(msg.payload.data(), msg.payload.size());
      if (std::string_view(msg.logger_name.data(), msg.logger_name.size()) == kFieldsLogger) {
        dest.append(payload.begin(), payload.end());
      } else {
        Append(dest, R"("msg":)");
        AppendJsonString(dest, payload);
      }
      Append(dest, "}\n");
      return;
    }
    dest.push_back(' ');
    dest.append(level.begin(), level.end());
    dest.push_back(' ');
    dest.append(msg.payload.begin(), msg.payload.end());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(json_);
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

  static void Append(spdlog::memory_buf_t& dest, std::string_view s) {
    dest.append(s.data(), s.data() + s.size());
  }

  bool json_;
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

// The length of the UTF-8 sequence at the start of `s` (s[0] >= 0x80), or 0 when it is not
// one: no overlong forms, no surrogates, nothing above U+10FFFF.
size_t Utf8SequenceAt(std::string_view s) {
  auto at = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
  auto cont = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return at(i) >= lo && at(i) <= hi;
  };
  const unsigned c = at(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

std::unique_ptr<spdlog::formatter> MakeLineFormatter(bool json) {
  return std::make_unique<LineFormatter>(json);
}

bool JsonLogging() { return json_logging; }

void LogFields(spdlog::level::level_enum level, std::string_view members) {
  spdlog::logger* logger = fields_logger ? fields_logger.get() : spdlog::default_logger_raw();
  logger->log(level, spdlog::string_view_t(members.data(), members.size()));
}

std::string JsonLine(spdlog::level::level_enum level, std::string_view members) {
  spdlog::details::log_msg msg(spdlog::string_view_t(kFieldsLogger.data(), kFieldsLogger.size()),
                               level, spdlog::string_view_t(members.data(), members.size()));
  spdlog::memory_buf_t out;
  LineFormatter(true).format(msg, out);
  return std::string(out.data(), out.size());
}

void AppendJsonString(spdlog::memory_buf_t& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto put = [&out](std::string_view e) { out.append(e.data(), e.data() + e.size()); };
  out.push_back('"');
  size_t plain = 0;  // start of the run of bytes copied as they are
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (size_t n = Utf8SequenceAt(s.substr(i))) {
        i += n;
        continue;
      }
    }
    out.append(s.data() + plain, s.data() + i);
    char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
    switch (c) {
      case '"':
        put(R"(\")");
        break;
      case '\\':
        put(R"(\\)");
        break;
      case '\n':
        put(R"(\n)");
        break;
      case '\r':
        put(R"(\r)");
        break;
      case '\t':
        put(R"(\t)");
        break;
      default:
        out.append(esc, esc + 6);
    }
    plain = ++i;
  }
  out.append(s.data() + plain, s.data() + s.size());
  out.push_back('"');
}

bool SetupLogging(const Config& config, std::string* error) {
  try {
    static char stderr_buffer[1 << 16];
    std::setvbuf(stderr, stderr_buffer, _IOFBF, sizeof stderr_buffer);
    auto sink = std::make_shared<StderrAndFileSink>(config.log_dir + "/gemini-key-manager.log",
                                                    config.log_max_size, config.log_max_files);
    // Synchronous: formatting a line and copying it into two stdio buffers is cheaper than
    // waking a logging thread for it.
    // One formatter, in the sink, for both loggers.
    sink->set_formatter(MakeLineFormatter(config.log_json));
    auto logger = std::make_shared<spdlog::logger>("gkm", sink);
    auto fields = std::make_shared<spdlog::logger>(std::string(kFieldsLogger), sink);
    for (auto* l : {logger.get(), fields.get()}) {
      l->set_level(LevelOf(config.log_level));
      l->flush_on(spdlog::level::warn);
    }
    json_logging = config.log_json;
    fields_logger = fields;
    spdlog::set_default_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
    return true;
  } catch (const spdlog::spdlog_ex& e) {
    *error = "--log-dir: cannot write logs in '" + config.log_dir + "': " + e.what();
    return false;
  }
}

}  // namespace gkm
