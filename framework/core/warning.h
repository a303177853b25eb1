// PyTorch's UserWarnings, which tandem's ops give where PyTorch's do (a loss broadcasting its
// target, a uint8 condition in where): on stderr as "warning: <PyTorch's text>", once per distinct
// text per process. Python's default filter shows a warning once per place; the texts here name
// the sizes involved, so a new size warns again.
#pragma once

#include <string>

namespace tandem {

void warn_once(const std::string& text);

}  // namespace tandem
