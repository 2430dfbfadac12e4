// Integration-test harness: real processes on 127.0.0.1, real sockets.
//
// Everything here is test-only and synchronous. Catch2 assertions are not
// thread-safe, so helpers never assert; they return values (or throw
// std::runtime_error for "cannot even set the scene" failures, which Catch
// reports with the message). Worker threads in tests must only collect
// results and let the main thread assert.
//
// Logs: every Process writes stdout+stderr to a file in a per-test-binary
// temp dir. When a test has failed (failed assertion or an exception in
// flight), the destructor of each Process prints the tail of its log to
// stderr, so `ctest --output-on-failure` shows what the servers said.
// Set SLIMFAAS_IT_KEEP_LOGS=1 to keep the temp dir after the run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace it {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;
using Env = std::map<std::string, std::string>;

// ---------------------------------------------------------------- processes

// A child process in its own process group, with PR_SET_PDEATHSIG(SIGKILL)
// (tied to the thread that created it: create processes from the test's
// main thread). The destructor kills the whole group with SIGKILL and reaps.
class Process {
 public:
  // argv[0] is the program path (execv, no PATH search unless it has no '/').
  // `env` is added on top of the current environment (and overrides it).
  // `name` is used for the log file name and in diagnostics.
  Process(std::vector<std::string> argv, Env env = {}, std::string name = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  // Sends `sig` to the process (not the group). False if it already exited.
  bool signal(int sig);
  // Waits for the process to exit. Returns its exit code, or 128+signal if
  // it was killed by a signal; nullopt on timeout (process still running).
  std::optional<int> wait_exit(Ms timeout);
  // True while the process has not exited (reaps it if it has).
  bool running();
  // SIGKILL to the whole process group, then reap. Idempotent: nothing once
  // the process has been reaped.
  void kill();
  // Everything the process wrote to stdout/stderr so far.
  std::string log() const;
  // The last `max_bytes` of log(), prefixed with a header naming the process.
  std::string log_tail(std::size_t max_bytes = 16384) const;
  const std::string& log_path() const { return log_path_; }

 private:
  bool reap(bool block);
  pid_t pid_ = -1;
  std::string name_;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// Directory (created once per test binary) holding the logs.
const std::string& temp_dir();

// The tails of the logs of every live Process (for INFO on demand).
std::string all_logs();

// A port on 127.0.0.1 that was free a moment ago (bind 0, read, close).
int free_port();

// A listening socket on 127.0.0.1, ephemeral port (written to `port`), for
// servers a test runs in its own process. Throws std::runtime_error.
int listen_loopback(int& port);

// Whether process `pid` holds the socket listening on `port` (read from
// /proc): a server that answers there may be another test's.
bool process_listens_on(pid_t pid, int port);

// The names of process `pid`'s threads (/proc/<pid>/task/*/comm), with
// repeats, in no particular order. 0: this process.
std::vector<std::string> thread_names(pid_t pid = 0);

// The first of `count` consecutive ports on 127.0.0.1 that were free a moment
// ago, outside the kernel's ephemeral range (for port ranges a server takes).
int free_port_block(int count);

// Polls `pred` every `interval` until it returns true or `timeout` passes.
// Returns the last value of `pred`.
bool wait_until(const std::function<bool()>& pred, Ms timeout, Ms interval = 15ms);

// ---------------------------------------------------------------- HTTP

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  // name/value pairs sent as "name: value".
  std::vector<std::pair<std::string, std::string>> headers;
  // Raw header lines sent verbatim ("X-A: b", or "Name:" to remove a curl default).
  std::vector<std::string> raw_headers;
  std::string body;
  // Send `body` with Transfer-Encoding: chunked through a read callback
  // (in pieces of `chunk_size` bytes) instead of Content-Length.
  bool chunked = false;
  std::size_t chunk_size = 16 * 1024;
  // Whole-transfer timeout.
  Ms timeout = 15s;
  // Simulate a client that goes away: abort the transfer (close the
  // connection) after this long. The response then has curl_code ==
  // CURLE_OPERATION_TIMEDOUT.
  std::optional<Ms> abort_after;
  // Keep "..", "%2e" etc. exactly as written (CURLOPT_PATH_AS_IS).
  bool path_as_is = true;
  // curl adds "Expect: 100-continue" to big uploads; off by default.
  bool expect_continue = false;
};

struct HttpResponse {
  long status = 0;
  // Lower-cased header names; the headers of the final response only.
  std::multimap<std::string, std::string> headers;
  std::string body;
  int curl_code = 0;       // CURLcode; 0 == CURLE_OK
  std::string error;       // curl's error text when curl_code != 0
  Ms elapsed{0};

