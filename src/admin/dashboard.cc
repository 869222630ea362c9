#include "admin/dashboard.h"

namespace gkm {

const EmbeddedAsset* DashboardAsset(std::string_view path) {
  constexpr std::string_view kPrefix = "/admin/";
  if (!path.starts_with(kPrefix)) return nullptr;
  std::string_view name = path.substr(kPrefix.size());
  if (name.empty()) name = "index.html";
  for (const EmbeddedAsset& a : EmbeddedAssets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

}  // namespace gkm
