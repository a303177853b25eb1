#include "framework/core/warning.h"

#include <iostream>
#include <mutex>
#include <set>

namespace tandem {

void warn_once(const std::string& text) {
  static std::mutex mutex;
  static std::set<std::string> shown;
  const std::lock_guard<std::mutex> lock(mutex);
  if (shown.insert(text).second) std::cerr << "warning: " << text << "\n";
}

}  // namespace tandem
