// tandem's exception type and check macros. An error says what failed and where (key path,
// file, rank); an optional hint says what the user can do about it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tandem {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string hint = {})
      : std::runtime_error(what), hint_(std::move(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace tandem

// TANDEM_CHECK(cond, "message parts", ...): throws tandem::Error with the parts streamed together.
#define TANDEM_CHECK(cond, ...)                                                \
  do {                                                                         \
    if (!(cond)) throw ::tandem::Error(::tandem::detail::concat(__VA_ARGS__)); \
  } while (0)

#define TANDEM_FAIL(...) throw ::tandem::Error(::tandem::detail::concat(__VA_ARGS__))
