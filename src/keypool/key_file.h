// The key file (SPEC 2 --keys, 2.2): one API key per line, then optional whitespace-separated
// attributes (`project=NAME`, `proxy=URL`), then an optional `# comment`. Blank lines and
// lines starting with '#' are ignored, surrounding whitespace is trimmed, duplicates are
// dropped with a warning; an unknown or malformed attribute is a warning and is ignored.
// A plain key line (the old format) means what it always meant: a key of its own project.
// Pure: the caller reads the file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/api_key.h"

namespace gkm {

// What a key line says of its key besides the key itself.
struct KeyAttributes {
  std::string project;  // the Google Cloud project; empty: the key's own
  std::string proxy;    // the egress proxy URL the key is pinned to; empty: none
};

struct KeyFile {
  std::vector<ApiKey> keys;
  std::vector<KeyAttributes> attributes;  // one per key, same order
  std::vector<std::string> warnings;      // never contain a key or a proxy password in full
};

KeyFile ParseKeyFile(std::string_view text);

// Reads and parses the file; *error (one line) if it cannot be read or holds no key.
bool LoadKeyFile(const std::string& path, KeyFile* out, std::string* error);

// A proxy URL with its password (if any) replaced by "***", for messages.
std::string RedactProxy(std::string_view url);

}  // namespace gkm
