// Benchmark helper for scenario 2 (bench/async.py): both ends of an async
// call, timed on one clock (CLOCK_MONOTONIC through std::chrono::steady_clock,
// so the sender's and the receiver's times compare directly). Each end is
// one thread on epoll: on a 2-core machine shared with three slimfaas nodes,
// a thread per connection would spend the nodes' CPU on context switches.
//
//   async_peer receive --out FILE
//     A minimal HTTP/1.1 function on 127.0.0.1 (keep-alive, Content-Length
//     bodies). Prints "PORT <n>" on stdout. Every request carrying
//     SlimFaas-Element-Id is recorded at handler start (the request fully
//     read) and answered 200 with an empty body.
//       GET /__stats -> {"requests":N}  (recorded requests so far)
//       GET /__dump  -> writes "<element id> <arrival ns> <try number>" lines
//                       to FILE, then answers 200.
//
//   async_peer send --port P --target PATH --payload BYTES --concurrency C
//                   (--count N | --duration SECONDS) [--interval-ms I] --out FILE
//     C keep-alive connections POST PATH with a body of BYTES. Request i is
//     sent no earlier than start + i * I (I = 0: as fast as the connections
//     go). Writes "<seq> <sent ns> <answered ns> <status> <element id or ->"
//     per request to FILE, then one summary line to stdout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Message {
  std::string start_line;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// Takes one complete HTTP/1.1 message (Content-Length framing) off the
// front of `buffer`; nullopt while it is incomplete. Throws on chunked
// bodies (not needed here).
std::optional<Message> take_message(std::string& buffer) {
  auto head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos) return std::nullopt;
  Message m;
  std::size_t pos = buffer.find("\r\n");
  m.start_line = buffer.substr(0, pos);
  while (pos < head_end) {
    auto next = buffer.find("\r\n", pos + 2);
    std::string line = buffer.substr(pos + 2, next - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      m.headers[lower(line.substr(0, colon))] = value;
    }
    pos = next;
  }
  if (m.headers.count("transfer-encoding")) throw std::runtime_error("chunked bodies are not supported");
  const std::size_t length = m.headers.count("content-length") ? std::stoul(m.headers["content-length"]) : 0;
  if (buffer.size() < head_end + 4 + length) return std::nullopt;
  m.body = buffer.substr(head_end + 4, length);
  buffer.erase(0, head_end + 4 + length);
  return m;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// One non-blocking connection's buffers.
struct Conn {
  int fd = -1;
  std::string in;
  std::string out;
  std::size_t out_off = 0;
  bool want_write = false;
};

