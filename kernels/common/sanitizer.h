// Whether this build runs under AddressSanitizer. Caches that recycle memory (the CPU caching
// allocator, the object pool) turn themselves off there, so that a use after free stays visible.
#pragma once

namespace tandem {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace tandem
