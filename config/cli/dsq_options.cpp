#include "config/cli/dsq_options.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/defaults.hpp>
#include <caf/sec.hpp>

#include "base/trim.hpp"
#include "config/run_limits.hpp"
#include "config/slow_workers.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <type_traits>

namespace dsq {

namespace {

constexpr command_set local_only = static_cast<unsigned>(dsq_command::local);
constexpr command_set server_only = static_cast<unsigned>(dsq_command::server);
constexpr command_set worker_only = static_cast<unsigned>(dsq_command::worker);
constexpr command_set network_commands = server_only | worker_only;
constexpr command_set local_and_worker = local_only | worker_only;

/// A default as the help shows it; empty for flags and empty strings.
template <class T>
std::string default_text(const T& value) {
  if constexpr (std::is_same_v<T, bool>)
    return {};
  else if constexpr (std::is_same_v<T, std::string>)
    return value;
  else
    return fmt::format("{}", value);
}

} // namespace

template <class T>
void dsq_options::define(T& member, option_info info) {
  if (info.default_text == "-") // the description says what an absent value means
    info.default_text.clear();
  else if (info.default_text.empty())
    info.default_text = default_text(member);
  std::string names = info.name;
  std::string category = "global";
  if (auto dot = names.find('.'); dot != std::string::npos) {
    category = names.substr(0, dot);
    names = names.substr(dot + 1);
  }
  if (info.short_name != 0)
    names += std::string{","} + info.short_name;
  caf::config_option_adder{custom_options_, category}.add(member, names, info.description);
  options_.push_back(std::move(info));
}

dsq_options::dsq_options() {
  auto& r = run;
  using g = option_group;
  // -- run ------------------------------------------------------------------------------------
  define(r.workers, {"workers", 'n', "N", "", g::run, run_commands,
                     "number of workers (dsq local), workers to wait for before training "
                     "(dsq server, unless --min-workers)"});
  define(r.steps, {"steps", 0, "N", "-", g::run, run_commands,
                   "versions to make: synchronous steps, or asynchronous pushes (default 6000 "
                   "unless --epochs)"});
  define(r.epochs, {"epochs", 0, "E", "-", g::run, run_commands,
                    "passes over the training set, instead of --steps"});
  define(r.batch, {"batch", 'b', "N", "", g::run, run_commands, "minibatch size per worker"});
  define(r.lr, {"lr", 0, "X", "", g::run, run_commands, "step size gamma"});
  define(r.lr_schedule, {"lr-schedule", 0, "SPEC", "", g::run, run_commands,
                         "constant | step:every=N,gamma=G | cosine:total=N, each with optional "
                         ",warmup=N"});
  define(r.momentum, {"momentum", 0, "M", "", g::run, run_commands,
                      "heavy-ball momentum applied to the update on every replica"});
  define(r.seed, {"seed", 0, "N", "", g::run, run_commands,
                  "seed of initialisation, sampling and randomised operators"});
  define(r.eval_every, {"eval-every", 0, "K", "", g::run, run_commands,
                        "evaluate on the test set every K steps (0: at the end)"});
  define(r.target_accuracy, {"target-accuracy", 0, "A", "-", g::run, run_commands,
                             "end the run at the first evaluation whose test accuracy reaches A "
                             "(0 < A <= 1)"});
  define(r.verify_replicas, {"verify-replicas", 0, "K", "-", g::run, run_commands,
                             "every K steps, check that each worker's model equals the server's "
                             "bit for bit (0: never)"});
  // -- model and data -------------------------------------------------------------------------
  define(r.model,
         {"model", 0, "SPEC", "", g::model_and_data, run_commands, "the model (specs below)"});
  define(r.dataset,
         {"dataset", 0, "SPEC", "", g::model_and_data, run_commands, "the data set (specs below)"});
  define(r.data_dir, {"data-dir", 0, "DIR", "", g::model_and_data, all_commands,
                      "where relative data paths and MNIST are looked for after the working "
                      "directory, before the installed data and the repository's data/ "
                      "(default: $DSQ_DATA_DIR)"});
  define(r.data_origin, {"data", 0, "FROM", "", g::model_and_data, worker_only,
                         "local | server | auto: this host's files, the server's copy sent over "
                         "the connection, or this host's files when they are the server's data"});
  define(r.shard, {"shard", 0, "HOW", "", g::model_and_data, run_commands,
                   "contiguous | shuffled: how samples are split among workers"});
  // -- compression ----------------------------------------------------------------------------
  define(r.method, {"method", 0, "NAME", "", g::compression, run_commands,
                    "sgd | compressed | ef-worker | doublesqueeze"});
  define(r.compressor, {"compressor", 0, "SPEC", "", g::compression, run_commands,
                        "operator C on both passes: identity, fp16, sign[:block=B], topk:k=K, "
                        "randomk:k=K[,unbiased=1], qsgd:s=S"});
  define(r.uplink, {"uplink", 0, "SPEC", "", g::compression, run_commands,
                    "uplink operator, overrides the method's"});
  define(r.downlink, {"downlink", 0, "SPEC", "", g::compression, run_commands,
                      "downlink operator, overrides the method's"});
  define(r.uplink_residual, {"uplink-residual", 0, "on|off", "", g::compression, run_commands,
                             "worker error feedback, overrides the method's"});
  define(r.aggregate, {"aggregate", 0, "RULE", "", g::compression, run_commands,
                       "sync: how the server combines a step's pushes: mean | median | "
                       "trimmed-mean:f=F (drops the F largest and F smallest values of every "
                       "coordinate; needs --workers > 2F) | krum:f=F (the push closest to its "
                       "n-F-2 nearest others; needs --workers >= 2F+3); the robust rules bound "
                       "what a member pushing anything can do to the update"});
  define(r.downlink_residual, {"downlink-residual", 0, "on|off", "", g::compression, run_commands,
                               "server error feedback, overrides the method's"});
  // -- mode -----------------------------------------------------------------------------------
  define(r.mode, {"mode", 0, "MODE", "", g::mode, run_commands,
                  "sync (every step waits for every worker) | async (pushes applied one at a "
                  "time, staleness bounded by --staleness)"});
  define(r.staleness, {"staleness", 0, "TAU", "-", g::mode, run_commands,
                       "async: no applied push is more than TAU versions old (default 4)"});
  define(r.slow_worker, {"slow-worker", 0, "ID:F[,...]", "", g::mode, run_commands,
                         "worker ID takes F times as long per gradient (dsq local: ID < "
                         "--workers; dsq server: IDs from --workers on are the workers that "
                         "join later, in the order they join)"});
  define(r.servers, {"servers", 0, "K", "", g::run, local_only | server_only | launch_only,
                     "parameter-server shards: the model's coordinates split into K key ranges, "
                     "one per shard (dsq server: the leader, shard 0, waits for K-1 followers "
                     "started with --shard-index; dsq launch starts shard k on host k mod H)"});
  // -- the parameter server -------------------------------------------------------------------
  define(r.port, {"port", 0, "PORT", "", g::server, server_only,
                  "port to publish on (0 picks a free one)"});
  define(r.bind, {"bind", 0, "ADDR", "", g::server, server_only, "address to bind"});
  define(r.shard_index, {"shard-index", 0, "k", "-", g::server, server_only,
                         "this server is follower shard k (1..K-1) of --servers=K: it listens on "
                         "--port for the workers and joins the leader at --leader"});
  define(r.leader, {"leader", 0, "HOST:PORT", "", g::server, server_only,
                    "a follower's leader (shard 0, the server the workers register with)"});
  define(r.advertise, {"advertise", 0, "HOST", "-", g::server, server_only,
                       "a follower's host as workers dial it (default: --bind)"});
  define(r.min_workers, {"min-workers", 0, "N", "-", g::server, server_only,
                         "start once this many registered (default: --workers)"});
  define(r.max_workers, {"max-workers", 0, "N", "-", g::server, server_only,
                         "refuse workers beyond this (default 0: 256, or --workers if more; "
                         "every seat costs the server state, traffic and a shard)"});
  define(r.idle_timeout_s, {"idle-timeout", 0, "S", "", g::server, server_only,
                            "once training started, seconds with no worker left after which "
                            "the server writes its checkpoint (with --checkpoint) and exits 1 "
                            "(0: wait for ever)"});
  define(r.insecure, {"insecure", 0, "", "", g::server, server_only,
                      "allow a non-loopback --bind without TLS (anyone who reaches the port can "
                      "send any message)"});
  define(r.worker_timeout_s, {"worker-timeout", 0, "S", "", g::server, run_commands,
                              "seconds without a message (workers send heartbeats), or without "
                              "a push while the run waits for one, after which a worker is "
                              "removed (0: never)"});
  define(r.max_push_norm, {"max-push-norm", 0, "X", "-", g::server, run_commands,
                           "reject pushes whose norm exceeds this (default 0: 10000x the "
                           "largest median of the norms of the last 64 pushes applied so far)"});
  define(r.checkpoint, {"checkpoint", 0, "DIR", "", g::server, run_commands,
                        "directory for the server's checkpoint, written at the end (with "
                        "--servers=K every shard writes its own part to its own DIR)"});
  define(r.checkpoint_every, {"checkpoint-every", 0, "K", "-", g::server, run_commands,
                              "also write the checkpoint every K steps"});
  define(r.resume, {"resume", 0, "DIR", "", g::server, run_commands,
                    "start from the checkpoint in DIR (model, server state, version; sync runs "
                    "with --checkpoint-every also every worker's residual and sampler, given "
                    "back as each worker returns; with --servers=K every shard resumes from its "
                    "own DIR)"});
  // -- the worker -----------------------------------------------------------------------------
  define(r.server, {"server", 0, "HOST:PORT", "", g::worker, worker_only,
                    "the dsq server to join (required)"});
  define(r.connect_timeout_s, {"connect-timeout", 0, "S", "", g::worker, worker_only,
                               "seconds to reach the server, handshake included (retries while "
                               "nobody listens)"});
  define(r.reconnect_timeout_s,
         {"reconnect-timeout", 0, "S", "", g::worker, worker_only,
          "seconds to keep trying to reach a lost server (a server restarted with --resume "
          "gives the worker its identity and state back); 0: exit at once"});
  define(r.server_timeout_s,
         {"server-timeout", 0, "S", "", g::worker, worker_only,
          "seconds that a worker waiting for the server lets its question (sent at least once "
          "a second) go unanswered before it gives up: the server is stopped, hung or cut off "
          "(0: never). Raise it, as --worker-timeout on the server, where one message takes "
          "longer than this to cross the link"});
  define(r.placement, {"placement", 0, "HOW", "", g::worker, worker_only,
                       "spread: the process on one CPU, the lowest CPU slot free among this "
                       "user's dsq workers on this host, round-robin over the CPUs allowed; os: "
                       "where the OS puts it (--pin-cpus wins over both)"});
  define(r.scheduling, {"scheduling", 0, "HOW", "", g::worker, worker_only,
                        "batch: the kernel's SCHED_BATCH policy, under which a waking worker "
                        "lets the running thread finish its time slice (the server's sends of "
                        "an update); normal: the kernel's default policy"});
  // -- this process ---------------------------------------------------------------------------
  define(r.pin_cpus, {"pin-cpus", 0, "", "", g::process, network_commands,
                      "run every thread of the process on one CPU (server: the first, worker "
                      "i: the (i+1)-th, modulo the CPUs allowed), for processes sharing a host"});
  define(r.max_message_bytes,
         {"max-message-bytes", 0, "BYTES", "-", g::process, network_commands,
          "close a connection whose peer announces a larger message (default 0: the server "
          "derives it from the model: twice its largest message plus 1 MiB; a worker takes "
          "64 MiB until its welcome, then its model's limit)"});
  define(r.tcp, {"tcp", 0, "HOW", "", g::process, network_commands,
                 "eager: plain TCP connections send a message at once and read what the socket "
                 "holds in one call (net/transport/eager_tcp.hpp); caf: CAF's own, which waits "
                 "for epoll before every send and makes three reads per message. TLS "
                 "connections are always CAF's"});
  // -- TLS ------------------------------------------------------------------------------------
  define(r.tls_cert, {"tls-cert", 0, "FILE", "", g::tls, network_commands,
                      "PEM certificate of this node, signed by --tls-ca (TLS needs all three "
                      "--tls-* options)"});
  define(r.tls_key,
         {"tls-key", 0, "FILE", "", g::tls, network_commands, "PEM private key of --tls-cert"});
  define(r.tls_ca, {"tls-ca", 0, "FILE", "", g::tls, network_commands,
                    "PEM certificate of the CA; peers without a certificate it signed are "
                    "refused"});
  // -- output ---------------------------------------------------------------------------------
  define(r.metrics,
         {"metrics", 0, "FILE", "", g::output, run_commands, "CSV file with one row per step"});
  define(r.summary,
         {"summary", 0, "FILE", "", g::output, run_commands, "JSON file with the run's summary"});
  define(r.quiet, {"quiet", 'q', "", "", g::output, all_commands, "no progress lines"});
  // -- injected faults (issue 9), checked by training/faults/fault_plan.hpp and injected in the
  // message path (actors/fault_link.hpp) and by the server's crash hook. A dsq worker injects
  // message and worker faults on its own link, dsq server only server-crash.
  auto& f = faults;
  define(f.drop, {"faults.drop", 0, "P", "-", g::faults, local_and_worker,
                  "probability that a message is lost"});
  define(f.duplicate, {"faults.duplicate", 0, "P", "-", g::faults, local_and_worker,
                       "probability that a message is delivered twice"});
  define(f.reorder, {"faults.reorder", 0, "P", "-", g::faults, local_and_worker,
                     "probability that a message is held back and delivered after the next one "
                     "(or after max(10 ms, delay + jitter) when no next one comes)"});
  define(f.delay_ms, {"faults.delay", 0, "MS", "-", g::faults, local_and_worker,
                      "milliseconds every message waits"});
  define(f.jitter_ms, {"faults.jitter", 0, "MS", "-", g::faults, local_and_worker,
                       "extra milliseconds drawn uniformly from [0, MS)"});
  define(f.bandwidth, {"faults.bandwidth", 0, "RATE", "", g::faults, local_and_worker,
                       "link rate per second (kbit, Mbit, Gbit, kB, MB, GB): B bytes wait B / "
                       "RATE"});
  define(f.links, {"faults.links", 0, "LIST", "", g::faults, local_and_worker,
                   "comma list of worker ids and up/down the message faults apply to "
                   "(default: all; with --servers=K each of a worker's K links)"});
  define(f.crash, {"faults.crash", 0, "ID@STEP,...", "", g::faults, local_and_worker,
                   "worker ID dies without a goodbye at STEP (dsq worker: exit code 5)"});
  define(f.hang, {"faults.hang", 0, "ID@STEP[:S],...", "", g::faults, local_and_worker,
                  "worker ID stops answering at STEP"});
  define(f.rejoin, {"faults.rejoin", 0, "ID@STEP,...", "", g::faults, local_only,
                    "a new worker joins in place of worker ID at server step STEP (across "
                    "processes: start a new dsq worker)"});
  define(f.corrupt, {"faults.corrupt", 0, "ID@STEP,...", "", g::faults, local_and_worker,
                     "worker ID's push for STEP has damaged bytes"});
  define(f.poison, {"faults.poison", 0, "ID@STEP,...", "", g::faults, local_and_worker,
                    "worker ID's push for STEP is non-finite"});
  define(f.server_crash, {"faults.server-crash", 0, "STEP", "", g::faults, run_commands,
                          "the server dies at STEP (dsq local restarts it, with --servers=K "
                          "every shard, from --checkpoint; "
                          "dsq server exits with code 4: restart it with --resume; given to a "
                          "follower, dsq server --shard-index=k, that shard dies)"});
  define(f.seed, {"faults.seed", 0, "N", "", g::faults, local_and_worker,
                  "seed of every random fault decision"});
  define(f.log, {"fault-log", 0, "FILE", "", g::faults, all_commands,
                 "CSV file with one row per injected fault"});
  // -- dsq launch (docs/launch.md): its own options; every other option goes on to the server
  // and the workers it starts, each getting those of its command.
  auto& l = launch;
  define(l.hostfile, {"hostfile", 0, "FILE", "-", g::launch, launch_only,
                      "hosts, one a line: NAME [slots=N] [address=ADDR] (# comments); the server "
                      "runs on the first, the workers fill the slots in order (default: all on "
                      "this machine)"});
  define(l.launch_command,
         {"launch-command", 0, "TEMPLATE", "", g::launch, launch_only,
          "how a process starts on a host other than localhost: {host} is its name; the dsq "
          "binary and its arguments follow, each quoted for a shell where needed (a word "
          "{command} takes them as one argument instead, e.g. 'ip netns exec {host} sh -c "
          "{command}')"});
  define(l.dsq_binary, {"dsq-binary", 0, "PATH", "-", g::launch, launch_only,
                        "the dsq every process runs, at this path on every host (default: this "
                        "dsq's own path)"});
  define(l.oversubscribe, {"oversubscribe", 0, "", "", g::launch, launch_only,
                           "allow more workers than slots (they fill the hosts again, in order)"});
  define(l.restart_workers, {"restart-workers", 0, "N", "", g::launch, launch_only,
                             "restart a worker that fails (it joins the run again), up to N "
                             "times in all; a failed worker beyond that stops the run (exit 1)"});
  define(l.restart_server, {"restart-server", 0, "N", "", g::launch, launch_only,
                            "restart a server that dies (a signal, or exit 1, 4 or 6) with "
                            "--resume from its --checkpoint, on the same port, up to N times; "
                            "the workers reconnect (needs --checkpoint)"});
  define(l.tls_dir, {"tls-dir", 0, "DIR", "-", g::launch, launch_only,
                     "TLS with the files of scripts/make-certs.sh DIR WORKERS SERVER_ADDRESS, "
                     "at this path on every host: the server gets DIR/server.pem and .key, "
                     "worker i DIR/worker-(i+1).pem and .key, every process DIR/ca.pem"});
  define(l.start_timeout_s, {"start-timeout", 0, "S", "", g::launch, launch_only,
                             "seconds for the server to say which port it listens on"});
}

const option_info* dsq_options::find_option(std::string_view name) const {
  for (const auto& o : options_)
    if (o.name == name || (name.size() == 1 && o.short_name == name[0]))
      return &o;
  return nullptr;
}

namespace {

constexpr std::size_t help_width = 100;
constexpr std::size_t description_column = 30;

/// `text` in lines of at most `width - indent` characters, each after `indent` blanks but the
/// first (which continues a line the caller began).
std::string wrap(const std::string& text, std::size_t first_room, std::size_t indent) {
  std::string out, line;
  std::size_t room = first_room;
  std::istringstream words{text};
  std::string word;
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > room) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
      room = help_width - indent;
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line + "\n";
}

/// "  --name=VALUE, -n VALUE    description (default D)", wrapped.
std::string option_line(const option_info& o) {
  std::string left = "  --" + o.name + (o.value.empty() ? "" : "=" + o.value);
  if (o.short_name != 0)
    left += std::string{", -"} + o.short_name + (o.value.empty() ? "" : " " + o.value);
  auto description = o.description;
  if (!o.default_text.empty())
    description += " (default " + o.default_text + ")";
  if (left.size() + 2 > description_column)
    return left + "\n" + std::string(description_column, ' ') +
           wrap(description, help_width - description_column, description_column);
  left.resize(description_column, ' ');
  return left + wrap(description, help_width - description_column, description_column);
}

constexpr const char* common_options_help =
    "  --help, -h                  print this text and exit\n"
    "  --version                   print dsq's version and exit\n"
    "  --config=FILE               INI file whose [global] section holds options (key=value, "
    "no\n"
    "                              \"--\"), its [faults] section the --faults.* options; the "
    "command\n"
    "                              line wins\n"
    "  --dump-config               print the merged configuration (CAF's format) to stderr and "
    "exit\n";

} // namespace

