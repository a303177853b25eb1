// Writing STORED zip records with torch's 64-byte data alignment (see zip_archive.h): the
// padding is a local-header extra field ('FB', length, 'Z' bytes), as torch writes it.
#include <zlib.h>

#include <cstdint>

#include "kernels/common/error.h"
#include "framework/io/zip_archive.h"

namespace tandem::io {
namespace {
constexpr uint64_t kMax32 = 0xffffffffu;  // beyond this a record needs ZIP64, not written here
}

void ZipWriter::u16(uint16_t v) {
  out_ += char(v & 0xff);
  out_ += char(v >> 8);
}

void ZipWriter::u32(uint32_t v) {
  for (int i = 0; i < 4; ++i) out_ += char((v >> (8 * i)) & 0xff);
}

void ZipWriter::add(const std::string& name, const std::string& data) {
  if (data.size() >= kMax32 || out_.size() >= kMax32 || entries_.size() >= 0xffff)
    throw Error("torch file writer: record '" + name +
                    "' is beyond the 4 GiB / 65535-record zip limits (ZIP64 is not written yet)",
                "save large models as .safetensors");
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t at = 0; at < data.size(); at += 1u << 30) {
    const uInt chunk = uInt(std::min<size_t>(data.size() - at, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + at), chunk);
  }
  Entry e{name, uint32_t(crc), data.size(), out_.size()};
  const size_t header = 30 + name.size();
  const size_t pad = (64 - (out_.size() + header + 4) % 64) % 64;
  const uint16_t extra_len = uint16_t(4 + pad);
  u32(0x04034b50);
  u16(20);  // version needed
  u16(0);   // flags
  u16(0);   // STORED
  u16(0);
  u16(0);  // time, date
  u32(e.crc);
  u32(uint32_t(data.size()));
  u32(uint32_t(data.size()));
  u16(uint16_t(name.size()));
  u16(extra_len);
  out_ += name;
  u16(0x4246);  // 'FB' padding field, as torch writes
  u16(uint16_t(pad));
  out_.append(pad, 'Z');
  out_ += data;
  entries_.push_back(e);
}

std::string ZipWriter::finish() {
  const size_t cd_start = out_.size();
  for (const auto& e : entries_) {
    u32(0x02014b50);
    u16(20);
    u16(20);
    u16(0);
    u16(0);
    u16(0);
    u16(0);
    u32(e.crc);
    u32(uint32_t(e.size));
    u32(uint32_t(e.size));
    u16(uint16_t(e.name.size()));
    u16(0);
    u16(0);
    u16(0);
    u16(0);
    u32(0);
    u32(uint32_t(e.offset));
    out_ += e.name;
  }
  const size_t cd_size = out_.size() - cd_start;
  if (out_.size() >= kMax32)
    throw Error("torch file writer: the archive is beyond 4 GiB (ZIP64 is not written yet)",
                "save large models as .safetensors");
  u32(0x06054b50);
  u16(0);
  u16(0);
  u16(uint16_t(entries_.size()));
  u16(uint16_t(entries_.size()));
  u32(uint32_t(cd_size));
  u32(uint32_t(cd_start));
  u16(0);
  return std::move(out_);
}

}  // namespace tandem::io
