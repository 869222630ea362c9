#include "translate/gemini_event.h"

#include <bit>
#include <boost/json/basic_parser_impl.hpp>
#include <cstddef>
#include <cstring>
#include <exception>
#include <utility>

#include "translate/json_util.h"

namespace gkm::translate_internal {
namespace {

// What a value is to the reader, decided by where it stands (its parent's role and key).
enum class Role : uint8_t {
  kRoot,
  kSkip,         // nothing wanted in it
  kTop,          // the event object
  kError,        // "error": kept whole
  kUsage,        // "usageMetadata"
  kCount,        // one of its counts
  kCandidates,   // "candidates"
  kCandidate,    // an element of it
  kContent,      // a candidate's "content"
  kParts,        // its "parts"
  kPart,         // an element of that: kept whole
  kIndex,        // a candidate's "index"
  kFinish,       // a candidate's "finishReason"
  kGrounding,    // a candidate's "groundingMetadata": kept whole
  kLogprobs,     // a candidate's "logprobsResult": kept whole
  kFeedback,     // "promptFeedback"
  kBlockReason,  // its "blockReason"
};

bool Kept(Role r) {
  return r == Role::kError || r == Role::kPart || r == Role::kGrounding || r == Role::kLogprobs;
}

// The basic_parser's handler. Containers outside the kept values get a frame that says what
// they are; a kept value goes to a value_stack as Boost.JSON's own parser would build it.
class Handler {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  Handler(GeminiEvent* ev, json::storage_ptr sp, bool chat)
      : ev_(ev), sp_(std::move(sp)), chat_(chat), st_(json::storage_ptr(), temp_, sizeof temp_) {}

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
  bool on_number_part(json::string_view, json::error_code&) { return true; }

  bool on_object_begin(json::error_code& ec) {
    if (kept_ > 0) {
      ++kept_;
      return true;
    }
    const Role r = Begin();
    if (Keep(r)) {
      kept_ = 1;
      return true;
    }
    Role frame = Role::kSkip;
    switch (r) {
      case Role::kRoot:
        ev_->object = true;
        frame = Role::kTop;
        break;
      case Role::kUsage:
        ev_->usage.present = true;
        frame = Role::kUsage;
        break;
      case Role::kCandidate:
        ev_->candidates.emplace_back();
        ev_->candidates.back().position = frames_[depth_ - 1].count - 1;
        frame = Role::kCandidate;
        break;
      case Role::kContent:
      case Role::kFeedback:
        frame = r;
        break;
      default:
        break;
    }
    return Push(frame, ec);
  }

  bool on_object_end(size_t n, json::error_code&) {
    if (kept_ > 0) {
      st_.push_object(n);
      if (--kept_ == 0) EndKeep();
      return true;
    }
    if (frames_[depth_ - 1].role == Role::kUsage && !total_seen_) {
      GeminiUsage& u = ev_->usage;
      u.total_tokens =
          u.prompt_tokens + u.candidates_tokens + u.thoughts_tokens + u.tool_use_prompt_tokens;
    }
    --depth_;
    return true;
  }

  bool on_array_begin(json::error_code& ec) {
    if (kept_ > 0) {
      ++kept_;
      return true;
    }
    const Role r = Begin();
    if (Keep(r)) {
      kept_ = 1;
      return true;
    }
    if (r == Role::kCandidates) {
      ev_->candidates_array = true;
      return Push(r, ec);
    }
    return Push(r == Role::kParts ? r : Role::kSkip, ec);
  }

  bool on_array_end(size_t n, json::error_code&) {
    if (kept_ > 0) {
      st_.push_array(n);
      if (--kept_ == 0) EndKeep();
      return true;
    }
    if (frames_[depth_ - 1].role == Role::kCandidates) ev_->candidate_count = n;
    --depth_;
    return true;
  }

