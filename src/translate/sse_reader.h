// SseReader: splits a text/event-stream byte stream into the data of its events.
//
// Follows the HTML Living Standard's event-stream parsing, tolerant as Gemini's stream
// needs (WIRE.md A3): lines end in "\r\n", "\n" or "\r" (a "\r\n" split between two Feed
// calls counts once), a blank line ends an event, several `data:` lines are joined with
// "\n", one space after the colon is dropped, comments (":...") and other fields (event,
// id, retry) are ignored, a leading byte order mark is skipped, an event without data is
// not reported. Finish() also reports a last event that the stream ended without a blank
// line after (Gemini's final event is complete JSON even if the terminator is lost).
//
// Memory is bounded: an event (its data plus the line being read) larger than
// max_event_bytes puts the reader in the overflowed() state, in which it reports nothing
// more. Pure, not thread-safe (one per stream). Fuzzed by fuzz/sse_reader_fuzz.cc.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gkm {

class SseReader {
 public:
  // Gemini events with inline image data run to a few MiB.
  static constexpr size_t kDefaultMaxEventBytes = size_t{64} << 20;

  explicit SseReader(size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}
  SseReader(const SseReader&) = delete;
  SseReader& operator=(const SseReader&) = delete;

  // The data of every event completed by these bytes, in order.
  std::vector<std::string> Feed(std::string_view bytes);
  // At the end of the stream: the data of an event left unterminated, if any.
  std::vector<std::string> Finish();

  bool overflowed() const { return overflowed_; }

 private:
  void Line(std::string_view line, std::vector<std::string>& out);
  void Dispatch(std::vector<std::string>& out);

  const size_t max_event_bytes_;
  std::string line_;  // the line being read
  std::string data_;  // the event's data so far, each line followed by '\n'
  bool has_data_ = false;
  bool skip_lf_ = false;  // the last byte was '\r': a '\n' right after it ends nothing
  bool at_start_ = true;  // nothing read yet (for the byte order mark)
  bool overflowed_ = false;
};

}  // namespace gkm
