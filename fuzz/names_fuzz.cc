// libFuzzer target for the decoding and normalising of names a client writes (issue #13):
// percent-decoding, the model-name check, the UTF-8 helpers, and the wire functions built on
// them (ModelOfPath, RouteOfPath, StripKeyParam, QueryParam). Besides not crashing:
// - no parameter StripKeyParam keeps decodes to a credential, and it keeps nothing new;
// - a model ModelOfPath accepts is a model name, and every message it gives is printable;
// - route labels come from a small fixed alphabet;
// - ValidUtf8 always gives valid UTF-8 and leaves valid UTF-8 alone; Printable is ASCII.
// Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/names.h"
#include "proxy/wire.h"

namespace {

bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool IsCredential(std::string_view name) {
  std::string lower;
  for (char c : name) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower == "key" || lower == "access_token" || lower == "oauth_token";
}

void CheckStrip(std::string_view query) {
  std::string kept = gkm::StripKeyParam(query);
  if (kept.size() > query.size()) std::abort();
  std::string_view rest = kept;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view param = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (param.empty()) std::abort();  // empty parameters are dropped
    if (query.find(param) == std::string_view::npos) std::abort();  // nothing invented
    auto name = gkm::PercentDecode(param.substr(0, param.find('=')));
    if (!name || IsCredential(*name)) std::abort();
  }
  // Stripping is idempotent.
  if (gkm::StripKeyParam(kept) != kept) std::abort();
}

void CheckModel(std::string_view path) {
  gkm::PathModel m = gkm::ModelOfPath(path);
  if (!PrintableAscii(m.problem)) std::abort();
  if (!m.ok()) {
    if (m.name != "-") std::abort();
    return;
  }
  std::string_view name = m.name;
  if (name == "-") return;
  if (name.starts_with("tunedModels/")) name.remove_prefix(12);
  if (!gkm::ModelNameProblem(name).empty()) std::abort();
  std::string label = gkm::RouteOfPath(path);
  for (char c : label) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto d = gkm::PercentDecode(in)) {
    if (d->size() > in.size()) std::abort();
    if (in.find('%') == std::string_view::npos && *d != in) std::abort();
  }
  // Every byte written as %XX decodes back to itself.
  std::string encoded;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : in) {
    encoded += '%';
    encoded += kHex[c >> 4];
    encoded += kHex[c & 0xF];
  }
  if (gkm::PercentDecode(encoded) != std::string(in)) std::abort();

  std::string problem = gkm::ModelNameProblem(in);
  if (!PrintableAscii(problem)) std::abort();
  if (!PrintableAscii(gkm::Printable(in))) std::abort();
  std::string valid = gkm::ValidUtf8(in);
  if (!gkm::IsValidUtf8(valid)) std::abort();
  if (gkm::IsValidUtf8(in) && valid != in) std::abort();

  CheckStrip(in);
  (void)gkm::QueryParam(in, "key");
  CheckModel(in);
  CheckModel("/v1beta/models/" + std::string(in) + ":generateContent");
  if (auto d = gkm::ModelOfBody(in); d.ok() && !gkm::ModelNameProblem(d.name).empty()) {
    std::abort();
  }
  return 0;
}
