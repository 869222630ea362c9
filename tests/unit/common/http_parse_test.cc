#include "common/http_parse.h"

#include <gtest/gtest.h>

#include <cctype>

#include <boost/beast/http/error.hpp>
#include <string>
#include <vector>

namespace gkm {
namespace {

namespace http = boost::beast::http;
using boost::system::error_code;

// Decodes `wire` with a ChunkDecoder, `step` bytes at a time, into an output buffer of `cap`
// bytes. *err gets the first error, *rest the bytes not taken.
std::string Decode(ChunkDecoder& d, std::string_view wire, size_t step, size_t cap, error_code* err,
                   std::string* rest = nullptr) {
  std::string buffered, decoded;
  std::vector<char> out(cap);
  size_t fed = 0;
  *err = {};
  while (!d.done()) {
    if (fed < wire.size()) {
      size_t n = std::min(step, wire.size() - fed);
      buffered.append(wire.substr(fed, n));
      fed += n;
    }
    for (;;) {
      error_code ec;
      auto [used, wrote] = d.Put(buffered, out.data(), cap, ec);
      EXPECT_LE(used, buffered.size());
      EXPECT_LE(wrote, cap);
      buffered.erase(0, used);
      decoded.append(out.data(), wrote);
      if (ec) {
        *err = ec;
        if (rest) *rest = buffered + std::string(wire.substr(fed));
        return decoded;
      }
      if (d.done() || (used == 0 && wrote == 0)) break;
    }
    if (fed == wire.size()) break;
  }
  if (rest) *rest = buffered + std::string(wire.substr(fed));
  return decoded;
}

TEST(ChunkDecoder, DecodesAtEverySplitIntoATinyBuffer) {
  struct {
    std::string wire;
    std::string decoded;
  } cases[] = {
      {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"},
      {"A;name=value\r\n0123456789\r\n1 ; x\r\n!\r\n0\r\nTrailer-A: 1\r\nTrailer-B: 2\r\n\r\n",
       "0123456789!"},
      {"0010\r\nabcdefghijklmnop\r\nF\r\nqrstuvwxyz01234\r\n0;end\r\n\r\n",
       "abcdefghijklmnopqrstuvwxyz01234"},
      {"0\r\n\r\n", ""},
  };
  const std::string next = "GET /next HTTP/1.1\r\n\r\n";
  for (const auto& c : cases) {
    for (size_t cap : {1, 3, 64}) {
      for (size_t step = 1; step <= c.wire.size(); ++step) {
        ChunkDecoder d;
        error_code ec;
        std::string rest;
        std::string decoded = Decode(d, c.wire + next, step, cap, &ec, &rest);
        EXPECT_FALSE(ec) << c.wire << " step " << step << " cap " << cap << ": " << ec.message();
        EXPECT_TRUE(d.done()) << c.wire << " step " << step << " cap " << cap;
        EXPECT_EQ(decoded, c.decoded) << c.wire << " step " << step << " cap " << cap;
        EXPECT_EQ(rest, next) << c.wire << " step " << step << " cap " << cap;
      }
    }
  }
}

TEST(ChunkDecoder, NotDoneUntilTheTrailerEnds) {
  ChunkDecoder d;
  error_code ec;
  char out[16];
  auto [used, wrote] = d.Put("3\r\nabc\r\n0\r\nX: 1\r\n", out, sizeof out, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(wrote, 3u);
  EXPECT_EQ(std::string(out, wrote), "abc");
  EXPECT_FALSE(d.done());
  EXPECT_LE(used, 17u);
  std::string rest = std::string("3\r\nabc\r\n0\r\nX: 1\r\n").substr(used) + "\r\nnext";
  auto [used2, wrote2] = d.Put(rest, out, sizeof out, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(wrote2, 0u);
  EXPECT_TRUE(d.done());
  EXPECT_EQ(rest.substr(used2), "next");
  // Done: nothing more is taken.
  auto [used3, wrote3] = d.Put("5\r\nhello\r\n", out, sizeof out, ec);
  EXPECT_EQ(used3, 0u);
  EXPECT_EQ(wrote3, 0u);
}

TEST(ChunkDecoder, PartialChunkHeaderTakesNothing) {
  ChunkDecoder d;
  error_code ec;
  char out[4];
  auto [used, wrote] = d.Put("1f;ext=", out, sizeof out, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(wrote, 0u);
  EXPECT_FALSE(d.done());
}

TEST(ChunkDecoder, MalformedChunksAreRejected) {
  for (std::string wire : {"zz\r\n", "\r\n", ";x\r\n", "5x\r\nhello\r\n", "3\r\nabcX\r\n",
                           "3\r\nabc\n0\r\n\r\n", "ffffffffffffffffff\r\n", "-1\r\n"}) {
    for (size_t step : {size_t{1}, wire.size()}) {
      ChunkDecoder d;
      error_code ec;
      Decode(d, wire, step, 8, &ec);
      EXPECT_EQ(ec, http::error::bad_chunk) << wire << " step " << step << ": " << ec.message();
      EXPECT_FALSE(d.done());
    }
  }
}

TEST(ChunkDecoder, LongChunkSizeLinesAreRejected) {
  ChunkDecoder d;
  error_code ec;
  Decode(d, "1;" + std::string(100000, 'x'), 8192, 8, &ec);
  EXPECT_EQ(ec, http::error::bad_chunk) << ec.message();
}

TEST(ChunkDecoder, TrailersOverTheLimitAreRejected) {
  ChunkDecoder d;
  error_code ec;
  Decode(d, "0\r\nX: " + std::string(70 * 1024, 'a') + "\r\n\r\n", 4096, 8, &ec);
  EXPECT_EQ(ec, http::error::header_limit) << ec.message();
  EXPECT_FALSE(d.done());
}

TEST(FindHeadEnd, FindsTheEmptyLineAtEverySplit) {
  const std::string head = "GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n";
  const std::string wire = head + "body\r\n\r\nmore";
  for (size_t step = 1; step <= wire.size(); ++step) {
    size_t scanned = 0;
    size_t end = 0;
    error_code ec;
    for (size_t have = std::min(step, wire.size());; have = std::min(have + step, wire.size())) {
      end = FindHeadEnd(std::string_view(wire).substr(0, have), &scanned, 1024, ec);
      if (ec != http::error::need_more) break;
      EXPECT_EQ(end, 0u);
      EXPECT_LT(have, head.size()) << "step " << step;  // need_more only before the end
      EXPECT_LE(scanned, have);
      if (have == wire.size()) break;
    }
    EXPECT_FALSE(ec) << "step " << step << ": " << ec.message();
    EXPECT_EQ(end, head.size()) << "step " << step;
  }
}

TEST(FindHeadEnd, EmptyLineSplitAcrossCalls) {
  // The empty line's four bytes arrive one call each.
  std::string wire = "GET / HTTP/1.1\r\nA: b";
  size_t scanned = 0;
  error_code ec;
  EXPECT_EQ(FindHeadEnd(wire, &scanned, 1024, ec), 0u);
  EXPECT_EQ(ec, http::error::need_more);
  for (char c : std::string("\r\n\r")) {
    wire += c;
    EXPECT_EQ(FindHeadEnd(wire, &scanned, 1024, ec), 0u);
    EXPECT_EQ(ec, http::error::need_more);
  }
  wire += '\n';
  EXPECT_EQ(FindHeadEnd(wire, &scanned, 1024, ec), wire.size());
  EXPECT_FALSE(ec);
}

TEST(FindHeadEnd, Limit) {
  error_code ec;
  // Exactly the limit.
  std::string head = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  size_t scanned = 0;
  EXPECT_EQ(FindHeadEnd(head, &scanned, head.size(), ec), head.size());
  EXPECT_FALSE(ec) << ec.message();
  // One past it.
  scanned = 0;
  EXPECT_EQ(FindHeadEnd(head, &scanned, head.size() - 1, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);
  // No end, and more bytes than the limit.
  std::string open = "GET / HTTP/1.1\r\nX: " + std::string(200, 'a');
  scanned = 0;
  EXPECT_EQ(FindHeadEnd(open, &scanned, 100, ec), 0u);
  EXPECT_EQ(ec, http::error::header_limit);
  // No end, within the limit.
  scanned = 0;
  EXPECT_EQ(FindHeadEnd(open, &scanned, 1000, ec), 0u);
  EXPECT_EQ(ec, http::error::need_more);
  // Growing past the limit in pieces.
  scanned = 0;
  size_t have = 10;
  for (; have <= open.size(); have += 10) {
    FindHeadEnd(std::string_view(open).substr(0, have), &scanned, 100, ec);
    if (ec != http::error::need_more) break;
  }
  EXPECT_EQ(ec, http::error::header_limit);
  EXPECT_GT(have, 100u);
  EXPECT_LE(have, 110u);
}

TEST(ParseFieldLines, FieldsAndFacts) {
  std::vector<HttpField> fields;
  FieldFacts facts;
  error_code ec;
  ASSERT_TRUE(ParseFieldLines("Host: h\r\nCONTENT-Length: 42\r\nConnection: foo, Close\r\nX-E:\r\n",
                              fields, facts, ec))
      << ec.message();
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[1].name, "CONTENT-Length");
  EXPECT_EQ(fields[1].value, "42");
  EXPECT_EQ(fields[3].value, "");
  EXPECT_EQ(facts.content_length, std::optional<uint64_t>(42));
  EXPECT_FALSE(facts.has_transfer_encoding);
  EXPECT_FALSE(facts.chunked);
  EXPECT_TRUE(facts.close);
  EXPECT_FALSE(facts.keep_alive);
  EXPECT_EQ(FindField(fields, "content-length"), std::optional<std::string_view>("42"));
  EXPECT_EQ(FindField(fields, "missing"), std::nullopt);
}

TEST(ParseFieldLines, TransferCodings) {
  struct {
    std::string lines;
    bool chunked;
  } cases[] = {
      {"Transfer-Encoding: chunked\r\n", true},
      {"Transfer-Encoding: gzip, CHUNKED\r\n", true},
      {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", true},
      {"Transfer-Encoding: chunked, gzip\r\n", false},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", false},
      {"Transfer-Encoding: gzip\r\n", false},
  };
  for (const auto& c : cases) {
    std::vector<HttpField> fields;
    FieldFacts facts;
    error_code ec;
    ASSERT_TRUE(ParseFieldLines(c.lines, fields, facts, ec)) << c.lines << ": " << ec.message();
    EXPECT_TRUE(facts.has_transfer_encoding) << c.lines;
    EXPECT_EQ(facts.chunked, c.chunked) << c.lines;
  }
  std::vector<HttpField> fields;
  FieldFacts facts;
  error_code ec;
  ASSERT_TRUE(ParseFieldLines("Connection: Keep-Alive\r\n", fields, facts, ec));
  EXPECT_TRUE(facts.keep_alive);
  EXPECT_FALSE(facts.close);
}

TEST(ParseFieldLines, MalformedLinesAreRejected) {
  struct {
    std::string lines;
    http::error want;
  } cases[] = {
      {"No-Colon\r\n", http::error::bad_field},
      {" folded: x\r\n", http::error::bad_field},
      {"A: 1\r\n\tfolded\r\n", http::error::bad_field},
      {"A : 1\r\n", http::error::bad_field},
      {"A: x\x01y\r\n", http::error::bad_value},
      {"A: x\ny\r\n", http::error::bad_value},
      {"Content-Length: 1\r\nContent-Length: 2\r\n", http::error::bad_content_length},
      {"Content-Length: x\r\n", http::error::bad_content_length},
  };
  for (const auto& c : cases) {
    std::vector<HttpField> fields;
    FieldFacts facts;
    error_code ec;
    EXPECT_FALSE(ParseFieldLines(c.lines, fields, facts, ec)) << c.lines;
    EXPECT_EQ(ec, c.want) << c.lines << ": " << ec.message();
  }
}

// NameIs compares eight bytes at a time with an overlapping last word: every length, and a
// difference at every position, in either case.
TEST(NameIs, EveryLengthAndEveryPosition) {
  const std::string lower = "x-goog-upload-control-url-and-more";
  for (size_t n = 0; n <= lower.size(); ++n) {
    std::string want = lower.substr(0, n);
    std::string upper = want;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(NameIs(want, want)) << want;
    EXPECT_TRUE(NameIs(upper, want)) << upper;
    EXPECT_FALSE(NameIs(want + "a", want)) << want;
    for (size_t i = 0; i < n; ++i) {
      std::string other = upper;
      other[i] = other[i] == '-' ? '_' : '-';  // '_' | 0x20 is DEL: no false match
      EXPECT_FALSE(NameIs(other, want)) << other << " vs " << want;
    }
  }
}

}  // namespace
}  // namespace gkm
