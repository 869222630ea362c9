#include "app/check_keys.h"

#include "app/app.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <thread>

#include "common/names.h"
#include "config/config.h"
#include "keypool/key_file.h"
#include "proxy/probe.h"
#include "upstream/egress.h"
#include "upstream/upstream.h"

namespace gkm {
namespace {

namespace asio = boost::asio;

constexpr const char* kUsage =
    "Usage: gemini-key-manager check-keys [--json] [--model M] [--concurrency N] [OPTIONS]\n"
    "\n"
    "Probes every key of the key file once (GET models?pageSize=1; with --model M, a\n"
    "one-token generateContent of M) and prints id, masked key, project, verdict and latency.\n"
    "Exit status 0 when every key is usable, 1 when some is not, 2 on bad arguments.\n"
    "\n"
    "  --json             one JSON document instead of the table\n"
    "  --model M          probe with a one-token generate of model M\n"
    "  --concurrency N    probes at once, 1..256 (default 4)\n"
    "\n"
    "OPTIONS are the proxy's (see gemini-key-manager --help): --keys, --upstream,\n"
    "--upstream-ca, --upstream-timeout, --bare-429, --config ...\n";

struct Args {
  bool json = false;
  std::string model;
  size_t concurrency = 4;
  std::vector<std::string> rest{"gemini-key-manager"};  // for LoadConfig
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "gemini-key-manager check-keys: %s\n", message.c_str());
  return 2;
}

// Takes this subcommand's own flags out of `args`; false with *error on a bad one.
bool ParseArgs(const std::vector<std::string>& args, Args* out, std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string name(a.substr(0, a.find('=')));
    std::optional<std::string> value;
    if (a.find('=') != std::string_view::npos) value = std::string(a.substr(a.find('=') + 1));
    auto take = [&]() -> bool {
      if (value) return true;
      if (i + 1 >= args.size() || args[i + 1].starts_with("--")) {
        *error = name + ": missing value";
        return false;
      }
      value = args[++i];
      return true;
    };
    if (name == "--json" && !value) {
      out->json = true;
    } else if (name == "--model") {
      if (!take()) return false;
      std::string m = value->starts_with("models/") ? value->substr(7) : *value;
      if (auto p = ModelNameProblem(m); !p.empty()) {
        *error = "--model: " + p;
        return false;
      }
      out->model = m;
    } else if (name == "--concurrency") {
      if (!take()) return false;
      char* end = nullptr;
      long n = std::strtol(value->c_str(), &end, 10);
      if (value->empty() || *end != '\0' || n < 1 || n > 256) {
        *error = "--concurrency: expected a whole number 1..256, got \"" + Printable(*value) + "\"";
        return false;
      }
      out->concurrency = static_cast<size_t>(n);
    } else {
      out->rest.push_back(args[i]);
    }
  }
  return true;
}

struct Row {
  std::string id, masked, project;
  ProbeResult r;
  bool usable() const { return r.verdict.outcome == Outcome::kSuccess; }
};

std::string Detail(const Row& row) {
  std::string d = row.r.status ? std::to_string(row.r.status) : "-";
  if (!row.r.verdict.reason.empty()) d += " " + row.r.verdict.reason;
  return d;
}

void PrintTable(const std::vector<Row>& rows) {
  std::vector<std::array<std::string, 6>> lines;
  lines.push_back({"ID", "KEY", "PROJECT", "VERDICT", "LATENCY", "DETAIL"});
  for (const Row& row : rows) {
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.0f ms", row.r.latency_ms);
    lines.push_back({row.id, row.masked, row.project.empty() ? "-" : Printable(row.project),
                     std::string(OutcomeName(row.r.verdict.outcome)), ms, Detail(row)});
  }
  std::array<size_t, 6> width{};
  for (const auto& l : lines) {
    for (size_t c = 0; c < l.size(); ++c) width[c] = std::max(width[c], l[c].size());
  }
  for (const auto& l : lines) {
    std::string out;
    for (size_t c = 0; c < l.size(); ++c) {
      out += l[c];
      if (c + 1 < l.size()) out += std::string(width[c] - l[c].size() + 2, ' ');
    }
    std::cout << out << "\n";
  }
  size_t usable = 0;
  for (const Row& row : rows) usable += row.usable();
  std::cout << usable << " of " << rows.size() << " keys usable\n";
}

