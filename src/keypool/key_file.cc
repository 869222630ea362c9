#include "keypool/key_file.h"

#include <fstream>
#include <sstream>
#include <unordered_set>

namespace gkm {

KeyFile ParseKeyFile(std::string_view text) {
  KeyFile out;
  std::unordered_set<std::string> seen;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) {
      line.remove_prefix(1);
    }
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') continue;
    ApiKey key{std::string(line)};
    if (!seen.insert(std::string(line)).second) {
      out.warnings.push_back("line " + std::to_string(line_no) + ": duplicate key " +
                             key.masked() + " (" + key.id() + ") dropped");
      continue;
    }
    out.keys.push_back(std::move(key));
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
