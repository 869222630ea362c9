#include "proxy/headers.h"

#include <array>
#include <cstdint>
#include <iterator>

#include <boost/beast/core/string.hpp>

namespace gkm {
namespace {

struct Rule {
  std::string_view name;  // lower case
  bool to_upstream;
  bool to_client;
  bool hop;  // belongs to one connection (RFC 9110 7.6.1) or to the proxy's own framing
  // Why (kept next to the entry, for the reader):
  std::string_view reason;
};

// Every field not listed crosses both ways unchanged.
constexpr Rule kRules[] = {
    {"connection", false, false, true, "hop-by-hop (RFC 9110 7.6.1)"},
    {"keep-alive", false, false, true, "hop-by-hop"},
    {"proxy-connection", false, false, true, "hop-by-hop (non-standard, still sent)"},
    {"te", false, false, true, "hop-by-hop"},
    {"trailer", false, false, true, "hop-by-hop"},
    {"transfer-encoding", false, false, true, "hop-by-hop: the proxy frames each message"},
    {"upgrade", false, false, true, "hop-by-hop; the proxy speaks HTTP/1.1 only"},
    {"proxy-authenticate", false, false, true, "hop-by-hop"},
    {"proxy-authorization", false, false, true, "hop-by-hop; a credential"},
    {"content-length", false, false, true, "the proxy sets the length of what it sends"},
    {"host", false, true, false, "the proxy sets the upstream's Host"},
    {"expect", false, true, false, "the proxy answers 100-continue itself"},
    {"authorization", false, true, false, "the client's credential; the proxy adds the key"},
    {"x-goog-api-key", false, true, false, "the client's token; the proxy adds the real key"},
    {"cookie", false, true, false, "the client's cookies are not Google's business"},
    {"accept-encoding", false, true, false,
     "the proxy asks for identity: it judges, masks and scans plain bodies (SPEC 8)"},
};

// The rules by name length, built from kRules at compile time: a name is compared with at
// most the few rules of its length and first letter (every field of every request and answer
// asks, and most match no rule).
constexpr size_t kMaxName = 24;
constexpr size_t kPerLength = 4;
struct ByLength {
  uint32_t lengths = 0;  // bit n: some rule is n bytes long
  uint8_t count[kMaxName] = {};
  uint8_t index[kMaxName][kPerLength] = {};
  constexpr ByLength() {
    for (size_t i = 0; i < std::size(kRules); ++i) {
      size_t n = kRules[i].name.size();
      lengths |= uint32_t{1} << n;
      index[n][count[n]++] = static_cast<uint8_t>(i);  // a fifth rule of one length: no compile
    }
  }
};
constexpr ByLength kByLength;

const Rule* RuleOf(std::string_view name) {
  const size_t n = name.size();
  if (n >= kMaxName || !((kByLength.lengths >> n) & 1)) return nullptr;
  const char first = static_cast<char>(name[0] | 0x20);
  for (size_t k = 0; k < kByLength.count[n]; ++k) {
    const Rule& r = kRules[kByLength.index[n][k]];
    if (r.name[0] == first && NameIs(name, r.name)) return &r;
  }
  return nullptr;
}

}  // namespace

bool Crosses(std::string_view name, Direction d) {
  const Rule* r = RuleOf(name);
  if (!r) return true;
  return d == Direction::kToUpstream ? r->to_upstream : r->to_client;
}

bool IsConnectionLevel(std::string_view name) {
  const Rule* r = RuleOf(name);
  return r && r->hop;
}

void ConnectionNamed::Add(std::string_view value) {
  if (count_ < values_.size()) {
    values_[count_++] = value;
    return;
  }
  more_ += ',';
  more_ += value;
}

ConnectionNamed::ConnectionNamed(const std::vector<HttpField>& fields) {
  for (const auto& f : fields) {
    if (NameIs(f.name, "connection")) Add(f.value);
  }
}

bool ConnectionNamed::Contains(std::string_view name) const {
  auto is_name = [name](std::string_view item) {
    return item.size() == name.size() && boost::beast::iequals(item, name);
  };
  for (size_t i = 0; i < count_; ++i) {
    if (AnyListItem(values_[i], is_name)) return true;
  }
  return AnyListItem(more_, is_name);
}

}  // namespace gkm
