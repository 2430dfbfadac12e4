#include "k8s/process_backend.hpp"

#include <utility>  // before asio's awaitable (GCC 12 + Boost 1.74)

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <optional>
#include <set>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

extern char** environ;

namespace slimfaas::k8s {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int max_backoff_seconds = 30;
constexpr auto backoff_reset_after = std::chrono::seconds(60);
// Until the first successful probe, probe again after 2 ms plus 1/20 of the
// time since spawn (at most 50 ms): readiness is seen within ~5% of the
// function's own start time, and a slow starter costs few failed connects.
std::chrono::milliseconds startup_retry(Clock::duration since_spawn) {
  const auto grown = std::chrono::milliseconds(2) + std::chrono::duration_cast<std::chrono::milliseconds>(since_spawn / 20);
  return std::min<std::chrono::milliseconds>(grown, std::chrono::milliseconds(50));
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

std::string substitute(std::string s, const std::string& port, const std::string& replica) {
  replace_all(s, "{port}", port);
  replace_all(s, "{replica}", replica);
  return s;
}

// True if a listener could bind 127.0.0.1:port right now.
bool port_bindable(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// One HTTP GET on 127.0.0.1:port; true on 2xx within `timeout`.
asio::awaitable<bool> probe(std::string host, std::uint16_t port, std::string path, std::chrono::milliseconds timeout) {
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  boost::system::error_code ec;
  asio::ip::tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
  if (host != "127.0.0.1" && host != "localhost") {
    auto address = asio::ip::make_address(host, ec);
    if (ec) {
      asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
      auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      if (ec || results.empty()) co_return false;
      endpoint = results.begin()->endpoint();
    } else {
      endpoint = asio::ip::tcp::endpoint(address, port);
    }
  }
  co_await stream.async_connect(endpoint, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::user_agent, "slimfaas-probe");
  req.keep_alive(false);
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  const unsigned code = parser.get().result_int();
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  co_return code >= 200 && code < 300;
}


// ------------------------------------------------------------ replica guard
//
// Every replica runs under a guard: the backend forks the guard (leader of a
// new process group, PR_SET_PDEATHSIG set), and the guard forks the
// function's command into the same group. The backend sees one process (the
// guard, whose exit status mirrors the command's) and signals the whole
// group. What the guard adds: when slimfaas dies without stopping its
// replicas (kill -9, a crash), the guard hears of it and stops the whole
// group, grandchildren included (a PDEATHSIG on the command alone would
// miss what a shell or `npm run` starts). Only async-signal-safe calls here:
// this runs in a child of a multi-threaded process.

constexpr int guard_parent_died_signal = SIGUSR2;
constexpr unsigned guard_orphan_grace_seconds = 5;

volatile sig_atomic_t guard_parent_died = 0;
volatile sig_atomic_t guard_alarm = 0;

void guard_on_signal(int sig) {
  if (sig == guard_parent_died_signal) guard_parent_died = 1;
  if (sig == SIGALRM) guard_alarm = 1;
  // SIGCHLD only wakes sigsuspend; SIGTERM/SIGINT/SIGHUP reach the whole
  // group, so the command has them too: the guard outlives it to report.
}

[[noreturn]] void guard_and_exec(char* const argv[], char* const envp[], const char* cwd,
                                 const std::string& chdir_failed, const std::string& exec_failed) {
  const int handled[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGALRM, guard_parent_died_signal};
  sigset_t block;
  ::sigemptyset(&block);
  for (int sig : handled) ::sigaddset(&block, sig);
  ::sigprocmask(SIG_SETMASK, &block, nullptr);
  struct sigaction act {};
  act.sa_handler = guard_on_signal;
  for (int sig : handled) ::sigaction(sig, &act, nullptr);

  const pid_t worker = ::fork();
  if (worker == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the guard never leaves it behind
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (cwd && ::chdir(cwd) != 0) {
      [[maybe_unused]] auto n = ::write(2, chdir_failed.data(), chdir_failed.size());
      ::_exit(127);
    }
    environ = const_cast<char**>(envp);
    ::execvp(argv[0], argv);
    [[maybe_unused]] auto n = ::write(2, exec_failed.data(), exec_failed.size());
    ::_exit(127);
  }
  if (worker < 0) ::_exit(127);

  sigset_t wait_for_any;
  ::sigemptyset(&wait_for_any);
  bool orphaned = false;
  for (;;) {
    int status = 0;
    if (::waitpid(worker, &status, WNOHANG) == worker) {
      if (orphaned) ::kill(0, SIGKILL);  // nobody will reap the rest of the group
      if (WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
      const int sig = WTERMSIG(status);
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(sig, &dfl, nullptr);
      sigset_t only;
      ::sigemptyset(&only);
      ::sigaddset(&only, sig);
      ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
      ::raise(sig);
      ::_exit(128 + sig);
    }
    if (guard_parent_died && !orphaned) {
      orphaned = true;
      ::kill(0, SIGTERM);  // the whole group; the guard itself has it blocked
      ::alarm(guard_orphan_grace_seconds);
    }
    if (guard_alarm) ::kill(0, SIGKILL);
    ::sigsuspend(&wait_for_any);
  }
}

struct Rep {
  explicit Rep(asio::io_context& io, std::string fn, int i)
      : function(std::move(fn)), index(i), restart_timer(io), kill_timer(io) {}
  std::string function;
  int index;
  bool debug = false;             // a debugUrl target: never spawned or stopped
  std::string host = "127.0.0.1";
  pid_t pid = -1;
  std::uint16_t port = 0;
  bool ready = false;
  bool stopping = false;
  bool startup_failed = false;
  std::string status = "Starting";
  int restarts = 0;
  std::string last_exit;
  int next_backoff = 1;
  std::optional<Clock::time_point> ready_since;
  std::uint64_t health_gen = 0;  // bumped to end the running health loop
  std::unique_ptr<asio::posix::stream_descriptor> pidfd;
  asio::steady_timer restart_timer;
  asio::steady_timer kill_timer;

  std::string name() const { return function + (debug ? std::string("-debug") : "-" + std::to_string(index)); }
};
using RepPtr = std::shared_ptr<Rep>;

struct Fn {
  ProcessFunction spec;
  FunctionConfig config;
  std::map<int, RepPtr> active;  // the replicas asked for, by index
};

}  // namespace

// All mutation happens on the io thread, under `mutex` (other threads read
// snapshots under it). The io thread reads without locking.
struct ProcessBackend::Impl {
  asio::io_context io;  // first member: destroyed last
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  ProcessPortRange ports;
  int port_cursor = 0;
  std::filesystem::path log_dir;
  std::chrono::milliseconds grace;

  mutable std::mutex mutex;
  std::vector<std::string> order;
  std::map<std::string, Fn> functions;
  std::set<RepPtr> stopping;  // out of `active`, process not reaped yet
  Listener listener;
  bool shutting_down = false;
  std::promise<void> all_stopped;
  bool all_stopped_set = false;

  ~Impl() {
    functions.clear();
    stopping.clear();
  }

  // ------------------------------------------------------------ reporting

  std::vector<Replica> replicas_of(const Fn& fn) const {
    std::vector<Replica> out;
    for (const auto& [i, rep] : fn.active) out.push_back(Replica{rep->name(), rep->host, rep->port, rep->ready});
    return out;
  }

  void report(const std::string& name) {
    Listener l;
    std::vector<Replica> replicas;
    {
      std::lock_guard lock(mutex);
      auto it = functions.find(name);
      if (shutting_down || !listener || it == functions.end()) return;
      l = listener;
      replicas = replicas_of(it->second);
    }
    try {
      l(name, std::move(replicas));
    } catch (const std::exception& e) {
      spdlog::error("process backend: replica listener threw: {}", e.what());
    }
  }

  // ------------------------------------------------------------ ports

  int pick_port() {
    std::set<int> used;
    for (const auto& [n, fn] : functions)
      for (const auto& [i, rep] : fn.active)
        if (rep->port) used.insert(rep->port);
    for (const auto& rep : stopping)
      if (rep->port) used.insert(rep->port);
    const int count = ports.to - ports.from + 1;
    for (int k = 0; k < count; ++k) {
      const int port = ports.from + (port_cursor + k) % count;
      if (used.count(port) || !port_bindable(port)) continue;
      port_cursor = (port - ports.from + 1) % count;
      return port;
    }
    return 0;
  }

  // ------------------------------------------------------------ lifecycle

  // Lock held.
  void schedule_restart(const RepPtr& rep, const std::string& why) {
    if (rep->ready_since && Clock::now() - *rep->ready_since >= backoff_reset_after) rep->next_backoff = 1;
    rep->ready_since.reset();
    const int delay = rep->next_backoff;
    rep->next_backoff = std::min(rep->next_backoff * 2, max_backoff_seconds);
    rep->status = why + ", restart in " + std::to_string(delay) + " s";
    spdlog::warn("process backend: {}: {}", rep->name(), rep->status);
    rep->restart_timer.expires_after(std::chrono::seconds(delay));
    rep->restart_timer.async_wait([this, rep](const boost::system::error_code& ec) {
      if (ec) return;
      std::lock_guard lock(mutex);
      if (rep->stopping || rep->pid != -1 || shutting_down) return;
      ++rep->restarts;
      spawn(rep);
    });
  }

  // Lock held. Starts the process of `rep` (or schedules a retry).
  void spawn(const RepPtr& rep) {
    auto fit = functions.find(rep->function);
    if (fit == functions.end()) return;
    const ProcessFunction& spec = fit->second.spec;
    const int port = pick_port();
    if (port == 0) {
      rep->last_exit = "no free port";
      schedule_restart(rep, "No free port in " + std::to_string(ports.from) + ".." + std::to_string(ports.to));
      return;
    }
    const std::string port_s = std::to_string(port), index_s = std::to_string(rep->index);

    // Everything the child needs is prepared here: between fork and exec
    // only async-signal-safe calls are made.
    std::vector<std::string> args;
    for (const auto& a : spec.command) args.push_back(substitute(a, port_s, index_s));
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
      std::string entry(*e);
      const std::string key = entry.substr(0, entry.find('='));
      if (!spec.environment.count(key)) env.push_back(std::move(entry));
    }
    for (const auto& [k, v] : spec.environment) env.push_back(k + "=" + substitute(v, port_s, index_s));
    const std::string cwd = spec.working_directory.empty() ? std::string()
                                                           : substitute(spec.working_directory.string(), port_s, index_s);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string exec_failed = "slimfaas: cannot execute " + (args.empty() ? std::string("(empty command)") : args[0]) + "\n";
    const std::string chdir_failed = "slimfaas: cannot change directory to " + cwd + "\n";

    const std::string log_path = (log_dir / (rep->name() + ".log")).string();
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0 || args.empty()) {
      const std::string why = args.empty() ? "empty command" : "cannot open " + log_path + ": " + std::strerror(errno);
      if (log_fd >= 0) ::close(log_fd);
      if (null_fd >= 0) ::close(null_fd);
      rep->last_exit = why;
      schedule_restart(rep, "Failed to start (" + why + ")");
      return;
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      // The guard hears of our death even when we are killed with -9.
      ::prctl(PR_SET_PDEATHSIG, guard_parent_died_signal);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
#ifdef SYS_close_range
      ::syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
      guard_and_exec(argv.data(), envp.data(), cwd.empty() ? nullptr : cwd.c_str(), chdir_failed, exec_failed);
    }
    const int fork_errno = errno;
    ::close(log_fd);
    ::close(null_fd);
    if (pid < 0) {
      rep->last_exit = std::string("fork: ") + std::strerror(fork_errno);
      schedule_restart(rep, "Failed to start (" + rep->last_exit + ")");
      return;
    }
    ::setpgid(pid, pid);  // also from here, so kill(-pid) works at once
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      // Cannot watch it: do not leave it running unobserved.
      spdlog::error("process backend: pidfd_open({}) failed: {}", pid, std::strerror(errno));
      ::kill(-pid, SIGKILL);
      int st = 0;
      ::waitpid(pid, &st, 0);
      rep->last_exit = "pidfd_open failed";
      schedule_restart(rep, "Failed to start (pidfd_open failed)");
      return;
    }
    rep->pid = pid;
    rep->port = static_cast<std::uint16_t>(port);
    rep->ready = false;
    rep->startup_failed = false;
    rep->status = "Starting";
    const std::uint64_t gen = ++rep->health_gen;
    spdlog::info("process backend: {} started (pid {}, port {})", rep->name(), pid, port);
    rep->pidfd = std::make_unique<asio::posix::stream_descriptor>(io, pidfd);
    rep->pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                           [this, rep, pid](const boost::system::error_code& ec) {
                             if (ec == asio::error::operation_aborted) return;
                             on_exit(rep, pid);
                           });
    asio::co_spawn(io, health_loop(rep, gen, rep->host, rep->port, spec.health), asio::detached);
  }

  void on_exit(const RepPtr& rep, pid_t pid) {
    bool changed = false;
    {
      std::lock_guard lock(mutex);
      if (rep->pid != pid) return;
      ::kill(-pid, SIGKILL);  // whatever else is left in its group
      int st = 0;
      std::string how = ::waitpid(pid, &st, 0) == pid ? describe_exit(st) : "unknown status";
      rep->pidfd.reset();
      rep->kill_timer.cancel();
      rep->pid = -1;
      rep->port = 0;
      changed = rep->ready;
      rep->ready = false;
      ++rep->health_gen;
      if (rep->stopping) {
        rep->status = "Stopped";
        spdlog::info("process backend: {} stopped ({})", rep->name(), how);
        stopping.erase(rep);
        changed = false;  // not in the list any more
        if (shutting_down && stopping.empty() && !all_stopped_set) {
          all_stopped_set = true;
          all_stopped.set_value();
        }
      } else {
        if (rep->startup_failed) how = "not healthy within " + std::to_string(functions.at(rep->function).spec.health.startup_timeout_seconds) + " s";
        rep->last_exit = how;
        schedule_restart(rep, "Crashed (" + how + ")");
      }
    }
    if (changed) report(rep->function);
  }

  void set_ready(const RepPtr& rep, bool ready) {
    {
      std::lock_guard lock(mutex);
      rep->ready = ready;
      rep->status = ready ? "Ready" : "Not ready";
      if (ready) rep->ready_since = Clock::now();
    }
    spdlog::info("process backend: {} {}", rep->name(), ready ? "ready" : "not ready");
    report(rep->function);
  }

  asio::awaitable<void> health_loop(RepPtr rep, std::uint64_t gen, std::string host, std::uint16_t port,
                                    ProcessHealth health) {
    asio::steady_timer timer(io);
    boost::system::error_code ec;
    const auto timeout = std::chrono::milliseconds(std::max(1, health.timeout_seconds) * 1000);
    const auto spawned = Clock::now();
    const auto deadline = spawned + std::chrono::seconds(health.startup_timeout_seconds);
    for (;;) {
      const bool ok = co_await probe(host, port, health.path, timeout);
      if (rep->health_gen != gen) co_return;
      if (ok) {
        set_ready(rep, true);
        break;
      }
      // A debug target is someone else's process: keep waiting for it.
      if (Clock::now() >= deadline && !rep->debug) {
        std::lock_guard lock(mutex);
        rep->startup_failed = true;
        rep->status = "Not healthy after " + std::to_string(health.startup_timeout_seconds) + " s, killing";
        spdlog::warn("process backend: {}: {}", rep->name(), rep->status);
        if (rep->pid > 0) ::kill(-rep->pid, SIGKILL);
        co_return;
      }
      timer.expires_after(startup_retry(Clock::now() - spawned));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (rep->health_gen != gen) co_return;
    }
    for (;;) {
      timer.expires_after(std::chrono::seconds(std::max(1, health.period_seconds)));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (rep->health_gen != gen) co_return;
      const bool ok = co_await probe(host, port, health.path, timeout);
      if (rep->health_gen != gen) co_return;
      if (ok != rep->ready) set_ready(rep, ok);
    }
  }

  // Lock held. Takes `rep` out of service and stops its process.
  void stop_replica(const RepPtr& rep) {
    rep->stopping = true;
    rep->ready = false;
    ++rep->health_gen;
    rep->restart_timer.cancel();
    if (rep->pid <= 0) {
      rep->status = "Stopped";
      return;
    }
    rep->status = "Stopping";
    stopping.insert(rep);
    ::kill(-rep->pid, SIGTERM);
    const pid_t pid = rep->pid;
    rep->kill_timer.expires_after(grace);
    rep->kill_timer.async_wait([rep, pid](const boost::system::error_code& ec) {
      if (ec || rep->pid != pid) return;
      spdlog::warn("process backend: {} did not stop within the grace period; SIGKILL", rep->name());
      ::kill(-pid, SIGKILL);
    });
  }

  void reconcile(const std::string& name, int wanted) {
    bool changed = false;
    {
      std::lock_guard lock(mutex);
      if (shutting_down) return;
      auto it = functions.find(name);
      if (it == functions.end()) {
        spdlog::warn("process backend: scale of unknown function {}", name);
        return;
      }
      Fn& fn = it->second;
      if (fn.spec.debug_endpoint) {
        // One replica at the debug address, whatever is asked.
        if (fn.active.empty()) {
          auto rep = std::make_shared<Rep>(io, name, 0);
          rep->debug = true;
          rep->host = fn.spec.debug_endpoint->host;
          rep->port = fn.spec.debug_endpoint->port;
          const std::uint64_t gen = ++rep->health_gen;
          fn.active.emplace(0, rep);
          spdlog::info("process backend: {} routes to {}:{} (debugUrl)", rep->name(), rep->host, rep->port);
          asio::co_spawn(io, health_loop(rep, gen, rep->host, rep->port, fn.spec.health), asio::detached);
          changed = true;
        }
      } else {
      const int target = std::clamp(wanted, 0, std::max(0, fn.config.max_replicas()));
      while (!fn.active.empty() && std::prev(fn.active.end())->first >= target) {
        auto last = std::prev(fn.active.end());
        stop_replica(last->second);
        fn.active.erase(last);
        changed = true;
      }
      for (int i = 0; i < target; ++i) {
        if (fn.active.count(i)) continue;
        auto rep = std::make_shared<Rep>(io, name, i);
        fn.active.emplace(i, rep);
        spawn(rep);
        changed = true;
      }
      }
    }
    if (changed) report(name);
  }

  void stop_all() {
    std::lock_guard lock(mutex);
    shutting_down = true;
    for (auto& [name, fn] : functions) {
      for (auto& [i, rep] : fn.active) stop_replica(rep);
      fn.active.clear();
    }
    if (stopping.empty() && !all_stopped_set) {
      all_stopped_set = true;
      all_stopped.set_value();
    }
  }
};

