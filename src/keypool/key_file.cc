#include "keypool/key_file.h"

#include <fstream>
#include <sstream>
#include <unordered_set>

namespace gkm {

namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The next whitespace-separated word of `line`, removed from it.
std::string_view NextWord(std::string_view& line) {
  while (!line.empty() && IsSpace(line.front())) line.remove_prefix(1);
  size_t n = 0;
  while (n < line.size() && !IsSpace(line[n])) ++n;
  std::string_view word = line.substr(0, n);
  line.remove_prefix(n);
  return word;
}

// Why a project name is refused, or empty: names go into logs, metrics labels and JSON.
std::string ProjectProblem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > 128) return "is longer than 128 characters";
  for (char c : name) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return "may hold only letters, digits and - _ . :";
  }
  return {};
}

// Why a proxy URL is refused, or empty (the egress itself checks the rest when it connects).
std::string ProxyProblem(std::string_view url) {
  for (std::string_view scheme : {"http://", "socks5://", "socks5h://"}) {
    if (url.starts_with(scheme)) {
      if (url.size() == scheme.size()) return "has no host";
      return {};
    }
  }
  return "must start with http://, socks5:// or socks5h://";
}

}  // namespace

std::string RedactProxy(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const size_t host_start = scheme_end + 3;
  const size_t at = url.find('@', host_start);
  const size_t slash = url.find('/', host_start);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) {
    return std::string(url);
  }
  const std::string_view userinfo = url.substr(host_start, at - host_start);
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, host_start)) + std::string(userinfo.substr(0, colon)) + ":***" +
         std::string(url.substr(at));
}

KeyFile ParseKeyFile(std::string_view text) {
  KeyFile out;
  std::unordered_set<std::string> seen;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const std::string at = "line " + std::to_string(line_no) + ": ";
    std::string_view word = NextWord(line);
    if (word.empty() || word.front() == '#') continue;
    // A key never holds '#': one glued to the key starts the comment.
    bool comment = false;
    if (const size_t hash = word.find('#'); hash != std::string_view::npos) {
      word = word.substr(0, hash);
      comment = true;
    }
    ApiKey key{std::string(word)};
    KeyAttributes attrs;
    while (!comment) {
      std::string_view attr = NextWord(line);
      if (attr.empty()) break;
      if (attr.front() == '#') break;
      if (const size_t hash = attr.find('#'); hash != std::string_view::npos) {
        attr = attr.substr(0, hash);
        comment = true;
      }
      const size_t eq = attr.find('=');
      const std::string_view name = attr.substr(0, eq);
      const std::string_view value =
          eq == std::string_view::npos ? std::string_view() : attr.substr(eq + 1);
      if (eq == std::string_view::npos || name.empty()) {
        // Not name=value: shown cut short, since it may be a second key pasted on the line.
        out.warnings.push_back(at + "'" + std::string(attr.substr(0, 4)) + "...' after the key " +
                               key.masked() + " is not an attribute (name=value): ignored");
      } else if (name == "project") {
        if (std::string why = ProjectProblem(value); !why.empty()) {
          out.warnings.push_back(at + "project= " + why + ": ignored");
        } else {
          attrs.project = std::string(value);
        }
      } else if (name == "proxy") {
        if (std::string why = ProxyProblem(value); !why.empty()) {
          out.warnings.push_back(at + "proxy=" + RedactProxy(value) + " " + why + ": ignored");
        } else {
          attrs.proxy = std::string(value);
        }
      } else {
        out.warnings.push_back(at + "unknown attribute '" + std::string(name) + "': ignored");
      }
    }
    if (!seen.insert(std::string(key.reveal())).second) {
      out.warnings.push_back(at + "duplicate key " + key.masked() + " (" + key.id() + ") dropped");
      continue;
    }
    out.keys.push_back(std::move(key));
    out.attributes.push_back(std::move(attrs));
  }
  return out;
}

bool LoadKeyFile(const std::string& path, KeyFile* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "key file '" + path + "' cannot be read (missing or no permission)";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *error = "key file '" + path + "' cannot be read";
    return false;
  }
  *out = ParseKeyFile(ss.str());
  if (out->keys.empty()) {
    *error = "key file '" + path + "' holds no key (one key per line; # starts a comment)";
    return false;
  }
  return true;
}

}  // namespace gkm