std::string dsq_options::options_help(dsq_command command) const {
  std::string text;
  for (auto group :
       {option_group::launch, option_group::run, option_group::model_and_data,
        option_group::compression, option_group::mode, option_group::server, option_group::worker,
        option_group::process, option_group::tls, option_group::faults, option_group::output}) {
    std::string lines;
    for (const auto& o : options_)
      if (o.group == group && uses(o.commands, command))
        lines += option_line(o);
    if (!lines.empty())
      text += std::string{group_heading(group, command)} + ":\n" + lines + "\n";
  }
  return text + "general:\n" + common_options_help;
}

std::string dsq_options::options_help() const {
  std::string text;
  for (const auto& o : options_)
    text += option_line(o);
  return text + common_options_help;
}

namespace {

/// CAF 0.17 takes an unknown scheduler policy for `stealing` after a warning, and `testing` is
/// its coordinator for unit tests, which runs a scheduled actor only when a test says so: both
/// are refused.
void check_scheduler_policy(const caf::actor_system_config& cfg) {
  const auto policy = caf::get_or(cfg, "scheduler.policy", caf::defaults::scheduler::policy);
  if (policy != caf::atom("stealing") && policy != caf::atom("sharing"))
    throw std::invalid_argument("--scheduler.policy=" + caf::to_string(policy) +
                                ": expected stealing or sharing");
}

// CAF renders parser errors as "parser_error(not_an_option, ({"argument" = "--x=1"}))"; users
// deserve a sentence.
std::string explain(const caf::actor_system_config& cfg, const caf::error& err,
                    const std::string& origin) {
  auto text = cfg.render(err);
  auto arg_pos = text.find("\"argument\" = \"");
  std::string arg;
  if (arg_pos != std::string::npos) {
    auto begin = arg_pos + 14;
    arg = text.substr(begin, text.find('"', begin) - begin);
  }
  std::string what = "invalid option";
  if (text.find("not_an_option") != std::string::npos)
    what = "unknown option";
  else if (text.find("integer_overflow") != std::string::npos)
    what = "value out of range";
  else if (text.find("unexpected_character") != std::string::npos ||
           text.find("illegal_argument") != std::string::npos)
    what = "invalid value";
  if (arg.empty())
    return origin + ": " + text;
  return origin + ": " + what + " '" + arg + "' (see --help)";
}

} // namespace

