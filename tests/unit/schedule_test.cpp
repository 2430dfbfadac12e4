#include "actors/schedule.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/wall_time.hpp"

using namespace slimfaas::actors;
using namespace std::chrono_literals;
using slimfaas::test::epoch;
using slimfaas::test::TimePoint;
using slimfaas::test::utc;

namespace {

const char* kContractExample =
    R"({"TimeZoneID":"Europe/Paris","Default":{"WakeUp":["07:00"],"ScaleDownTimeout":[{"Time":"07:00","Value":20},{"Time":"21:00","Value":10}]}})";

Schedule parse_ok(const std::string& json) {
  std::vector<std::string> problems;
  Schedule s = parse_schedule(json, problems);
  INFO("problems: " << (problems.empty() ? std::string() : problems.front()));
  REQUIRE(problems.empty());
  return s;
}

Schedule paris_contract() { return parse_ok(kContractExample); }

Schedule timeouts_in(const std::string& zone) {
  return parse_ok(R"({"TimeZoneID":")" + zone +
                  R"(","Default":{"ScaleDownTimeout":[{"Time":"07:00","Value":20},{"Time":"21:00","Value":10}]}})");
}

Schedule wake_ups_in(const std::string& zone, const std::string& times) {
  return parse_ok(R"({"TimeZoneID":")" + zone + R"(","Default":{"WakeUp":[)" + times + "]}}");
}

