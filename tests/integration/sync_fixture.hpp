// Shared fixtures of the sync-proxy integration suite: one echo function
// behind one slimfaas node, plus the assertions every error answer shares.
#pragma once

#include <catch2/catch.hpp>

#include <future>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace it {

// The function entry of the brief: echo, NumberParallelRequest 2,
// NumberParallelRequestPerPod 2, DefaultSync.HttpTimeout 2 s.
inline FunctionSpec echo_spec(int parallel = 2, int per_pod = 2, int http_timeout = 2) {
  FunctionSpec f;
  f.name = "echo";
  f.number_parallel_request = parallel;
  f.number_parallel_request_per_pod = per_pod;
  f.http_timeout_seconds = http_timeout;
  return f;
}

struct Stack {
  Server echo;
  Server slim;  // declared last: destroyed first
  // URL of `path` on function echo through slimfaas ("/inspect" ->
  // http://127.0.0.1:<slim>/function/echo/inspect).
  std::string fn(const std::string& path) const { return slim.url("/function/echo" + path); }
};

// Starts one echo and a slimfaas whose function "echo" points at it.
inline Stack start_stack(FunctionSpec spec = echo_spec(), const Env& slim_env = {}) {
  Stack s;
  s.echo = start_echo();
  spec.urls = {local_url(s.echo.port)};
  s.slim = start_slimfaas(functions_json({spec}), slim_env);
  return s;
}

// Runs `f` on its own thread (worker threads never assert).
template <class F>
auto in_thread(F&& f) {
  return std::async(std::launch::async, std::forward<F>(f));
}

// How many requests slimfaas holds waiting for function `fn`, from
// /debug/actors (state.waiting) or else from the /metrics gauge
// slimfaas_function_waiting_requests{function=fn}; nullopt when neither
// shows it.
inline std::optional<int> waiting_count(const Server& slim, const std::string& fn = "echo") {
  try {
    auto r = http_get(slim.url("/debug/actors"), 2s);
    if (r.status == 200) {
      if (auto j = r.json(); j && j->is_object() && j->contains("actors")) {
        for (auto& a : j->at("actors")) {
          if (a.value("kind", "") == "function" && a.value("name", "") == fn && a.contains("state") &&
              a["state"].contains("waiting") && a["state"]["waiting"].is_number())
            return a["state"]["waiting"].get<int>();
        }
      }
    }
  } catch (const std::exception&) {
  }
  auto m = http_get(slim.url("/metrics"), 2s);
  if (m.status == 200) {
    if (auto v = metric_value(m.body, "slimfaas_function_waiting_requests", {{"function", fn}}))
      return static_cast<int>(*v);
  }
  return std::nullopt;
}

// Every error answer: the expected status, a JSON object
// {"error": "<non-empty>", "detail": "<string>"} served as application/json.
template <class Response>
void check_error_json(const Response& r, int status) {
  INFO(r.describe());
  CHECK(r.status == status);
  auto ct = r.headers.find("content-type");
  REQUIRE(ct != r.headers.end());
  CHECK(ct->second.find("application/json") != std::string::npos);
  auto j = r.json();
  REQUIRE(j.has_value());
  REQUIRE(j->is_object());
  REQUIRE(j->contains("error"));
  REQUIRE(j->contains("detail"));
  CHECK(j->at("error").is_string());
  CHECK_FALSE(j->at("error").template get<std::string>().empty());
  CHECK(j->at("detail").is_string());
}

inline int echo_requests(const Server& echo) { return echo_stats(echo)["requests"].get<int>(); }

}  // namespace it
