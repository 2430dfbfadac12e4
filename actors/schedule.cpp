#include "actors/schedule.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>

// Howard Hinnant's date/tz (Debian libhowardhinnant-date-dev, CMake target
// date::date-tz): GCC 12's libstdc++ has the C++20 calendar types but not
// std::chrono::tzdb. Debian builds libdate-tz with USE_OS_TZDB=1 (the target
// exports that definition), so zones are read from the OS database in
// /usr/share/zoneinfo (Debian package tzdata, a dependency of libdate-tz3):
// no download at run time and zone updates come with the OS. Only this file
// includes it; the headers stay free of date/tz.
#include <date/tz.h>

namespace slimfaas::actors {
namespace {

using nlohmann::json;
using std::chrono::minutes;
using TimePoint = WallClock::time_point;

constexpr const char* kAnnotation = "SlimFaas/Schedule: ";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The member `key` of a JSON object, exact name first, then ignoring case
// (SlimFaas reads its JSON case-insensitively).
const json* member(const json& object, std::string_view key) {
  if (auto it = object.find(std::string(key)); it != object.end()) return &*it;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (iequals(it.key(), key)) return &it.value();
  }
  return nullptr;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// "H:MM" or "HH:MM", 00:00..23:59.
std::optional<minutes> parse_time_of_day(std::string_view raw) {
  std::string text = trim(raw);
  auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 2 || text.size() != colon + 3) return std::nullopt;
  auto all_digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::string_view hours(text.data(), colon);
  std::string_view mins(text.data() + colon + 1, 2);
  if (!all_digits(hours) || !all_digits(mins)) return std::nullopt;
  int h = 0;
  for (char c : hours) h = h * 10 + (c - '0');
  int m = (mins[0] - '0') * 10 + (mins[1] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return minutes(h * 60 + m);
}

std::optional<int> non_negative_int(const json& value) {
  if (value.is_number_unsigned()) {
    auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return std::nullopt;
    return static_cast<int>(v);
  }
  if (value.is_number_integer()) {
    auto v = value.get<std::int64_t>();
    if (v < 0 || v > std::numeric_limits<int>::max()) return std::nullopt;
    return static_cast<int>(v);
  }
  return std::nullopt;
}

// nullptr means UTC: no zone given, or one the database does not know. UTC
// needs no database at all, so a machine without tzdata still works in UTC.
const date::time_zone* find_zone(const std::string& id) noexcept {
  if (id.empty() || id == "UTC") return nullptr;
  try {
    return date::locate_zone(id);
  } catch (const std::exception&) {
    return nullptr;
  }
}

date::local_days local_day(const date::time_zone* zone, TimePoint t) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(t);
  date::local_seconds local = zone ? zone->to_local(seconds) : date::local_seconds(seconds.time_since_epoch());
  return std::chrono::floor<date::days>(local);
}

// The instant of local wall time `day` + `time_of_day` in `zone`. A wall time
// inside a spring-forward gap maps to the end of the gap; an ambiguous one
// (fall back) to its first occurrence. See schedule.hpp.
TimePoint resolve(const date::time_zone* zone, date::local_days day, minutes time_of_day) {
  date::local_seconds local = day + time_of_day;
  if (!zone) return date::sys_seconds(local.time_since_epoch());
  date::local_info info = zone->get_info(local);
  switch (info.result) {
    case date::local_info::nonexistent:
      return info.first.end;  // == info.second.begin, the transition instant
    case date::local_info::ambiguous:  // info.first is the earlier offset period
    case date::local_info::unique:
    default:
      return date::sys_seconds(local.time_since_epoch() - info.first.offset);
  }
}

}  // namespace

