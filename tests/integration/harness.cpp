#include "tests/integration/harness.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

// The failure listener below needs Catch's reporter interfaces.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

extern char** environ;

#ifndef SLIMFAAS_BINARY
#define SLIMFAAS_BINARY ""
#endif
#ifndef ECHO_BINARY
#define ECHO_BINARY ""
#endif

namespace it {

namespace {

using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------ failure hook

// Set when an assertion of the running test case fails, so that Process
// destructors know to print their logs.
std::atomic<bool> g_test_failed{false};

struct FailureListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    g_test_failed = false;
    TestEventListenerBase::testCaseStarting(info);
  }
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) g_test_failed = true;
    return true;
  }
};

std::mutex g_live_mutex;
std::set<const Process*> g_live;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : std::string(fallback);
}

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "slimfaas-it-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    const char* keep = std::getenv("SLIMFAAS_IT_KEEP_LOGS");
    if (keep && *keep && std::string(keep) != "0") {
      std::cerr << "integration logs kept in " << path << "\n";
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

// Registered here so that every binary linking the harness gets it.
CATCH_REGISTER_LISTENER(FailureListener)

const std::string& temp_dir() {
  static TempDir dir;
  return dir.path;
}

// ---------------------------------------------------------------- Process

Process::Process(std::vector<std::string> argv, Env env, std::string name) {
  if (argv.empty()) throw std::invalid_argument("Process: empty argv");
  name_ = name.empty() ? std::filesystem::path(argv[0]).filename().string() : std::move(name);
  static std::atomic<int> seq{0};
  log_path_ = temp_dir() + "/" + name_ + "-" + std::to_string(++seq) + ".log";

  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("Process: cannot open " + log_path_);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    throw std::runtime_error("Process: cannot open /dev/null");
  }

  // Everything the child needs is built before fork(): after fork() in a
  // multi-threaded process only async-signal-safe calls are allowed.
  std::map<std::string, std::string> merged;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  env_strings.reserve(merged.size());
  for (auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const bool has_slash = argv[0].find('/') != std::string::npos;
  const std::string exec_fail = "harness: exec failed for " + argv[0] + "\n";

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    ::close(null_fd);
    throw std::runtime_error("Process: fork failed");
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the test died before prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::close_range(3, ~0U, 0);
    if (has_slash)
      ::execve(args[0], args.data(), envp.data());
    else
      ::execvpe(args[0], args.data(), envp.data());
    [[maybe_unused]] auto n = ::write(2, exec_fail.data(), exec_fail.size());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with kill(-pid)
  ::close(log_fd);
  ::close(null_fd);
  pid_ = pid;
  std::lock_guard lock(g_live_mutex);
  g_live.insert(this);
}

Process::~Process() {
  {
    std::lock_guard lock(g_live_mutex);
    g_live.erase(this);
  }
  kill();
  if (g_test_failed || std::uncaught_exceptions() > 0) {
    std::cerr << log_tail() << std::flush;
  }
}

bool Process::reap(bool block) {
  if (exit_code_) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    if (WIFEXITED(status))
      exit_code_ = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      exit_code_ = 128 + WTERMSIG(status);
    else
      exit_code_ = -1;
    return true;
  }
  if (r < 0) {  // ECHILD: somebody else reaped it
    exit_code_ = -1;
    return true;
  }
  return false;
}

