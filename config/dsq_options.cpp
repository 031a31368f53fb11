#include "config/dsq_options.hpp"

#include <caf/config_option_adder.hpp>
#include <caf/defaults.hpp>
#include <caf/sec.hpp>

#include "config/run_limits.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dsq {

dsq_options::dsq_options() {
  auto& r = run;
  opt_group{custom_options_, "global"}
      .add(r.method, "method", "sgd | compressed | ef-worker | doublesqueeze")
      .add(r.compressor, "compressor",
           "operator C on both passes: identity, fp16, sign[:block=B], topk:k=K, "
           "randomk:k=K[,unbiased=1], qsgd:s=S")
      .add(r.uplink, "uplink", "uplink operator, overrides the method's")
      .add(r.downlink, "downlink", "downlink operator, overrides the method's")
      .add(r.uplink_residual, "uplink-residual", "on | off: worker error feedback")
      .add(r.downlink_residual, "downlink-residual", "on | off: server error feedback")
      .add(r.aggregate, "aggregate",
           "sync: how the server combines a step's pushes: mean (default) | median | "
           "trimmed-mean:f=F (drops the F largest and F smallest values of every coordinate; "
           "needs --workers > 2F). median and trimmed-mean bound what a member pushing anything "
           "can do to the update")
      .add(r.mode, "mode",
           "sync (every step waits for every worker) | async (pushes applied one at a time, "
           "staleness bounded by --staleness)")
      .add(r.staleness, "staleness",
           "async: no applied push is more than TAU versions old (default 4)")
      .add(r.slow_worker, "slow-worker",
           "ID:FACTOR[,ID:FACTOR...]: worker ID takes FACTOR times as long per gradient")
      .add(r.target_accuracy, "target-accuracy",
           "end the run at the first evaluation whose test accuracy reaches A (0 < A <= 1)")
      .add(r.worker_timeout_s, "worker-timeout",
           "seconds without a message (workers send heartbeats), or without a push while the "
           "run waits for one, after which a worker is removed (0: never)")
      .add(r.max_push_norm, "max-push-norm",
           "reject pushes whose norm exceeds this (0: 10000x the largest median of the norms of "
           "the last 64 pushes applied so far)")
      .add(r.workers, "workers,n", "number of workers (dsq local), initial workers (dsq server)")
      .add(r.steps, "steps",
           "versions to make: synchronous steps, or asynchronous pushes (default 6000 unless "
           "--epochs)")
      .add(r.epochs, "epochs", "passes over the training set, instead of --steps")
      .add(r.batch, "batch,b", "minibatch size per worker")
      .add(r.lr, "lr", "step size gamma")
      .add(r.lr_schedule, "lr-schedule",
           "constant | step:every=N,gamma=G | cosine:total=N, each with optional ,warmup=N")
      .add(r.momentum, "momentum", "heavy-ball momentum applied to the update on every replica")
      .add(r.model, "model",
           "softmax | mlp[:hidden=256,128][,l2=L] | cnn[:channels=32,64][,hidden=1024][,l2=L]")
      .add(r.dataset, "dataset",
           "auto (MNIST if fetched, else synthetic) | mnist[:dir=D] | "
           "synthetic[:n=N,d=D,classes=C] | libsvm:path=F[,test=F,split=0.2,zero_based=auto|0|1] "
           "| csv:path=F[,test=F,split=0.2,label=auto|first|last|name:COL,sep=auto|comma|semicolon|"
           "tab]; libsvm and csv take normalize=standardize (default) | unit | none")
      .add(r.data_dir, "data-dir",
           "where relative data paths and MNIST are looked for after the working directory, "
           "before the installed data and the repository's data/ (default: $DSQ_DATA_DIR)")
      .add(r.shard, "shard", "contiguous | shuffled: how samples are split among workers")
      .add(r.seed, "seed", "seed of initialisation, sampling and randomised operators")
      .add(r.eval_every, "eval-every", "evaluate on the test set every K steps (0: at the end)")
      .add(r.verify_replicas, "verify-replicas",
           "every K steps, check that each worker's model equals the server's bit for bit")
      .add(r.metrics, "metrics", "CSV file with one row per step")
      .add(r.summary, "summary", "JSON file with the run's summary")
      .add(r.quiet, "quiet,q", "no progress lines")
      .add(r.port, "port", "dsq server: port to publish on (0 picks a free one)")
      .add(r.bind, "bind", "dsq server: address to bind")
      .add(r.server, "server", "dsq worker: HOST:PORT of the server")
      .add(r.min_workers, "min-workers",
           "dsq server: start once this many registered (0: --workers)")
      .add(r.max_workers, "max-workers",
           "dsq server: refuse workers beyond this (0, the default: 256, or --workers if more; "
           "every seat costs the server state, traffic and a shard)")
      .add(r.checkpoint, "checkpoint", "directory for the server's checkpoint, written at the end")
      .add(r.checkpoint_every, "checkpoint-every", "also write the checkpoint every K steps")
      .add(r.resume, "resume",
           "start from the checkpoint in DIR (model, server state, version; sync runs with "
           "--checkpoint-every also every worker's residual and sampler, given back as each "
           "worker returns)")
      .add(r.pin_cpus, "pin-cpus",
           "dsq server/worker: run every thread of the process on one CPU (server: the first, "
           "worker i: the (i+1)-th, modulo the CPUs allowed), for processes sharing a host")
      .add(r.placement, "placement",
           "dsq worker: spread (default): the process on one CPU, the lowest CPU slot free among "
           "this user's dsq workers on this host, round-robin over the CPUs allowed; os: where "
           "the OS puts it (--pin-cpus wins over both)")
      .add(r.scheduling, "scheduling",
           "dsq worker: batch (default): the kernel's SCHED_BATCH policy, under which a waking "
           "worker lets the running thread finish its time slice (the server's sends of an "
           "update); normal: the kernel's default policy")
      .add(r.tcp, "tcp",
           "dsq server/worker: eager (default): plain TCP connections send a message at once and "
           "read what the socket holds in one call (net/eager_tcp.hpp); caf: CAF's own, which "
           "waits for epoll before every send and makes three reads per message. TLS "
           "connections are always CAF's")
      .add(r.idle_timeout_s, "idle-timeout",
           "dsq server: once training started, seconds with no worker left after which the "
           "server writes its checkpoint (with --checkpoint) and exits 1 (default 300; 0: wait "
           "for ever)")
      .add(r.reconnect_timeout_s, "reconnect-timeout",
           "dsq worker: seconds to keep trying to reach a lost server (a server restarted with "
           "--resume gives the worker its identity and state back); 0: exit at once")
      .add(r.server_timeout_s, "server-timeout",
           "dsq worker: seconds that a worker waiting for the server lets its question (sent "
           "at least once a second) go unanswered before it gives up: the server is stopped, "
           "hung or cut off (0: never). Raise it, as --worker-timeout on the server, where one "
           "message takes longer than this to cross the link")
      .add(r.connect_timeout_s, "connect-timeout",
           "dsq worker: seconds to reach the server, handshake included (retries while nobody "
           "listens)")
      .add(r.tls_cert, "tls-cert",
           "dsq server/worker: PEM certificate of this node, signed by --tls-ca (TLS needs all "
           "three --tls-* options)")
      .add(r.tls_key, "tls-key", "dsq server/worker: PEM private key of --tls-cert")
      .add(r.tls_ca, "tls-ca",
           "dsq server/worker: PEM certificate of the CA; peers without a certificate it signed "
           "are refused")
      .add(r.insecure, "insecure",
           "dsq server: allow a non-loopback --bind without TLS (anyone who reaches the port "
           "can send any message)")
      .add(faults.log, "fault-log", "CSV file with one row per injected fault (see --faults.*)");
  // Injected faults (issue 9), checked by training/fault_plan.hpp and injected in the message
  // path (actors/fault_link.hpp) and by the server's crash hook.
  auto& f = faults;
  opt_group{custom_options_, "faults"}
      .add(f.drop, "drop", "probability that a message is lost")
      .add(f.duplicate, "duplicate", "probability that a message is delivered twice")
      .add(f.reorder, "reorder",
           "probability that a message is held back and delivered after the next one (or "
           "after max(10 ms, delay + jitter) when no next one comes)")
      .add(f.delay_ms, "delay", "milliseconds every message waits")
      .add(f.jitter_ms, "jitter", "extra milliseconds drawn uniformly from [0, MS)")
      .add(f.bandwidth, "bandwidth",
           "link rate per second (kbit, Mbit, Gbit, kB, MB, GB): B bytes wait B / RATE")
      .add(f.links, "links",
           "comma list of worker ids and up/down the message faults apply to (default: all)")
      .add(f.crash, "crash",
           "ID@STEP[,...]: worker ID dies without a goodbye at STEP (dsq worker: exit code 5)")
      .add(f.hang, "hang", "ID@STEP[:SECONDS][,...]: worker ID stops answering at STEP")
      .add(f.rejoin, "rejoin",
           "ID@STEP[,...]: a new worker joins in place of worker ID at server step STEP (dsq "
           "local)")
      .add(f.corrupt, "corrupt", "ID@STEP[,...]: worker ID's push for STEP has damaged bytes")
      .add(f.poison, "poison", "ID@STEP[,...]: worker ID's push for STEP is non-finite")
      .add(f.server_crash, "server-crash",
           "STEP: the server dies at STEP (dsq local restarts it from --checkpoint; dsq server "
           "exits with code 4: restart it with --resume)")
      .add(f.seed, "seed", "seed of every random fault decision");
}

