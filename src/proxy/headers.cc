#include "proxy/headers.h"

#include <boost/beast/core/string.hpp>

namespace gkm {

bool IsConnectionLevel(std::string_view name) {
  namespace beast = boost::beast;
  switch (name.size()) {
    case 2:
      return NameIs(name, "te");
    case 7:
      return NameIs(name, "trailer") || NameIs(name, "upgrade");
    case 10:
      return NameIs(name, "connection") || NameIs(name, "keep-alive");
    case 14:
      return NameIs(name, "content-length");
    case 16:
      return NameIs(name, "proxy-connection");
    case 17:
      return NameIs(name, "transfer-encoding");
    case 18:
      return NameIs(name, "proxy-authenticate");
    case 19:
      return NameIs(name, "proxy-authorization");
    default:
      return false;
  }
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

namespace {

// Whether the comma-separated list holds `name` (any case, white space around items).
bool ListHas(std::string_view list, std::string_view name) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.size() == name.size() && boost::beast::iequals(item, name)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool ConnectionNamed::Contains(std::string_view name) const {
  for (size_t i = 0; i < count_; ++i) {
    if (ListHas(values_[i], name)) return true;
  }
  return !more_.empty() && ListHas(more_, name);
}

}  // namespace gkm