bool Process::signal(int sig) {
  if (reap(false)) return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<int> Process::wait_exit(Ms timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (reap(false)) return exit_code_;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

bool Process::running() { return !reap(false); }

void Process::kill() {
  // Once reaped, its pid (the group's id) may be another process's already:
  // a second kill (the destructor after kill9 or terminate) would SIGKILL an
  // unrelated process group, another test's node. Seen as a SlimData leader
  // of a parallel test dying without a word.
  if (pid_ <= 0 || exit_code_) return;
  // The whole group: grandchildren die too. Not reaped yet, the pid is still
  // ours (a zombie keeps it).
  ::kill(-pid_, SIGKILL);
  reap(true);
}

std::string Process::log() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Process::log_tail(std::size_t max_bytes) const {
  std::string all = log();
  std::string out = "----- log of " + name_ + " (pid " + std::to_string(pid_) + ", " + log_path_ + ")";
  if (all.size() > max_bytes) {
    out += ", last " + std::to_string(max_bytes) + " bytes";
    all = all.substr(all.size() - max_bytes);
  }
  out += " -----\n" + all;
  if (!all.empty() && all.back() != '\n') out += '\n';
  out += "----- end of log of " + name_ + " -----\n";
  return out;
}

std::string all_logs() {
  std::lock_guard lock(g_live_mutex);
  std::string out;
  for (const Process* p : g_live) out += p->log_tail(8192);
  return out;
}

// ---------------------------------------------------------------- helpers

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("free_port: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("free_port: bind failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int listen_loopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("listen_loopback: socket failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    throw std::runtime_error("listen_loopback: cannot listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

namespace {
bool port_bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A port is this test process's once it holds an flock on the port's file
// in a directory every test process shares; the lock lasts until the process
// exits (however it exits). A free port is not enough: a test that stops a
// server to restart it leaves its ports free for a moment, and a test
// running beside it took one (CI: a SlimData node killed with -9 could not
// listen again). -1: taken by another process (or by this one already).
int claim_port(int port) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / "slimfaas-it-ports";
    std::error_code ec;
    std::filesystem::create_directories(d, ec);
    return d;
  }();
  const auto path = dir / (std::to_string(port) + ".lock");
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return -2;  // no shared directory: the bind check alone decides
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
}  // namespace

int free_port_block(int count) {
  // Below the kernel's ephemeral range (32768-60999), which free_port() and
  // every outgoing connection draw from; a random start, so that test
  // binaries running side by side rarely meet.
  static std::mt19937 random(static_cast<unsigned>(::getpid()) * 2654435761u ^
                             static_cast<unsigned>(Clock::now().time_since_epoch().count()));
  std::uniform_int_distribution<int> start(20000, 32000 - count);
  for (int attempt = 0; attempt < 500; ++attempt) {
    const int base = start(random);
    std::vector<int> claims;
    bool all = true;
    for (int p = base; p < base + count && all; ++p) {
      const int claim = claim_port(p);
      if (claim >= 0) claims.push_back(claim);
      all = claim != -1 && port_bindable(p);
    }
    if (all) return base;  // the claims stay held until the process exits
    for (int fd : claims) ::close(fd);
  }
  throw std::runtime_error("free_port_block: no " + std::to_string(count) + " consecutive free ports");
}

bool wait_until(const std::function<bool()>& pred, Ms timeout, Ms interval) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(interval);
  }
}

// ---------------------------------------------------------------- HTTP

namespace {

void curl_init_once() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_ALL);
    return true;
  }();
  (void)done;
}

struct Transfer {
  HttpResponse* resp;
  const std::string* upload = nullptr;
  std::size_t upload_pos = 0;
  std::size_t chunk = 16384;
};

size_t on_body(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->resp->body.append(ptr, size * nmemb);
  return size * nmemb;
}

size_t on_header(char* ptr, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(ptr, size * nmemb);
  if (line.rfind("HTTP/", 0) == 0) {
    t->resp->headers.clear();  // a new (possibly final) response starts
    return size * nmemb;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    t->resp->headers.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  return size * nmemb;
}

size_t on_read(char* buffer, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t room = std::min(size * nitems, t->chunk);
  std::size_t left = t->upload->size() - t->upload_pos;
  std::size_t n = std::min(room, left);
  std::memcpy(buffer, t->upload->data() + t->upload_pos, n);
  t->upload_pos += n;
  return n;
}

}  // namespace

std::optional<std::string> HttpResponse::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

std::optional<nlohmann::json> HttpResponse::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string HttpResponse::describe() const {
  std::ostringstream ss;
  ss << "status=" << status << " curl=" << curl_code;
  if (!error.empty()) ss << " (" << error << ")";
  ss << " elapsed=" << elapsed.count() << "ms headers={";
  for (auto& [k, v] : headers) ss << k << ": " << v << "; ";
  ss << "} body(" << body.size() << ")=";
  ss << (body.size() > 600 ? body.substr(0, 600) + "..." : body);
  return ss.str();
}