ProcessBackend::ProcessBackend(std::vector<ProcessFunction> functions, ProcessPortRange ports,
                               std::filesystem::path state_directory, std::chrono::milliseconds stop_grace)
    : impl_(std::make_shared<Impl>()) {
  if (ports.from < 1 || ports.to > 65535 || ports.from > ports.to)
    throw std::invalid_argument("process backend: bad port range " + std::to_string(ports.from) + ".." +
                                std::to_string(ports.to));
  impl_->ports = ports;
  impl_->grace = stop_grace;
  impl_->log_dir = state_directory / "logs";
  std::filesystem::create_directories(impl_->log_dir);
  for (auto& f : functions) {
    if (impl_->functions.count(f.name)) throw std::invalid_argument("process backend: duplicate function " + f.name);
    Fn fn;
    fn.config = parse_annotations(f.annotations);
    for (const auto& p : fn.config.problems) spdlog::warn("process backend: {}: {}", f.name, p);
    fn.spec = std::move(f);
    impl_->order.push_back(fn.spec.name);
    impl_->functions.emplace(fn.spec.name, std::move(fn));
  }
  for (const auto& name : impl_->order) {
    const int min = impl_->functions.at(name).config.replicas_min;
    asio::post(impl_->io, [impl = impl_.get(), name, min] { impl->reconcile(name, min); });
  }
  thread_ = std::thread([impl = impl_.get()] {
    for (;;) {
      try {
        impl->io.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("process backend: {}", e.what());
      }
    }
  });
}