std::string dsq_options::options_help() const {
  // CAF's own lines (--long-help, its --config-file with caf-application.ini, which dsq never
  // reads) would not tell the truth about dsq: replace them with dsq's.
  std::istringstream in{custom_options_.help_text(true)};
  std::string text =
      "  --help                       : print this text and exit\n"
      "  --config=<file>              : INI file whose [global] section holds options; the\n"
      "                                 command line wins\n"
      "  --dump-config                : print the merged configuration (CAF's format) to stderr "
      "and exit\n";
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.find("global options") != std::string::npos ||
        line.find("--help") != std::string::npos ||
        line.find("--config-file") != std::string::npos ||
        line.find("--long-help") != std::string::npos ||
        line.find("--dump-config") != std::string::npos)
      continue;
    text += line + "\n";
  }
  // help_text(true) holds only the global group; of the others, only `faults` is dsq's.
  std::istringstream all{custom_options_.help_text(false)};
  text += "\nfaults to inject (net/PROTOCOL.md; ready scenarios in config/faults/):\n";
  while (std::getline(all, line)) {
    // Lines that start with the option: not --fault-log, whose description mentions them.
    const auto start = line.find_first_not_of(' ');
    if (start != std::string::npos && line.compare(start, 9, "--faults.") == 0)
      text += line + "\n";
  }
  return text;
}