HttpResponse http(const HttpRequest& req) {
  curl_init_once();
  HttpResponse resp;
  Transfer t{&resp};
  CURL* c = curl_easy_init();
  if (!c) throw std::runtime_error("curl_easy_init failed");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* hdrs = nullptr;

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, req.path_as_is ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  Ms total = req.timeout;
  if (req.abort_after) total = std::min(total, *req.abort_after);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<Ms>(total, 5s).count()));

  const std::string method = req.method;
  if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.chunked) {
    t.upload = &req.body;
    t.chunk = std::max<std::size_t>(1, req.chunk_size);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
  } else if (!req.body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    if (method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  } else if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (!req.expect_continue) hdrs = curl_slist_append(hdrs, "Expect:");
  for (auto& [k, v] : req.headers) hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
  for (auto& line : req.raw_headers) hdrs = curl_slist_append(hdrs, line.c_str());
  if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

  const auto start = Clock::now();
  CURLcode rc = curl_easy_perform(c);
  resp.elapsed = std::chrono::duration_cast<Ms>(Clock::now() - start);
  resp.curl_code = static_cast<int>(rc);
  if (rc != CURLE_OK) resp.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return resp;
}

HttpResponse http(const std::string& method, const std::string& url,
                  std::vector<std::pair<std::string, std::string>> headers, std::string body,
                  Ms timeout) {
  HttpRequest req;
  req.method = method;
  req.url = url;
  req.headers = std::move(headers);
  req.body = std::move(body);
  req.timeout = timeout;
  return http(req);
}

bool wait_http_ok(const std::string& url, Ms timeout, const std::function<bool()>& alive) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (alive && !alive()) return false;
    auto r = http("GET", url, {}, {}, 2s);
    if (r.transport_ok() && r.status == 200) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// ---------------------------------------------------------------- raw TCP

namespace {

int connect_loopback(int port, int* err) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    *err = errno;
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Parses a chunked body starting at `pos`; returns the body once the last
// chunk has arrived.
std::optional<std::string> dechunk(const std::string& s, std::size_t pos) {
  std::string out;
  while (true) {
    auto eol = s.find("\r\n", pos);
    if (eol == std::string::npos) return std::nullopt;
    std::string size_line = s.substr(pos, eol - pos);
    auto semi = size_line.find(';');
    if (semi != std::string::npos) size_line = size_line.substr(0, semi);
    std::size_t n = 0;
    try {
      n = std::stoul(trim(size_line), nullptr, 16);
    } catch (...) {
      return std::nullopt;
    }
    pos = eol + 2;
    if (n == 0) {
      // trailers until an empty line
      while (true) {
        auto e = s.find("\r\n", pos);
        if (e == std::string::npos) return std::nullopt;
        if (e == pos) return out;
        pos = e + 2;
      }
    }
    if (s.size() < pos + n + 2) return std::nullopt;
    out.append(s, pos, n);
    pos += n + 2;
  }
}

// Tries to parse one complete response out of r.raw; fills r and returns
// true when complete. Interim 1xx responses are skipped.
bool parse_raw(RawResponse& r, bool closed) {
  std::size_t start = 0;
  while (true) {
    auto hdr_end = r.raw.find("\r\n\r\n", start);
    if (hdr_end == std::string::npos) return false;
    std::istringstream lines(r.raw.substr(start, hdr_end - start));
    std::string status_line;
    std::getline(lines, status_line);
    int status = 0;
    {
      std::istringstream sl(status_line);
      std::string version;
      sl >> version >> status;
    }
    std::multimap<std::string, std::string> headers;
    std::string line;
    while (std::getline(lines, line)) {
      auto colon = line.find(':');
      if (colon != std::string::npos)
        headers.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
    }
    const std::size_t body_start = hdr_end + 4;
    if (status >= 100 && status < 200) {
      start = body_start;
      continue;
    }
    r.status = status;
    r.headers = headers;
    auto te = headers.find("transfer-encoding");
    auto cl = headers.find("content-length");
    if (status == 204 || status == 304) {
      r.body.clear();
      return true;
    }
    if (te != headers.end() && lower(te->second).find("chunked") != std::string::npos) {
      auto body = dechunk(r.raw, body_start);
      if (!body) return false;
      r.body = *body;
      return true;
    }
    if (cl != headers.end()) {
      std::size_t n = std::stoul(cl->second);
      if (r.raw.size() < body_start + n) return false;
      r.body = r.raw.substr(body_start, n);
      return true;
    }
    r.body = r.raw.substr(body_start);
    return closed;
  }
}

}  // namespace

std::optional<nlohmann::json> RawResponse::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string RawResponse::describe() const {
  std::ostringstream ss;
  ss << "connected=" << connected << " complete=" << complete << " peer_closed=" << peer_closed
     << " errno=" << sys_error << " status=" << status << " raw(" << raw.size() << ")=";
  ss << (raw.size() > 600 ? raw.substr(0, 600) + "..." : raw);
  return ss.str();
}

