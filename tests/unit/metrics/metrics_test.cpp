#include "server/metrics/metrics.h"

#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace parley::metrics {
namespace {

// A strict reader of the Prometheus text format 0.0.4, enough to check what renderPrometheus() writes:
// every line is a HELP, a TYPE or a sample; a family's HELP and TYPE come once, before its samples;
// samples belong to the family announced last (histograms: _bucket/_sum/_count); label values are
// correctly escaped; values parse as floats; the text ends with a line feed.
struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;
  std::map<std::string, double> samples;  // "name{labels}" as written -> value
  std::string error;
};

Parsed parse(const std::string& text) {
  Parsed p;
  if (!text.empty() && text.back() != '\n') {
    p.error = "no final line feed";
    return p;
  }
  std::string family;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    auto fail = [&](const std::string& why) {
      if (p.error.empty()) p.error = why + ": " + line;
    };
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      std::string rest = line.substr(7);
      auto sp = rest.find(' ');
      if (sp == std::string::npos) {
        fail("metadata without a value");
        continue;
      }
      std::string name = rest.substr(0, sp), value = rest.substr(sp + 1);
      if (!validMetricName(name)) fail("bad family name");
      if (line[2] == 'H') {
        if (p.help.count(name)) fail("second HELP");
        for (std::size_t i = 0; i < value.size(); ++i)
          if (value[i] == '\\' && (i + 1 >= value.size() || (value[i + 1] != '\\' && value[i + 1] != 'n')))
            fail("bad escape in HELP");
          else if (value[i] == '\\')
            ++i;
        p.help[name] = value;
      } else {
        if (p.types.count(name)) fail("second TYPE");
        if (value != "counter" && value != "gauge" && value != "histogram" && value != "summary" &&
            value != "untyped")
          fail("unknown type");
        p.types[name] = value;
      }
      family = name;
      continue;
    }
    if (line.empty() || line[0] == '#') {
      fail("unexpected comment or empty line");
      continue;
    }
    // name{labels} value
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    std::string name = line.substr(0, i);
    if (!validMetricName(name)) fail("bad sample name");
    bool ok = name == family;
    if (p.types[family] == "histogram")
      ok = name == family + "_bucket" || name == family + "_sum" || name == family + "_count";
    if (!ok) fail("sample outside its family");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos || !validLabelName(line.substr(i, eq - i))) {
          fail("bad label name");
          break;
        }
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          fail("label value not quoted");
          break;
        }
        ++i;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            if (i + 1 >= line.size() || (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n'))
              fail("bad escape in label value");
            ++i;
          }
          ++i;
        }
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) {
        fail("unterminated labels");
        continue;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      fail("no space before the value");
      continue;
    }
    std::string key = line.substr(0, i), value = line.substr(i + 1);
    double v = 0;
    if (value == "+Inf")
      v = INFINITY;
    else if (value == "-Inf")
      v = -INFINITY;
    else if (value == "NaN")
      v = NAN;
    else {
      std::size_t used = 0;
      try {
        v = std::stod(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != value.size() || value.empty()) fail("value is not a float");
    }
    if (p.samples.count(key)) fail("duplicate series");
    p.samples[key] = v;
  }
  return p;
}

TEST(MetricsTest, CountersAndGaugesRender) {
  Registry r;
  auto& c = r.counter("parley_test_events_total", "Events seen.");
  c.inc();
  c.inc(41);
  auto& g = r.gauge("parley_test_queue", "Items queued.");
  g.set(10);
  g.dec(2.5);
  const std::string text = r.renderPrometheus();
  EXPECT_EQ(text,
            "# HELP parley_test_events_total Events seen.\n"
            "# TYPE parley_test_events_total counter\n"
            "parley_test_events_total 42\n"
            "# HELP parley_test_queue Items queued.\n"
            "# TYPE parley_test_queue gauge\n"
            "parley_test_queue 7.5\n");
  auto p = parse(text);
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(r.value("parley_test_events_total"), 42);
  EXPECT_EQ(r.value("parley_test_queue"), 7.5);
  EXPECT_FALSE(r.value("parley_test_missing"));
}

TEST(MetricsTest, EmptyRegistryRendersNothing) {
  Registry r;
  EXPECT_EQ(r.renderPrometheus(), "");
}

