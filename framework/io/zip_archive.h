// The zip side of torch.save files (internal to framework/io: the public API is torch_file.h).
// ZipReader (zip_reader.cpp) reads records with libzip, checking every declared size against
// the file before allocating; ZipWriter (zip_writer.cpp) writes the STORED, 64-byte-aligned
// records torch's reader expects, which libzip cannot place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct zip;

namespace tandem::io {

class ZipReader {
 public:
  // Throws tandem::Error naming `path` if it is not a readable zip archive.
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  std::vector<std::string> names() const;
  bool has(const std::string& name) const;
  // The record's bytes; throws naming the file and record if it is missing, declares more
  // bytes than the file holds, or cannot be read in full.
  std::string read(const std::string& name) const;
  // The record's size, checked as read() checks it, and its bytes into `dst` (that many bytes):
  // a storage is read in place, without a second copy.
  uint64_t size_of(const std::string& name) const;
  void read_into(const std::string& name, void* dst, uint64_t size) const;

 private:
  int64_t locate(const std::string& name) const;
  std::string why_unreadable(int libzip_error) const;
  std::string path_;
  struct zip* zip_ = nullptr;
  uint64_t file_size_ = 0;
};

class ZipWriter {
 public:
  void add(const std::string& name, const std::string& data);
  std::string finish();  // the whole archive (central directory appended)

 private:
  struct Entry {
    std::string name;
    uint32_t crc;
    size_t size, offset;
  };
  void u16(uint16_t v);
  void u32(uint32_t v);
  std::string out_;
  std::vector<Entry> entries_;
};

}  // namespace tandem::io