RawResponse raw_request(int port, const std::string& bytes, Ms timeout) {
  RawResponse r;
  const auto deadline = Clock::now() + timeout;
  int fd = connect_loopback(port, &r.sys_error);
  if (fd < 0) return r;
  r.connected = true;
  // Send everything; a server that answers early and closes may make the
  // rest fail, which is fine: what it answered is still read below.
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.sys_error = errno;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }
  char buf[65536];
  while (true) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.sys_error = errno;
      r.peer_closed = true;
      break;
    }
    if (n == 0) {
      r.peer_closed = true;
      break;
    }
    r.raw.append(buf, static_cast<std::size_t>(n));
    if (parse_raw(r, false)) {
      r.complete = true;
      break;
    }
  }
  if (!r.complete && parse_raw(r, r.peer_closed)) r.complete = true;
  ::close(fd);
  return r;
}

RawConnection::RawConnection(int port) {
  int err = 0;
  fd_ = connect_loopback(port, &err);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(const std::string& bytes) {
  if (fd_ < 0) return false;
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool RawConnection::wait_closed(Ms timeout) {
  if (fd_ < 0) return true;
  const auto deadline = Clock::now() + timeout;
  char buf[16384];
  while (true) {
    auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) return false;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    received.append(buf, static_cast<std::size_t>(n));
  }
}

// ---------------------------------------------------------------- fixtures

std::string local_url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::string Server::url(const std::string& path) const { return local_url(port) + path; }

namespace {

// The inode of the socket listening on `port` (any local address, IPv4 or
// IPv6), from /proc/net/tcp*; 0 when nobody listens there.
std::uint64_t listening_inode(int port) {
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, ":%04X", static_cast<unsigned>(port));
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
      std::uint64_t inode = 0;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state == "0A" && local.ends_with(suffix)) return inode;
    }
  }
  return 0;
}

}  // namespace

bool process_listens_on(pid_t pid, int port) {
  const std::uint64_t inode = listening_inode(port);
  if (inode == 0) return false;
  const std::string target = "socket:[" + std::to_string(inode) + "]";
  std::error_code ec;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(fd.path(), link_ec).string() == target) return true;
  }
  return false;
}

std::vector<std::string> thread_names(pid_t pid) {
  const std::string tasks = "/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/task";
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.push_back(name);
  }
  return names;
}

namespace {

// Starts a server process on a free port and waits for /health. A port
// taken between free_port() and the child's bind shows up as an early
// exit, or as another test's server answering /health there (the child
// then fails to bind): both are retried with another port.
Server start_server(const std::string& what, const std::function<std::unique_ptr<Process>(int)>& spawn) {
  std::string last_log;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Server s;
    s.port = free_port();
    s.proc = spawn(s.port);
    Process* p = s.proc.get();
    if (wait_http_ok(s.url("/health"), 20s, [p] { return p->running(); })) {
      if (process_listens_on(p->pid(), s.port)) return s;
      last_log = "(another process answers on port " + std::to_string(s.port) + ")\n" + p->log_tail();
      p->kill();
      continue;
    }
    const bool died = !p->running();
    last_log = p->log_tail();
    if (!died) break;  // alive but not healthy: no point in retrying
    last_log = "(exited with code " + std::to_string(p->wait_exit(0ms).value_or(-1)) + ")\n" + last_log;
  }
  throw std::runtime_error(what + " did not answer GET /health with 200\n" + last_log);
}

}  // namespace

Server start_echo(const Env& extra_env) {
  const std::string bin = env_or("SLIMFAAS_IT_ECHO_BINARY", ECHO_BINARY);
  return start_server("echo (" + bin + ")", [&](int port) {
    Env env = extra_env;
    env.emplace("PORT", std::to_string(port));
    return std::make_unique<Process>(std::vector<std::string>{bin, "--port", std::to_string(port)},
                                     env, "echo-" + std::to_string(port));
  });
}

std::string slimfaas_binary() { return env_or("SLIMFAAS_IT_SLIMFAAS_BINARY", SLIMFAAS_BINARY); }

std::string echo_binary() { return env_or("SLIMFAAS_IT_ECHO_BINARY", ECHO_BINARY); }

