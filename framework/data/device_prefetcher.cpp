// DevicePrefetcher (see device_prefetcher.h).
#include "framework/data/device_prefetcher.h"

#include "kernels/device/context.h"

namespace tandem::data {

namespace dev = kernels::device;

DevicePrefetcher::DevicePrefetcher(DataLoader& loader, Device device)
    : loader_(loader), device_(device) {
  if (device_.is_cuda()) copied_ = dev::cuda_runtime().create_event(device_.index);
}

DevicePrefetcher::~DevicePrefetcher() {
  if (!copied_) return;
  // A copy may still be in flight into next_'s memory: let it land before that memory and the
  // event go.
  dev::cuda_runtime().synchronize_event(copied_);
  next_ = Batch{};
  dev::cuda_runtime().destroy_event(copied_, device_.index);
}

void DevicePrefetcher::fetch() {
  Batch host;
  pending_ = loader_.next(host);
  if (!pending_) {
    next_ = Batch{};
    return;
  }
  if (device_.is_cpu()) {
    next_ = std::move(host);
    return;
  }
  const int index = device_.index;
  const dev::StreamHandle input = dev::input_stream(index);
  dev::StreamGuard on_input(index, input);  // the copies and their allocations on the input stream
  next_.inputs = host.inputs.to(device_);
  next_.targets = host.targets.to(device_);
  next_.index = host.index;
  dev::cuda_runtime().record_event(copied_, input);
}

bool DevicePrefetcher::next(Batch& out) {
  if (!started_) {
    started_ = true;
    fetch();
  }
  if (!pending_) return false;
  out = std::move(next_);
  if (device_.is_cuda()) {
    const dev::StreamHandle compute = dev::current_stream(device_.index);
    dev::cuda_runtime().stream_wait_event(compute, copied_);
    out.inputs.record_stream(compute);
    out.targets.record_stream(compute);
  }
  fetch();  // the following batch's copy now runs alongside this step
  return true;
}

}  // namespace tandem::data
