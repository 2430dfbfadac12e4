// Benchmark helper for scenario 2 (bench/async.py): both ends of an async
// call, timed on one clock (CLOCK_MONOTONIC through std::chrono::steady_clock,
// so the sender's and the receiver's times compare directly).
//
//   async_peer receive --out FILE
//     A minimal HTTP/1.1 function on 127.0.0.1 (one thread per connection,
//     keep-alive, Content-Length bodies). Prints "PORT <n>" on stdout. Every
//     request carrying SlimFaas-Element-Id is recorded at handler start (the
//     request fully read) and answered 200 with an empty body.
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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

bool send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

struct Message {
  std::string start_line;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

// Reads one HTTP/1.1 message (Content-Length framing) from `fd`, keeping
// the bytes after it in `buffer`. nullopt on EOF or error.
std::optional<Message> read_message(int fd, std::string& buffer) {
  char chunk[65536];
  auto head_end = buffer.find("\r\n\r\n");
  while (head_end == std::string::npos) {
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(n));
    head_end = buffer.find("\r\n\r\n");
  }
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
  if (m.headers.count("transfer-encoding")) {
    std::cerr << "async_peer: chunked bodies are not supported\n";
    return std::nullopt;
  }
  std::size_t length = m.headers.count("content-length") ? std::stoul(m.headers["content-length"]) : 0;
  while (buffer.size() < head_end + 4 + length) {
    auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  m.body = buffer.substr(head_end + 4, length);
  buffer.erase(0, head_end + 4 + length);
  return m;
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

std::mutex g_mutex;
std::vector<Arrival> g_arrivals;

void serve(int c, const std::string& out_path) {
  std::string buffer;
  for (;;) {
    auto m = read_message(c, buffer);
    if (!m) break;
    const long long at = now_ns();  // handler start: the request is read
    auto sp1 = m->start_line.find(' ');
    auto sp2 = m->start_line.find(' ', sp1 + 1);
    std::string target = m->start_line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string reply_body;
    auto id = m->headers.find("slimfaas-element-id");
    if (id != m->headers.end()) {
      auto tn = m->headers.find("slimfaas-try-number");
      std::lock_guard lock(g_mutex);
      g_arrivals.push_back({id->second, at, tn == m->headers.end() ? "-" : tn->second});
    } else if (target == "/__stats") {
      std::lock_guard lock(g_mutex);
      reply_body = "{\"requests\":" + std::to_string(g_arrivals.size()) + "}";
    } else if (target == "/__dump") {
      std::lock_guard lock(g_mutex);
      std::ofstream f(out_path, std::ios::trunc);
      for (auto& a : g_arrivals) f << a.id << ' ' << a.at_ns << ' ' << a.try_number << '\n';
      reply_body = "{\"written\":" + std::to_string(g_arrivals.size()) + "}";
    }
    std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(reply_body.size()) + "\r\n\r\n" + reply_body;
    if (!send_all(c, reply)) break;
  }
  ::close(c);
}

int receive(const std::map<std::string, std::string>& args) {
  const std::string out = args.at("out");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(args.count("port") ? std::stoi(args.at("port")) : 0));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1024) != 0) {
    std::perror("async_peer: listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::cout << "PORT " << ntohs(addr.sin_port) << std::endl;
  for (;;) {
    int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(serve, c, out).detach();
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
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
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
  const std::string head = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                           "Content-Length: " + std::to_string(payload) + "\r\n\r\n";
  const std::string request = head + body;

  std::atomic<long long> next{0};
  const long long start = now_ns();
  const long long deadline = duration > 0 ? start + static_cast<long long>(duration * 1e9) : 0;
  std::vector<std::vector<Record>> per_worker(static_cast<std::size_t>(concurrency));
  std::atomic<long long> transport_errors{0};

  auto worker = [&](int w) {
    auto& records = per_worker[static_cast<std::size_t>(w)];
    int fd = -1;
    std::string buffer;
    for (;;) {
      const long long seq = next.fetch_add(1);
      if (count >= 0 && seq >= count) break;
      if (interval_ns > 0) {
        const long long slot = start + seq * interval_ns;
        const long long wait = slot - now_ns();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
      }
      if (deadline && now_ns() >= deadline) break;
      if (fd < 0) {
        fd = connect_to(port);
        buffer.clear();
      }
      Record r{seq, now_ns(), 0, 0, "-"};
      std::optional<Message> m;
      if (fd >= 0 && send_all(fd, request)) m = read_message(fd, buffer);
      r.done_ns = now_ns();
      if (m) {
        auto sp = m->start_line.find(' ');
        r.status = std::atoi(m->start_line.c_str() + sp + 1);
        auto id = m->headers.find("slimfaas-element-id");
        if (id != m->headers.end()) r.id = id->second;
        auto conn = m->headers.find("connection");
        if (conn != m->headers.end() && lower(conn->second) == "close") {
          ::close(fd);
          fd = -1;
        }
      } else {
        ++transport_errors;
        if (fd >= 0) ::close(fd);
        fd = -1;
      }
      records.push_back(std::move(r));
    }
    if (fd >= 0) ::close(fd);
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) threads.emplace_back(worker, w);
  for (auto& t : threads) t.join();
  const long long end = now_ns();

  std::ofstream f(args.at("out"), std::ios::trunc);
  long long total = 0, accepted = 0;
  for (auto& records : per_worker)
    for (auto& r : records) {
      f << r.seq << ' ' << r.sent_ns << ' ' << r.done_ns << ' ' << r.status << ' ' << r.id << '\n';
      ++total;
      if (r.status == 202) ++accepted;
    }
  std::cout << "{\"requests\":" << total << ",\"accepted\":" << accepted << ",\"transport_errors\":" << transport_errors
            << ",\"start_ns\":" << start << ",\"end_ns\":" << end << "}" << std::endl;
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
