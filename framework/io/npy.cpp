// .npy reader and writer (see npy.h).
#include "framework/io/npy.h"

#include <cstring>

#include "framework/core/checked_math.h"
#include "framework/io/atomic_write.h"
#include "framework/io/mapped_file.h"
#include "framework/tensor/factories.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the .npy reader maps little-endian data directly into tensors");

namespace tandem::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 8;  // the 6 magic bytes and the two version bytes
constexpr size_t kMaxDims = 64;  // numpy 2's NPY_MAXDIMS; numpy 1 allows 32
// numpy's writer leaves room after the header to grow the first axis in place (numpy's
// GROWTH_AXIS_MAX_DIGITS) and aligns the data to 64 bytes (ARRAY_ALIGN).
constexpr size_t kGrowthAxisMaxDigits = 21;
constexpr size_t kArrayAlign = 64;

[[noreturn]] void bad(const std::string& name, const std::string& what,
                      const std::string& hint =
                          "the file is truncated, corrupted or not a .npy "
                          "file") {
  throw Error(name + ": invalid .npy file: " + what, hint);
}

struct Format {
  const char* descr;
  DType dtype;
};
// What numpy writes for each tandem dtype (first), then the other spellings of one-byte types
// that other writers use. numpy has no bfloat16.
constexpr Format kFormats[] = {
    {"<f4", DType::Float32}, {"<f8", DType::Float64}, {"<f2", DType::Float16},
    {"|u1", DType::UInt8},   {"|i1", DType::Int8},    {"<i2", DType::Int16},
    {"<i4", DType::Int32},   {"<i8", DType::Int64},   {"|b1", DType::Bool},
    {"<u1", DType::UInt8},   {"<i1", DType::Int8},    {"<b1", DType::Bool}};

DType parse_descr(const std::string& descr, const std::string& name) {
  if (const std::optional<DType> d = npy_dtype(descr)) return *d;
  if (!descr.empty() && descr[0] == '>')
    bad(name, "big-endian dtype '" + descr + "' is not supported",
        "convert it in numpy: a.astype(a.dtype.newbyteorder('<'))");
  bad(name, "unsupported dtype '" + descr + "' (supported: <f4 <f8 <f2 |u1 |i1 <i2 <i4 <i8 |b1)",
      "convert it in numpy, e.g. a.astype(np.float32)");
}

}  // namespace

std::optional<DType> npy_dtype(const std::string& descr) {
  for (const auto& f : kFormats)
    if (descr == f.descr) return f.dtype;
  return std::nullopt;
}

namespace {

std::string shape_text(const Shape& shape) {  // Python's repr of the shape tuple
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  s += ")";
  return s;
}

struct Header {
  DType dtype = DType::Float32;
  Shape shape;
  size_t data_offset = 0;
  uint64_t data_bytes = 0;
};

// The header's dict literal, parsed strictly as numpy writes it (no eval): string keys, a string
// 'descr', True/False 'fortran_order', a tuple of non-negative integers 'shape'.
class DictParser {
 public:
  DictParser(const char* p, const char* end, const char* begin, const std::string& name)
      : p_(p), end_(end), begin_(begin), name_(name) {}

  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool accept(char c) {
    skip_space();
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    skip_space();
    return p_ < end_ && *p_ == c;
  }
  void expect(char c) {
    if (!accept(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string() {
    skip_space();
    if (p_ >= end_ || (*p_ != '\'' && *p_ != '"')) fail("expected a quoted string");
    const char quote = *p_++;
    const char* start = p_;
    while (p_ < end_ && *p_ != quote) {
      if (*p_ == '\\') fail("escapes in strings are not supported");
      ++p_;
    }
    if (p_ >= end_) fail("unterminated string");
    return std::string(start, p_++);
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] :
         {std::pair<const char*, bool>{"True", true}, {"False", false}}) {
      const size_t n = std::strlen(word);
      if (size_t(end_ - p_) >= n && std::memcmp(p_, word, n) == 0) {
        p_ += n;
        return value;
      }
    }
    fail("expected True or False");
  }
  int64_t integer() {
    skip_space();
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') fail("expected a non-negative integer");
    int64_t v = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      if (!checked_mul(v, int64_t(10), v) || !checked_add(v, int64_t(*p_ - '0'), v))
        fail("dimension does not fit in 64 bits");
      ++p_;
    }
    return v;
  }
  // (), (n,), (n, m) or (n, m,): a one-element tuple needs its comma, as in Python.
  Shape tuple() {
    expect('(');
    Shape shape;
    bool comma = false;
    while (!accept(')')) {
      if (!shape.empty() && !comma) fail("expected ',' or ')' in the shape");
      if (shape.size() == kMaxDims)
        fail("shape has more than " + std::to_string(kMaxDims) + " dimensions");
      shape.push_back(integer());
      comma = accept(',');
    }
    if (shape.size() == 1 && !comma) fail("shape (n) is not a tuple (numpy writes (n,))");
    return shape;
  }
  bool at_end() {
    skip_space();
    return p_ == end_;
  }
  [[noreturn]] void fail(const std::string& what) {
    bad(name_, "header: " + what + " at header character " + std::to_string(p_ - begin_));
  }

