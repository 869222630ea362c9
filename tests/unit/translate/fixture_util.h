// Shared by the translate tests: fixture files, structural JSON comparison and the stream
// translators' harness (fixture bytes, feeding cut streams, reading named SSE frames).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace gkm::testing_util {

namespace json = boost::json;

inline std::string FixtureDir(const std::string& sub) {
  return std::string(GKM_FIXTURES) + "/translate/" + sub;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The names (without .json) of the fixtures in translate/<sub>, sorted.
inline std::vector<std::string> FixtureNames(const std::string& sub) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(FixtureDir(sub))) {
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline json::value LoadFixture(const std::string& sub, const std::string& name) {
  return json::parse(ReadFile(FixtureDir(sub) + "/" + name + ".json"));
}

// Numbers compare by value whatever their JSON kind (1 == 1.0), objects by keys whatever
// the order.
inline bool SameJson(const json::value& a, const json::value& b) {
  if (a.is_number() && b.is_number()) return a.to_number<double>() == b.to_number<double>();
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const json::object& x = a.get_object();
    const json::object& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const json::value* other = y.if_contains(kv.key());
      if (other == nullptr || !SameJson(kv.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const json::array& x = a.get_array();
    const json::array& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!SameJson(x[i], y[i])) return false;
    }
    return true;
  }
  return a == b;
}

inline ::testing::AssertionResult JsonEq(const json::value& actual, const json::value& expected) {
  if (SameJson(actual, expected)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\n  actual:   " << json::serialize(actual)
                                       << "\n  expected: " << json::serialize(expected);
}

inline ::testing::AssertionResult JsonTextEq(const std::string& actual,
                                             const json::value& expected) {
  boost::system::error_code ec;
  json::value v = json::parse(actual, ec);
  if (ec) return ::testing::AssertionFailure() << "not JSON: " << actual;
  return JsonEq(v, expected);
}

// The SSE bytes of a stream fixture: its "raw" text, or its "events" (Gemini event objects,
// or raw data strings) each as one `data:` line, followed by "separator" (default \r\n\r\n).
inline std::string StreamBytes(const json::object& fx) {
  if (const json::value* raw = fx.if_contains("raw")) return std::string(raw->as_string());
  const std::string sep =
      fx.contains("separator") ? std::string(fx.at("separator").as_string()) : "\r\n\r\n";
  std::string bytes;
  for (const json::value& e : fx.at("events").as_array()) {
    bytes += "data: " + (e.is_string() ? std::string(e.as_string()) : json::serialize(e)) + sep;
  }
  return bytes;
}

// Feeds `bytes` cut at `cuts` (ascending offsets) to the translator, then finishes it;
// what it wrote, which must be the end of it (done(), nothing more after).
template <class Translator>
std::string FeedCut(Translator& t, const std::string& bytes, const std::vector<size_t>& cuts) {
  std::string out;
  size_t pos = 0;
  for (size_t cut : cuts) {
    if (cut <= pos || cut >= bytes.size()) continue;
    out += t.Feed(std::string_view(bytes).substr(pos, cut - pos));
    pos = cut;
  }
  out += t.Feed(std::string_view(bytes).substr(pos));
  out += t.Finish();
  EXPECT_TRUE(t.done());
  EXPECT_EQ(t.Feed("data: {}\n\n"), "");  // nothing after the end
  EXPECT_EQ(t.Finish(), "");
  return out;
}

// Named SSE frames (Anthropic's and Responses' streams) as [{"event": name, "data": JSON}],
// checking the framing: each is "event: <name>\ndata: <one line of JSON>\n\n" and its
// data's type is its name.
inline json::array NamedFrames(const std::string& out) {
  json::array frames;
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t end = out.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "unterminated frame in " << out;
    if (end == std::string::npos) break;
    const std::string_view ev = std::string_view(out).substr(pos, end - pos);
    pos = end + 2;
    EXPECT_TRUE(ev.starts_with("event: ")) << ev;
    const size_t nl = ev.find('\n');
    EXPECT_NE(nl, std::string_view::npos) << ev;
    if (nl == std::string_view::npos) continue;
    const std::string_view name = ev.substr(7, nl - 7);
    const std::string_view data_line = ev.substr(nl + 1);
    EXPECT_TRUE(data_line.starts_with("data: ")) << ev;
    const std::string_view data = data_line.substr(6);
    EXPECT_EQ(data.find('\n'), std::string_view::npos) << "one line per frame";
    json::value v = json::parse(data);
    EXPECT_EQ(v.at("type").as_string(), name);
    json::object f;
    f["event"] = name;
    f["data"] = std::move(v);
    frames.push_back(std::move(f));
  }
  return frames;
}

inline std::string TestName(std::string name) {
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

}  // namespace gkm::testing_util
