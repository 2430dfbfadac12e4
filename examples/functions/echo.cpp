// echo: the test double and benchmark upstream for SlimFaas. Tests drive it
// through the proxy and then read /stats to see what actually reached the
// function (arrival order, concurrency, cancellations, connections), so the
// hot path stays allocation-light and silent.
#include "common/http_function.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace {

using namespace slimfaas::functions;
// Keys come out in the documented order, which keeps responses easy to read.
using json = nlohmann::ordered_json;

constexpr std::size_t kStreamChunk = 16 * 1024;
// /sleep is for tests; an hour is far past any sane test and keeps the timer
// arithmetic nowhere near overflow.
constexpr std::uint64_t kMaxSleepMs = 60 * 60 * 1000;

class Stats {
 public:
  // Requests that began before a reset must not disturb the counters after
  // it (in_flight would go negative), so each carries the epoch it began in.
  struct Ticket {
    std::uint64_t epoch;
  };

  Ticket arrive(const std::optional<std::string>& id, std::uint64_t connection) {
    std::lock_guard lock(mutex_);
    ++requests_;
    connections_.insert(connection);
    ++in_flight_;
    max_in_flight_ = std::max(max_in_flight_, in_flight_);
    if (id) arrivals_.push_back(*id);
    return Ticket{epoch_};
  }

  void complete(Ticket ticket) { finish(ticket, completed_); }
  void cancel(Ticket ticket) { finish(ticket, cancelled_); }

  void reset() {
    std::lock_guard lock(mutex_);
    ++epoch_;
    requests_ = in_flight_ = max_in_flight_ = completed_ = cancelled_ = 0;
    connections_.clear();
    std::vector<std::string>().swap(arrivals_);  // give the memory back too
  }

  std::string to_json() const {
    std::lock_guard lock(mutex_);
    return json{{"requests", requests_},           {"in_flight", in_flight_},
                {"max_in_flight", max_in_flight_}, {"completed", completed_},
                {"cancelled", cancelled_},         {"connections", connections_.size()},
                {"arrivals", arrivals_}}
        .dump();
  }

 private:
  void finish(Ticket ticket, std::uint64_t& counter) {
    std::lock_guard lock(mutex_);
    if (ticket.epoch != epoch_) return;
    --in_flight_;
    ++counter;
  }

  mutable std::mutex mutex_;
  std::uint64_t epoch_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t in_flight_ = 0;
  std::uint64_t max_in_flight_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t cancelled_ = 0;
  std::unordered_set<std::uint64_t> connections_;  // that carried counted requests
  std::vector<std::string> arrivals_;
};

Response not_found() { return json_response(http::status::not_found, R"({"error":"not found"})"); }

Response bad_request(std::string_view detail) {
  return json_response(http::status::bad_request, json{{"error", "bad request"}, {"detail", detail}}.dump());
}

Response echo(Request& request) {
  Response response{http::status::ok, 11};
  const auto content_type = request[http::field::content_type];
  response.set(http::field::content_type, content_type.empty() ? "application/octet-stream" : content_type);
  response.set("X-Echo-Method", request.method_string());
  response.set("X-Echo-Target", request.target());
  char digits[24];
  const auto end = std::to_chars(std::begin(digits), std::end(digits), request.body().size()).ptr;
  response.set("X-Echo-Body-Bytes", std::string_view(digits, static_cast<std::size_t>(end - digits)));
  // Moving keeps a large echo at one copy of the body in memory.
  response.body() = std::move(request.body());
  return response;
}

Response inspect(const Request& request) {
  json headers = json::object();
  for (const auto& field : request) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto& slot = headers[name];
    if (slot.is_null()) {
      slot = std::string(field.value());
    } else {
      slot.get_ref<std::string&>().append(", ").append(field.value());
    }
  }
  return json_response(http::status::ok, json{{"method", request.method_string()},
                                              {"target", request.target()},
                                              {"headers", std::move(headers)},
                                              {"body_bytes", request.body().size()}}
                                             .dump());
}

Response status(std::string_view code_text) {
  const auto code = parse_u64(code_text);
  // 1xx are interim responses and cannot end an exchange.
  if (!code || *code < 200 || *code > 599) return bad_request("status must be an integer in 200..599");
  const auto value = static_cast<unsigned>(*code);
  Response response{http::status::ok, 11};
  response.result(value);
  // HTTP forbids a body on 204 and 304.
  if (value != 204 && value != 304) {
    response.set(http::field::content_type, "application/json");
    response.body() = R"({"status":)" + std::to_string(value) + "}";
  }
  return response;
}