bool mentions(const std::vector<std::string>& problems, const std::string& text) {
  for (const auto& p : problems) {
    if (p.find("SlimFaas/Schedule") != std::string::npos && p.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------- parsing

TEST_CASE("parse_schedule: the contract's example", "[schedule]") {
  REQUIRE(is_known_time_zone("Europe/Paris"));  // the OS tz database is there
  Schedule s = paris_contract();
  CHECK(s.time_zone_id == "Europe/Paris");
  REQUIRE(s.wake_up.size() == 1);
  CHECK(s.wake_up[0] == 7h);
  REQUIRE(s.scale_down_timeout.size() == 2);
  CHECK(s.scale_down_timeout[0].time == 7h);
  CHECK(s.scale_down_timeout[0].value_seconds == 20);
  CHECK(s.scale_down_timeout[1].time == 21h);
  CHECK(s.scale_down_timeout[1].value_seconds == 10);
}

TEST_CASE("parse_schedule: TimeZoneID defaults to UTC and times are sorted (H:MM accepted)", "[schedule]") {
  Schedule s = parse_ok(
      R"({"Default":{"WakeUp":["13:30","8:05","13:30"],"ScaleDownTimeout":[{"Time":"21:00","Value":10},{"Time":"07:00","Value":0}]}})");
  CHECK(s.time_zone_id == "UTC");
  REQUIRE(s.wake_up.size() == 2);
  CHECK(s.wake_up[0] == 8h + 5min);
  CHECK(s.wake_up[1] == 13h + 30min);
  REQUIRE(s.scale_down_timeout.size() == 2);
  CHECK(s.scale_down_timeout[0].time == 7h);
  CHECK(s.scale_down_timeout[0].value_seconds == 0);
  CHECK(s.scale_down_timeout[1].time == 21h);
}

TEST_CASE("parse_schedule: keys are read case-insensitively like SlimFaas does", "[schedule]") {
  Schedule s = parse_ok(R"({"timeZoneId":"America/New_York","default":{"wakeUp":["07:00"],"scaleDownTimeout":[{"time":"07:00","value":5}]}})");
  CHECK(s.time_zone_id == "America/New_York");
  CHECK(s.wake_up.size() == 1);
  REQUIRE(s.scale_down_timeout.size() == 1);
  CHECK(s.scale_down_timeout[0].value_seconds == 5);
}

TEST_CASE("parse_schedule: the later entry for the same time wins", "[schedule]") {
  Schedule s = parse_ok(R"({"Default":{"ScaleDownTimeout":[{"Time":"07:00","Value":20},{"Time":"07:00","Value":30}]}})");
  REQUIRE(s.scale_down_timeout.size() == 1);
  CHECK(s.scale_down_timeout[0].value_seconds == 30);
}

TEST_CASE("parse_schedule: an unknown zone is a problem and UTC is used", "[schedule]") {
  std::vector<std::string> problems;
  Schedule s = parse_schedule(R"({"TimeZoneID":"Mars/Olympus","Default":{"WakeUp":["07:00"]}})", problems);
  CHECK(s.time_zone_id == "UTC");
  CHECK(s.wake_up.size() == 1);  // the rest is kept
  REQUIRE(problems.size() == 1);
  CHECK(mentions(problems, "'Mars/Olympus'"));
  CHECK(mentions(problems, "UTC"));
  // And it then behaves as UTC.
  CHECK(epoch(next_wake_up(s, utc(2025, 1, 15, 6, 0))) == epoch(utc(2025, 1, 15, 7, 0)));

  problems.clear();
  parse_schedule(R"({"TimeZoneID":42,"Default":{}})", problems);
  CHECK(problems.size() == 1);
}

TEST_CASE("parse_schedule: bad HH:MM times are problems and are dropped", "[schedule]") {
  for (const std::string bad : {R"("25:00")", R"("07:60")", R"("7h")", R"("")", R"("07:5")", R"("107:00")", "700",
                                R"("-1:00")", R"("07:00:00")", "null"}) {
    INFO("WakeUp " << bad);
    std::vector<std::string> problems;
    Schedule s = parse_schedule(R"({"Default":{"WakeUp":[)" + bad + R"(,"09:15"]}})", problems);
    REQUIRE(s.wake_up.size() == 1);
    CHECK(s.wake_up[0] == 9h + 15min);
    REQUIRE(problems.size() == 1);
    CHECK(mentions(problems, "WakeUp"));
  }
  std::vector<std::string> problems;
  Schedule s = parse_schedule(
      R"({"Default":{"ScaleDownTimeout":[{"Time":"24:00","Value":5},{"Value":5},{"Time":"08:00","Value":7}]}})", problems);
  REQUIRE(s.scale_down_timeout.size() == 1);
  CHECK(s.scale_down_timeout[0].time == 8h);
  CHECK(problems.size() == 2);
  CHECK(mentions(problems, "ScaleDownTimeout[0]"));
  CHECK(mentions(problems, "ScaleDownTimeout[1]"));
}

TEST_CASE("parse_schedule: negative or non-integer Values are problems and are dropped", "[schedule]") {
  std::vector<std::string> problems;
  Schedule s = parse_schedule(
      R"({"Default":{"ScaleDownTimeout":[{"Time":"07:00","Value":-5},{"Time":"08:00","Value":"20"},{"Time":"09:00","Value":1.5},{"Time":"10:00","Value":99999999999},{"Time":"11:00"},{"Time":"12:00","Value":60}]}})",
      problems);
  REQUIRE(s.scale_down_timeout.size() == 1);
  CHECK(s.scale_down_timeout[0].time == 12h);
  CHECK(s.scale_down_timeout[0].value_seconds == 60);
  CHECK(problems.size() == 5);
  CHECK(mentions(problems, "-5"));
  CHECK(mentions(problems, ">= 0"));
}

TEST_CASE("parse_schedule: not an object or a malformed section", "[schedule]") {
  for (const std::string raw : {"not json", "[1,2]", "\"x\"", "{"}) {
    INFO(raw);
    std::vector<std::string> problems;
    Schedule s = parse_schedule(raw, problems);
    CHECK(s.wake_up.empty());
    CHECK(s.scale_down_timeout.empty());
    CHECK(problems.size() == 1);
  }
  std::vector<std::string> problems;
  parse_schedule(R"({"TimeZoneID":"Europe/Paris"})", problems);
  CHECK(mentions(problems, "Default"));
  problems.clear();
  parse_schedule(R"({"Default":{"WakeUp":"07:00","ScaleDownTimeout":{"Time":"07:00"}}})", problems);
  CHECK(problems.size() == 2);
}

// ---------------------------------------------------------------- scale_down_timeout

TEST_CASE("scale_down_timeout: the contract's example in Europe/Paris in winter (UTC+1)", "[schedule]") {
  Schedule s = paris_contract();
  // 2025-01-15, Paris = UTC+1.
  CHECK(scale_down_timeout(s, utc(2025, 1, 14, 23, 30)) == 10);     // 00:30 on the 15th: yesterday's 21:00
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 5, 59, 59)) == 10);  // 06:59:59: yesterday's 21:00
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 6, 0)) == 20);       // 07:00 exactly: in force
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 6, 30)) == 20);      // 07:30 (06:30 UTC: not a UTC reading)
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 11, 0)) == 20);      // noon
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 19, 59, 59)) == 20); // 20:59:59
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 20, 0)) == 10);      // 21:00
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 22, 59, 59)) == 10); // 23:59:59
}

