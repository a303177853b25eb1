// SIGINT/SIGTERM handling for training: the first signal asks for a clean stop (finish the
// step, write last.safetensors, exit 0); a second one exits at once with 128 + the signal number
// (a step that never finishes cannot hold the run hostage). Both say so on stderr. Every file
// tandem writes is replaced atomically, so exiting at once never damages the last checkpoint; a
// temporary file it leaves is removed by the next run in the directory.
#pragma once

namespace tandem::launch {

// `rank` and `world_size` name the rank in the messages when there are several.
void install_stop_handlers(int rank, int world_size);
bool stop_requested();

}  // namespace tandem::launch
