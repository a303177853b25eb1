// CollectiveWatchdog (parallel/collective_watchdog.h), the thread that notices a device
// collective that failed or never completes, tested with polls that stand in for CUDA events.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parallel/collective_watchdog.h"

using tandem::parallel::CollectiveWatchdog;
using Status = CollectiveWatchdog::Status;
using namespace std::chrono_literals;

namespace {

// Waits (up to 20 s, for a loaded machine) until `done` holds.
template <typename Fn>
bool eventually(Fn done) {
  const auto limit = std::chrono::steady_clock::now() + 20s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Records on_failure's calls.
struct Failures {
  std::mutex mu;
  std::vector<std::string> messages;
  CollectiveWatchdog::OnFailure callback() {
    return [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mu);
      messages.push_back(m);
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return messages.size();
  }
};

}  // namespace

TEST(CollectiveWatchdog, CompletedCollectivesAreDroppedWithWhatTheirPollsHold) {
  Failures failures;
  CollectiveWatchdog dog(failures.callback(), 300, 100us);
  auto held = std::make_shared<int>(0);
  std::atomic<int> polls{0};
  for (int i = 0; i < 3; ++i)
    dog.watch("allreduce", [held, &polls, i](std::string*) {
      // Each completes on its (i + 2)-th poll.
      return ++*held, polls.fetch_add(1) >= 3 * (i + 1) ? Status::Done : Status::Pending;
    });
  ASSERT_TRUE(eventually([&] { return dog.pending() == 0; }));
  EXPECT_EQ(held.use_count(), 1);  // the polls (and the tensors a real one holds) are gone
  EXPECT_EQ(failures.count(), 0u);
  EXPECT_EQ(dog.failure(), "");
}

TEST(CollectiveWatchdog, ACollectiveThatNeverCompletesFailsAfterTheTimeout) {
  Failures failures;
  const auto start = std::chrono::steady_clock::now();
  CollectiveWatchdog dog(failures.callback(), 0.2, 1ms);
  dog.watch("broadcast", [](std::string*) { return Status::Done; });
  dog.watch("allreduce", [](std::string*) { return Status::Pending; });  // a peer never arrives
  ASSERT_TRUE(eventually([&] { return failures.count() == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(failures.messages[0],
            "allreduce did not complete within 0.2 s of its launch (TANDEM_COLLECTIVE_TIMEOUT)");
  EXPECT_EQ(dog.failure(), failures.messages[0]);
}

TEST(CollectiveWatchdog, AnErrorIsReportedOnceNamingTheCollective) {
  Failures failures;
  CollectiveWatchdog dog(failures.callback(), 300, 100us);
  std::atomic<int> later_polls{0};
  dog.watch("allreduce", [](std::string*) { return Status::Pending; });
  dog.watch("allgather", [](std::string* error) {
    *error = "unhandled system error";
    return Status::Failed;
  });
  dog.watch("barrier", [&](std::string*) { return ++later_polls, Status::Pending; });
  ASSERT_TRUE(eventually([&] { return failures.count() == 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(failures.count(), 1u);  // once: nothing queued after a failure can complete
  EXPECT_EQ(failures.messages[0], "allgather failed: unhandled system error");
  const int polls_then = later_polls.load();
  dog.watch("allreduce", [&](std::string*) { return ++later_polls, Status::Done; });
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(later_polls.load(), polls_then);  // the watch has ended
}

TEST(CollectiveWatchdog, ItsThreadIsSetUpBeforeTheFirstPoll) {
  Failures failures;
  std::atomic<bool> set_up{false}, polled_after_setup{false};
  std::thread::id setup_thread, poll_thread;
  {
    CollectiveWatchdog dog(failures.callback(), 300, 100us, [&] {
      setup_thread = std::this_thread::get_id();
      set_up = true;
    });
    dog.watch("allreduce", [&](std::string*) {
      poll_thread = std::this_thread::get_id();
      polled_after_setup = set_up.load();
      return Status::Done;
    });
    ASSERT_TRUE(eventually([&] { return dog.pending() == 0; }));
  }
  EXPECT_TRUE(polled_after_setup);
  EXPECT_EQ(setup_thread, poll_thread);
  EXPECT_NE(poll_thread, std::this_thread::get_id());
}

TEST(CollectiveWatchdog, StopsWithCollectivesStillPending) {
  Failures failures;
  auto held = std::make_shared<int>(0);
  {
    CollectiveWatchdog dog(failures.callback(), 300, 1ms);
    dog.watch("allreduce", [held](std::string*) { return Status::Pending; });
    ASSERT_TRUE(eventually([&] { return dog.pending() == 1; }));
  }
  EXPECT_EQ(held.use_count(), 1);
  EXPECT_EQ(failures.count(), 0u);
}

TEST(CollectiveWatchdog, ManyThreadsWatchAtOnce) {
  Failures failures;
  CollectiveWatchdog dog(failures.callback(), 300, 50us);
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i)
        dog.watch("allreduce", [&](std::string*) { return ++done, Status::Done; });
    });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(eventually([&] { return dog.pending() == 0; }));
  EXPECT_EQ(done.load(), 800);
  EXPECT_EQ(failures.count(), 0u);
}
