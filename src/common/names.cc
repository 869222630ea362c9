#include "common/names.h"

#include <array>

#include <algorithm>

namespace gkm {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

constexpr std::array<bool, 256> ModelChars() {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '-' || c == '_';
  }
  return t;
}
constexpr std::array<bool, 256> kModelChars = ModelChars();

bool IsModelChar(char c) { return kModelChars[static_cast<unsigned char>(c)]; }

// The length of the valid UTF-8 sequence at text[i], or 0 when none starts there.
size_t Utf8SequenceAt(std::string_view text, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view in) {
  // Nearly every name has no escape: one search, one copy. Runs between escapes are
  // copied whole.
  size_t pct = in.find('%');
  if (pct == std::string_view::npos) return std::string(in);
  std::string out;
  out.reserve(in.size());
  size_t from = 0;
  while (pct != std::string_view::npos) {
    out.append(in.data() + from, pct - from);
    if (pct + 2 >= in.size()) return std::nullopt;
    int hi = HexValue(in[pct + 1]), lo = HexValue(in[pct + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    from = pct + 3;
    pct = in.find('%', from);
  }
  out.append(in.data() + from, in.size() - from);
  return out;
}

std::string ModelNameProblem(std::string_view name) {
  if (name.empty()) return "the model name is empty";
  if (name.size() > kMaxModelName) {
    return "the model name is longer than " + std::to_string(kMaxModelName) + " bytes";
  }
  for (char c : name) {
    if (!IsModelChar(c)) {
      return "invalid model name \"" + Printable(name) +
             "\": a model name has only letters, digits, '.', '-' and '_'";
    }
  }
  return {};
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceAt(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string Printable(std::string_view text, size_t max) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t take = std::min(text.size(), max);
  out.reserve(take + 8);
  for (size_t i = 0; i < take; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  if (take < text.size()) out += "...";
  return out;
}

std::string ValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    size_t n = Utf8SequenceAt(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace gkm
