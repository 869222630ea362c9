#include "upstream/content_coding.h"

#include <zlib.h>

#include <boost/beast/core/string.hpp>

namespace gkm {
namespace {

// Inflates with zlib's window bits `bits` (15 + 32: gzip or zlib header; -15: raw deflate).
bool Inflate(std::string_view in, int bits, size_t limit, std::string& out, std::string* error) {
  z_stream z{};
  if (inflateInit2(&z, bits) != Z_OK) {
    *error = "cannot start zlib";
    return false;
  }
  out.clear();
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      *error = "the decoded body exceeds " + std::to_string(limit) + " bytes";
      return false;
    }
    // gzip allows members one after another; a second one starts over.
    if (rc == Z_STREAM_END && z.avail_in > 0 && bits > 0) {
      if (inflateReset(&z) != Z_OK) break;
      rc = Z_OK;
    } else if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      rc = Z_BUF_ERROR;  // the input ended inside the stream
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    *error = "the body is not valid in its content coding";
    return false;
  }
  return true;
}

}  // namespace

Coding CodingOf(const std::vector<HttpField>& fields) {
  Coding coding = Coding::kIdentity;
  int named = 0;
  for (const auto& f : fields) {
    if (!NameIs(f.name, "content-encoding")) continue;
    AnyListItem(f.value, [&](std::string_view item) {
      if (boost::beast::iequals(item, "identity")) return false;
      ++named;
      if (boost::beast::iequals(item, "gzip") || boost::beast::iequals(item, "x-gzip")) {
        coding = Coding::kGzip;
      } else if (boost::beast::iequals(item, "deflate")) {
        coding = Coding::kDeflate;
      } else {
        coding = Coding::kUnknown;
      }
      return false;
    });
  }
  return named > 1 ? Coding::kUnknown : coding;
}

bool DecodeBody(Coding coding, std::string& body, size_t limit, std::string* error) {
  std::string out;
  switch (coding) {
    case Coding::kIdentity:
      if (body.size() > limit) {
        *error = "the body exceeds " + std::to_string(limit) + " bytes";
        return false;
      }
      return true;
    case Coding::kGzip:
      if (!Inflate(body, 15 + 32, limit, out, error)) return false;
      break;
    case Coding::kDeflate:
      // "deflate" is the zlib format (RFC 9110 8.4.1.2), but some servers send raw deflate.
      if (!Inflate(body, 15, limit, out, error) && !Inflate(body, -15, limit, out, error)) {
        return false;
      }
      break;
    case Coding::kUnknown:
      *error = "the body has a content coding the proxy cannot undo";
      return false;
  }
  body = std::move(out);
  return true;
}

}  // namespace gkm
