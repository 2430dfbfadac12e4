#pragma once
// SlimFaas/Schedule: time-of-day wake-ups and scale-down timeouts in an IANA
// time zone (contract §6). Pure functions: the current time is always passed
// in, nothing here reads a clock, sleeps or keeps state.
//
//   {"TimeZoneID":"Europe/Paris",
//    "Default":{"WakeUp":["07:00"],
//               "ScaleDownTimeout":[{"Time":"07:00","Value":20},{"Time":"21:00","Value":10}]}}
//
// Wall times are resolved in the schedule's zone on each local day, so DST is
// handled per day:
// - a wall time that does not exist (spring forward, e.g. 02:30 in Paris on
//   the last Sunday of March) resolves to the instant the gap ends (03:00
//   local summer time): the first instant at which the local clock has gone
//   past it. SlimFaas (NodaTime's InZoneLeniently) shifts it by the gap's
//   length instead (03:30); we prefer "the first instant it has passed",
//   which is also what std::chrono::choose gives for nonexistent times.
// - an ambiguous wall time (fall back, e.g. 02:30 in Paris on the last
//   Sunday of October happens twice) resolves to its first occurrence (the
//   summer-time one), as SlimFaas does; it does not fire twice.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace slimfaas::actors {

// Schedules work on wall-clock instants (not the steady clock).
using WallClock = std::chrono::system_clock;

struct ScaleDownTimeoutEntry {
  std::chrono::minutes time{0};  // local time of day, [00:00, 23:59]
  int value_seconds = 0;         // >= 0
};

struct Schedule {
  // IANA zone name. A name that is not in the OS time zone database (see
  // parse_schedule, which reports it) is treated as UTC by the functions
  // below.
  std::string time_zone_id = "UTC";
  std::vector<std::chrono::minutes> wake_up;             // sorted, no duplicates
  std::vector<ScaleDownTimeoutEntry> scale_down_timeout;  // sorted by time, one entry per time
};

// Parses the SlimFaas/Schedule JSON. Never fails: every bad part is dropped,
// leaves one line in `problems` ("SlimFaas/Schedule: ...") and the rest is
// kept. A missing TimeZoneID means UTC; an unknown one is reported and UTC is
// used. Times are "H:MM" or "HH:MM" (00:00..23:59); Values are integers >= 0.
// When ScaleDownTimeout lists the same time twice, the later entry wins.
Schedule parse_schedule(std::string_view json, std::vector<std::string>& problems);

// True when `id` names a zone of the OS time zone database (/usr/share/zoneinfo).
bool is_known_time_zone(const std::string& id);

// The ScaleDownTimeout value in force at `now`: that of the latest entry whose
// local time of day has been reached today (an entry reached exactly at `now`
// is in force), else yesterday's last entry. nullopt when there are no entries.
std::optional<int> scale_down_timeout(const Schedule& schedule, WallClock::time_point now);

// The first WakeUp instant strictly after `after`; nullopt without WakeUp times.
std::optional<WallClock::time_point> next_wake_up(const Schedule& schedule, WallClock::time_point after);

// The latest WakeUp instant at or before `at`; nullopt without WakeUp times.
std::optional<WallClock::time_point> last_wake_up(const Schedule& schedule, WallClock::time_point at);

// The instants strictly after `after` at which the ScaleDownTimeout in force
// changes entry, with the value taking effect there, in order, up to the end
// of the local day `days` days after that of `after`. Empty without entries.
struct TimeoutChange {
  WallClock::time_point at;
  int value_seconds = 0;
};
std::vector<TimeoutChange> scale_down_timeout_changes(const Schedule& schedule, WallClock::time_point after,
                                                      int days);

// "07:00" for 7h.
std::string format_time_of_day(std::chrono::minutes time_of_day);

// The local wall time of `at` in the schedule's zone, "HH:MM".
std::string format_local_time(const Schedule& schedule, WallClock::time_point at);

}  // namespace slimfaas::actors
