#include "net/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace slimfaas::net::metrics {
namespace {

void append_escaped(std::string& out, const std::string& value) {
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
}

void append_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    // The shortest form that reads back exactly: le="0.1", not 0.10000000000000001.
    for (int precision = 1; precision <= 17; ++precision) {
      std::snprintf(buf, sizeof buf, "%.*g", precision, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
  }
  out += buf;
}

// HELP text escapes backslash and newline (label values also escape quotes).
std::string escape_help(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

void atomic_add(std::atomic<double>& target, double by) {
  double cur = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(cur, cur + by, std::memory_order_relaxed)) {
  }
}

}  // namespace

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // The count is the +Inf bucket so that the exposition stays consistent even
  // while observations race with rendering.
  s.count = running;
  return s;
}

std::string FamilyBase::label_text(const Labels& values, const char* extra_name,
                                   const std::string& extra_value) const {
  if (label_names_.empty() && !extra_name) return {};
  std::string out = "{";
  bool first = true;
  for (std::size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += label_names_[i];
    out += "=\"";
    append_escaped(out, values[i]);
    out += '"';
  }
  if (extra_name) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
  return out;
}

void FamilyBase::render_header(std::string& out) const {
  out += "# HELP " + name_ + " " + escape_help(help_) + "\n";
  out += "# TYPE " + name_ + " ";
  out += type_ == Type::counter ? "counter" : type_ == Type::gauge ? "gauge" : "histogram";
  out += '\n';
}

template <>
void Family<Counter>::render(std::string& out) const {
  render_header(out);
  std::lock_guard lock(mutex_);
  for (const auto& [labels, child] : children_) {
    out += name_ + label_text(labels) + ' ';
    append_number(out, static_cast<double>(child->value()));
    out += '\n';
  }
}

template <>
void Family<Gauge>::render(std::string& out) const {
  render_header(out);
  std::lock_guard lock(mutex_);
  for (const auto& [labels, child] : children_) {
    out += name_ + label_text(labels) + ' ';
    append_number(out, child->value());
    out += '\n';
  }
}

template <>
void Family<Histogram>::render(std::string& out) const {
  render_header(out);
  std::lock_guard lock(mutex_);
  for (const auto& [labels, child] : children_) {
    auto snap = child->snapshot();
    const auto& bounds = child->bounds();
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
      std::string le;
      if (i < bounds.size()) {
        append_number(le, bounds[i]);
      } else {
        le = "+Inf";
      }
      out += name_ + "_bucket" + label_text(labels, "le", le) + ' ';
      append_number(out, static_cast<double>(snap.cumulative[i]));
      out += '\n';
    }
    out += name_ + "_sum" + label_text(labels) + ' ';
    append_number(out, snap.sum);
    out += '\n' + name_ + "_count" + label_text(labels) + ' ';
    append_number(out, static_cast<double>(snap.count));
    out += '\n';
  }
}

Family<Counter>& Registry::counter(const std::string& name, const std::string& help,
                                   std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  families_.push_back(std::make_unique<Family<Counter>>(name, help, std::move(labels), Type::counter));
  return static_cast<Family<Counter>&>(*families_.back());
}

Family<Gauge>& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  families_.push_back(std::make_unique<Family<Gauge>>(name, help, std::move(labels), Type::gauge));
  return static_cast<Family<Gauge>&>(*families_.back());
}

Family<Histogram>& Registry::histogram(const std::string& name, const std::string& help,
                                       std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  families_.push_back(std::make_unique<Family<Histogram>>(name, help, std::move(labels), Type::histogram));
  return static_cast<Family<Histogram>&>(*families_.back());
}

void Registry::on_collect(std::function<void()> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
  std::string out;
  out.reserve(4096);
  std::lock_guard lock(mutex_);
  for (const auto& collect : collectors_) collect();
  for (const auto& family : families_) family->render(out);
  return out;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> buckets{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                           0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,
                                           30,     60,      120};
  return buckets;
}

}  // namespace slimfaas::net::metrics