TEST_CASE("scale_down_timeout: Europe/Paris in summer (UTC+2)", "[schedule]") {
  Schedule s = paris_contract();
  CHECK(scale_down_timeout(s, utc(2025, 7, 1, 4, 59)) == 10);  // 06:59
  CHECK(scale_down_timeout(s, utc(2025, 7, 1, 5, 0)) == 20);   // 07:00
  CHECK(scale_down_timeout(s, utc(2025, 7, 1, 18, 59)) == 20); // 20:59
  CHECK(scale_down_timeout(s, utc(2025, 7, 1, 19, 0)) == 10);  // 21:00
  CHECK(scale_down_timeout(s, utc(2025, 6, 30, 22, 30)) == 10); // 00:30 on July 1st
}

TEST_CASE("scale_down_timeout: across the DST changes in Europe/Paris", "[schedule]") {
  Schedule s = paris_contract();
  // Spring forward, Sunday 2025-03-30 at 02:00 CET -> 03:00 CEST (01:00 UTC):
  // 07:00 that day is 05:00 UTC, the day before it was 06:00 UTC.
  CHECK(scale_down_timeout(s, utc(2025, 3, 29, 5, 30)) == 10);  // Saturday 06:30 CET
  CHECK(scale_down_timeout(s, utc(2025, 3, 29, 6, 0)) == 20);   // Saturday 07:00 CET
  CHECK(scale_down_timeout(s, utc(2025, 3, 29, 23, 30)) == 10); // Sunday 00:30 CET: Saturday's 21:00
  CHECK(scale_down_timeout(s, utc(2025, 3, 30, 4, 59, 59)) == 10);
  CHECK(scale_down_timeout(s, utc(2025, 3, 30, 5, 0)) == 20);   // Sunday 07:00 CEST
  CHECK(scale_down_timeout(s, utc(2025, 3, 30, 18, 59)) == 20);
  CHECK(scale_down_timeout(s, utc(2025, 3, 30, 19, 0)) == 10);  // Sunday 21:00 CEST
  // Fall back, Sunday 2025-10-26 at 03:00 CEST -> 02:00 CET (01:00 UTC):
  // 07:00 that day is 06:00 UTC, the day before it was 05:00 UTC.
  CHECK(scale_down_timeout(s, utc(2025, 10, 25, 5, 0)) == 20);  // Saturday 07:00 CEST
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 5, 30)) == 10); // Sunday 06:30 CET
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 6, 0)) == 20);  // Sunday 07:00 CET
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 19, 59)) == 20);
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 20, 0)) == 10); // Sunday 21:00 CET
}

TEST_CASE("scale_down_timeout: entries inside the DST gap and overlap", "[schedule]") {
  Schedule s = parse_ok(
      R"({"TimeZoneID":"Europe/Paris","Default":{"ScaleDownTimeout":[{"Time":"02:30","Value":5},{"Time":"12:00","Value":50}]}})");
  // 02:30 does not exist on 2025-03-30: it takes effect when the gap ends,
  // 03:00 CEST = 01:00 UTC.
  CHECK(scale_down_timeout(s, utc(2025, 3, 30, 0, 59, 59)) == 50);
  CHECK(scale_down_timeout(s, utc(2025, 3, 30, 1, 0)) == 5);
  // 02:30 happens twice on 2025-10-26: the first time (CEST, 00:30 UTC) counts.
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 0, 29, 59)) == 50);
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 0, 30)) == 5);
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 1, 45)) == 5);
  CHECK(scale_down_timeout(s, utc(2025, 10, 26, 11, 0)) == 50);  // 12:00 CET
}

