// The `tandem` executable: dispatches to a command. User errors print "error: ..." and
// "hint: ..." and exit 2; under mpirun a failing rank names itself and ends the whole job
// (MPI_Abort) instead of leaving the others waiting, and an error all ranks raise together
// (parallel::AllRanksError) is printed once by rank 0 before every rank exits with code 2. Nothing
// on disk is damaged: every file tandem writes is replaced atomically.
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>

#include "framework/core/memory.h"
#include "kernels/common/error.h"
#include "launch/build_info.h"
#include "launch/cli.h"
#include "launch/version_report.h"
#include "parallel/distributed.h"
#include "parallel/rank_helpers.h"

namespace {

int run(int argc, char** argv) {
  using namespace tandem::launch;
  const CommandLine cl = parse_command_line(argc, argv);
  if (cl.command == "help") {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (cl.command == "version") {
    std::fputs(version_report(build_info()).c_str(), stdout);
    return 0;
  }
  if (cl.has_flag("--help")) {
    std::fputs(command_help(cl.command).c_str(), stdout);
    return 0;
  }
  if (cl.command == "train") return cmd_train(cl);
  if (cl.command == "eval") return cmd_eval(cl);
  if (cl.command == "predict") return cmd_predict(cl);
  if (cl.command == "inspect") return cmd_inspect(cl);
  return cmd_convert(cl);
}

// "rank 1: " when several ranks run, so a message says where it came from.
std::string rank_prefix() {
  const auto& w = tandem::parallel::init_distributed();
  return w.size > 1 ? "rank " + std::to_string(w.rank) + ": " : "";
}

}  // namespace

int main(int argc, char** argv) {
  tandem::retain_freed_memory();  // training steps reuse their memory instead of faulting it in
  int code = 0;
  try {
    code = run(argc, argv);
  } catch (const tandem::parallel::AllRanksError& e) {
    // Every rank failed the same check at the same point: one report, a normal end on all ranks.
    const auto& world = tandem::parallel::init_distributed();
    if (world.rank == 0) {
      std::fprintf(stderr, "error: %s\n", e.what());
      if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
      std::fflush(stderr);
    }
    // mpirun ends the job when the first rank exits non-zero: the others wait for the report.
    if (world.process_group) world.process_group->barrier()->wait();
    code = 2;
  } catch (const tandem::Error& e) {
    std::fprintf(stderr, "error: %s%s\n", rank_prefix().c_str(), e.what());
    if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
    std::fflush(stderr);
    tandem::parallel::abort_job(2);
  } catch (const std::bad_alloc&) {  // a size from a config or a file beyond this machine
    std::fprintf(stderr, "error: %sout of memory\n", rank_prefix().c_str());
    std::fprintf(stderr,
                 "hint: a size in the config (layer widths, batch size) or in an input file is "
                 "larger than this machine's memory\n");
    std::fflush(stderr);
    tandem::parallel::abort_job(2);
  } catch (const std::length_error& e) {
    std::fprintf(stderr, "error: %sout of memory: a size beyond what a container can hold (%s)\n",
                 rank_prefix().c_str(), e.what());
    std::fprintf(stderr, "hint: a size in the config or in an input file is too large\n");
    std::fflush(stderr);
    tandem::parallel::abort_job(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s%s\n", rank_prefix().c_str(), e.what());
    std::fflush(stderr);
    tandem::parallel::abort_job(1);
  }
  tandem::parallel::shutdown_distributed();
  return code;
}
