// libFuzzer target for undoing upstream content codings (upstream/content_coding): any bytes
// declared gzip, deflate or unknown, with any Content-Encoding value. Besides not crashing:
// - a decoded body never exceeds the limit it was given;
// - a refused body always says why;
// - bytes that gzip compressed decode back to themselves.
// Built and run by scripts/fuzz.sh.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/content_coding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t limit = 1 + (data[0] % 64) * 1024;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  // The first byte also picks a Content-Encoding spelling to read.
  static const char* const kValues[] = {"gzip", "deflate", "identity", "br", "gzip, deflate",
                                        "X-GZIP", " Deflate ", ""};
  std::vector<gkm::HttpField> fields{{"Content-Encoding", kValues[data[0] % 8]}};
  gkm::Coding declared = gkm::CodingOf(fields);
  for (gkm::Coding coding : {declared, gkm::Coding::kGzip, gkm::Coding::kDeflate}) {
    std::string body(rest);
    std::string why;
    if (gkm::DecodeBody(coding, body, limit, &why)) {
      if (body.size() > limit) std::abort();
    } else if (why.empty()) {
      std::abort();
    }
  }
  // A round trip through real gzip.
  std::string packed(compressBound(rest.size()) + 64, '\0');
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(rest.data()));
  z.avail_in = static_cast<uInt>(rest.size());
  z.next_out = reinterpret_cast<Bytef*>(packed.data());
  z.avail_out = static_cast<uInt>(packed.size());
  int rc = deflate(&z, Z_FINISH);
  packed.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return 0;
  std::string why;
  if (!gkm::DecodeBody(gkm::Coding::kGzip, packed, rest.size() + 1, &why) || packed != rest) {
    std::abort();
  }
  return 0;
}