void PrintJson(const std::vector<Row>& rows, const std::string& model) {
  boost::json::object root;
  boost::json::array keys;
  size_t usable = 0;
  for (const Row& row : rows) {
    boost::json::object o;
    o["id"] = row.id;
    o["key"] = row.masked;
    o["project"] = row.project.empty() ? boost::json::value(nullptr)
                                       : boost::json::value(ValidUtf8(row.project));
    o["verdict"] = std::string(OutcomeName(row.r.verdict.outcome));
    o["usable"] = row.usable();
    o["http_status"] = row.r.status;
    o["reason"] = row.r.verdict.reason.empty()
                      ? boost::json::value(nullptr)
                      : boost::json::value(ValidUtf8(row.r.verdict.reason));
    o["latency_ms"] = std::round(row.r.latency_ms * 10) / 10;
    usable += row.usable();
    keys.push_back(std::move(o));
  }
  root["model"] = model.empty() ? boost::json::value(nullptr) : boost::json::value(model);
  root["total"] = rows.size();
  root["usable"] = usable;
  root["keys"] = std::move(keys);
  std::cout << boost::json::serialize(root) << "\n";
}

}  // namespace

int RunCheckKeys(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
  }
  Args parsed;
  std::string error;
  if (!ParseArgs(args, &parsed, &error)) return Fail(error);
  ConfigResult loaded = LoadConfig(parsed.rest, env, std::thread::hardware_concurrency());
  if (auto* e = std::get_if<ConfigError>(&loaded)) return Fail(e->message);
  if (!std::holds_alternative<Config>(loaded)) return Fail("unexpected argument (see --help)");
  const Config& cfg = std::get<Config>(loaded);

  KeyFile keys;
  if (!LoadKeyFile(cfg.keys_file, &keys, &error)) return Fail(error);
  for (const auto& w : keys.warnings)
    std::fprintf(stderr, "%s: %s\n", cfg.keys_file.c_str(), w.c_str());
  auto tls = MakeUpstreamTls(cfg, &error);
  if (cfg.upstream.tls && !tls) return Fail(error);
  // Probes leave as requests do: through each key's egress proxy.
  std::shared_ptr<Egress> egress = Egress::Make(cfg, &error);
  if (!egress) return Fail(error);
  for (const auto& p : egress->SetKeyProxies(ProxyPins(keys))) {
    std::fprintf(stderr, "%s: %s\n", cfg.keys_file.c_str(), p.c_str());
  }

  std::vector<Row> rows(keys.keys.size());
  std::vector<std::shared_ptr<const ApiKey>> shared;
  for (size_t i = 0; i < keys.keys.size(); ++i) {
    rows[i].id = keys.keys[i].id();
    rows[i].masked = keys.keys[i].masked();
    rows[i].project = keys.attributes[i].project;
    shared.push_back(std::make_shared<const ApiKey>(std::move(keys.keys[i])));
  }
  ProbeOptions options;
  options.model = parsed.model;
  options.timeout = std::min<std::chrono::seconds>(cfg.upstream_timeout, std::chrono::seconds(30));
  options.bare429 = cfg.bare_429_cooling ? Bare429::kCooling : Bare429::kDay;

  asio::io_context io;
  UpstreamPool up(io.get_executor(), cfg.upstream, tls, std::chrono::seconds(10),
                  parsed.concurrency);
  up.SetEgress(egress);
  size_t next = 0;
  const size_t workers = std::min(parsed.concurrency, shared.size());
  size_t running = workers;
  // N workers take the keys in turn: at most N probes at once. The last one closes the
  // kept-alive connections (their timers would hold io.run() for a timeout period).
  for (size_t w = 0; w < workers; ++w) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          while (next < shared.size()) {
            size_t i = next++;
            try {
              rows[i].r = co_await ProbeKey(up, shared[i], options);
            } catch (const std::exception& e) {
              rows[i].r.verdict = TransportFailure(std::string("probe failed: ") + e.what());
            }
          }
          if (--running == 0) up.CloseIdle();
        },
        asio::detached);
  }
  io.run();

  if (parsed.json) {
    PrintJson(rows, parsed.model);
  } else {
    PrintTable(rows);
  }
  for (const Row& row : rows) {
    if (!row.usable()) return 1;
  }
  return 0;
}

}  // namespace gkm