  bool on_key_part(json::string_view s, size_t, json::error_code&) {
    if (kept_ > 0) {
      st_.push_chars(s);
    } else {
      key_.append(s.data(), s.size());
    }
    return true;
  }

  bool on_key(json::string_view s, size_t, json::error_code&) {
    if (kept_ > 0) {
      st_.push_key(s);
      return true;
    }
    std::string_view key(s.data(), s.size());
    if (!key_.empty()) {
      key_.append(key);
      key = key_;
    }
    Key(key);
    key_.clear();
    return true;
  }

  bool on_string_part(json::string_view s, size_t, json::error_code&) {
    if (kept_ > 0) {
      st_.push_chars(s);
      return true;
    }
    if (!in_string_) {
      in_string_ = true;
      string_role_ = Begin();
      if (Keep(string_role_)) {
        kept_ = 1;
        kept_string_ = true;
        st_.push_chars(s);
        return true;
      }
    }
    if (string_role_ == Role::kCount || string_role_ == Role::kFinish)
      text_.append(s.data(), s.size());
    return true;
  }

  bool on_string(json::string_view s, size_t, json::error_code&) {
    if (kept_ > 0) {
      st_.push_string(s);
      if (kept_string_) {
        kept_string_ = false;
        kept_ = 0;
        in_string_ = false;
        EndKeep();
      }
      return true;
    }
    Role r = string_role_;
    if (!in_string_) {
      r = Begin();
      if (Keep(r)) {
        st_.push_string(s);
        EndKeep();
        return true;
      }
    }
    in_string_ = false;
    std::string_view text(s.data(), s.size());
    if (!text_.empty()) {
      text_.append(text);
      text = text_;
    }
    if (r == Role::kCount) {
      Count(CountText(text));
    } else if (r == Role::kFinish) {
      ev_->candidates.back().finish.emplace(text);
    }
    text_.clear();
    return true;
  }

  bool on_int64(int64_t i, json::string_view, json::error_code&) { return Scalar(i); }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) { return Scalar(u); }
  bool on_double(double d, json::string_view, json::error_code&) { return Scalar(d); }
  bool on_bool(bool b, json::error_code&) { return Scalar(b); }
  bool on_null(json::error_code&) { return Scalar(nullptr); }

 private:
  struct Frame {
    Role role;
    Role child;           // objects: the role of the value after the last key
    uint8_t count_field;  // kUsage: which count that key names
    size_t count;         // arrays: values begun so far
  };

  GeminiEventCandidate& Candidate() { return ev_->candidates.back(); }

  // A number, boolean or null: onto the stack when it is (in) a kept value, else read for
  // its role.
  template <class T>
  bool Scalar(T v) {
    if (kept_ > 0) {
      PushScalar(v);
    } else if (const Role r = Begin(); Keep(r)) {
      PushScalar(v);
      EndKeep();
    } else {
      Number(r, json::value(v));
    }
    return true;
  }
  void PushScalar(int64_t i) { st_.push_int64(i); }
  void PushScalar(uint64_t u) { st_.push_uint64(u); }
  void PushScalar(double d) { st_.push_double(d); }
  void PushScalar(bool b) { st_.push_bool(b); }
  void PushScalar(std::nullptr_t) { st_.push_null(); }

  bool Push(Role role, json::error_code& ec) {
    if (depth_ == kFrames) {  // the parser's depth limit comes first; this is a guard
      ec = json::error::too_deep;
      return false;
    }
    frames_[depth_++] = Frame{role, Role::kSkip, 0, 0};
    return true;
  }

