// SIGINT/SIGTERM handling for training: the first signal asks for a clean stop (finish the
// step, write last.safetensors, exit 0); a second one exits at once.
#pragma once

namespace tandem::launch {

void install_stop_handlers();
bool stop_requested();

}  // namespace tandem::launch
