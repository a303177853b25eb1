// Golden cases from a PyTorch fixture, one gtest instance per (case, device):
//
//   const json& cases() { static const json c = fixture_cases("ops_core.json"); return c; }
//   class OpsCoreGolden : public tandem::testing::GoldenCaseTest {};
//   TEST_P(OpsCoreGolden, MatchesPyTorch) { const json& c = cases()[case_index()]; ... }
//   TANDEM_INSTANTIATE_GOLDEN_TEST(OpsCoreGolden, case_names(cases()));
//   TEST(OpsCoreGoldenFixture, HasCases) { EXPECT_GT(cases().size(), 50u); }
//
// gives OpsCoreGolden/MatchesPyTorch/softmax_1_cpu, .../softmax_1_cuda, ... so one op can be
// run alone (--gtest_filter='*softmax_1_cuda'). The fixture is read at static-initialisation
// time; a missing or unreadable fixture gives no instances, so every suite that uses this also
// has a plain TEST asserting the number of cases (a missing fixture fails, it never passes
// with zero instances).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/device_test.h"
#include "tests/fixtures_dir.h"

namespace tandem::testing {

// The parsed fixture `name` (tests/fixtures/name), or null when it is missing or unreadable:
// callers are at static-initialisation time, where an exception would abort the binary.
inline nlohmann::json load_fixture(const std::string& name) {
  std::ifstream in(fixture_path(name));
  if (!in.good()) return nullptr;
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception&) {
    return nullptr;
  }
}

// A fixture's list of numbers. JSON has neither NaN nor infinities: the fixture scripts write
// null or "nan", and "inf" / "-inf".
inline std::vector<double> fixture_numbers(const nlohmann::json& list) {
  std::vector<double> out;
  out.reserve(list.size());
  for (const nlohmann::json& v : list)
    out.push_back(v.is_null()     ? std::nan("")
                  : v.is_string() ? std::stod(v.get<std::string>())
                                  : v.get<double>());
  return out;
}

// Entry `key` of a fixture object, or an empty array when the fixture is missing or lacks it (a
// test that counts its cases then fails instead of passing on nothing).
inline const nlohmann::json& fixture_section(const nlohmann::json& fixture, const char* key) {
  static const nlohmann::json empty = nlohmann::json::array();
  return fixture.is_object() && fixture.contains(key) ? fixture[key] : empty;
}

// The cases of fixture `name`: its "cases" array, or the fixture itself where it is an array;
// an empty array when the fixture is missing or holds neither.
inline nlohmann::json fixture_cases(const std::string& name) {
  nlohmann::json all = load_fixture(name);
  if (all.is_array()) return all;
  if (all.is_object() && all.contains("cases") && all["cases"].is_array()) return all["cases"];
  return nlohmann::json::array();
}

// `name` as a readable gtest name (letters, digits and '_'): "[]" becomes "all", a minus sign
// before a digit "neg", ", " inside parentheses (a shape) "x", and every other run of other
// characters one '_', with none at either end: "var_[0, 2]_0_True" -> "var_0_2_0_True",
// "softmax_-1" -> "softmax_neg1", "matmul_(2, 3, 4)_(4,)" -> "matmul_2x3x4_4".
inline std::string gtest_safe_name(const std::string& name) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string out;
  auto separate = [&] {
    if (!out.empty() && out.back() != '_') out += '_';
  };
  int parens = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const char next = i + 1 < name.size() ? name[i + 1] : '\0';
    if (alnum(c)) {
      out += c;
    } else if (c == '[' && next == ']') {
      separate();
      out += "all";
      ++i;
    } else if (c == '-' && digit(next)) {
      separate();
      out += "neg";
    } else if (c == ',' && parens > 0 &&
               digit(next == ' ' && i + 2 < name.size() ? name[i + 2] : next)) {
      out += 'x';
      if (next == ' ') ++i;
    } else {
      if (c == '(') ++parens;
      if (c == ')' && parens > 0) --parens;
      separate();
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "case" : out;
}

// The "name" fields of a fixture's cases, made gtest-safe and unique (a later duplicate gets
// a suffix _2, _3, ...). Empty when `cases` is not an array.
inline std::vector<std::string> case_names(const nlohmann::json& cases) {
  std::vector<std::string> names;
  if (!cases.is_array()) return names;
  std::set<std::string> seen;
  for (const auto& c : cases) {
    const std::string base =
        gtest_safe_name(c.contains("name") ? c["name"].get<std::string>() : "case");
    std::string name = base;
    for (int k = 2; !seen.insert(name).second; ++k) name = base + "_" + std::to_string(k);
    names.push_back(name);
  }
  return names;
}

struct GoldenCase {
  std::string name;  // gtest-safe
  size_t index;      // into the fixture's cases
  Device device;
};
inline void PrintTo(const GoldenCase& c, std::ostream* os) {
  *os << c.name << " on " << c.device.str();
}

// Every case on `cpu` and on `cuda`.
inline std::vector<GoldenCase> golden_cases(const std::vector<std::string>& names) {
  std::vector<GoldenCase> out;
  for (size_t i = 0; i < names.size(); ++i)
    for (Device d : {kCPU, kCuda}) out.push_back({names[i], i, d});
  return out;
}

class GoldenCaseTest : public ::testing::TestWithParam<GoldenCase> {
 protected:
  void SetUp() override {
    const std::string why = unavailable(GetParam().device);
    if (!why.empty()) GTEST_SKIP() << why;
  }
  Device device() const { return GetParam().device; }
  size_t case_index() const { return GetParam().index; }
};

}  // namespace tandem::testing

#define TANDEM_INSTANTIATE_GOLDEN_TEST(suite, names)                                      \
  INSTANTIATE_TEST_SUITE_P(                                                               \
      , suite, ::testing::ValuesIn(::tandem::testing::golden_cases(names)),               \
      [](const ::testing::TestParamInfo<::tandem::testing::GoldenCase>& info) {           \
        return info.param.name + "_" + ::tandem::testing::device_name(info.param.device); \
      })
