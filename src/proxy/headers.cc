#include "proxy/headers.h"

#include <boost/beast/core/string.hpp>

namespace gkm {

bool IsConnectionLevel(std::string_view name) {
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
