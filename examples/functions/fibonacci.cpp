// fibonacci: the demo function deployed behind SlimFaas in the docs and
// charts. It exposes its own Prometheus metrics so the demo can show
// scaling decisions next to per-function traffic.
#include "common/http_function.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace {

using namespace slimfaas::functions;
// Keys come out in the documented order, which keeps responses easy to read.
using json = nlohmann::ordered_json;

// fib(93) still fits in uint64, but 92 is the largest that fits in int64,
// which is what JSON consumers in most languages will parse the result into.
constexpr std::int64_t kMaxInput = 92;

enum class Route : std::size_t { hello, fibonacci, metrics, health, unmatched, count };

// Route templates, not raw paths, so /hello/<name> cannot blow up the
// label cardinality.
constexpr std::array<std::string_view, static_cast<std::size_t>(Route::count)> kRouteLabels = {
    "/hello/{name}", "/fibonacci", "/metrics", "/health", "unmatched"};

class Metrics {
 public:
  void count(Route route) { counters_[static_cast<std::size_t>(route)].fetch_add(1, std::memory_order_relaxed); }

  std::string exposition() const {
    std::string text =
        "# HELP fibonacci_requests_total Requests received by the fibonacci function, by route.\n"
        "# TYPE fibonacci_requests_total counter\n";
    for (std::size_t i = 0; i < counters_.size(); ++i) {
      text.append("fibonacci_requests_total{route=\"")
          .append(kRouteLabels[i])
          .append("\"} ")
          .append(std::to_string(counters_[i].load(std::memory_order_relaxed)))
          .append("\n");
    }
    return text;
  }

 private:
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Route::count)> counters_{};
};

std::uint64_t fibonacci(std::uint64_t n) {
  std::uint64_t previous = 0;
  std::uint64_t current = 1;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t next = previous + current;
    previous = current;
    current = next;
  }
  return previous;
}

Response error(http::status status, std::string_view code, std::string_view detail) {
  return json_response(status, json{{"error", code}, {"detail", detail}}.dump());
}

Response compute(const Request& request) {
  json payload;
  try {
    payload = json::parse(request.body());
  } catch (const json::parse_error& e) {
    return error(http::status::bad_request, "invalid_json", e.what());
  }
  if (!payload.is_object() || !payload.contains("input"))
    return error(http::status::bad_request, "invalid_input", "expected a JSON object like {\"input\": 10}");
  const auto& input = payload["input"];
  if (!input.is_number_integer())
    return error(http::status::bad_request, "invalid_input", "input must be an integer");
  // Unsigned first: a huge positive value read as int64 would wrap negative
  // and be reported with the wrong reason.
  const bool in_range = input.is_number_unsigned() ? input.get<std::uint64_t>() <= static_cast<std::uint64_t>(kMaxInput)
                                                   : input.get<std::int64_t>() >= 0 && input.get<std::int64_t>() <= kMaxInput;
  if (!in_range)
    return error(http::status::bad_request, "out_of_range", "input must be between 0 and " + std::to_string(kMaxInput));
  return json_response(http::status::ok, json{{"result", fibonacci(input.get<std::uint64_t>())}}.dump());
}

bool is_get(const Request& request) {
  return request.method() == http::verb::get || request.method() == http::verb::head;
}

void handle(Exchange exchange, Metrics& metrics) {
  const std::string_view path = exchange.path();
  const Request& request = exchange.request();

  if (auto name = single_segment_after(path, "/hello")) {
    metrics.count(Route::hello);
    if (!is_get(request)) return exchange.respond(method_not_allowed("GET, HEAD"));
    return exchange.respond(text_response(http::status::ok, "Hello " + percent_decode(*name, false) + "!"));
  }
  if (path == "/fibonacci") {
    metrics.count(Route::fibonacci);
    if (request.method() != http::verb::post) return exchange.respond(method_not_allowed("POST"));
    return exchange.respond(compute(request));
  }
  if (path == "/metrics") {
    metrics.count(Route::metrics);
    if (!is_get(request)) return exchange.respond(method_not_allowed("GET, HEAD"));
    return exchange.respond(
        make_response(http::status::ok, "text/plain; version=0.0.4; charset=utf-8", metrics.exposition()));
  }
  if (path == "/health") {
    metrics.count(Route::health);
    if (!is_get(request)) return exchange.respond(method_not_allowed("GET, HEAD"));
    return exchange.respond(text_response(http::status::ok, "ok"));
  }
  metrics.count(Route::unmatched);
  exchange.respond(json_response(http::status::not_found, R"({"error":"not found"})"));
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv, "fibonacci");
  Metrics metrics;
  return run_server("fibonacci", options, [&metrics](Exchange exchange) { handle(std::move(exchange), metrics); });
}