  // The role of the value that begins now, with what its beginning does: a key that comes
  // again replaces what its earlier value gave, as in a parsed object.
  Role Begin() {
    if (depth_ == 0) return Role::kRoot;
    Frame& f = frames_[depth_ - 1];
    switch (f.role) {
      case Role::kCandidates:
        ++f.count;
        return Role::kCandidate;
      case Role::kParts:
        return Role::kPart;
      case Role::kSkip:
        return Role::kSkip;
      default:
        break;
    }
    const Role r = f.child;
    switch (r) {
      case Role::kUsage:
        ev_->has_usage = true;
        ev_->usage = GeminiUsage{};
        total_seen_ = false;
        break;
      case Role::kCount:
        count_field_ = f.count_field;
        Count(0);  // what an object or array counts for; a number or string sets it
        break;
      case Role::kCandidates:
        ev_->candidates_array = false;
        ev_->candidate_count = 0;
        ev_->candidates.clear();
        break;
      case Role::kContent:
      case Role::kParts:
        Candidate().parts.clear();
        break;
      case Role::kIndex:
        Candidate().has_index = true;
        Candidate().index.reset();
        break;
      case Role::kFinish:
        Candidate().finish.reset();
        break;
      case Role::kFeedback:
        ev_->blocked = false;
        break;
      case Role::kBlockReason:
        ev_->blocked = true;
        break;
      default:
        break;
    }
    return r;
  }

  // Starts keeping the value that begins now when its role says so.
  bool Keep(Role r) {
    if (!Kept(r)) return false;
    kept_role_ = r;
    st_.reset(sp_);
    return true;
  }

  void EndKeep() {
    json::value v = st_.release();
    switch (kept_role_) {
      case Role::kError:
        ev_->error = std::move(v);
        break;
      case Role::kPart:
        if (v.is_object()) Candidate().parts.push_back(std::move(v));
        break;
      case Role::kGrounding:
        Candidate().grounding = std::move(v);
        break;
      case Role::kLogprobs:
        Candidate().logprobs = std::move(v);
        break;
      default:
        break;
    }
  }

  void Key(std::string_view key) {
    Frame& f = frames_[depth_ - 1];
    Role child = Role::kSkip;
    switch (f.role) {
      case Role::kTop:
        if (key == "candidates") {
          child = Role::kCandidates;
        } else if (key == "usageMetadata") {
          child = Role::kUsage;
        } else if (key == "error") {
          child = Role::kError;
        } else if (key == "promptFeedback") {
          child = Role::kFeedback;
        }
        break;
      case Role::kUsage: {
        static constexpr std::string_view kCounts[] = {
            "promptTokenCount",        "candidatesTokenCount",    "thoughtsTokenCount",
            "toolUsePromptTokenCount", "cachedContentTokenCount", "totalTokenCount"};
        for (uint8_t i = 0; i < 6; ++i) {
          if (key == kCounts[i]) {
            child = Role::kCount;
            f.count_field = i;
            break;
          }
        }
        break;
      }
      case Role::kCandidate:
        if (key == "content") {
          child = Role::kContent;
        } else if (key == "finishReason") {
          child = Role::kFinish;
        } else if (key == "index") {
          child = Role::kIndex;
        } else if (chat_ && key == "groundingMetadata") {
          child = Role::kGrounding;
        } else if (chat_ && key == "logprobsResult") {
          child = Role::kLogprobs;
        }
        break;
      case Role::kContent:
        if (key == "parts") child = Role::kParts;
        break;
      case Role::kFeedback:
        if (key == "blockReason") child = Role::kBlockReason;
        break;
      default:
        break;
    }
    f.child = child;
  }

  // A number, boolean or null (not a string) whose role is r.
  void Number(Role r, const json::value& v) {
    if (r == Role::kCount) {
      Count(CountValue(v));
    } else if (r == Role::kIndex) {
      Candidate().index = AsInt(v);
    }
  }

  void Count(int64_t n) {
    GeminiUsage& u = ev_->usage;
    switch (count_field_) {
      case 0:
        u.prompt_tokens = n;
        break;
      case 1:
        u.candidates_tokens = n;
        break;
      case 2:
        u.thoughts_tokens = n;
        break;
      case 3:
        u.tool_use_prompt_tokens = n;
        break;
      case 4:
        u.cached_tokens = n;
        break;
      default:
        u.total_tokens = n;
        total_seen_ = true;
        break;
    }
  }