std::vector<ini_entry> read_ini(const std::string& text, const std::string& origin) {
  std::vector<ini_entry> entries;
  std::map<std::string, int> seen; // "section.key" -> line
  std::istringstream in{text};
  std::string line;
  std::string section = "global";
  for (int number = 1; std::getline(in, line); ++number) {
    line = std::string{trim(line)};
    if (line.empty() || line[0] == ';' || line[0] == '#')
      continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        throw config_error(origin + ":" + std::to_string(number) + ": malformed section header");
      section = std::string{trim(line.substr(1, line.size() - 2))};
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw config_error(origin + ":" + std::to_string(number) + ": expected key=value, got '" +
                         line + "'");
    auto key = std::string{trim(line.substr(0, eq))};
    auto value = std::string{trim(line.substr(eq + 1))};
    if (auto comment = value.find(" ;"); comment != std::string::npos && value[0] != '"')
      value = std::string{trim(value.substr(0, comment))};
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (key.empty())
      throw config_error(origin + ":" + std::to_string(number) + ": empty key");
    const auto full_key = section == "global" ? key : section + "." + key;
    // The second value would win silently: a merge left over, or a typo in the other line.
    if (auto [at, fresh] = seen.emplace(section + "." + key, number); !fresh)
      throw config_error(origin + ":" + std::to_string(number) + ": [" + section + "] " + key +
                         " is given twice, on lines " + std::to_string(at->second) + " and " +
                         std::to_string(number));
    entries.push_back({"--" + full_key + "=" + value, full_key, number});
  }
  return entries;
}

