// Crafted hostile inputs, one function per attack, shared by the adversarial suite
// (test_adversarial_inputs.cpp) and the generator of the CLI checks (cli/make_adversarial.cpp).
// Each returns the bytes of a file (or writes one); none needs Python or a fixture.
//
//   write_bytes(dir + "/nested.pt", torch_zip(pickle_nested_lists(1'000'000)));
#pragma once

#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "framework/io/zip_archive.h"

namespace tandem::adversarial {

// Concatenation by appending (GCC 12 warns falsely, -Wrestrict, on "literal" + std::string).
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::string s;
  (s.append(parts), ...);
  return s;
}

inline std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}
inline std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}
inline std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[size_t(i)] = char((v >> (8 * (3 - i))) & 0xff);
  return s;
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// --- pickles (protocol 2, the opcodes torch.save uses) ------------------------------------------

inline const std::string kProto = "\x80\x02";
inline std::string pickle_text(const std::string& s) {
  return cat("X", le32(uint32_t(s.size())), s);
}
inline std::string pickle_int64(int64_t v) { return cat("\x8a\x08", le64(uint64_t(v))); }

// [[[[...]]]] nested `depth` levels: 2 bytes per level (EMPTY_LIST MARK ... APPENDS).
inline std::string pickle_nested_lists(size_t depth) {
  std::string p = kProto;
  for (size_t i = 0; i < depth; ++i) p += "](";
  p += "]";
  p.append(depth, 'e');
  p += ".";
  return p;
}

// [[[...]]] nested `depth` levels, outermost first through the memo: every list is made and
// memoized (EMPTY_LIST LONG_BINPUT i), then list i+1 is appended to list i (LONG_BINGET i
// LONG_BINGET i+1 APPEND), each after list i was already on the stack, so only a walk of the
// finished graph sees how deep it is. Everything sits after a MARK; `close` ends it with TUPLE
// STOP, else the pickle stops short (truncated).
inline std::string pickle_memo_nested_lists(size_t depth, bool close) {
  std::string p = cat(kProto, "(");
  for (size_t i = 0; i <= depth; ++i) p += cat("]r", le32(uint32_t(i)));
  for (size_t i = 0; i < depth; ++i)
    p += cat("j", le32(uint32_t(i)), "j", le32(uint32_t(i + 1)), "a");
  if (close) p += "t.";
  return p;
}

// l = []; l.append(l): EMPTY_LIST BINPUT 0 BINGET 0 APPEND.
inline std::string pickle_self_list() {
  const std::string nul(1, '\0');
  return cat(kProto, "]q", nul, "h", nul, "a.");
}

// t0 = []; t_i = (t_{i-1}, t_{i-1}) through the memo: 9 bytes per level, 2^levels values.
inline std::string pickle_memo_dag(int levels) {
  std::string p = cat(kProto, "]r", le32(0));
  for (int i = 1; i <= levels; ++i)
    p += cat("j", le32(uint32_t(i - 1)), "\x86", "r", le32(uint32_t(i)));
  p += ".";
  return p;
}

// {"k0": 1, "k1": 1, ...} with `keys` keys in one SETITEMS.
inline std::string pickle_dict(size_t keys) {
  std::string p = cat(kProto, "}(");
  for (size_t i = 0; i < keys; ++i) p += cat(pickle_text(cat("k", std::to_string(i))), "K\x01");
  p += "u.";
  return p;
}

// {"w": _rebuild_tensor_v2(FloatStorage '0' of `numel` elements, offset, size, stride)}.
inline std::string pickle_strided_tensor(const std::vector<int64_t>& size,
                                         const std::vector<int64_t>& stride, int64_t offset,
                                         int64_t numel) {
  std::string t = "ctorch._utils\n_rebuild_tensor_v2\n(";
  t += cat("(", pickle_text("storage"), "ctorch\nFloatStorage\n", pickle_text("0"),
           pickle_text("cpu"), pickle_int64(numel), "tQ");
  t += pickle_int64(offset);
  t += "(";
  for (int64_t s : size) t += pickle_int64(s);
  t += "t(";
  for (int64_t s : stride) t += pickle_int64(s);
  t += "t\x89"
       "ccollections\nOrderedDict\n)RtR";
  return cat(kProto, "}(", pickle_text("w"), t, "u.");
}

