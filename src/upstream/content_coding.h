// Content codings of upstream answers, and undoing them (SPEC 8).
//
// The proxy asks Google for `Accept-Encoding: identity`, so that every body it judges,
// masks or scans for usage is plain. A front end may compress all the same (Google's does
// for clients that accept gzip, and a mistaken middlebox might for anyone): a body the
// proxy buffers is then decoded here before anything reads it. gzip and deflate (zlib or
// raw) are undone with zlib; any other coding, or codings stacked, is reported as
// unknown, and the caller treats such a body as unreadable rather than guessing.
//
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/http_parse.h"

namespace gkm {

enum class Coding { kIdentity, kGzip, kDeflate, kUnknown };

// The coding the Content-Encoding fields declare (absent or "identity": kIdentity).
Coding CodingOf(const std::vector<HttpField>& fields);

// Replaces `body` (in `coding`) by its decoded bytes. False, with *error saying why, when
// the bytes are not valid in that coding, the coding is unknown, or the decoded body would
// exceed `limit` bytes; `body` is then unspecified.
bool DecodeBody(Coding coding, std::string& body, size_t limit, std::string* error);

}  // namespace gkm
