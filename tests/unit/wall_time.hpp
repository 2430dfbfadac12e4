#pragma once
// Instants for schedule and scaling tests, written as UTC calendar times.
#include <chrono>
#include <optional>

#include "actors/schedule.hpp"

namespace slimfaas::test {

using TimePoint = actors::WallClock::time_point;

// An instant given as a UTC calendar date and time.
inline TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
  std::chrono::sys_days day{std::chrono::year{y} / std::chrono::month{mo} / std::chrono::day{d}};
  return TimePoint(day) + std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(s);
}

// Seconds since the epoch, so failures print readable numbers.
inline std::optional<long long> epoch(std::optional<TimePoint> t) {
  if (!t) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
}
inline long long epoch(TimePoint t) { return *epoch(std::optional<TimePoint>(t)); }

}  // namespace slimfaas::test