// {"\xff\xfe": 1}: a key that is not UTF-8.
inline std::string pickle_non_utf8_key() {
  return cat(kProto, "}(X", le32(2), "\xff\xfe", "K\x01u.");
}

// --- torch.save zips -----------------------------------------------------------------------------

// A list holding one dict of `keys` entries (memo 0) and `objects` instances of x.y, each BUILT
// with that dict: every BUILD copies the shared dict's entries.
inline std::string pickle_objects_sharing_state(size_t keys, size_t objects) {
  std::string p = cat(kProto, "]}r", le32(0), "(");
  for (size_t i = 0; i < keys; ++i) p += cat(pickle_text(cat("k", std::to_string(i))), "N");
  p += "ua(";
  for (size_t i = 0; i < objects; ++i) p += cat("cx\ny\n)\x81", "j", le32(0), "b");
  return p + "e.";
}

// A list of module objects nested `levels` deep, each holding the previous one twice in its
// _modules: a tree of 2^levels modules from a few bytes per level.
inline std::string pickle_module_dag(int levels) {
  std::string p = cat(kProto, "]");
  for (int i = 0; i < levels; ++i) {
    p += cat("cx\ny\n)\x81}(", pickle_text("_parameters"), "}", pickle_text("_modules"), "}(");
    if (i > 0)
      p += cat(pickle_text("a"), "j", le32(uint32_t(i - 1)), pickle_text("b"), "j",
               le32(uint32_t(i - 1)));
    p += cat("uubr", le32(uint32_t(i)), "a");
  }
  return p + ".";
}

// A list holding one object with `attributes` attributes (memo 0), BUILT `builds` more times with
// an empty state: each BUILD indexes the attributes it already has.
inline std::string pickle_object_rebuilt(size_t attributes, size_t builds) {
  std::string p = cat(kProto, "]cx\ny\n)\x81r", le32(0), "(");
  for (size_t i = 0; i < attributes; ++i) p += cat(pickle_text(cat("a", std::to_string(i))), "N");
  p += "ua(";
  for (size_t i = 0; i < builds; ++i) p += cat("j", le32(0), "}b");
  return p + "e.";
}

// numpy's float32 dtype (memo 1) and `nbytes` bytes of data (memo 2), then a list of `arrays`
// numpy arrays of nbytes / 4 elements that all share that data.
inline std::string pickle_arrays_sharing_data(uint32_t nbytes, size_t arrays) {
  std::string p = cat(kProto, "]cnumpy\ndtype\n", pickle_text("f4"), "\x89\x88\x87Rr", le32(1));
  p += cat("aB", le32(nbytes), std::string(nbytes, '\0'), "r", le32(2), "a(");
  const std::string array =
      cat("cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n", std::string("K\0\x85", 3),
          "C\x01"
          "b",
          "\x87R(K\x01", "J", le32(nbytes / 4), "\x85j", le32(1), "\x89j", le32(2), "tb");
  for (size_t i = 0; i < arrays; ++i) p += array;
  return p + "e.";
}

// The legacy torch.save stream around `data_pickle`: magic number, protocol version 1001,
// sys_info, the data pickle, the storage keys, then each storage's element count and bytes.
inline std::string legacy_torch(const std::string& data_pickle,
                                const std::vector<std::string>& keys,
                                const std::vector<std::pair<uint64_t, std::string>>& storages,
                                bool little_endian = true) {
  std::string p = cat(kProto, "\x8a\x0a", "\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", ".");
  p += cat(kProto, "M\xe9\x03.");
  p += cat(kProto, "}", pickle_text("little_endian"), little_endian ? "\x88" : "\x89", "s.");
  p += data_pickle;
  p += cat(kProto, "](");
  for (const auto& k : keys) p += pickle_text(k);
  p += "e.";
  for (const auto& [numel, bytes] : storages) p += cat(le64(numel), bytes);
  return p;
}

