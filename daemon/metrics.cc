#include "daemon/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/log.h"

namespace shoal {
namespace {

std::string format_double(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
std::string escape(std::string_view text, bool quotes) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quotes) out += "\\\"";
    else out += c;
  }
  return out;
}

std::string render_labels(const MetricLabels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += name + "=\"" + escape(value, true) + "\"";
  }
  return out;
}

// `name{labels,extra}` with the braces left out when both are empty.
std::string series_name(const std::string& name, const std::string& labels,
                        const std::string& extra = "") {
  std::string inner = labels;
  if (!extra.empty()) inner += (inner.empty() ? "" : ",") + extra;
  return inner.empty() ? name : name + "{" + inner + "}";
}

std::string_view type_name(int type) {
  static constexpr std::string_view kNames[] = {"counter", "gauge", "histogram"};
  return kNames[type];
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double value) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // first bound >= value
  buckets_[static_cast<size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

uint64_t Histogram::cumulative_count(size_t i) const {
  uint64_t total = 0;
  for (size_t b = 0; b <= std::min(i, bounds_.size()); ++b)
    total += buckets_[b].load(std::memory_order_relaxed);
  return total;
}

const std::vector<double>& latency_buckets_seconds() {
  static const std::vector<double> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10,    30};
  return kBounds;
}

Metrics::Series& Metrics::series(std::string_view name, std::string_view help, Type type,
                                 const MetricLabels& labels) {
  auto it = families_.find(name);
  if (it == families_.end())
    it = families_.emplace(std::string(name), Family{type, std::string(help), {}}).first;
  if (it->second.type != type) {
    // A programming error: the exposition would be invalid, so stop here, saying why.
    log_error("metrics: " + std::string(name) + " registered as a " +
              std::string(type_name(static_cast<int>(it->second.type))) + " and again as a " +
              std::string(type_name(static_cast<int>(type))));
    std::abort();
  }
  return it->second.series[render_labels(labels)];
}

Counter& Metrics::counter(std::string_view name, std::string_view help,
                          const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Series& s = series(name, help, Type::kCounter, labels);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& Metrics::gauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Series& s = series(name, help, Type::kGauge, labels);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& Metrics::histogram(std::string_view name, std::string_view help,
                              const std::vector<double>& upper_bounds,
                              const MetricLabels& labels) {
  std::lock_guard lock(mu_);
  Series& s = series(name, help, Type::kHistogram, labels);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(upper_bounds);
  return *s.histogram;
}

void Metrics::render_family(std::string& out, const std::string& name, const Family& family) {
  out += "# HELP " + name + " " + escape(family.help, false) + "\n";
  out += "# TYPE " + name + " " + std::string(type_name(static_cast<int>(family.type))) + "\n";
  for (const auto& [labels, s] : family.series) {
    if (s.counter) out += series_name(name, labels) + " " + std::to_string(s.counter->value()) + "\n";
    if (s.gauge) out += series_name(name, labels) + " " + std::to_string(s.gauge->value()) + "\n";
    if (!s.histogram) continue;
    const Histogram& h = *s.histogram;
    const std::vector<double>& bounds = h.upper_bounds();
    for (size_t i = 0; i <= bounds.size(); ++i) {
      std::string le = i < bounds.size() ? format_double(bounds[i]) : "+Inf";
      out += series_name(name + "_bucket", labels, "le=\"" + le + "\"") + " " +
             std::to_string(h.cumulative_count(i)) + "\n";
    }
    out += series_name(name + "_sum", labels) + " " + format_double(h.sum()) + "\n";
    // From the buckets, not count(), so _count always equals the +Inf bucket.
    out += series_name(name + "_count", labels) + " " +
           std::to_string(h.cumulative_count(bounds.size())) + "\n";
  }
}

std::string Metrics::render_prometheus() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) render_family(out, name, family);
  return out;
}

}  // namespace shoal