TEST(MetricsTest, RegisteringTwiceReturnsTheSameMetric) {
  Registry r;
  auto& a = r.counter("x_total", "help", {{"kind", "a"}});
  auto& b = r.counter("x_total", "help", {{"kind", "a"}});
  EXPECT_EQ(&a, &b);
  auto& other = r.counter("x_total", "help", {{"kind", "b"}});
  EXPECT_NE(&a, &other);
  a.inc();
  other.inc(2);
  // Label order does not matter for identity.
  auto& two = r.counter("y_total", "h", {{"b", "1"}, {"a", "2"}});
  EXPECT_EQ(&two, &r.counter("y_total", "h", {{"a", "2"}, {"b", "1"}}));
  const auto text = r.renderPrometheus();
  EXPECT_NE(text.find("x_total{kind=\"a\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_total{kind=\"b\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("y_total{a=\"2\",b=\"1\"} 0\n"), std::string::npos) << text;
  EXPECT_EQ(parse(text).error, "");
  EXPECT_EQ(r.value("x_total", {{"kind", "b"}}), 2);
}

TEST(MetricsTest, ConflictingRegistrationsThrow) {
  Registry r;
  r.counter("a_total", "help");
  EXPECT_THROW(r.gauge("a_total", "help"), std::invalid_argument);
  EXPECT_THROW(r.counter("a_total", "other help"), std::invalid_argument);
  EXPECT_THROW(r.counter("1bad", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter("bad-name", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "h", {{"__reserved", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "h", {{"le", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.counter("ok_total", "h", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  r.histogram("lat_seconds", "h", {1, 2});
  EXPECT_THROW(r.counter("lat_seconds_count", "h"), std::invalid_argument);
  EXPECT_THROW(r.histogram("lat_seconds", "h", {1, 3}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h2", "h", {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h3", "h", {1, 1}), std::invalid_argument);
  r.gaugeFunction("fn", "h", [] { return 1.0; });
  EXPECT_THROW(r.gauge("fn", "h"), std::invalid_argument);
  // Nothing half-registered is rendered.
  EXPECT_EQ(parse(r.renderPrometheus()).error, "");
}

TEST(MetricsTest, EscapesHelpAndLabelValues) {
  Registry r;
  r.counter("esc_total", "line one\nback\\slash \"quoted\"", {{"path", "a\\b \"c\"\nd"}}).inc();
  const auto text = r.renderPrometheus();
  EXPECT_NE(text.find("# HELP esc_total line one\\nback\\\\slash \"quoted\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("esc_total{path=\"a\\\\b \\\"c\\\"\\nd\"} 1\n"), std::string::npos) << text;
  EXPECT_EQ(parse(text).error, "");
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry r;
  auto& h = r.histogram("parley_test_latency_seconds", "Latency.", {0.25, 0.5, 1}, {{"op", "route"}});
  for (double v : {0.125, 0.25, 0.375, 0.75, 2.0}) h.observe(v);
  const auto text = r.renderPrometheus();
  EXPECT_EQ(text,
            "# HELP parley_test_latency_seconds Latency.\n"
            "# TYPE parley_test_latency_seconds histogram\n"
            "parley_test_latency_seconds_bucket{op=\"route\",le=\"0.25\"} 2\n"
            "parley_test_latency_seconds_bucket{op=\"route\",le=\"0.5\"} 3\n"
            "parley_test_latency_seconds_bucket{op=\"route\",le=\"1\"} 4\n"
            "parley_test_latency_seconds_bucket{op=\"route\",le=\"+Inf\"} 5\n"
            "parley_test_latency_seconds_sum{op=\"route\"} 3.5\n"
            "parley_test_latency_seconds_count{op=\"route\"} 5\n");
  EXPECT_EQ(parse(text).error, "");
  EXPECT_EQ(h.count(), 5u);
}

TEST(MetricsTest, GaugeFunctionsAreReadAtRenderTime) {
  Registry r;
  double level = 3;
  r.gaugeFunction("parley_test_level", "Level.", [&level] { return level; });
  EXPECT_NE(r.renderPrometheus().find("parley_test_level 3\n"), std::string::npos);
  level = 4.25;
  EXPECT_NE(r.renderPrometheus().find("parley_test_level 4.25\n"), std::string::npos);
  EXPECT_EQ(r.value("parley_test_level"), 4.25);
}

TEST(MetricsTest, FormatsSpecialValues) {
  EXPECT_EQ(formatValue(0), "0");
  EXPECT_EQ(formatValue(-3), "-3");
  EXPECT_EQ(formatValue(1e20), "1e+20");
  EXPECT_EQ(formatValue(0.1), "0.1");
  EXPECT_EQ(formatValue(INFINITY), "+Inf");
  EXPECT_EQ(formatValue(-INFINITY), "-Inf");
  EXPECT_EQ(formatValue(NAN), "NaN");
  Registry r;
  r.gauge("g_inf", "h").set(INFINITY);
  r.gauge("g_nan", "h").set(NAN);
  EXPECT_EQ(parse(r.renderPrometheus()).error, "");
}

TEST(MetricsTest, CounterPastTwoToThe53IsExact) {
  Registry r;
  auto& c = r.counter("big_total", "h");
  c.inc(9007199254740993ull);
  EXPECT_NE(r.renderPrometheus().find("big_total 9007199254740993\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  auto& c = r.counter("conc_total", "h");
  auto& g = r.gauge("conc_gauge", "h");
  auto& h = r.histogram("conc_seconds", "h", latencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        g.inc();
        h.observe(0.001);
        if (i % 1000 == 0) (void)r.renderPrometheus();  // rendering while others update
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(g.value(), 40000);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_EQ(h.cumulativeCounts().back(), 40000u);
  EXPECT_EQ(parse(r.renderPrometheus()).error, "");
}

TEST(MetricsTest, TheCheckerCatchesBrokenText) {
  EXPECT_NE(parse("a 1").error, "");                                      // no final line feed
  EXPECT_NE(parse("# TYPE a counter\nb 1\n").error, "");                  // sample of another family
  EXPECT_NE(parse("# TYPE a counter\na{x=\"1} 1\n").error, "");           // unterminated
  EXPECT_NE(parse("# TYPE a counter\na{x=\"\\q\"} 1\n").error, "");       // bad escape
  EXPECT_NE(parse("# TYPE a counter\na one\n").error, "");                // not a float
  EXPECT_NE(parse("# TYPE a counter\n# TYPE a gauge\na 1\n").error, "");  // second TYPE
  EXPECT_EQ(parse("# TYPE a counter\na{x=\"1\"} 1\n").error, "");
}

}  // namespace
}  // namespace parley::metrics
