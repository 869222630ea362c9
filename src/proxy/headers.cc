#include "proxy/headers.h"

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

const Rule* RuleOf(std::string_view name) {
  for (const Rule& r : kRules) {
    if (r.name.size() == name.size() && NameIs(name, r.name)) return &r;
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