std::vector<std::string> ini_to_arguments(const std::string& text, const std::string& origin) {
  std::vector<std::string> args;
  for (auto& entry : read_ini(text, origin))
    args.push_back(std::move(entry.argument));
  return args;
}

namespace {

/// An option as given: its key ("lr", "faults.drop", or a short name "n") and where.
struct given_option {
  std::string key;
  std::string argument; ///< as written, "--lr=5" (the INI line as an argument)
  std::string origin;   ///< "" for the command line, "FILE:LINE" for an INI file
};

/// The keys of `args` (command-line arguments): "--key=value", "--flag", "-n4", "-n 4", "-q".
/// An option of dsq that takes a value but is written without '=' ("--lr 0.1") throws a
/// config_error that shows how to write it.
std::vector<given_option> given_on_command_line(const std::vector<std::string>& args,
                                                const dsq_options& opts) {
  std::vector<given_option> given;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg.rfind("--", 0) == 0) {
      const auto eq = arg.find('=');
      auto key = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq == std::string::npos) {
        if (const auto* o = opts.find_option(key); o != nullptr && !o->value.empty()) {
          const bool next_is_value = i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0;
          throw config_error(
              arg + " needs a value, joined with '=': write " + arg + "=" +
              (next_is_value ? args[i + 1] : o->value) +
              (next_is_value ? " (not '" + arg + " " + args[i + 1] + "')" : std::string{}));
        }
      }
      given.push_back({key, arg, ""});
    } else if (arg.size() >= 2 && arg[0] == '-') {
      const auto* o = opts.find_option(arg.substr(1, 1));
      if (o != nullptr && !o->value.empty() && arg.size() == 2 && i + 1 < args.size()) {
        given.push_back({o->name, arg + " " + args[i + 1], ""});
        ++i;
        continue;
      }
      given.push_back({o != nullptr ? o->name : arg.substr(1, 1), arg, ""});
    }
  }
  return given;
}

