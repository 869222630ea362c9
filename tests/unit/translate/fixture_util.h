// Shared by the translate tests: fixture files and structural JSON comparison.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
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

inline std::string TestName(std::string name) {
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

}  // namespace gkm::testing_util