// Deterministic bytes ('a' + i % 26) served straight from one static buffer:
// a piece starting at offset o is pattern[o % 26, o % 26 + len).
std::string_view pattern_piece(std::uint64_t offset, std::size_t length) {
  static const std::string pattern = [] {
    std::string text(kStreamChunk + 26, '\0');
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
    return text;
  }();
  return std::string_view(pattern).substr(offset % 26, length);
}

void stream_pattern(Exchange& exchange, std::string_view count_text, bool chunked) {
  const auto count = parse_u64(count_text);
  if (!count) return exchange.respond(bad_request("byte count must be a non-negative integer"));
  ResponseHeader header{http::status::ok, 11};
  header.set(http::field::content_type, "application/octet-stream");
  if (chunked)
    header.chunked(true);
  else
    header.content_length(*count);
  exchange.respond_streamed(std::move(header), [remaining = *count, offset = std::uint64_t{0}]() mutable {
    const auto length = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kStreamChunk));
    const auto piece = pattern_piece(offset, length);
    offset += length;
    remaining -= length;
    return piece;
  });
}

// /sleep/<ms>: answers after ms; /sleep-until/<unix ms>: at that wall-clock
// time (at once if it is past), so that calls that arrived apart answer
// together.
void sleep_then_reply(Exchange& exchange, Stats& stats, Stats::Ticket ticket, std::string_view ms_text,
                      bool until, std::optional<std::string> id) {
  auto ms = parse_u64(ms_text);
  if (ms && until) {
    const auto now = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count());
    ms = *ms > now ? *ms - now : 0;
  }
  if (!ms || *ms > kMaxSleepMs) {
    stats.complete(ticket);
    return exchange.respond(bad_request(until ? "sleep-until must be a time in unix milliseconds at most an hour ahead"
                                              : "sleep must be an integer number of milliseconds up to 3600000"));
  }
  exchange.wait_then(std::chrono::milliseconds(*ms),
                     [&stats, ticket, ms = *ms, id = std::move(id).value_or("")](Exchange done, Exchange::WaitOutcome outcome) {
                       if (outcome == Exchange::WaitOutcome::client_closed) return stats.cancel(ticket);
                       stats.complete(ticket);
                       done.respond(json_response(http::status::ok, json{{"slept_ms", ms}, {"id", id}}.dump()));
                     });
}

void handle(Exchange exchange, Stats& stats) {
  const std::string_view path = exchange.path();
  Request& request = exchange.request();

  // Control routes: never recorded, so observing the function does not change
  // what it reports.
  if (path == "/health") {
    if (request.method() != http::verb::get && request.method() != http::verb::head)
      return exchange.respond(method_not_allowed("GET, HEAD"));
    return exchange.respond(text_response(http::status::ok, "ok"));
  }
  if (path_is_under(path, "/stats")) {
    if (path == "/stats") {
      if (request.method() != http::verb::get && request.method() != http::verb::head)
        return exchange.respond(method_not_allowed("GET, HEAD"));
      return exchange.respond(json_response(http::status::ok, stats.to_json()));
    }
    if (path == "/stats/reset") {
      if (request.method() != http::verb::post) return exchange.respond(method_not_allowed("POST"));
      stats.reset();
      return exchange.respond(Response{http::status::no_content, 11});
    }
    return exchange.respond(not_found());
  }

  auto id = query_param(exchange.query(), "id");
  const auto ticket = stats.arrive(id, exchange.connection());

  if (auto ms = single_segment_after(path, "/sleep")) return sleep_then_reply(exchange, stats, ticket, *ms, false, std::move(id));
  if (auto at = single_segment_after(path, "/sleep-until"))
    return sleep_then_reply(exchange, stats, ticket, *at, true, std::move(id));

  // Counted before the response is handed off, so a client that reads /stats
  // right after its response always sees its own request completed.
  stats.complete(ticket);
  if (path_is_under(path, "/echo")) return exchange.respond(echo(request));
  if (path_is_under(path, "/inspect")) return exchange.respond(inspect(request));
  if (auto code = single_segment_after(path, "/status")) return exchange.respond(status(*code));
  if (auto count = single_segment_after(path, "/bytes")) return stream_pattern(exchange, *count, false);
  if (auto count = single_segment_after(path, "/chunked")) return stream_pattern(exchange, *count, true);
  exchange.respond(not_found());
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv, "echo");
  Stats stats;
  return run_server("echo", options, [&stats](Exchange exchange) { handle(std::move(exchange), stats); });
}