/// Refuses an option that `command` does not use: one line naming the option, the command
/// and the commands that take it.
void check_used_by(const std::vector<given_option>& given, const dsq_options& opts,
                   dsq_command command) {
  for (const auto& g : given) {
    const auto* o = opts.find_option(g.key);
    if (o == nullptr || uses(o->commands, command))
      continue; // CAF's own options serve every command
    std::string why;
    if (command == dsq_command::worker && o->commands == run_commands &&
        o->group != option_group::faults)
      why = "; a worker trains with the configuration the server sends";
    throw config_error((g.origin.empty() ? "" : g.origin + ": ") + "dsq " +
                       std::string{command_name(command)} + " does not use " + g.argument + ": --" +
                       o->name + " is an option of " + command_list(o->commands) + why);
  }
}

/// Values that a type cannot tell from "not given": the -1 and 0 that stand for an absent
/// --steps, --epochs or --staleness are refused when written out.
void check_given_values(const std::vector<given_option>& given, const run_config& run) {
  auto was_given = [&](const char* key) {
    for (const auto& g : given)
      if (g.key == key)
        return true;
    return false;
  };
  if (was_given("steps") && run.steps < 0)
    throw config_error("--steps=" + std::to_string(run.steps) +
                       ": must be 0 or more (leave it out for the default of " +
                       std::to_string(default_steps) + " steps, or give --epochs)");
  if (was_given("epochs") && !(run.epochs > 0))
    throw config_error("--epochs=" + fmt::format("{}", run.epochs) +
                       ": must be positive (leave it out to run --steps)");
  if (was_given("staleness") && run.staleness < 0)
    throw config_error("--staleness=" + std::to_string(run.staleness) +
                       ": must be 0 or more (leave it out for the default of 4)");
}

} // namespace

