#include "upstream/answer_parser.h"

#include <algorithm>
#include <boost/beast/http/error.hpp>
#include <cstring>

namespace gkm {

namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

// An interim answer (RFC 9110 15.2): it has no body and another head follows. 101 is not
// one: it ends HTTP/1.1 on the connection, and the proxy never asks for an upgrade.
bool IsInterim(int status) { return status >= 100 && status < 200 && status != 101; }

}  // namespace

size_t AnswerParser::PutHead(std::string_view data, error_code& ec) {
  // The caller passes the same bytes again, and more, until a final head is complete: the
  // interim heads already parsed at its start are skipped by offset, not taken from it.
  if (data.size() < interim_bytes_) {  // not the same bytes: nothing sound to do but wait
    ec = http::error::need_more;
    return 0;
  }
  for (;;) {
    std::string_view rest = data.substr(interim_bytes_);
    // One bound on all the heads before the body, interim ones included.
    size_t length = FindHeadEnd(rest, &head_scanned_, kHeadLimit - interim_bytes_, ec);
    if (ec) return 0;
    head_.assign(rest.data(), length - 2);  // every line with its CRLF
    if (!ParseHead(head_, ec)) return 0;
    if (!IsInterim(status_)) {
      header_done_ = true;
      return interim_bytes_ + length;
    }
    // Forget the interim head: until the final head, nothing is known of the answer.
    interim_bytes_ += length;
    head_scanned_ = 0;
    status_ = 0;
    fields_.clear();
    done_ = false;
  }
}

bool AnswerParser::ParseHead(std::string_view head, error_code& ec) {
  // Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || !line.starts_with("HTTP/1.") || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ') {
    ec = http::error::bad_version;
    return false;
  }
  const bool http11 = line[7] == '1';
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      ec = http::error::bad_status;
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) {
    ec = http::error::bad_status;
    return false;
  }
  status_ = status;

  fields_.clear();
  fields_.reserve(16);
  FieldFacts facts;
  if (!ParseFieldLines(head.substr(eol + 2), fields_, facts, ec)) return false;
  content_length_ = facts.content_length;
  keep_alive_ = facts.PersistsFor(http11);

  if (no_body_ || status_ < 200 || status_ == 204 || status_ == 304) {
    framing_ = Framing::kNone;
  } else if (facts.has_transfer_encoding) {
    content_length_.reset();  // Transfer-Encoding overrides a length (RFC 9112 6.3)
    framing_ = facts.chunked ? Framing::kChunked : Framing::kClose;
    if (!facts.chunked) keep_alive_ = false;
  } else if (content_length_) {
    framing_ = Framing::kLength;
    remaining_ = *content_length_;
  } else {
    framing_ = Framing::kClose;
    keep_alive_ = false;
  }
  done_ = framing_ == Framing::kNone || (framing_ == Framing::kLength && remaining_ == 0);
  return true;
}

std::pair<size_t, size_t> AnswerParser::PutBody(std::string_view data, char* out, size_t cap,
                                                error_code& ec) {
  ec = {};
  if (done_ || data.empty() || cap == 0) return {0, 0};
  switch (framing_) {
    case Framing::kNone:
      return {0, 0};
    case Framing::kLength: {
      size_t n = static_cast<size_t>(std::min<uint64_t>({remaining_, data.size(), cap}));
      std::memcpy(out, data.data(), n);
      remaining_ -= n;
      done_ = remaining_ == 0;
      return {n, n};
    }
    case Framing::kClose: {
      size_t n = std::min(data.size(), cap);
      std::memcpy(out, data.data(), n);
      return {n, n};
    }
    case Framing::kChunked: {
      auto taken = chunks_.Put(data, out, cap, ec);
      done_ = chunks_.done();
      return taken;
    }
  }
  return {0, 0};
}

void AnswerParser::PutEof(error_code& ec) {
  ec = {};
  if (done_) return;
  if (header_done_ && framing_ == Framing::kClose) {
    done_ = true;
    return;
  }
  ec = http::error::partial_message;
}

}  // namespace gkm