  static constexpr size_t kFrames = kMaxJsonDepth + 2;

  GeminiEvent* ev_;
  json::storage_ptr sp_;
  bool chat_;
  alignas(json::value) unsigned char temp_[1024];  // the stack builds values in it
  json::value_stack st_;
  Frame frames_[kFrames];
  size_t depth_ = 0;
  size_t kept_ = 0;  // nesting inside the value being kept (0: none)
  bool kept_string_ = false;
  Role kept_role_ = Role::kSkip;
  bool in_string_ = false;
  Role string_role_ = Role::kSkip;
  uint8_t count_field_ = 0;
  bool total_seen_ = false;
  std::string key_;   // a key that came in pieces
  std::string text_;  // a wanted string that came in pieces
};

// The fast reader: a scanner for the events Gemini sends (an object of candidates whose
// parts are small objects, usage counts as plain integers, strings with the short escapes),
// which gives up (false) on anything else: the error and promptFeedback members, numbers
// that are not small non-negative integers, \u escapes, a key met twice in a part, a
// container where a scalar is wanted or the other way round, deep nesting, text after the
// object. What it keeps is what the SAX reader would keep for the same text.
class FastReader {
 public:
  FastReader(std::string_view text, GeminiEvent* ev, const json::storage_ptr& sp, bool chat)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        ev_(ev),
        sp_(sp),
        chat_(chat) {}

  bool Read() {
    if (!Lit('{')) return false;
    ev_->object = true;
    if (Lit('}')) return End();
    do {
      std::string_view key;
      if (!Known("candidates", &key) && !Known("usageMetadata", &key) &&
          !Known("modelVersion", &key) && !Known("responseId", &key) && !Key(&key)) {
        return false;
      }
      if (Is(key, "candidates")) {
        if (!Candidates()) return false;
      } else if (Is(key, "usageMetadata")) {
        if (!Usage()) return false;
      } else if (Is(key, "error") || Is(key, "promptFeedback")) {
        return false;
      } else if (!Skip(0)) {
        return false;
      }
    } while (Lit(','));
    return Lit('}') && End();
  }

 private:
  static constexpr int kMaxDepth = 16;

  // Only space after the object; and the text valid UTF-8 (all ASCII when no string held
  // a byte from 0x80 up: every byte outside the strings was matched against ASCII).
  bool End() {
    Ws();
    return p_ == end_ && (!high_ || FirstInvalidUtf8(std::string_view(begin_, end_ - begin_)) ==
                                        std::string_view::npos);
  }

  // The first quote, backslash or control character (below 0x20) from p on, or end: eight
  // bytes at a time while eight are left. Bytes from 0x80 up (UTF-8 beyond ASCII) are
  // passed over and noted in high_, for one check of the whole text at the end.
  const char* Plain(const char* p) {
    constexpr uint64_t kOnes = 0x0101010101010101ull;
    constexpr uint64_t kHigh = 0x8080808080808080ull;
    uint64_t high = high_ ? 0 : kHigh;  // stop at a high byte until one is seen
    while (end_ - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      const uint64_t quote = w ^ (kOnes * '"');
      const uint64_t slash = w ^ (kOnes * '\\');
      const uint64_t hit = (((quote - kOnes) & ~quote) | ((slash - kOnes) & ~slash) |
                            ((w - kOnes * 0x20) & ~w) | (w & high)) &
                           kHigh;
      if (hit != 0) {
        // The lowest marked byte is a true one (a borrow only runs upward).
        const char* q = p + (std::countr_zero(hit) >> 3);
        if (static_cast<unsigned char>(*q) < 0x80) return q;
        high_ = true;
        high = 0;
        p = q + 1;
        continue;
      }
      p += 8;
    }
    for (; p < end_; ++p) {
      const unsigned char c = static_cast<unsigned char>(*p);
      if (c == '"' || c == '\\' || c < 0x20) break;
      if (c >= 0x80) high_ = true;
    }
    return p;
  }