// Reads what is there; false on EOF or error. A read that does not fill
// the chunk took all there was: no second read to be told so (EAGAIN).
// epoll is level-triggered here, so bytes that arrive after it, or an EOF,
// are reported again. One system call less per message on each side: this
// program shares the CPUs with what it measures.
bool fill(Conn& c) {
  char chunk[65536];
  for (;;) {
    auto n = ::recv(c.fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      c.in.append(chunk, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < sizeof chunk) return true;
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

// Writes what it can; false on error. Registers for EPOLLOUT while bytes
// are left.
bool flush(int epoll, Conn& c) {
  while (c.out_off < c.out.size()) {
    auto n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return false;
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  }
  const bool want = !c.out.empty();
  if (want != c.want_write) {
    epoll_event ev{};
    ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.fd = c.fd;
    ::epoll_ctl(epoll, EPOLL_CTL_MOD, c.fd, &ev);
    c.want_write = want;
  }
  return true;
}

void watch(int epoll, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev);
}

std::map<std::string, std::string> parse_args(int argc, char** argv, int first) {
  std::map<std::string, std::string> out;
  for (int i = first; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0) throw std::runtime_error("bad argument " + k);
    out[k.substr(2)] = argv[i + 1];
  }
  return out;
}

// ------------------------------------------------------------ receive

struct Arrival {
  std::string id;
  long long at_ns;
  std::string try_number;
};

int receive(const std::map<std::string, std::string>& args) {
  const std::string out_path = args.at("out");
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(args.count("port") ? std::stoi(args.at("port")) : 0));
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 1024) != 0) {
    std::perror("async_peer: listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  set_nonblocking(listener);
  std::cout << "PORT " << ntohs(addr.sin_port) << std::endl;

  std::vector<Arrival> arrivals;
  std::map<int, Conn> conns;
  int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  watch(epoll, listener);
  auto drop = [&](int fd) {
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
  };
  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(epoll, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int c; (c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[c].fd = c;
          watch(epoll, c);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      if (!fill(c)) {
        drop(fd);
        continue;
      }
      while (auto m = take_message(c.in)) {
        const long long at = now_ns();  // handler start: the request is read
        auto sp1 = m->start_line.find(' ');
        auto sp2 = m->start_line.find(' ', sp1 + 1);
        const std::string target = m->start_line.substr(sp1 + 1, sp2 - sp1 - 1);
        std::string reply_body;
        auto id = m->headers.find("slimfaas-element-id");
        if (id != m->headers.end()) {
          auto tn = m->headers.find("slimfaas-try-number");
          arrivals.push_back({id->second, at, tn == m->headers.end() ? "-" : tn->second});
        } else if (target == "/__stats") {
          reply_body = "{\"requests\":" + std::to_string(arrivals.size()) + "}";
        } else if (target == "/__dump") {
          std::ofstream f(out_path, std::ios::trunc);
          for (auto& a : arrivals) f << a.id << ' ' << a.at_ns << ' ' << a.try_number << '\n';
          reply_body = "{\"written\":" + std::to_string(arrivals.size()) + "}";
        }
        c.out += "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(reply_body.size()) + "\r\n\r\n" + reply_body;
      }
      if (!flush(epoll, c)) drop(fd);
    }
  }
}

// ------------------------------------------------------------ send

struct Record {
  long long seq;
  long long sent_ns;
  long long done_ns;
  int status;
  std::string id;
};

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  set_nonblocking(fd);
  return fd;
}