bool is_known_time_zone(const std::string& id) {
  if (id.empty()) return false;
  try {
    date::locate_zone(id);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

Schedule parse_schedule(std::string_view text, std::vector<std::string>& problems) {
  Schedule schedule;
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    problems.push_back(std::string(kAnnotation) + "not a JSON object; no schedule");
    return schedule;
  }

  if (const json* zone = member(doc, "TimeZoneID"); zone && !zone->is_null()) {
    if (!zone->is_string()) {
      problems.push_back(std::string(kAnnotation) + "TimeZoneID " + zone->dump() + " is not a string; using UTC");
    } else {
      std::string id = trim(zone->get<std::string>());
      if (id == "UTC" || is_known_time_zone(id)) {
        schedule.time_zone_id = id;
      } else {
        problems.push_back(std::string(kAnnotation) + "TimeZoneID '" + id +
                           "' is not a known IANA time zone; using UTC");
      }
    }
  }

  const json* section = member(doc, "Default");
  if (!section || section->is_null()) {
    problems.push_back(std::string(kAnnotation) + "no Default section; no wake-up and no scale-down timeout");
    return schedule;
  }
  if (!section->is_object()) {
    problems.push_back(std::string(kAnnotation) + "Default is not an object; no wake-up and no scale-down timeout");
    return schedule;
  }

  if (const json* wake = member(*section, "WakeUp"); wake && !wake->is_null()) {
    if (!wake->is_array()) {
      problems.push_back(std::string(kAnnotation) + "Default.WakeUp is not an array of \"HH:MM\"; ignored");
    } else {
      for (const auto& item : *wake) {
        std::optional<minutes> time = item.is_string() ? parse_time_of_day(item.get<std::string>()) : std::nullopt;
        if (!time) {
          problems.push_back(std::string(kAnnotation) + "Default.WakeUp " + item.dump() +
                             " is not a HH:MM time of day; ignored");
          continue;
        }
        schedule.wake_up.push_back(*time);
      }
      std::sort(schedule.wake_up.begin(), schedule.wake_up.end());
      schedule.wake_up.erase(std::unique(schedule.wake_up.begin(), schedule.wake_up.end()), schedule.wake_up.end());
    }
  }

  if (const json* timeouts = member(*section, "ScaleDownTimeout"); timeouts && !timeouts->is_null()) {
    if (!timeouts->is_array()) {
      problems.push_back(std::string(kAnnotation) +
                         "Default.ScaleDownTimeout is not an array of {\"Time\",\"Value\"}; ignored");
    } else {
      std::size_t index = 0;
      for (const auto& item : *timeouts) {
        std::string where = std::string(kAnnotation) + "Default.ScaleDownTimeout[" + std::to_string(index++) + "] ";
        if (!item.is_object()) {
          problems.push_back(where + item.dump() + " is not an object; ignored");
          continue;
        }
        const json* time_value = member(item, "Time");
        const json* value = member(item, "Value");
        std::optional<minutes> time =
            time_value && time_value->is_string() ? parse_time_of_day(time_value->get<std::string>()) : std::nullopt;
        if (!time) {
          problems.push_back(where + "Time " + (time_value ? time_value->dump() : std::string("(missing)")) +
                             " is not a HH:MM time of day; ignored");
          continue;
        }
        std::optional<int> seconds = value ? non_negative_int(*value) : std::nullopt;
        if (!seconds) {
          problems.push_back(where + "Value " + (value ? value->dump() : std::string("(missing)")) +
                             " is not an integer >= 0; ignored");
          continue;
        }
        // The later entry for the same time wins.
        auto same = std::find_if(schedule.scale_down_timeout.begin(), schedule.scale_down_timeout.end(),
                                 [&](const ScaleDownTimeoutEntry& e) { return e.time == *time; });
        if (same != schedule.scale_down_timeout.end()) same->value_seconds = *seconds;
        else schedule.scale_down_timeout.push_back(ScaleDownTimeoutEntry{*time, *seconds});
      }
      std::sort(schedule.scale_down_timeout.begin(), schedule.scale_down_timeout.end(),
                [](const ScaleDownTimeoutEntry& a, const ScaleDownTimeoutEntry& b) { return a.time < b.time; });
    }
  }
  return schedule;
}

std::optional<int> scale_down_timeout(const Schedule& schedule, TimePoint now) {
  if (schedule.scale_down_timeout.empty()) return std::nullopt;
  const date::time_zone* zone = find_zone(schedule.time_zone_id);
  date::local_days today = local_day(zone, now);
  std::optional<int> value;
  std::optional<TimePoint> latest;
  // Yesterday's entries all lie before today's, so the latest entry reached
  // over both days is today's latest reached, else yesterday's last one.
  for (date::local_days day : {today - date::days(1), today}) {
    for (const auto& entry : schedule.scale_down_timeout) {
      TimePoint at = resolve(zone, day, entry.time);
      // `>=`: when two times resolve to the same instant (both inside a
      // spring-forward gap), the later time of day wins.
      if (at <= now && (!latest || at >= *latest)) {
        latest = at;
        value = entry.value_seconds;
      }
    }
  }
  if (!value) value = schedule.scale_down_timeout.back().value_seconds;  // unreachable in practice
  return value;
}

std::optional<TimePoint> next_wake_up(const Schedule& schedule, TimePoint after) {
  if (schedule.wake_up.empty()) return std::nullopt;
  const date::time_zone* zone = find_zone(schedule.time_zone_id);
  date::local_days first = local_day(zone, after) - date::days(1);
  std::optional<TimePoint> best;
  // Three local days after yesterday always hold one more occurrence, even
  // when a zone skips a whole local day.
  for (int d = 0; d <= 3; ++d) {
    for (minutes time : schedule.wake_up) {
      TimePoint at = resolve(zone, first + date::days(d), time);
      if (at > after && (!best || at < *best)) best = at;
    }
    if (best) break;
  }
  return best;
}

std::optional<TimePoint> last_wake_up(const Schedule& schedule, TimePoint at_or_before) {
  if (schedule.wake_up.empty()) return std::nullopt;
  const date::time_zone* zone = find_zone(schedule.time_zone_id);
  date::local_days today = local_day(zone, at_or_before);
  std::optional<TimePoint> best;
  for (date::local_days day : {today - date::days(2), today - date::days(1), today}) {
    for (minutes time : schedule.wake_up) {
      TimePoint at = resolve(zone, day, time);
      if (at <= at_or_before && (!best || at > *best)) best = at;
    }
  }
  return best;
}

std::vector<TimeoutChange> scale_down_timeout_changes(const Schedule& schedule, TimePoint after, int days) {
  std::vector<TimeoutChange> changes;
  if (schedule.scale_down_timeout.empty()) return changes;
  const date::time_zone* zone = find_zone(schedule.time_zone_id);
  date::local_days today = local_day(zone, after);
  for (int d = -1; d <= days; ++d) {  // from yesterday: cheap insurance, `at <= after` filters
    for (const auto& entry : schedule.scale_down_timeout) {
      TimePoint at = resolve(zone, today + date::days(d), entry.time);
      if (at <= after) continue;
      // Two times resolving to one instant: the later time of day wins.
      if (!changes.empty() && changes.back().at == at) changes.back().value_seconds = entry.value_seconds;
      else changes.push_back(TimeoutChange{at, entry.value_seconds});
    }
  }
  return changes;
}

std::string format_time_of_day(minutes time_of_day) {
  auto total = time_of_day.count();
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%02d:%02d", static_cast<int>(total / 60), static_cast<int>(total % 60));
  return buffer;
}

std::string format_local_time(const Schedule& schedule, TimePoint at) {
  const date::time_zone* zone = find_zone(schedule.time_zone_id);
  auto seconds = std::chrono::floor<std::chrono::seconds>(at);
  date::local_seconds local = zone ? zone->to_local(seconds) : date::local_seconds(seconds.time_since_epoch());
  return format_time_of_day(std::chrono::floor<minutes>(local - std::chrono::floor<date::days>(local)));
}

}  // namespace slimfaas::actors
