// libFuzzer target: a tandem checkpoint's metadata JSON (__metadata__["tandem"]) through
// value_from_json, the reader load_checkpoint uses: any input is a Value or a tandem::Error,
// in time linear in its length, never a crash or deep recursion.
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/common/error.h"
#include "framework/io/value_json.h"
#include "framework/tensor/factories.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tandem::OrderedDict<std::string, tandem::Tensor> tensors = [] {
    tandem::OrderedDict<std::string, tandem::Tensor> t;
    t.insert("optimizer/state/0/momentum_buffer", tandem::zeros({2}));
    return t;
  }();
  try {
    tandem::io::value_from_json(std::string(reinterpret_cast<const char*>(data), size), tensors,
                                "fuzz.json");
  } catch (const tandem::Error&) {
  }
  return 0;
}