inline std::string torch_zip(const std::string& pickle,
                             const std::map<std::string, std::string>& storages = {}) {
  io::ZipWriter z;
  z.add("archive/data.pkl", pickle);
  for (const auto& [key, bytes] : storages) z.add(cat("archive/data/", key), bytes);
  z.add("archive/version", "3\n");
  return z.finish();
}

// A stored zip whose data.pkl entry declares `declared` bytes in its local header and central
// directory (ZIP64 extra fields), far more than the file holds.
inline std::string zip_declaring(uint64_t declared) {
  const std::string name = "archive/data.pkl", data = cat(kProto, "}.");
  const uint32_t crc =
      uint32_t(crc32(0, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size())));
  auto u16 = [](uint16_t v) { return std::string{char(v & 0xff), char(v >> 8)}; };
  const std::string extra = cat(u16(1), u16(16), le64(declared), le64(declared));
  const std::string local = cat(
      le32(0x04034b50), u16(45), u16(0), u16(0), u16(0), u16(0), le32(crc), le32(0xffffffff),
      le32(0xffffffff), u16(uint16_t(name.size())), u16(uint16_t(extra.size())), name, extra, data);
  const std::string cd =
      cat(le32(0x02014b50), u16(45), u16(45), u16(0), u16(0), u16(0), u16(0), le32(crc),
          le32(0xffffffff), le32(0xffffffff), u16(uint16_t(name.size())),
          u16(uint16_t(extra.size())), u16(0), u16(0), u16(0), le32(0), le32(0), name, extra);
  const std::string eocd = cat(le32(0x06054b50), u16(0), u16(0), u16(1), u16(1),
                               le32(uint32_t(cd.size())), le32(uint32_t(local.size())), u16(0));
  return cat(local, cd, eocd);
}

// --- safetensors -----------------------------------------------------------------------------

inline std::string safetensors(const std::string& header, const std::string& data = "") {
  return cat(le64(header.size()), header, data);
}

// {"a": [[[[...]]]]} nested `depth` levels.
inline std::string safetensors_nested(size_t depth) {
  return safetensors(cat("{\"a\":", std::string(depth, '['), std::string(depth, ']'), "}"));
}

// `n` one-element F32 tensors t0 ... t{n-1}, back to back.
inline std::string safetensors_many(size_t n) {
  std::string h = "{";
  for (size_t i = 0; i < n; ++i)
    h += cat(i ? "," : "", "\"t", std::to_string(i),
             "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[", std::to_string(4 * i), ",",
             std::to_string(4 * i + 4), "]}");
  h += "}";
  return safetensors(h, std::string(4 * n, '\0'));
}

// One tensor whose shape and offsets are given as JSON text, followed by `data_bytes` bytes.
inline std::string safetensors_tensor(const std::string& shape, const std::string& offsets,
                                      size_t data_bytes) {
  return safetensors(
      cat("{\"t\":{\"dtype\":\"F32\",\"shape\":", shape, ",\"data_offsets\":", offsets, "}}"),
      std::string(data_bytes, '\0'));
}

// --- YAML ------------------------------------------------------------------------------------

// "Billion laughs": each level lists the previous one ten times (10^levels values expanded).
inline std::string yaml_billion_laughs(int levels) {
  std::string y = "model:\n  name: mlp\n  l0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= levels; ++i) {
    y += cat("  l", std::to_string(i), ": &a", std::to_string(i), " [");
    for (int j = 0; j < 10; ++j) y += cat(j ? ", *a" : "*a", std::to_string(i - 1));
    y += "]\n";
  }
  return y;
}

// --- IDX (Fashion-MNIST) ---------------------------------------------------------------------

// A gzip IDX file: magic, big-endian dimensions, then `payload`.
inline void write_idx_gz(const std::string& path, uint32_t magic, const std::vector<uint32_t>& dims,
                         const std::string& payload) {
  std::string bytes = be32(magic);
  for (uint32_t d : dims) bytes += be32(d);
  bytes += payload;
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), unsigned(bytes.size()));
  gzclose(f);
}

}  // namespace tandem::adversarial
