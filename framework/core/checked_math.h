// Overflow-checked size arithmetic, in one place: every size, stride, offset and byte count that
// comes from a file or a config goes through these before memory is allocated or addressed.
// A plain int64 product of attacker-chosen sizes wraps silently (4 x 2^31 x 2^31 is 0), and a
// check computed with a wrapped value passes; these return "no value" instead.
//
//   int64_t n;
//   if (!checked_mul(rows, cols, n)) fail("image too large");
//   std::optional<int64_t> numel = checked_numel(shape);   // nullopt: negative or overflow
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace tandem {

// The largest byte count tandem allocates or addresses: what a pointer difference can hold.
inline constexpr uint64_t kMaxBytes = uint64_t(PTRDIFF_MAX);

// out = a * b (or a + b); false when the result does not fit in T.
template <typename T>
[[nodiscard]] inline bool checked_mul(T a, T b, T& out) {
  return !__builtin_mul_overflow(a, b, &out);
}
template <typename T>
[[nodiscard]] inline bool checked_add(T a, T b, T& out) {
  return !__builtin_add_overflow(a, b, &out);
}

// The product of the dimensions; nullopt if one is negative or the product overflows int64.
inline std::optional<int64_t> checked_numel(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s < 0) return std::nullopt;
    if (s == 0) n = 0;  // an empty dimension makes every product empty, whatever follows
  }
  if (n == 0) return 0;
  for (int64_t s : shape)
    if (!checked_mul(n, s, n)) return std::nullopt;
  return n;
}

// Whether the contiguous strides of `shape` fit in int64. contiguous_strides multiplies the
// sizes with an empty dimension taken as 1, so an empty tensor of shape (0, 2^40, 2^40), whose
// numel and byte count are 0, still overflows there; a reader checks this too.
inline bool strides_fit(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    if (s < 0 || !checked_mul(n, s > 0 ? s : int64_t(1), n)) return false;
  return true;
}

// numel * element_size as a byte count; nullopt if it overflows or exceeds kMaxBytes.
inline std::optional<uint64_t> checked_bytes(int64_t numel, size_t element_size) {
  uint64_t bytes = 0;
  if (numel < 0 || !checked_mul(uint64_t(numel), uint64_t(element_size), bytes) ||
      bytes > kMaxBytes)
    return std::nullopt;
  return bytes;
}

// The number of storage elements a strided view needs: offset + 1 + sum((size - 1) * stride),
// or offset for an empty view (which addresses nothing). nullopt if a size, stride or the
// offset is negative, the lengths differ, or any step overflows int64.
inline std::optional<int64_t> checked_view_extent(std::span<const int64_t> sizes,
                                                  std::span<const int64_t> strides,
                                                  int64_t offset) {
  if (sizes.size() != strides.size() || offset < 0) return std::nullopt;
  const std::optional<int64_t> numel = checked_numel(sizes);
  if (!numel) return std::nullopt;
  for (int64_t st : strides)
    if (st < 0) return std::nullopt;
  if (*numel == 0) return offset;
  int64_t last = offset;
  for (size_t i = 0; i < sizes.size(); ++i) {
    int64_t step = 0;
    if (!checked_mul(sizes[i] - 1, strides[i], step) || !checked_add(last, step, last))
      return std::nullopt;
  }
  int64_t extent = 0;
  if (!checked_add(last, int64_t(1), extent)) return std::nullopt;
  return extent;
}

}  // namespace tandem