  bool transport_ok() const { return curl_code == 0; }
  // First value of header `name` (case-insensitive), if any.
  std::optional<std::string> header(const std::string& name) const;
  // Parses the body as JSON; nullopt if it is not JSON.
  std::optional<nlohmann::json> json() const;
  // One-line description for INFO().
  std::string describe() const;
};

HttpResponse http(const HttpRequest& req);
HttpResponse http(const std::string& method, const std::string& url,
                  std::vector<std::pair<std::string, std::string>> headers = {},
                  std::string body = {}, Ms timeout = 15s);
inline HttpResponse http_get(const std::string& url, Ms timeout = 15s) {
  return http("GET", url, {}, {}, timeout);
}

// Polls GET url until it answers 200 or `timeout` passes (or `alive`
// returns false, e.g. the server process died).
bool wait_http_ok(const std::string& url, Ms timeout,
                  const std::function<bool()>& alive = {});

// ---------------------------------------------------------------- raw TCP

struct RawResponse {
  bool connected = false;   // the TCP connection was established
  bool complete = false;    // a full HTTP response (headers + framed body) was read
  bool peer_closed = false; // the server closed the connection
  int sys_error = 0;        // errno of a failed connect/send/recv, if any
  std::string raw;          // every byte received
  int status = 0;           // parsed from the status line, 0 if none
  std::multimap<std::string, std::string> headers;  // lower-cased names
  std::string body;         // de-chunked if chunked
  std::optional<nlohmann::json> json() const;
  std::string describe() const;
};

// Connects to 127.0.0.1:port, sends `bytes` exactly, and reads one HTTP
// response (framed by Content-Length, chunked, or connection close), or
// until `timeout`. Suits malformed requests curl would not send.
RawResponse raw_request(int port, const std::string& bytes, Ms timeout = 10s);

// A held-open TCP connection (for idle/max-connection tests).
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Waits until the peer closes (read returns 0 or a reset). Data read on
  // the way is appended to `received`.
  bool wait_closed(Ms timeout);
  std::string received;

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------- fixtures

// A started server: its process and its HTTP port on 127.0.0.1.
struct Server {
  std::unique_ptr<Process> proc;
  int port = 0;
  std::string url(const std::string& path = "") const;
};

// Starts the echo example function (ECHO_BINARY) on a free port and waits
// for GET /health == 200. Throws std::runtime_error (with the log) on failure.
Server start_echo(const Env& extra_env = {});

// Path of the slimfaas binary under test.
std::string slimfaas_binary();

// Path of the echo example function binary.
std::string echo_binary();

// Starts `slimfaas serve` (SLIMFAAS_BINARY) on a free port with
// SLIMFAAS_PORTS, SlimFaas__LogLevel=info and MOCK_KUBERNETES_FUNCTIONS =
// functions_json, plus extra_env; waits for GET /health == 200.
Server start_slimfaas(const std::string& functions_json, const Env& extra_env = {});

// One MOCK_KUBERNETES_FUNCTIONS entry.
struct FunctionSpec {
  std::string name = "echo";
  std::vector<std::string> urls;
  std::optional<int> number_parallel_request;
  std::optional<int> number_parallel_request_per_pod;
  std::optional<int> http_timeout_seconds = 2;  // DefaultSync.HttpTimeout
  std::map<std::string, std::string> annotations;  // extra annotations
};
std::string functions_json(const std::vector<FunctionSpec>& functions);
std::string local_url(int port);

// echo's GET /stats (direct, not through slimfaas). Throws on failure.
nlohmann::json echo_stats(const Server& echo);
// echo's POST /stats/reset; true on 204.
bool echo_reset(const Server& echo);

// ---------------------------------------------------------------- utilities

std::uint64_t fnv1a64(const std::string& data);
// `n` pseudo-random bytes (deterministic for a seed).
std::string random_bytes(std::size_t n, std::uint64_t seed = 42);
// Byte i == 'a' + i % 26 for all i; returns the first mismatch index or -1.
long long first_pattern_mismatch(const std::string& data);

// Finds the samples of metric `name` whose label set includes `labels`
// (extra labels allowed) in a Prometheus text exposition; returns their sum,
// or nullopt if none matches.
std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

// Runs `cmd` through /bin/sh with `input` on its stdin; returns exit code
// and combined stdout+stderr.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult run_command(const std::string& cmd, const std::string& input);

}  // namespace it
