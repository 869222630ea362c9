// The key file (SPEC 2 --keys): one API key per line; blank lines and lines starting with
// '#' are ignored, surrounding whitespace is trimmed, duplicates are dropped with a warning.
// Pure: the caller reads the file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/api_key.h"

namespace gkm {

struct KeyFile {
  std::vector<ApiKey> keys;
  std::vector<std::string> warnings;  // never contain a key in full
};

KeyFile ParseKeyFile(std::string_view text);

// Reads and parses the file; *error (one line) if it cannot be read or holds no key.
bool LoadKeyFile(const std::string& path, KeyFile* out, std::string* error);

}  // namespace gkm