  // A key compared with a literal: the length first, then a compare of known size.
  template <size_t N>
  static bool Is(std::string_view key, const char (&lit)[N]) {
    return key.size() == N - 1 && std::memcmp(key.data(), lit, N - 1) == 0;
  }

  static bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

  [[gnu::always_inline]] void Ws() {
    while (p_ != end_ && IsSpace(*p_)) ++p_;
  }

  [[gnu::always_inline]] bool Lit(char c) {
    Ws();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }

  [[gnu::always_inline]] bool Peek(char c) {
    Ws();
    return p_ < end_ && *p_ == c;
  }

  // A key expected here (Gemini writes its keys in one order), taken without scanning when
  // the text holds it: the quoted name, then the colon. False leaves the text as it was, for
  // Key.
  template <size_t N>
  bool Known(const char (&name)[N], std::string_view* key) {
    Ws();
    if (static_cast<size_t>(end_ - p_) < N + 1 || p_[0] != '"' || p_[N] != '"' ||
        std::memcmp(p_ + 1, name, N - 1) != 0) {
      return false;
    }
    const char* at = p_;
    p_ += N + 1;
    if (!Lit(':')) {
      p_ = at;
      return false;
    }
    *key = std::string_view(name, N - 1);
    return true;
  }

  // A key without escapes, and its colon.
  bool Key(std::string_view* out) {
    if (!Lit('"')) return false;
    const char* s = p_;
    p_ = Plain(p_);
    if (p_ == end_ || *p_ != '"') return false;
    *out = std::string_view(s, static_cast<size_t>(p_ - s));
    ++p_;
    return Lit(':');
  }

  // A string; its text (decoded into buf_ when it has escapes) in *out until the next call.
  bool Str(std::string_view* out) {
    if (!Lit('"')) return false;
    const char* s = p_;
    p_ = Plain(p_);
    if (p_ == end_ || static_cast<unsigned char>(*p_) < 0x20) return false;
    if (*p_ == '"') {
      *out = std::string_view(s, static_cast<size_t>(p_ - s));
      ++p_;
      return true;
    }
    buf_.assign(s, static_cast<size_t>(p_ - s));
    while (p_ < end_) {
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = buf_;
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c != '\\') {
        if (c >= 0x80) high_ = true;
        buf_.push_back(static_cast<char>(c));
        ++p_;
        continue;
      }
      if (++p_ == end_) return false;
      switch (*p_) {
        case '"':
        case '\\':
        case '/':
          buf_.push_back(*p_);
          break;
        case 'b':
          buf_.push_back('\b');
          break;
        case 'f':
          buf_.push_back('\f');
          break;
        case 'n':
          buf_.push_back('\n');
          break;
        case 'r':
          buf_.push_back('\r');
          break;
        case 't':
          buf_.push_back('\t');
          break;
        default:  // \u and anything else: the SAX reader decides
          return false;
      }
      ++p_;
    }
    return false;
  }

  // A non-negative integer of at most 18 digits, as JSON writes it (no fraction or exponent).
  bool Int(int64_t* out) {
    Ws();
    const char* s = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    const size_t len = static_cast<size_t>(p_ - s);
    if (len == 0 || len > 18 || (len > 1 && *s == '0')) return false;
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    int64_t n = 0;  // at most 18 digits: no overflow
    for (const char* d = s; d < p_; ++d) n = n * 10 + (*d - '0');
    *out = n;
    return true;
  }

  bool Word(std::string_view w) {
    Ws();
    if (static_cast<size_t>(end_ - p_) < w.size() || std::string_view(p_, w.size()) != w)
      return false;
    p_ += w.size();
    return true;
  }