Server start_slimfaas(const std::string& functions, const Env& extra_env) {
  const std::string bin = slimfaas_binary();
  return start_server("slimfaas (" + bin + ")", [&](int port) {
    Env env{{"SLIMFAAS_PORTS", std::to_string(port)},
            {"SlimFaas__LogLevel", "info"},
            {"MOCK_KUBERNETES_FUNCTIONS", functions}};
    for (auto& [k, v] : extra_env) env[k] = v;
    return std::make_unique<Process>(std::vector<std::string>{bin, "serve"}, env,
                                     "slimfaas-" + std::to_string(port));
  });
}

std::string functions_json(const std::vector<FunctionSpec>& functions) {
  nlohmann::json list = nlohmann::json::array();
  for (auto& f : functions) {
    nlohmann::json j;
    j["Name"] = f.name;
    j["Urls"] = f.urls;
    if (f.number_parallel_request) j["NumberParallelRequest"] = *f.number_parallel_request;
    if (f.number_parallel_request_per_pod)
      j["NumberParallelRequestPerPod"] = *f.number_parallel_request_per_pod;
    nlohmann::json ann = nlohmann::json::object();
    if (f.http_timeout_seconds) {
      nlohmann::json cfg{{"DefaultSync", {{"HttpTimeout", *f.http_timeout_seconds}}}};
      ann["SlimFaas/Configuration"] = cfg.dump();
    }
    for (auto& [k, v] : f.annotations) ann[k] = v;
    j["Annotations"] = ann;
    list.push_back(j);
  }
  return nlohmann::json{{"Functions", list}}.dump();
}

nlohmann::json echo_stats(const Server& echo) {
  auto r = http_get(echo.url("/stats"), 5s);
  auto j = r.json();
  if (r.status != 200 || !j) throw std::runtime_error("echo /stats failed: " + r.describe());
  return *j;
}

bool echo_reset(const Server& echo) {
  auto r = http("POST", echo.url("/stats/reset"), {}, {}, 5s);
  return r.status == 204;
}

// ---------------------------------------------------------------- utilities

std::uint64_t fnv1a64(const std::string& data) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  std::size_t i = 0;
  while (i < n) {
    std::uint64_t v = rng();
    for (int b = 0; b < 8 && i < n; ++b, ++i) s[i] = static_cast<char>((v >> (8 * b)) & 0xff);
  }
  return s;
}

long long first_pattern_mismatch(const std::string& data) {
  for (std::size_t i = 0; i < data.size(); ++i)
    if (data[i] != static_cast<char>('a' + i % 26)) return static_cast<long long>(i);
  return -1;
}

std::optional<double> metric_value(const std::string& exposition, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  std::optional<double> sum;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind(name, 0) != 0) continue;
    std::size_t pos = name.size();
    if (pos >= line.size() || (line[pos] != '{' && line[pos] != ' ')) continue;
    std::map<std::string, std::string> found;
    if (line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        while (pos < line.size() && (line[pos] == ',' || line[pos] == ' ')) ++pos;
        if (line[pos] == '}') break;
        auto eq = line.find('=', pos);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return sum;
        std::string key = trim(line.substr(pos, eq - pos));
        std::string value;
        pos = eq + 2;
        while (pos < line.size() && line[pos] != '"') {
          if (line[pos] == '\\' && pos + 1 < line.size()) {
            ++pos;
            value += line[pos] == 'n' ? '\n' : line[pos];
          } else {
            value += line[pos];
          }
          ++pos;
        }
        ++pos;  // closing quote
        found[key] = value;
      }
      ++pos;  // '}'
    }
    bool match = true;
    for (auto& [k, v] : labels) {
      auto f = found.find(k);
      if (f == found.end() || f->second != v) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    std::istringstream rest(line.substr(pos));
    std::string value_text;
    rest >> value_text;
    try {
      double v = std::stod(value_text);
      sum = sum.value_or(0.0) + v;
    } catch (...) {
    }
  }
  return sum;
}

CommandResult run_command(const std::string& cmd, const std::string& input) {
  const std::string in_path = temp_dir() + "/cmd-input-" + std::to_string(::getpid()) + "-" +
                              std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    std::ofstream f(in_path, std::ios::binary);
    f << input;
  }
  Process p({"/bin/sh", "-c", cmd + " < '" + in_path + "'"}, {}, "command");
  CommandResult r;
  auto code = p.wait_exit(60s);
  r.exit_code = code.value_or(-1);
  r.output = p.log();
  std::remove(in_path.c_str());
  return r;
}

}  // namespace it