TEST_CASE("scale_down_timeout: America/New_York", "[schedule]") {
  Schedule s = timeouts_in("America/New_York");
  // Winter, UTC-5: 07:00 = 12:00 UTC, 21:00 = 02:00 UTC the next UTC day.
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 11, 59)) == 10);
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 12, 0)) == 20);
  CHECK(scale_down_timeout(s, utc(2025, 1, 16, 1, 59)) == 20);  // 20:59 on the 15th locally
  CHECK(scale_down_timeout(s, utc(2025, 1, 16, 2, 0)) == 10);
  // Summer, UTC-4.
  CHECK(scale_down_timeout(s, utc(2025, 7, 1, 10, 59)) == 10);
  CHECK(scale_down_timeout(s, utc(2025, 7, 1, 11, 0)) == 20);
  // Spring forward on 2025-03-09 (07:00 UTC): 07:00 EDT = 11:00 UTC.
  CHECK(scale_down_timeout(s, utc(2025, 3, 9, 10, 59)) == 10);
  CHECK(scale_down_timeout(s, utc(2025, 3, 9, 11, 0)) == 20);
}

TEST_CASE("scale_down_timeout: Asia/Tokyo whose local day starts before UTC's", "[schedule]") {
  Schedule s = timeouts_in("Asia/Tokyo");  // UTC+9, no DST
  CHECK(scale_down_timeout(s, utc(2025, 1, 14, 21, 59)) == 10);  // 06:59 on the 15th
  CHECK(scale_down_timeout(s, utc(2025, 1, 14, 22, 30)) == 20);  // 07:30 on the 15th
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 11, 59)) == 20);  // 20:59
  CHECK(scale_down_timeout(s, utc(2025, 1, 15, 12, 0)) == 10);   // 21:00
}

TEST_CASE("scale_down_timeout: UTC or one entry or no entry", "[schedule]") {
  Schedule utc_schedule = parse_ok(R"({"Default":{"ScaleDownTimeout":[{"Time":"07:00","Value":20},{"Time":"21:00","Value":10}]}})");
  CHECK(scale_down_timeout(utc_schedule, utc(2025, 1, 15, 6, 59)) == 10);
  CHECK(scale_down_timeout(utc_schedule, utc(2025, 1, 15, 7, 0)) == 20);
  CHECK(scale_down_timeout(utc_schedule, utc(2025, 1, 15, 21, 0)) == 10);

  Schedule one = parse_ok(R"({"Default":{"ScaleDownTimeout":[{"Time":"12:00","Value":42}]}})");
  CHECK(scale_down_timeout(one, utc(2025, 1, 15, 11, 0)) == 42);  // yesterday's 12:00
  CHECK(scale_down_timeout(one, utc(2025, 1, 15, 13, 0)) == 42);

  Schedule none = parse_ok(R"({"Default":{"WakeUp":["07:00"]}})");
  CHECK(scale_down_timeout(none, utc(2025, 1, 15, 13, 0)) == std::nullopt);
}

TEST_CASE("scale_down_timeout_changes: the instants where the value in force changes", "[schedule]") {
  Schedule s = paris_contract();
  auto changes = scale_down_timeout_changes(s, utc(2025, 1, 15, 6, 0), 1);  // from 07:00 exactly, excluded
  REQUIRE(changes.size() == 3);
  CHECK(epoch(changes[0].at) == epoch(utc(2025, 1, 15, 20, 0)));
  CHECK(changes[0].value_seconds == 10);
  CHECK(epoch(changes[1].at) == epoch(utc(2025, 1, 16, 6, 0)));
  CHECK(changes[1].value_seconds == 20);
  CHECK(epoch(changes[2].at) == epoch(utc(2025, 1, 16, 20, 0)));

  // New York at 20:00 on the 15th is already the 16th in UTC: the 21:00
  // change of the local 15th comes first.
  auto ny = scale_down_timeout_changes(timeouts_in("America/New_York"), utc(2025, 1, 16, 1, 0), 0);
  REQUIRE_FALSE(ny.empty());
  CHECK(epoch(ny[0].at) == epoch(utc(2025, 1, 16, 2, 0)));
  CHECK(ny[0].value_seconds == 10);
}

// ---------------------------------------------------------------- wake-ups