 private:
  const char* p_;
  const char* end_;
  const char* begin_;
  const std::string& name_;
};

Header parse_header(const uint8_t* data, size_t size, const std::string& name) {
  if (size < kMagicLen || std::memcmp(data, kMagic, 6) != 0)
    bad(name, "it does not start with the magic string \\x93NUMPY");
  const int major = data[6], minor = data[7];
  if (minor != 0 || major < 1 || major > 3)
    bad(name, "unsupported format version " + std::to_string(major) + "." + std::to_string(minor) +
                  " (1.0, 2.0 and 3.0 are read)");
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (size < kMagicLen + len_bytes) bad(name, "the file ends inside the header length");
  uint64_t header_len = 0;
  for (size_t i = len_bytes; i-- > 0;) header_len = (header_len << 8) | data[kMagicLen + i];
  const uint64_t preamble = kMagicLen + len_bytes;
  if (header_len > size - preamble)
    bad(name, "the header length " + std::to_string(header_len) + " runs past the end of the " +
                  std::to_string(size) + "-byte file");
  // Format 3.0's header is UTF-8 rather than latin-1; the keys and values read here are ASCII
  // either way.
  const char* text = reinterpret_cast<const char*>(data + preamble);
  DictParser p(text, text + header_len, text, name);
  std::string descr;
  bool fortran_order = false, have_descr = false, have_fortran = false, have_shape = false;
  Header h;
  p.expect('{');
  while (!p.accept('}')) {
    const std::string key = p.string();
    p.expect(':');
    bool* seen = key == "descr"           ? &have_descr
                 : key == "fortran_order" ? &have_fortran
                 : key == "shape"         ? &have_shape
                                          : nullptr;
    if (!seen) p.fail("unknown key '" + key + "'");
    if (*seen) p.fail("key '" + key + "' appears twice");
    *seen = true;
    if (key == "descr") {
      if (p.peek('['))
        bad(name, "structured dtypes (a list 'descr') are not supported",
            "save each field as its own array");
      descr = p.string();
    } else if (key == "fortran_order") {
      fortran_order = p.boolean();
    } else {
      h.shape = p.tuple();
    }
    if (!p.accept(',')) {
      p.expect('}');
      break;
    }
  }
  if (!p.at_end()) p.fail("unexpected text after the dict");
  if (!have_descr || !have_fortran || !have_shape)
    bad(name, std::string("the header lacks '") +
                  (!have_descr     ? "descr"
                   : !have_fortran ? "fortran_order"
                                   : "shape") +
                  "'");
  h.dtype = parse_descr(descr, name);
  if (fortran_order)
    bad(name, "fortran_order (column-major) arrays are not supported",
        "save a C-ordered copy: np.save(path, np.ascontiguousarray(a))");
  const std::optional<int64_t> numel = checked_numel(h.shape);
  const std::optional<uint64_t> bytes =
      numel ? checked_bytes(*numel, element_size(h.dtype)) : std::nullopt;
  if (!bytes || !strides_fit(h.shape))
    bad(name, "shape " + shape_text(h.shape) + " of " + descr + " is too large");
  h.data_offset = size_t(preamble + header_len);
  const uint64_t held = size - h.data_offset;
  if (*bytes != held)
    bad(name, "shape " + shape_text(h.shape) + " of " + descr + " needs " + std::to_string(*bytes) +
                  " bytes of data but the file holds " + std::to_string(held) +
                  " after its header" + (*bytes > held ? " (truncated)" : " (trailing data)"));
  h.data_bytes = *bytes;
  if (h.dtype == DType::Bool)  // any other byte is not a C++ bool
    for (uint64_t i = 0; i < h.data_bytes; ++i)
      if (data[h.data_offset + i] > 1)
        bad(name, "bool element " + std::to_string(i) + " is the byte " +
                      std::to_string(int(data[h.data_offset + i])) + ", not 0 or 1");
  return h;
}

Tensor copy_out(const uint8_t* data, const Header& h) {
  Tensor t = empty(h.shape, TensorOptions(h.dtype));
  if (h.data_bytes > 0) std::memcpy(t.raw_data(), data + h.data_offset, size_t(h.data_bytes));
  return t;
}

const char* descr_of(DType t) {
  for (const auto& f : kFormats)
    if (f.dtype == t) return f.descr;
  throw Error(std::string("save_npy: .npy has no ") + dtype_name(t) + " dtype",
              "convert the tensor first, e.g. t.to(DType::Float32)");
}

}  // namespace

