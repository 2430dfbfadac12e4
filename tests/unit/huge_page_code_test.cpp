// Moving code onto huge pages replaces the code a running thread executes:
// it must refuse while other threads exist (they could run code that is
// being swapped), whatever else the machine allows.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "app/huge_page_code.hpp"

TEST_CASE("code is not moved while the process runs other threads", "[app][huge_pages]") {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  std::thread other([&] {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return done; });
  });
  const auto result = slimfaas::app::move_code_to_huge_pages();
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  cv.notify_one();
  other.join();
  INFO("skipped: " << result.skipped);
  CHECK(result.moved_bytes == 0);
  CHECK(result.huge_page_bytes == 0);
  const bool thp_off = result.skipped.find("transparent huge pages are off") != std::string::npos;
  CHECK((thp_off || result.skipped.find("already runs 2 threads") != std::string::npos));
}
