// Where a tensor's memory lives: the CPU or a CUDA device by index. Printed as PyTorch does
// ("cpu", "cuda:0") and parsed from the same strings.
#pragma once

#include <cstdint>
#include <string>

namespace tandem {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // CUDA ordinal; always 0 for the CPU

  Device() = default;
  Device(DeviceType t, int i = 0) : type(t), index(t == DeviceType::CPU ? 0 : i) {}
  explicit Device(const std::string& spec);  // "cpu", "cuda", "cuda:1"

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;
  bool operator==(const Device&) const = default;
};

inline const Device kCPU{DeviceType::CPU, 0};

}  // namespace tandem
