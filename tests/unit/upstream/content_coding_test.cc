#include "upstream/content_coding.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace gkm {
namespace {

// Compresses with zlib: window bits 15 + 16 for gzip, 15 for zlib, -15 for raw deflate.
std::string Compress(std::string_view text, int bits) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, text.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z.avail_in = static_cast<uInt>(text.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

const std::string kError =
    R"({"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED",)"
    R"("details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"}]}})";

TEST(ContentCoding, TheDeclaredCodingIsRead) {
  EXPECT_EQ(CodingOf({}), Coding::kIdentity);
  EXPECT_EQ(CodingOf({{"Content-Type", "application/json"}}), Coding::kIdentity);
  EXPECT_EQ(CodingOf({{"Content-Encoding", "identity"}}), Coding::kIdentity);
  EXPECT_EQ(CodingOf({{"content-encoding", "GZIP"}}), Coding::kGzip);
  EXPECT_EQ(CodingOf({{"Content-Encoding", " x-gzip "}}), Coding::kGzip);
  EXPECT_EQ(CodingOf({{"Content-Encoding", "deflate"}}), Coding::kDeflate);
  EXPECT_EQ(CodingOf({{"Content-Encoding", "br"}}), Coding::kUnknown);
  // Stacked codings, in one field or two, are not undone.
  EXPECT_EQ(CodingOf({{"Content-Encoding", "gzip, gzip"}}), Coding::kUnknown);
  EXPECT_EQ(CodingOf({{"Content-Encoding", "gzip"}, {"Content-Encoding", "deflate"}}),
            Coding::kUnknown);
}

TEST(ContentCoding, GzipAndBothDeflateFormsAreUndone) {
  for (auto [coding, bits] : {std::pair{Coding::kGzip, 15 + 16}, std::pair{Coding::kDeflate, 15},
                              std::pair{Coding::kDeflate, -15}}) {
    std::string body = Compress(kError, bits);
    ASSERT_NE(body, kError);
    std::string why;
    EXPECT_TRUE(DecodeBody(coding, body, 1 << 20, &why)) << bits << ": " << why;
    EXPECT_EQ(body, kError) << bits;
  }
}

TEST(ContentCoding, ConcatenatedGzipMembersAreOneBody) {
  std::string body = Compress("first ", 15 + 16) + Compress("second", 15 + 16);
  std::string why;
  ASSERT_TRUE(DecodeBody(Coding::kGzip, body, 1 << 20, &why)) << why;
  EXPECT_EQ(body, "first second");
}

TEST(ContentCoding, BrokenTruncatedOrUnknownBodiesAreRefused) {
  std::string why;
  std::string truncated = Compress(kError, 15 + 16);
  truncated.resize(truncated.size() / 2);
  EXPECT_FALSE(DecodeBody(Coding::kGzip, truncated, 1 << 20, &why));
  EXPECT_FALSE(why.empty());
  std::string plain = kError;  // declared gzip, sent plain
  EXPECT_FALSE(DecodeBody(Coding::kGzip, plain, 1 << 20, &why));
  std::string br = "\x1b\x03";
  EXPECT_FALSE(DecodeBody(Coding::kUnknown, br, 1 << 20, &why));
}

TEST(ContentCoding, ADecodedBodyIsBoundedLikeAPlainOne) {
  std::string big(1 << 20, 'a');  // compresses to about a kilobyte
  std::string body = Compress(big, 15 + 16);
  ASSERT_LT(body.size(), 8192u);
  std::string why;
  EXPECT_FALSE(DecodeBody(Coding::kGzip, body, 65536, &why));
  EXPECT_NE(why.find("65536"), std::string::npos) << why;
  std::string plain(100, 'x');
  EXPECT_FALSE(DecodeBody(Coding::kIdentity, plain, 99, &why));
  EXPECT_TRUE(DecodeBody(Coding::kIdentity, plain, 100, &why));
}

}  // namespace
}  // namespace gkm
