// .npy files: numpy's own files (tests/fixtures/make_npy.py) read to the values numpy wrote, for
// every dtype and format 1.0, 2.0 and 3.0; save_npy writes the same bytes as numpy.save; round
// trips; memory-mapped views; and refusals (fortran order, big-endian, truncated and hostile
// headers), each naming the file.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "framework/io/npy.h"
#include "framework/tensor/factories.h"
#include "tests/error_text.h"
#include "tests/fixtures_dir.h"
#include "tests/temp_dir.h"

using tandem::testing::TempDir;
using namespace tandem;
using tandem::testing::error_text;
using tandem::testing::throws_with;

namespace {

std::string fixture(const std::string& name) {
  return tandem::testing::fixture_path("npy/" + name);
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

const nlohmann::json& expected() {
  static const nlohmann::json j = nlohmann::json::parse(std::ifstream(fixture("expected.json")));
  return j;
}

DType dtype_of_descr(const std::string& d) {
  static const std::map<std::string, DType> m = {
      {"<f4", DType::Float32}, {"<f8", DType::Float64}, {"<f2", DType::Float16},
      {"|u1", DType::UInt8},   {"|i1", DType::Int8},    {"<i2", DType::Int16},
      {"<i4", DType::Int32},   {"<i8", DType::Int64},   {"|b1", DType::Bool}};
  return m.at(d);
}

Tensor parse(const std::string& bytes, const std::string& name = "mem.npy") {
  return io::parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
}

// A .npy file with the given header dict text (version 1.0, padded as numpy pads) and data.
std::string npy_with_header(const std::string& dict, const std::string& data, int major = 1) {
  std::string h = dict;
  const size_t len_bytes = major == 1 ? 2 : 4;
  while ((8 + len_bytes + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out("\x93NUMPY", 6);
  out += char(major);
  out += char(0);
  for (size_t i = 0; i < len_bytes; ++i) out += char((h.size() >> (8 * i)) & 0xff);
  return out + h + data;
}

}  // namespace

// Every fixture numpy wrote reads back to numpy's dtype, shape and values, both memory-mapped
// (load_npy) and from memory (parse_npy).
TEST(Npy, ReadsNumpyFilesOfEveryDtypeAndVersion) {
  int checked = 0;
  for (const auto& [name, e] : expected().items()) {
    SCOPED_TRACE(name);
    const std::string path = fixture(name + ".npy");
    for (const Tensor& t : {io::load_npy(path), parse(read_bytes(path))}) {
      EXPECT_EQ(t.dtype(), dtype_of_descr(e["descr"]));
      EXPECT_EQ(t.sizes(), e["shape"].get<Shape>());
      const std::vector<double> want = e["values"].get<std::vector<double>>();
      const std::vector<double> got = t.to_vector();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 13);  // 9 dtypes, a 0-d and an empty array, format 2.0 and 3.0
}

// load_npy maps the file: the tensor views the mapping (it stays valid after the file is gone).
TEST(Npy, LoadIsAViewIntoTheMapping) {
  TempDir dir;
  const std::string path = dir.file("big.npy");
  Tensor src = arange(0, 100000, 1, TensorOptions(DType::Float32)).reshape({1000, 100});
  io::save_npy(path, src);
  Tensor t = io::load_npy(path);
  const auto* file_bytes = static_cast<const uint8_t*>(t.raw_data());
  EXPECT_TRUE(t.is_contiguous());
  // The storage wraps memory it did not allocate: no aligned allocation holds exactly the data
  // 128 bytes into a page (the header's length).
  EXPECT_EQ(reinterpret_cast<uintptr_t>(file_bytes) % 4096, 128u);
  std::filesystem::remove(path);
  EXPECT_EQ(t.to_vector(), src.to_vector());
}

// save_npy's bytes are numpy.save's, for every dtype numpy wrote with format 1.0.
TEST(Npy, SaveWritesNumpysBytes) {
  for (const auto& [name, e] : expected().items()) {
    if (name == "v2" || name == "v3") continue;  // explicit versions numpy would not choose
    SCOPED_TRACE(name);
    const std::string path = fixture(name + ".npy");
    EXPECT_EQ(io::serialize_npy(io::load_npy(path)), read_bytes(path));
  }
}

TEST(Npy, RoundTripsAllDtypesAndLayouts) {
  TempDir dir;
  Tensor base = arange(-6, 6, 1, TensorOptions(DType::Float64)).reshape({3, 4}).mul_(0.75);
  for (DType d : {DType::Float32, DType::Float64, DType::Float16, DType::UInt8, DType::Int8,
                  DType::Int16, DType::Int32, DType::Int64, DType::Bool}) {
    SCOPED_TRACE(dtype_name(d));
    Tensor t = d == DType::UInt8 ? arange(0, 12, 1).reshape({3, 4}).mul_(21).to(d) : base.to(d);
    const std::string path = dir.file(std::string(dtype_name(d)) + ".npy");
    io::save_npy(path, t.t());  // a transposed view is written in C order
    Tensor back = io::load_npy(path);
    EXPECT_EQ(back.dtype(), d);
    EXPECT_EQ(back.sizes(), (Shape{4, 3}));
    EXPECT_EQ(back.to_vector(), t.t().contiguous().to_vector());
  }
  // 0-d and empty.
  io::save_npy(dir.file("s.npy"), scalar_tensor(-3.5));
  EXPECT_EQ(io::load_npy(dir.file("s.npy")).sizes(), Shape{});
  EXPECT_EQ(io::load_npy(dir.file("s.npy")).item(), -3.5);
  io::save_npy(dir.file("e.npy"), zeros({2, 0, 5}));
  EXPECT_EQ(io::load_npy(dir.file("e.npy")).sizes(), (Shape{2, 0, 5}));
  // bfloat16 has no .npy dtype.
  EXPECT_TRUE(throws_with([&] { io::save_npy(dir.file("b.npy"), zeros({2}).to(DType::BFloat16)); },
                          "no bfloat16 dtype"));
}

// 64 dimensions, the most the reader takes, still fit format 1.0's header; a 2.0 header longer
// than 1.0 can hold reads too.
TEST(Npy, LongHeaders) {
  Shape shape(64, 1);
  shape[0] = 2;
  const std::string bytes = io::serialize_npy(ones(shape));
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(parse(bytes).sizes(), shape);
  std::string dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }";
  dict.append(70000, ' ');
  const Tensor v2 = parse(npy_with_header(dict, std::string("\x01\x00\xff\xff", 4), 2));
  EXPECT_EQ(v2.to_vector(), (std::vector<double>{1, -1}));
}

TEST(Npy, RefusesFortranOrderAndBigEndianNamingTheFile) {
  const std::string f = fixture("fortran.npy");
  const std::string msg = error_text([&] { io::load_npy(f); });
  EXPECT_NE(msg.find(f), std::string::npos) << msg;
  EXPECT_NE(msg.find("fortran_order"), std::string::npos) << msg;
  const std::string b = fixture("big_endian.npy");
  EXPECT_TRUE(
      throws_with([&] { io::load_npy(b); }, b + ": invalid .npy file: big-endian dtype '>i4'"));
  EXPECT_TRUE(throws_with([&] { io::load_npy("/nonexistent/x.npy"); }, "/nonexistent/x.npy"));
}

// Hostile and truncated headers: each is an Error naming the file, never a crash or a huge
// allocation.
TEST(Npy, RefusesHostileHeaders) {
  const std::string good = read_bytes(fixture("f4.npy"));
  const std::string data8(8, '\0');
  struct Case {
    std::string what, bytes, needle;
  };
  const std::vector<Case> cases = {
      {"empty", "", "magic"},
      {"bad magic", "\x93NUMPZ\x01\x00", "magic"},
      {"only the magic", good.substr(0, 8), "ends inside the header length"},
      {"version 4.0", std::string("\x93NUMPY\x04\x00", 8) + good.substr(8), "version 4.0"},
      {"version 1.1", std::string("\x93NUMPY\x01\x01", 8) + good.substr(8), "version 1.1"},
      {"truncated header", good.substr(0, 40), "runs past the end"},
      {"truncated data", good.substr(0, good.size() - 1), "(truncated)"},
      {"trailing data", good + "x", "(trailing data)"},
      {"header length 0xffffffff", std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff", 12) + "{}",
       "runs past the end"},
      {"product overflows",
       npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, "
                       "4294967296, 4), }",
                       data8),
       "is too large"},
      {"bytes overflow",
       npy_with_header(
           "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", data8),
       "is too large"},
      {"empty, but strides overflow",  // found by tests/fuzz/fuzz_npy
       npy_with_header("{'descr': '<i8', 'fortran_order': False, 'shape': (4294967296, "
                       "4294967296, 0), }",
                       ""),
       "is too large"},
      {"dimension past int64",
       npy_with_header(
           "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", data8),
       "does not fit in 64 bits"},
      {"shape larger than the file",
       npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000,), }", data8),
       "needs 8000000 bytes of data but the file holds 8"},
      {"negative dimension",
       npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", data8),
       "non-negative integer"},
      {"shape not a tuple",
       npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1), }", data8),
       "not a tuple"},
      {"missing key", npy_with_header("{'descr': '<f8', 'shape': (1,), }", data8),
       "lacks 'fortran_order'"},
      {"unknown key",
       npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'x': 1}", data8),
       "unknown key 'x'"},
      {"duplicate key",
       npy_with_header("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
                       data8),
       "appears twice"},
      {"unterminated dict",
       npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)", data8),
       "expected '}'"},
      {"unterminated string", npy_with_header("{'descr: '<f8'", data8), "expected ':'"},
      {"text after the dict",
       npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)} x", data8),
       "after the dict"},
      {"structured dtype",
       npy_with_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", data8),
       "structured dtypes"},
      {"unsupported dtype",
       npy_with_header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", data8),
       "unsupported dtype '<c8'"},
      {"bool byte 2",
       npy_with_header("{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}",
                       std::string("\x01\x02", 2)),
       "bool element 1 is the byte 2"},
      {"too many dimensions",
       npy_with_header(
           "{'descr': '|u1', 'fortran_order': False, 'shape': (" +
               [] {
                 std::string s;
                 for (int i = 0; i < 65; ++i) s += "1, ";
                 return s;
               }() +
               ")}",
           "x"),
       "more than 64 dimensions"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_TRUE(
        throws_with([&] { parse(c.bytes, "hostile.npy"); }, "hostile.npy: invalid .npy file"));
    EXPECT_TRUE(throws_with([&] { parse(c.bytes, "hostile.npy"); }, c.needle));
  }
  // Every prefix of a valid file is refused (and none crashes).
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_TRUE(throws_with([&] { parse(good.substr(0, n), "prefix.npy"); }, "prefix.npy"));
}

// A file from a writer that does not align the data is still read (copied, not a misaligned view).
TEST(Npy, UnalignedDataIsCopied) {
  TempDir dir;
  std::string h = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  h += "   \n";  // 10 + 61 bytes: the data starts at an odd offset
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += char(h.size());
  bytes += char(0);
  bytes += h;
  const double v[2] = {1.5, -2.0};
  bytes.append(reinterpret_cast<const char*>(v), sizeof(v));
  ASSERT_NE((10 + h.size()) % 8, 0u);
  std::ofstream(dir.file("u.npy"), std::ios::binary) << bytes;
  EXPECT_EQ(io::load_npy(dir.file("u.npy")).to_vector(), (std::vector<double>{1.5, -2.0}));
}
