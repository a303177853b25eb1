// Reading zip records with libzip (see zip_archive.h). torch.save stores records uncompressed,
// so a record that declares more bytes than the whole file is a lie (or a zip bomb), refused
// before anything is allocated for it.
#include <zip.h>

#include <filesystem>

#include "framework/io/zip_archive.h"
#include "kernels/common/error.h"

namespace tandem::io {
namespace {

constexpr const char* kCorrupt = "the file is truncated or corrupted";

std::string libzip_error(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string why = zip_error_strerror(&e);
  zip_error_fini(&e);
  return why;
}

}  // namespace

ZipReader::ZipReader(const std::string& path) : path_(path) {
  std::error_code ec;
  file_size_ = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot read " + path + ": " + ec.message(), "check the path");
  int err = 0;
  zip_ = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!zip_)
    throw Error(path + ": not a readable zip archive (" + why_unreadable(err) + ")", kCorrupt);
}

// What is wrong with an archive libzip refused. The file exists (its size was read), so
// libzip's "No such file" or "Can't open file" would mislead; the usual lie is a record that
// declares more bytes than the file holds (a "4 GB" entry), which a lenient open can name.
std::string ZipReader::why_unreadable(int err) const {
  int lenient_err = 0;
  if (zip_t* z = zip_open(path_.c_str(), ZIP_RDONLY, &lenient_err)) {
    std::string why;
    const zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n && why.empty(); ++i) {
      zip_stat_t st;
      if (zip_stat_index(z, zip_uint64_t(i), 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
          (st.valid & ZIP_STAT_NAME) && st.size > file_size_)
        why = "record '" + std::string(st.name) + "' declares " + std::to_string(st.size) +
              " bytes in a " + std::to_string(file_size_) + "-byte file";
    }
    zip_discard(z);
    if (!why.empty()) return why;
  }
  if (err == ZIP_ER_NOENT || err == ZIP_ER_OPEN || err == ZIP_ER_SEEK)
    return "its directory points outside the file";
  return libzip_error(err);
}

ZipReader::~ZipReader() {
  if (zip_) zip_discard(zip_);
}

std::vector<std::string> ZipReader::names() const {
  std::vector<std::string> out;
  const zip_int64_t n = zip_get_num_entries(zip_, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(zip_, zip_uint64_t(i), 0);
    if (name) out.emplace_back(name);
  }
  return out;
}

bool ZipReader::has(const std::string& name) const {
  return zip_name_locate(zip_, name.c_str(), 0) >= 0;
}

int64_t ZipReader::locate(const std::string& name) const {
  const zip_int64_t idx = zip_name_locate(zip_, name.c_str(), 0);
  if (idx < 0) throw Error(path_ + ": record '" + name + "' is missing", kCorrupt);
  return idx;
}

uint64_t ZipReader::size_of(const std::string& name) const {
  zip_stat_t st;
  if (zip_stat_index(zip_, zip_uint64_t(locate(name)), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw Error(path_ + ": cannot read the directory entry of record '" + name + "'", kCorrupt);
  if (st.size > file_size_)
    throw Error(path_ + ": record '" + name + "' declares " + std::to_string(st.size) +
                    " bytes in a " + std::to_string(file_size_) + "-byte file",
                kCorrupt);
  return st.size;
}

std::string ZipReader::read(const std::string& name) const {
  std::string out(size_t(size_of(name)), '\0');
  read_into(name, out.data(), out.size());
  return out;
}

void ZipReader::read_into(const std::string& name, void* dst, uint64_t size) const {
  zip_file_t* f = zip_fopen_index(zip_, zip_uint64_t(locate(name)), 0);
  if (!f)
    throw Error(path_ + ": cannot read record '" + name + "' (" +
                    zip_error_strerror(zip_get_error(zip_)) + ")",
                kCorrupt);
  const zip_int64_t got = size == 0 ? 0 : zip_fread(f, dst, size);
  // libzip checks a record's CRC when a read reaches its end, not when the last byte arrives:
  // one more read, which must find nothing, reports a damaged record ("CRC error").
  char extra = 0;
  const zip_int64_t more = got < 0 ? 0 : zip_fread(f, &extra, 1);
  const std::string why = got < 0 || more < 0 ? zip_file_strerror(f) : "";
  zip_fclose(f);
  if (more < 0) throw Error(path_ + ": record '" + name + "' is corrupted (" + why + ")", kCorrupt);
  if (got < 0 || zip_uint64_t(got) != size || more != 0)
    throw Error(path_ + ": record '" + name + "' is truncated or corrupted", kCorrupt);
}

}  // namespace tandem::io