TEST_CASE("next_wake_up: later today or tomorrow across midnight", "[schedule]") {
  Schedule s = paris_contract();  // WakeUp 07:00 Paris
  CHECK(epoch(next_wake_up(s, utc(2025, 1, 15, 5, 0))) == epoch(utc(2025, 1, 15, 6, 0)));
  // Strictly after: at 07:00 itself, the next one is tomorrow's.
  CHECK(epoch(next_wake_up(s, utc(2025, 1, 15, 6, 0))) == epoch(utc(2025, 1, 16, 6, 0)));
  CHECK(epoch(next_wake_up(s, utc(2025, 1, 15, 22, 0))) == epoch(utc(2025, 1, 16, 6, 0)));
  CHECK(epoch(next_wake_up(s, utc(2025, 12, 31, 23, 30))) == epoch(utc(2026, 1, 1, 6, 0)));

  // 00:30 Paris is still the previous day in UTC.
  Schedule night = wake_ups_in("Europe/Paris", R"("00:30","13:30")");
  CHECK(epoch(next_wake_up(night, utc(2025, 1, 15, 22, 0))) == epoch(utc(2025, 1, 15, 23, 30)));
  CHECK(epoch(next_wake_up(night, utc(2025, 1, 15, 23, 30))) == epoch(utc(2025, 1, 16, 12, 30)));
}

TEST_CASE("next_wake_up: across the DST changes", "[schedule]") {
  Schedule s = paris_contract();
  // Saturday 08:00 CET -> Sunday 07:00 CEST (23 hours later).
  CHECK(epoch(next_wake_up(s, utc(2025, 3, 29, 7, 0))) == epoch(utc(2025, 3, 30, 5, 0)));
  // Saturday 07:00 CEST -> Sunday 07:00 CET (25 hours later).
  CHECK(epoch(next_wake_up(s, utc(2025, 10, 25, 5, 0))) == epoch(utc(2025, 10, 26, 6, 0)));

  // 02:30 does not exist on 2025-03-30: the end of the gap, 03:00 CEST.
  Schedule gap = wake_ups_in("Europe/Paris", R"("02:30")");
  CHECK(epoch(next_wake_up(gap, utc(2025, 3, 29, 12, 0))) == epoch(utc(2025, 3, 30, 1, 0)));
  CHECK(epoch(next_wake_up(gap, utc(2025, 3, 30, 1, 0))) == epoch(utc(2025, 3, 31, 0, 30)));
  // 02:30 happens twice on 2025-10-26: only the first (CEST) one fires.
  CHECK(epoch(next_wake_up(gap, utc(2025, 10, 25, 12, 0))) == epoch(utc(2025, 10, 26, 0, 30)));
  CHECK(epoch(next_wake_up(gap, utc(2025, 10, 26, 0, 30))) == epoch(utc(2025, 10, 27, 1, 30)));

  Schedule ny = wake_ups_in("America/New_York", R"("07:00")");
  CHECK(epoch(next_wake_up(ny, utc(2025, 3, 8, 13, 0))) == epoch(utc(2025, 3, 9, 11, 0)));   // EST -> EDT
  CHECK(epoch(next_wake_up(ny, utc(2025, 11, 1, 12, 0))) == epoch(utc(2025, 11, 2, 12, 0)));  // EDT -> EST
}

TEST_CASE("next_wake_up and last_wake_up: several times or none", "[schedule]") {
  Schedule s = wake_ups_in("UTC", R"("13:30","08:00")");
  CHECK(epoch(next_wake_up(s, utc(2025, 1, 15, 9, 0))) == epoch(utc(2025, 1, 15, 13, 30)));
  CHECK(epoch(last_wake_up(s, utc(2025, 1, 15, 9, 0))) == epoch(utc(2025, 1, 15, 8, 0)));
  CHECK(epoch(last_wake_up(s, utc(2025, 1, 15, 8, 0))) == epoch(utc(2025, 1, 15, 8, 0)));  // at or before
  CHECK(epoch(last_wake_up(s, utc(2025, 1, 15, 7, 0))) == epoch(utc(2025, 1, 14, 13, 30)));

  Schedule none = timeouts_in("Europe/Paris");
  CHECK(next_wake_up(none, utc(2025, 1, 15, 9, 0)) == std::nullopt);
  CHECK(last_wake_up(none, utc(2025, 1, 15, 9, 0)) == std::nullopt);
}

TEST_CASE("format helpers", "[schedule]") {
  CHECK(format_time_of_day(7h) == "07:00");
  CHECK(format_time_of_day(23h + 5min) == "23:05");
  CHECK(format_local_time(paris_contract(), utc(2025, 1, 15, 6, 0)) == "07:00");
  CHECK(format_local_time(paris_contract(), utc(2025, 7, 15, 6, 0)) == "08:00");
}