ProcessBackend::~ProcessBackend() { stop(); }

void ProcessBackend::stop() {
  std::lock_guard guard(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  auto done = impl_->all_stopped.get_future();
  asio::post(impl_->io, [impl = impl_.get()] { impl->stop_all(); });
  if (done.wait_for(impl_->grace + std::chrono::seconds(5)) != std::future_status::ready)
    spdlog::error("process backend: replicas did not stop in time; killing them");
  impl_->work.reset();
  impl_->io.stop();
  if (thread_.joinable()) thread_.join();
  // Belt and braces: nothing may outlive the backend.
  std::lock_guard lock(impl_->mutex);
  for (const auto& rep : impl_->stopping) {
    if (rep->pid <= 0) continue;
    ::kill(-rep->pid, SIGKILL);
    int st = 0;
    ::waitpid(rep->pid, &st, 0);
    rep->pid = -1;
  }
}

std::vector<FunctionDefinition> ProcessBackend::functions() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<FunctionDefinition> out;
  for (const auto& name : impl_->order) {
    const Fn& fn = impl_->functions.at(name);
    FunctionDefinition def;
    def.name = name;
    def.annotations = fn.spec.annotations;
    def.config = fn.config;
    def.replicas = impl_->replicas_of(fn);
    out.push_back(std::move(def));
  }
  return out;
}

void ProcessBackend::scale(const std::string& function, int replicas) {
  asio::post(impl_->io, [impl = impl_.get(), function, replicas] { impl->reconcile(function, replicas); });
}

void ProcessBackend::set_listener(Listener listener) {
  asio::post(impl_->io, [impl = impl_.get(), listener = std::move(listener)]() mutable {
    {
      std::lock_guard lock(impl->mutex);
      impl->listener = std::move(listener);
    }
    for (const auto& name : impl->order) impl->report(name);
  });
}

std::vector<ReplicaStatus> ProcessBackend::status(const std::string& function) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<ReplicaStatus> out;
  auto add = [&](const RepPtr& rep) {
    out.push_back(ReplicaStatus{rep->index, rep->name(), rep->pid, rep->port, rep->ready, rep->status, rep->restarts,
                                rep->last_exit});
  };
  if (auto it = impl_->functions.find(function); it != impl_->functions.end())
    for (const auto& [i, rep] : it->second.active) add(rep);
  for (const auto& rep : impl_->stopping)
    if (rep->function == function) add(rep);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
  return out;
}

}  // namespace slimfaas::k8s