Tensor parse_npy(const uint8_t* data, size_t size, const std::string& name) {
  return copy_out(data, parse_header(data, size, name));
}

Tensor load_npy(const std::string& path) {
  const MappedFile file = map_file(path);
  const Header h = parse_header(file.data, file.size, path);
  // numpy aligns the data to 64 bytes (older versions to 16), so a view is aligned for its
  // dtype; a file from another writer whose data is not gets a copy rather than misaligned loads.
  if (h.data_offset % element_size(h.dtype) != 0) return copy_out(file.data, h);
  return mapped_tensor(file, h.data_offset, h.dtype, h.shape);
}

std::string serialize_npy(const Tensor& tensor) {
  const char* descr = descr_of(tensor.dtype());
  const Tensor t = tensor.cpu().contiguous();
  // numpy.lib.format._write_array_header: the dict's keys sorted, repr'd values, room for the
  // first axis to grow, then padding so that the data starts on a 64-byte boundary.
  std::string dict = "{'descr': '";
  dict += descr;
  dict += "', 'fortran_order': False, 'shape': ";
  dict += shape_text(t.sizes());
  dict += ", }";
  if (t.dim() > 0) {
    const size_t digits = std::to_string(t.size(0)).size();
    dict.append(digits < kGrowthAxisMaxDigits ? kGrowthAxisMaxDigits - digits : 0, ' ');
  }
  // Format 1.0, whose u16 header length holds any shape the reader takes (numpy moves to 2.0
  // only for headers past 64 KiB, which only structured dtypes reach).
  const size_t hlen = dict.size() + 1;  // the final newline
  const size_t pad = kArrayAlign - (kMagicLen + 2 + hlen) % kArrayAlign;
  const uint64_t header_len = hlen + pad;
  TANDEM_CHECK(t.dim() <= int64_t(kMaxDims) && header_len <= 0xffff, "save_npy: ", t.dim(),
               " dimensions are more than a .npy file holds (", kMaxDims, ")");
  std::string out(kMagic, 6);
  out += char(1);
  out += char(0);
  out += char(header_len & 0xff);
  out += char(header_len >> 8);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  atomic_write_file(path, serialize_npy(t));
}

}  // namespace tandem::io