  // Any value, read and dropped.
  bool Skip(int depth) {
    if (depth > kMaxDepth) return false;
    Ws();
    if (p_ == end_) return false;
    switch (*p_) {
      case '"': {
        std::string_view s;
        return Str(&s);
      }
      case '{':
        ++p_;
        if (Lit('}')) return true;
        do {
          std::string_view key;
          if (!Key(&key) || !Skip(depth + 1)) return false;
        } while (Lit(','));
        return Lit('}');
      case '[':
        ++p_;
        if (Lit(']')) return true;
        do {
          if (!Skip(depth + 1)) return false;
        } while (Lit(','));
        return Lit(']');
      case 't':
        return Word("true");
      case 'f':
        return Word("false");
      case 'n':
        return Word("null");
      default: {
        int64_t n;
        return Int(&n);
      }
    }
  }

  // Any value, built in sp_ as the SAX reader's value_stack would build it.
  bool Build(json::value* out, int depth) {
    if (depth > kMaxDepth) return false;
    Ws();
    if (p_ == end_) return false;
    switch (*p_) {
      case '"': {
        std::string_view s;
        if (!Str(&s)) return false;
        *out = json::string(s, sp_);
        return true;
      }
      case '{': {
        ++p_;
        json::object& o = out->emplace_object();
        if (Lit('}')) return true;
        do {
          std::string_view key;
          if (!Known("text", &key) && !Key(&key)) return false;
          json::value v(sp_);
          if (!Build(&v, depth + 1)) return false;
          if (!o.emplace(key, std::move(v)).second) return false;  // a key met twice
        } while (Lit(','));
        return Lit('}');
      }
      case '[': {
        ++p_;
        json::array& a = out->emplace_array();
        if (Lit(']')) return true;
        do {
          json::value& v = a.emplace_back(nullptr);
          if (!Build(&v, depth + 1)) return false;
        } while (Lit(','));
        return Lit(']');
      }
      case 't':
        if (!Word("true")) return false;
        *out = true;
        return true;
      case 'f':
        if (!Word("false")) return false;
        *out = false;
        return true;
      case 'n':
        if (!Word("null")) return false;
        *out = nullptr;
        return true;
      default: {
        int64_t n;
        if (!Int(&n)) return false;
        *out = n;
        return true;
      }
    }
  }

  bool Candidates() {
    ev_->candidates_array = false;
    ev_->candidate_count = 0;
    ev_->candidates.clear();
    if (!Lit('[')) return false;
    ev_->candidates_array = true;
    size_t n = 0;
    if (!Lit(']')) {
      do {
        if (!Candidate(n++)) return false;
      } while (Lit(','));
      if (!Lit(']')) return false;
    }
    ev_->candidate_count = n;
    return true;
  }

  bool Candidate(size_t position) {
    if (!Lit('{')) return false;
    GeminiEventCandidate& c = ev_->candidates.emplace_back();
    c.position = position;
    if (Lit('}')) return true;
    do {
      std::string_view key;
      if (!Known("content", &key) && !Known("index", &key) && !Known("finishReason", &key) &&
          !Key(&key)) {
        return false;
      }
      if (Is(key, "content")) {
        c.parts.clear();
        if (!Content(&c)) return false;
      } else if (Is(key, "finishReason")) {
        c.finish.reset();
        std::string_view s;
        if (!Str(&s)) return false;
        c.finish.emplace(s);
      } else if (Is(key, "index")) {
        c.has_index = true;
        c.index.reset();
        int64_t i;
        if (!Int(&i)) return false;
        c.index = i;
      } else if (chat_ && (Is(key, "groundingMetadata") || Is(key, "logprobsResult"))) {
        return false;
      } else if (!Skip(0)) {
        return false;
      }
    } while (Lit(','));
    return Lit('}');
  }

