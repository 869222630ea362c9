// The dashboard (SPEC 3.9 GET /admin/): one page and its script and style sheet, embedded
// in the binary at build time (cmake/embed_assets.cmake writes their bytes into a generated
// source), so that nothing is read from disk or fetched from elsewhere at run time.
//
// The page itself is public — it is a login form; every figure on it comes from the admin
// JSON endpoints, which need the admin token — and it never holds a key: the pool table
// shows what /admin/keys shows, masked keys and ids. Served with a strict
// Content-Security-Policy (scripts and styles from the page's origin only, no inline code,
// no frames) and revalidated by ETag on every load.
#pragma once

#include <string_view>
#include <vector>

namespace gkm {

struct EmbeddedAsset {
  std::string_view name;          // "index.html", relative to src/admin/dashboard/
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
  std::string_view etag;  // strong, quoted: "\"0123abcd...\""
};

// Every embedded asset (the generated source defines it).
const std::vector<EmbeddedAsset>& EmbeddedAssets();

// The asset that GET `path` serves: "/admin/" is index.html, "/admin/<name>" that asset;
// null for any other path.
const EmbeddedAsset* DashboardAsset(std::string_view path);

// The Content-Security-Policy the dashboard's assets are served with.
inline constexpr std::string_view kDashboardCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

}  // namespace gkm