namespace {

std::string trim(std::string s) {
  auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

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

std::vector<std::string> ini_to_arguments(const std::string& text, const std::string& origin) {
  std::vector<std::string> args;
  std::istringstream in{text};
  std::string line;
  std::string section = "global";
  for (int number = 1; std::getline(in, line); ++number) {
    line = trim(line);
    if (line.empty() || line[0] == ';' || line[0] == '#')
      continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        throw config_error(origin + ":" + std::to_string(number) + ": malformed section header");
      section = trim(line.substr(1, line.size() - 2));
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw config_error(origin + ":" + std::to_string(number) + ": expected key=value, got '" +
                         line + "'");
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (auto comment = value.find(" ;"); comment != std::string::npos && value[0] != '"')
      value = trim(value.substr(0, comment));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (key.empty())
      throw config_error(origin + ":" + std::to_string(number) + ": empty key");
    args.push_back("--" + (section == "global" ? key : section + "." + key) + "=" + value);
  }
  return args;
}

parse_result parse_options(const std::vector<std::string>& args, dsq_options& opts) {
  parse_result result;
  std::vector<std::string> cli;
  std::string config_file;
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h" || arg == "-?" || arg == "--long-help") {
      result.help = true;
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
      merged = ini_to_arguments(text.str(), config_file);
      // Check the file on its own first, so that an error names the file.
      dsq_options probe;
      std::istringstream none;
      if (auto err = probe.parse(merged, none)) {
        result.error = explain(probe, err, config_file);
        return result;
      }
    }
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
    validate(opts.run);
    check_scheduler_policy(opts);
  } catch (const std::exception& e) {
    result.error = e.what();
    return result;
  }
  result.ok = true;
  return result;
}

} // namespace dsq