void check_for_command(const run_config& run, dsq_command command) {
  if (command != dsq_command::local)
    return; // dsq server: later ids are the workers that join (see --slow-worker's help)
  for (const auto& [id, factor] : slow_workers(run))
    if (id >= run.workers)
      throw config_error(fmt::format("--slow-worker={}: worker {} does not exist (dsq local has "
                                     "--workers={}: ids 0 to {})",
                                     run.slow_worker, id, run.workers, run.workers - 1));
}

parse_result parse_options(const std::vector<std::string>& args, dsq_options& opts,
                           std::optional<dsq_command> command) {
  parse_result result;
  std::vector<std::string> cli;
  std::string config_file;
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h" || arg == "-?" || arg == "--long-help") {
      result.help = true;
      return result;
    }
    if (arg == "--version") {
      result.version = true;
      return result;
    }
    for (const char* prefix : {"--config=", "--config-file="}) {
      if (arg.rfind(prefix, 0) == 0) {
        config_file = arg.substr(std::string{prefix}.size());
        goto next;
      }
    }
    cli.push_back(arg);
  next:;
  }
  try {
    std::vector<std::string> merged;
    std::vector<given_option> given;
    if (!config_file.empty()) {
      // A device or a fifo would be read forever (--config=/dev/zero): only a regular file of
      // reasonable size is an INI file.
      std::error_code ec;
      const auto status = std::filesystem::status(config_file, ec);
      if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
        result.error = "config file '" + config_file + "' is not a regular file";
        return result;
      }
      if (const auto size = std::filesystem::file_size(config_file, ec);
          !ec && size > max_config_file_bytes) {
        result.error = "config file '" + config_file + "' has " + std::to_string(size) +
                       " bytes, more than the limit of " + std::to_string(max_config_file_bytes);
        return result;
      }
      std::ifstream file{config_file};
      if (!file) {
        result.error = "cannot read config file '" + config_file + "'";
        return result;
      }
      std::stringstream text;
      text << file.rdbuf();
      for (auto& entry : read_ini(text.str(), config_file)) {
        given.push_back(
            {entry.key, entry.argument.substr(2), config_file + ":" + std::to_string(entry.line)});
        merged.push_back(std::move(entry.argument));
      }
      // Check the file on its own first, so that an error names the file.
      dsq_options probe;
      std::istringstream none;
      if (auto err = probe.parse(merged, none)) {
        result.error = explain(probe, err, config_file);
        return result;
      }
    }
    const auto on_command_line = given_on_command_line(cli, opts);
    given.insert(given.end(), on_command_line.begin(), on_command_line.end());
    if (command)
      check_used_by(given, opts, *command);
    merged.insert(merged.end(), cli.begin(), cli.end());
    std::istringstream none; // never read caf-application.ini behind the user's back
    if (auto err = opts.parse(merged, none)) {
      result.error = explain(opts, err, "command line");
      return result;
    }
    if (opts.cli_helptext_printed) { // --dump-config: CAF printed it
      result.help = true;
      result.printed = true;
      return result;
    }
    if (!opts.remainder.empty()) {
      result.error = "unexpected argument '" + opts.remainder.front() + "' (see --help)";
      return result;
    }
    check_given_values(given, opts.run);
    validate(opts.run);
    if (command)
      check_for_command(opts.run, *command);
    check_scheduler_policy(opts);
  } catch (const std::exception& e) {
    result.error = e.what();
    return result;
  }
  result.ok = true;
  return result;
}

} // namespace dsq