  bool Content(GeminiEventCandidate* c) {
    if (!Lit('{')) return false;
    if (Lit('}')) return true;
    do {
      std::string_view key;
      if (!Known("parts", &key) && !Known("role", &key) && !Key(&key)) return false;
      if (Is(key, "parts")) {
        c->parts.clear();
        if (!Lit('[')) return false;
        if (!Lit(']')) {
          do {
            if (!Peek('{')) return false;
            json::value v(sp_);
            if (!Build(&v, 0)) return false;
            c->parts.push_back(std::move(v));
          } while (Lit(','));
          if (!Lit(']')) return false;
        }
      } else if (!Skip(0)) {
        return false;
      }
    } while (Lit(','));
    return Lit('}');
  }

  bool Usage() {
    ev_->has_usage = true;
    ev_->usage = GeminiUsage{};
    bool total_seen = false;
    if (!Lit('{')) return false;
    GeminiUsage& u = ev_->usage;
    u.present = true;
    if (!Lit('}')) {
      do {
        std::string_view key;
        if (!Known("promptTokenCount", &key) && !Known("candidatesTokenCount", &key) &&
            !Known("totalTokenCount", &key) && !Known("thoughtsTokenCount", &key) && !Key(&key)) {
          return false;
        }
        int64_t* field = nullptr;
        if (Is(key, "promptTokenCount")) {
          field = &u.prompt_tokens;
        } else if (Is(key, "candidatesTokenCount")) {
          field = &u.candidates_tokens;
        } else if (Is(key, "thoughtsTokenCount")) {
          field = &u.thoughts_tokens;
        } else if (Is(key, "toolUsePromptTokenCount")) {
          field = &u.tool_use_prompt_tokens;
        } else if (Is(key, "cachedContentTokenCount")) {
          field = &u.cached_tokens;
        } else if (Is(key, "totalTokenCount")) {
          field = &u.total_tokens;
          total_seen = true;
        }
        if (field == nullptr) {
          if (!Skip(0)) return false;
          continue;
        }
        if (!Int(field)) return false;
      } while (Lit(','));
      if (!Lit('}')) return false;
    }
    if (!total_seen) {
      u.total_tokens =
          u.prompt_tokens + u.candidates_tokens + u.thoughts_tokens + u.tool_use_prompt_tokens;
    }
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  GeminiEvent* ev_;
  const json::storage_ptr& sp_;
  bool chat_;
  bool high_ = false;  // a byte from 0x80 up seen in a string
  std::string buf_;
};

}  // namespace

bool ReadGeminiEventFast(std::string_view text, GeminiEvent* event,
                         const json::storage_ptr& storage, bool chat) {
  *event = GeminiEvent{};
  try {
    return FastReader(text, event, storage, chat).Read();
  } catch (const std::exception&) {  // allocation failure: the SAX reader says it
    return false;
  }
}

bool ReadGeminiEventSax(std::string_view text, GeminiEvent* event, std::string* error,
                        json::storage_ptr storage, bool chat) {
  *event = GeminiEvent{};
  try {
    json::basic_parser<Handler> p(JsonParseOptions(), event, std::move(storage), chat);
    json::error_code ec;
    const size_t n = p.write_some(false, text.data(), text.size(), ec);
    if (!ec) return OnlySpaceAfter(text, n, error);
    *error = JsonErrorText(text, ec, n);
  } catch (const std::exception& e) {  // allocation failure, mostly
    *error = std::string("unreadable JSON: ") + e.what();
  }
  return false;
}

bool ReadGeminiEvent(std::string_view text, GeminiEvent* event, std::string* error,
                     json::storage_ptr storage, bool chat) {
  if (ReadGeminiEventFast(text, event, storage, chat)) return true;
  const size_t bad = FirstInvalidUtf8(text);
  if (bad != std::string_view::npos) {
    *event = GeminiEvent{};
    *error = "invalid UTF-8 at byte " + std::to_string(bad);
    return false;
  }
  return ReadGeminiEventSax(text, event, error, std::move(storage), chat);
}

}  // namespace gkm::translate_internal