int send_mode(const std::map<std::string, std::string>& args) {
  const int port = std::stoi(args.at("port"));
  const std::string target = args.at("target");
  const std::size_t payload = std::stoul(args.at("payload"));
  const int concurrency = std::stoi(args.at("concurrency"));
  const long long count = args.count("count") ? std::stoll(args.at("count")) : -1;
  const double duration = args.count("duration") ? std::stod(args.at("duration")) : 0.0;
  const long long interval_ns = args.count("interval-ms") ? std::stoll(args.at("interval-ms")) * 1000000LL : 0;
  if (count < 0 && duration <= 0) throw std::runtime_error("send: --count or --duration");

  std::string body(payload, 'x');
  for (std::size_t i = 0; i < payload; ++i) body[i] = static_cast<char>('a' + i % 26);
  const std::string request = "POST " + target +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                              "Content-Length: " + std::to_string(payload) + "\r\n\r\n" + body;

  // One slot per connection: idle, or waiting for the answer to `current`.
  struct Slot {
    Conn conn;
    std::optional<Record> current;
  };
  std::vector<Slot> slots(static_cast<std::size_t>(concurrency));
  std::map<int, std::size_t> slot_of;  // fd -> slot
  std::vector<Record> records;
  long long transport_errors = 0;
  long long next = 0;
  const long long start = now_ns();
  const long long deadline = duration > 0 ? start + static_cast<long long>(duration * 1e9) : 0;
  int epoll = ::epoll_create1(EPOLL_CLOEXEC);

  auto close_slot = [&](Slot& s) {
    if (s.conn.fd < 0) return;
    ::epoll_ctl(epoll, EPOLL_CTL_DEL, s.conn.fd, nullptr);
    slot_of.erase(s.conn.fd);
    ::close(s.conn.fd);
    s.conn = Conn{};
  };
  auto fail = [&](Slot& s) {
    ++transport_errors;
    if (s.current) {
      s.current->done_ns = now_ns();
      records.push_back(std::move(*s.current));
      s.current.reset();
    }
    close_slot(s);
  };
  // Starts the next request on every idle slot whose time has come; the
  // time until the next one is due (-1: none pending).
  auto issue = [&]() -> long long {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot& s = slots[i];
      if (s.current) continue;
      if (count >= 0 && next >= count) return -1;
      const long long now = now_ns();
      if (deadline && now >= deadline) return -1;
      if (interval_ns > 0 && start + next * interval_ns > now) return start + next * interval_ns - now;
      if (s.conn.fd < 0) {
        s.conn.fd = connect_to(port);
        if (s.conn.fd < 0) {
          ++transport_errors;
          records.push_back({next++, now, now_ns(), 0, "-"});
          continue;
        }
        slot_of[s.conn.fd] = i;
        watch(epoll, s.conn.fd);
      }
      s.current = Record{next++, now_ns(), 0, 0, "-"};
      s.conn.out = request;
      s.conn.out_off = 0;
      if (!flush(epoll, s.conn)) fail(s);
    }
    return -1;
  };

  epoll_event events[256];
  for (;;) {
    const long long wait_ns = issue();
    bool busy = false;
    for (auto& s : slots) busy = busy || s.current.has_value();
    if (!busy && wait_ns < 0) break;
    const int timeout_ms = wait_ns < 0 ? 1000 : static_cast<int>((wait_ns + 999999) / 1000000);
    const int n = ::epoll_wait(epoll, events, 256, timeout_ms);
    for (int e = 0; e < n; ++e) {
      auto it = slot_of.find(events[e].data.fd);
      if (it == slot_of.end()) continue;
      Slot& s = slots[it->second];
      if ((events[e].events & EPOLLOUT) && !flush(epoll, s.conn)) {
        fail(s);
        continue;
      }
      if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      const bool open = fill(s.conn);
      std::optional<Message> m;
      try {
        m = take_message(s.conn.in);
      } catch (const std::exception&) {
        fail(s);
        continue;
      }
      if (m && s.current) {
        Record r = std::move(*s.current);
        s.current.reset();
        r.done_ns = now_ns();
        auto sp = m->start_line.find(' ');
        r.status = std::atoi(m->start_line.c_str() + sp + 1);
        auto id = m->headers.find("slimfaas-element-id");
        if (id != m->headers.end()) r.id = id->second;
        records.push_back(std::move(r));
        auto conn = m->headers.find("connection");
        if (conn != m->headers.end() && lower(conn->second) == "close") close_slot(s);
      }
      if (!open && s.conn.fd >= 0) {
        if (s.current) fail(s);
        else close_slot(s);
      }
    }
  }
  const long long end = now_ns();

  std::ofstream f(args.at("out"), std::ios::trunc);
  long long accepted = 0;
  for (auto& r : records) {
    f << r.seq << ' ' << r.sent_ns << ' ' << r.done_ns << ' ' << r.status << ' ' << r.id << '\n';
    if (r.status == 202) ++accepted;
  }
  std::cout << "{\"requests\":" << records.size() << ",\"accepted\":" << accepted
            << ",\"transport_errors\":" << transport_errors << ",\"start_ns\":" << start << ",\"end_ns\":" << end
            << "}" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::runtime_error("usage: async_peer receive|send --option value ...");
    const std::string mode = argv[1];
    auto args = parse_args(argc, argv, 2);
    if (mode == "receive") return receive(args);
    if (mode == "send") return send_mode(args);
    throw std::runtime_error("unknown mode " + mode);
  } catch (const std::exception& e) {
    std::cerr << "async_peer: " << e.what() << "\n";
    return 2;
  }
}
