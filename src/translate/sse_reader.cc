#include "translate/sse_reader.h"

#include <cstring>

namespace gkm {
namespace {

// The offset of the first '\n' or '\r' in [pos, size), or size: libc's memchr for the
// '\n', then for a '\r' before it (vector instructions: a byte loop costs several
// instructions per byte, eight bytes at a time still ~1.5, and events run to hundreds of
// bytes; find_first_of would call memchr on the two terminators for every byte).
size_t LineEnd(std::string_view bytes, size_t pos) {
  const char* const from = bytes.data() + pos;
  const size_t n = bytes.size() - pos;
  const void* const lf = std::memchr(from, '\n', n);
  const size_t lf_at = lf == nullptr ? n : static_cast<size_t>(static_cast<const char*>(lf) - from);
  const void* const cr = std::memchr(from, '\r', lf_at);
  return pos + (cr == nullptr ? lf_at : static_cast<size_t>(static_cast<const char*>(cr) - from));
}

}  // namespace

std::vector<std::string> SseReader::Feed(std::string_view bytes) {
  std::vector<std::string> out;
  if (overflowed_) return out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[pos] == '\n') {
        ++pos;
        continue;
      }
    }
    const size_t end = LineEnd(bytes, pos);
    const size_t eol = end == bytes.size() ? std::string_view::npos : end;
    if (line_.size() + data_.size() + (end - pos) > max_event_bytes_) {
      overflowed_ = true;
      line_.clear();
      data_.clear();
      return out;
    }
    if (eol == std::string_view::npos) {
      line_.append(bytes.substr(pos, end - pos));
      break;
    }
    // A line that lies whole in these bytes is read where it is, not copied first.
    std::string_view line = bytes.substr(pos, end - pos);
    if (!line_.empty()) {
      line_.append(line);
      line = line_;
    }
    if (at_start_ && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    Line(line, out);
    line_.clear();
    skip_lf_ = bytes[eol] == '\r';
    pos = eol + 1;
  }
  return out;
}

std::vector<std::string> SseReader::Finish() {
  std::vector<std::string> out;
  if (overflowed_) return out;
  if (!line_.empty()) {
    if (at_start_ && line_.starts_with("\xEF\xBB\xBF")) line_.erase(0, 3);
    Line(line_, out);
    line_.clear();
  }
  Dispatch(out);
  return out;
}

void SseReader::Line(std::string_view line, std::vector<std::string>& out) {
  at_start_ = false;
  if (line.empty()) {
    Dispatch(out);
    return;
  }
  if (line.front() == ':') return;  // comment
  std::string_view field = line;
  std::string_view value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
    has_data_ = true;
  }
}

void SseReader::Dispatch(std::vector<std::string>& out) {
  if (has_data_) {
    data_.pop_back();  // the last line's '\n'
    out.push_back(std::move(data_));
  }
  data_.clear();
  has_data_ = false;
}

}  // namespace gkm
