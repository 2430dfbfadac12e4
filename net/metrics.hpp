#pragma once
// A small Prometheus metrics registry: counters, gauges and histograms with
// labels, safe to update from any thread, rendered in the text exposition
// format (version 0.0.4). Children have stable addresses, so hot paths look a
// child up once and then update it with a single atomic operation.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace slimfaas::net::metrics {

using Labels = std::vector<std::string>;  // values, in the family's label order

class Counter {
 public:
  void inc(std::uint64_t by = 1) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double by) noexcept {
    double cur = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(cur, cur + by, std::memory_order_relaxed)) {
    }
  }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double v) noexcept;
  // Cumulative counts per bound, then +Inf; sum; count.
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // one per bound plus +Inf
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

enum class Type { counter, gauge, histogram };

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, Type type)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), type_(type) {}
  virtual ~FamilyBase() = default;
  virtual void render(std::string& out) const = 0;

 protected:
  std::string label_text(const Labels& values, const char* extra_name = nullptr,
                         const std::string& extra_value = {}) const;
  void render_header(std::string& out) const;
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  Type type_;
};

template <class T>
class Family : public FamilyBase {
 public:
  using FamilyBase::FamilyBase;
  template <class... Args>
  T& with(const Labels& values, Args&&... args) {
    std::lock_guard lock(mutex_);
    auto it = children_.find(values);
    if (it == children_.end()) {
      it = children_.emplace(values, std::make_unique<T>(std::forward<Args>(args)...)).first;
    }
    return *it->second;
  }
  // Drops a child, e.g. when a function is deleted.
  void remove(const Labels& values) {
    std::lock_guard lock(mutex_);
    children_.erase(values);
  }
  void render(std::string& out) const override;

 private:
  mutable std::mutex mutex_;
  std::map<Labels, std::unique_ptr<T>> children_;
};

class Registry {
 public:
  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> labels);
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels);
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels);
  // Runs before each render, to refresh gauges read from live state.
  void on_collect(std::function<void()> collector);
  std::string render() const;

 private:
  std::vector<std::function<void()>> collectors_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

// Default latency buckets (seconds), from 100 µs to 2 minutes.
const std::vector<double>& latency_buckets();

}  // namespace slimfaas::net::metrics
