#include "actors/run/launch.hpp"

#include "base/os/supervised_children.hpp"
#include "config/cli/dsq_options.hpp"
#include "config/launch/host_file.hpp"
#include "config/launch/launch_command.hpp"
#include "config/launch/launch_plan.hpp"
#include "config/launch/launch_supervisor.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace dsq {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr const char* launch_usage =
    "usage: dsq launch [--hostfile=FILE] [--workers=N] [launch options] [run options ...]\n\n"
    "Starts the parameter server and --workers workers, on this machine or on the hosts of\n"
    "--hostfile (the server on the first host, shard k of --servers=K on host k mod H, the\n"
    "workers filling the slots in order), and\n"
    "forwards their output line by line, each with its prefix ([server], [worker I@HOST]).\n"
    "Every other option goes on to the processes that take it (dsq server --help and dsq\n"
    "worker --help list them; an option neither takes is refused). It exits with the server's\n"
    "exit code once every process has ended. SIGINT or SIGTERM stops the run (the server\n"
    "dismisses its workers); a second one kills every process at once. docs/launch.md.\n";

/// An option of the launch's command line or INI file: its key ("lr", "n") and its words.
struct given_argument {
  std::string key;
  std::vector<std::string> words; ///< "--lr=5", or "-n" "4"
};

/// The key of a command-line word, or "" for a word that is no option.
std::string key_of(const std::string& word) {
  if (word.rfind("--", 0) == 0)
    return word.substr(2, word.find('=') == std::string::npos ? std::string::npos
                                                              : word.find('=') - 2);
  if (word.size() >= 2 && word[0] == '-')
    return word.substr(1, 1);
  return {};
}

/// The run's options split by the processes that take them.
struct split_arguments {
  std::vector<std::string> own; ///< dsq launch's own
  std::vector<std::string> server, worker;
  std::vector<std::string> given_keys; ///< every option of the run, by its long name
};

/// Reads --config=FILE (its [global] and other sections as arguments, before the command
/// line's), and gives each option to dsq launch itself, the server, the workers or both.
/// Throws config_error for an option that none of them takes.
split_arguments split_options(const std::vector<std::string>& args, const dsq_options& probe) {
  std::vector<given_argument> given;
  std::vector<std::string> cli;
  for (const auto& a : args) {
    for (const char* prefix : {"--config=", "--config-file="})
      if (a.rfind(prefix, 0) == 0) {
        const auto path = a.substr(std::string{prefix}.size());
        std::ifstream file{path};
        if (!std::filesystem::is_regular_file(path) || !file)
          throw config_error("cannot read config file '" + path + "'");
        std::stringstream text;
        text << file.rdbuf();
        for (auto& e : read_ini(text.str(), path))
          given.push_back({e.key, {e.argument}});
        goto next;
      }
    cli.push_back(a);
  next:;
  }
  for (std::size_t i = 0; i < cli.size(); ++i) {
    const auto key = key_of(cli[i]);
    if (key.empty())
      throw config_error("unexpected argument '" + cli[i] + "' (see dsq launch --help)");
    given_argument g{key, {cli[i]}};
    const auto* o = probe.find_option(key);
    // "-n 4": the value is the next word.
    if (cli[i].size() == 2 && o != nullptr && !o->value.empty() && i + 1 < cli.size())
      g.words.push_back(cli[++i]);
    given.push_back(std::move(g));
  }
  split_arguments out;
  for (auto& g : given) {
    const auto* o = probe.find_option(g.key);
    auto& to = [&]() -> std::vector<std::string>& {
      if (o == nullptr) // CAF's own (--scheduler.*, ...): every process; unknown: refused there
        return out.server;
      if (o->commands == launch_only)
        return out.own;
      if (o->name == "server")
        throw config_error("dsq launch gives each worker --server itself (the address of the "
                           "server it starts): leave out " +
                           g.words.front());
      const bool server = uses(o->commands, dsq_command::server);
      const bool worker = uses(o->commands, dsq_command::worker);
      if (!server && !worker)
        throw config_error("dsq launch does not use " + g.words.front() + ": --" + o->name +
                           " is an option of " + command_list(o->commands) +
                           ", not of dsq server or dsq worker");
      return server ? out.server : out.worker;
    }();
    to.insert(to.end(), g.words.begin(), g.words.end());
    const bool both =
        o == nullptr || (o->commands != launch_only && uses(o->commands, dsq_command::server) &&
                         uses(o->commands, dsq_command::worker));
    if (both)
      out.worker.insert(out.worker.end(), g.words.begin(), g.words.end());
    if (o != nullptr && o->commands != launch_only)
      out.given_keys.push_back(o->name);
  }
  return out;
}

bool was_given(const split_arguments& a, const std::string& name) {
  return std::find(a.given_keys.begin(), a.given_keys.end(), name) != a.given_keys.end();
}

/// The name of `p`'s files in a scripts/make-certs.sh directory: "server", "worker-(i+1)".
std::string certificate_name(const planned_process& p) {
  return p.role == launch_role::server ? std::string{"server"}
                                       : fmt::format("worker-{}", p.index + 1);
}

/// `s` as the launch supervisor reads it.
process_end end_of(const exit_status& s) {
  return {s.exited, s.code, s.signal, s.describe()};
}

/// The processes of one launch: starts them, waits for the server's port, and carries out what
/// the launch supervisor (config/launch/launch_supervisor.hpp) decides on their ends, the stop
/// signals and the time; see run_launch_command.
class launcher {
public:
  launcher(launch_options opts, split_arguments args, launch_plan plan, std::string binary,
           std::vector<std::string> template_words, std::string checkpoint)
      : opts_{std::move(opts)}, args_{std::move(args)}, plan_{std::move(plan)},
        binary_{std::move(binary)}, template_{std::move(template_words)},
        checkpoint_{std::move(checkpoint)}, supervisor_{plan_, opts_, checkpoint_} {}

  int run();

private:
  const planned_process& planned(const launch_child& c) const {
    const auto& group = c.role == launch_role::server ? plan_.servers : plan_.workers;
    return group.at(static_cast<std::size_t>(c.index));
  }

  /// The argv that starts `command` (dsq's arguments after the binary) as process `p`.
  std::vector<std::string> argv_for(const planned_process& p,
                                    const std::vector<std::string>& command) const {
    auto words = std::vector<std::string>{binary_};
    words.insert(words.end(), command.begin(), command.end());
    return p.local ? words : remote_argv(template_, p.host, words);
  }

  std::vector<std::string> tls_arguments(const planned_process& p) const {
    if (opts_.tls_dir.empty())
      return {};
    const auto dir = std::filesystem::path{opts_.tls_dir};
    const auto name = certificate_name(p);
    return {"--tls-cert=" + (dir / (name + ".pem")).string(),
            "--tls-key=" + (dir / (name + ".key")).string(),
            "--tls-ca=" + (dir / "ca.pem").string()};
  }

  /// dsq's arguments for the server (again, with --resume, when `resume`).
  std::vector<std::string> server_command(bool resume) const {
    std::vector<std::string> command{"server"};
    if (!was_given(args_, "port") || resume)
      command.push_back("--port=" + std::to_string(port_));
    if (!was_given(args_, "bind"))
      command.push_back("--bind=" + plan_.server_address);
    for (auto& a : tls_arguments(plan_.servers.front()))
      command.push_back(std::move(a));
    for (const auto& a : args_.server)
      if (!resume || (key_of(a) != "resume" && key_of(a) != "port"))
        command.push_back(a);
    if (resume)
      command.push_back("--resume=" + checkpoint_);
    return command;
  }

  /// dsq's arguments for follower shard p.index (--servers=K), started on its host once the
  /// leader's port is known (again, with --resume from its own checkpoint, when `resume`): it
  /// binds to its host's address and advertises it to the workers; only the options a
  /// follower reads go on (its configuration comes from the leader).
  std::vector<std::string> follower_command(const planned_process& p, bool resume) const {
    std::vector<std::string> command{"server",
                                     fmt::format("--servers={}", plan_.servers.size()),
                                     fmt::format("--shard-index={}", p.index),
                                     fmt::format("--leader={}:{}", plan_.server_address, port_),
                                     "--port=0",
                                     "--bind=" + p.address,
                                     "--advertise=" + p.address};
    for (auto& a : tls_arguments(p))
      command.push_back(std::move(a));
    if (!checkpoint_.empty()) {
      const auto own = shard_checkpoint_dir(checkpoint_, p.index);
      command.push_back("--checkpoint=" + own);
      if (resume)
        command.push_back("--resume=" + own);
    }
    for (const auto& a : args_.server) {
      const auto key = key_of(a);
      if (key == "tcp" || key == "quiet" || key == "q" || key == "insecure" ||
          key == "max-message-bytes" || key.find('.') != std::string::npos)
        command.push_back(a);
    }
    return command;
  }

  /// Starts `command` (dsq's arguments) as process `p` and says so; its child id.
  std::size_t spawn(const planned_process& p, const std::vector<std::string>& command) {
    std::size_t id = 0;
    try {
      id = children_.start(argv_for(p, command), p.prefix());
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{} on {}{}: {}", p.prefix(), p.host,
                                           p.local ? "" : " (--launch-command)", e.what()));
    }
    fmt::print("dsq launch: {} started on {}: pid {}\n", p.prefix(), p.host,
               children_.process(id).pid());
    std::fflush(stdout);
    return id;
  }

  /// dsq's arguments for worker `p`.
  std::vector<std::string> worker_command(const planned_process& p) const {
    std::vector<std::string> command{"worker",
                                     fmt::format("--server={}:{}", plan_.server_address, port_)};
    for (auto& a : tls_arguments(p))
      command.push_back(std::move(a));
    command.insert(command.end(), args_.worker.begin(), args_.worker.end());
    return command;
  }

  /// Starts `c` (a server shard with --resume when `resume`) and tells the supervisor.
  void start(const launch_child& c, bool resume) {
    const auto& p = planned(c);
    const auto id = spawn(p, c.role == launch_role::worker ? worker_command(p)
                             : c.index == 0                ? server_command(resume)
                                                           : follower_command(p, resume));
    if (c.role == launch_role::server && c.index == 0)
      server_ = id;
    child_of_[id] = c;
    supervisor_.started(c, steady::now());
  }

  /// Carries out `actions`; the exit code once the supervisor says the launch is over.
  std::optional<int> carry_out(const std::vector<launch_action>& actions);

  /// Waits for the server's port; false (after saying why) when it ended first, a signal came
  /// or --start-timeout passed.
  bool learn_port();

  launch_options opts_;
  split_arguments args_;
  launch_plan plan_;
  std::string binary_;
  std::vector<std::string> template_;
  std::string checkpoint_;
  launch_supervisor supervisor_;

  supervised_children children_;
  std::uint16_t port_ = 0;
  std::size_t server_ = 0;                       ///< the server's current child
  std::map<std::size_t, launch_child> child_of_; ///< child id -> its process of the plan
  int exit_code_ = 0;
};

bool launcher::learn_port() {
  const auto deadline = steady::now() + std::chrono::seconds(opts_.start_timeout_s);
  while (steady::now() < deadline) {
    for (const auto& e : children_.wait(100ms)) {
      if (e.what == child_event::kind::line && e.child == server_ && !e.from_stderr)
        if (auto port = listening_port(e.text)) {
          port_ = *port;
          return true;
        }
      if (e.what == child_event::kind::signal) {
        fmt::print(stderr, "dsq launch: stopped by signal {} before the server listened\n", e.sig);
        exit_code_ = 128 + e.sig;
        return false;
      }
      if (e.what == child_event::kind::ended && e.child == server_) {
        const auto& p = plan_.servers.front();
        fmt::print(stderr, "dsq launch: error: the server on {} ended before it listened ({}){}\n",
                   p.host, e.status.describe(),
                   p.local ? std::string{}
                           : "; it was started with: " + children_.process(server_).command_line());
        exit_code_ = e.status.exited && e.status.code != 0 ? e.status.code : 1;
        return false;
      }
    }
  }
  fmt::print(stderr,
             "dsq launch: error: the server did not say its port within {} s (--start-timeout)\n",
             opts_.start_timeout_s);
  exit_code_ = 1;
  return false;
}

std::optional<int> launcher::carry_out(const std::vector<launch_action>& actions) {
  for (const auto& a : actions) {
    switch (a.what) {
    case launch_action::kind::start:
      start(a.child, a.resume);
      break;
    case launch_action::kind::signal:
      for (const auto& [id, c] : child_of_)
        if (c == a.child && children_.running(id))
          children_.signal(id, a.sig);
      break;
    case launch_action::kind::kill_all:
      children_.kill_all();
      break;
    case launch_action::kind::say:
      fmt::print(a.to_stderr ? stderr : stdout, "{}\n", a.text);
      std::fflush(stdout);
      break;
    case launch_action::kind::exit:
      return a.code;
    }
  }
  return std::nullopt;
}

int launcher::run() {
  {
    std::string where;
    std::map<std::string, int> per_host;
    std::vector<std::string> order;
    for (const auto& w : plan_.workers)
      if (per_host[w.host]++ == 0)
        order.push_back(w.host);
    for (const auto& h : order)
      where += fmt::format("{}{} on {}", where.empty() ? "" : ", ", per_host[h], h);
    std::string followers;
    for (std::size_t k = 1; k < plan_.servers.size(); ++k)
      followers += fmt::format("{}shard {} on {} (at {})", k == 1 ? ", " : "; ", k,
                               plan_.servers[k].host, plan_.servers[k].address);
    fmt::print("dsq launch: the server on {} (reached at {}){}, {} worker{}: {}\n",
               plan_.servers.front().host, plan_.server_address, followers, plan_.workers.size(),
               plan_.workers.size() == 1 ? "" : "s", where);
    std::fflush(stdout);
  }
  start({launch_role::server, 0}, false);
  if (!learn_port())
    return exit_code_; // the supervisor kills whatever runs as it goes
  fmt::print("dsq launch: the server listens on {}:{}\n", plan_.server_address, port_);
  std::fflush(stdout);
  if (auto code = carry_out(supervisor_.listening(port_, steady::now())))
    return *code;
  for (;;) {
    // Wake for the supervisor's next deadline (a restart's back-off, the stop), at most 200 ms.
    auto timeout = std::chrono::milliseconds{200};
    if (const auto next = supervisor_.next_deadline())
      timeout = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(*next - steady::now()),
                           std::chrono::milliseconds{0}, timeout);
    for (const auto& e : children_.wait(timeout)) {
      std::vector<launch_action> actions;
      if (e.what == child_event::kind::signal)
        actions = supervisor_.signalled(e.sig, steady::now());
      else if (e.what == child_event::kind::ended && child_of_.count(e.child) != 0)
        actions = supervisor_.ended(child_of_.at(e.child), end_of(e.status), steady::now());
      if (auto code = carry_out(actions))
        return *code;
    }
    if (auto code = carry_out(supervisor_.tick(steady::now())))
      return *code;
  }
}

} // namespace

int run_launch_command(const std::vector<std::string>& args, const std::string& self) {
  dsq_options opts;
  for (const auto& a : args)
    if (a == "--help" || a == "-h" || a == "-?" || a == "--long-help") {
      fmt::print("{}\n{}\nEvery option of dsq server and dsq worker is taken too (see their "
                 "--help).\n",
                 launch_usage, opts.options_help(dsq_command::launch));
      return 0;
    }
  split_arguments split;
  dsq_options server_opts, worker_opts;
  try {
    split = split_options(args, opts);
    // The launcher's own options, and the run's as the server and a worker will read them:
    // a bad value is refused here, once, rather than by every process.
    for (auto [parsed, words, command] :
         {std::tuple{&opts, split.own, dsq_command::launch},
          std::tuple{&server_opts, split.server, dsq_command::server},
          std::tuple{&worker_opts, split.worker, dsq_command::worker}}) {
      if (command == dsq_command::worker)
        words.push_back("--server=127.0.0.1:1");
      auto r = parse_options(words, *parsed, command);
      if (r.help || r.version) // --dump-config, --version: printed by the first that read it
        return 0;
      if (!r.ok) {
        fmt::print(stderr, "dsq launch: error: {}\n", r.error);
        return 2;
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "dsq launch: error: {}\n", e.what());
    return 2;
  }
  const auto& l = opts.launch;
  launch_plan plan;
  std::vector<std::string> template_words;
  try {
    const auto hosts = l.hostfile.empty() ? std::vector<launch_host>{} : read_host_file(l.hostfile);
    plan = make_launch_plan(hosts, {static_cast<int>(server_opts.run.workers),
                                    static_cast<int>(server_opts.run.servers), l.oversubscribe});
    template_words = split_launch_template(l.launch_command);
    if (!l.tls_dir.empty() &&
        (was_given(split, "tls-cert") || was_given(split, "tls-key") || was_given(split, "tls-ca")))
      throw config_error("--tls-dir gives every process its --tls-cert, --tls-key and --tls-ca: "
                         "give either --tls-dir or the three --tls-* options");
    if (l.start_timeout_s == 0)
      throw config_error("--start-timeout=0: the server needs at least 1 s to say its port");
    if (l.restart_server > 0 && server_opts.run.checkpoint.empty())
      throw config_error("--restart-server=" + std::to_string(l.restart_server) +
                         " resumes the server from its checkpoint: give --checkpoint=DIR (and "
                         "--checkpoint-every=K for an exact resume)");
    if (!l.tls_dir.empty()) // the files of the processes of this machine are checked here
      for (const auto* group : {&plan.servers, &plan.workers})
        for (const auto& p : *group) {
          if (!p.local)
            continue;
          const auto name = certificate_name(p);
          for (const auto& file : {name + ".pem", name + ".key", std::string{"ca.pem"}})
            if (!std::filesystem::exists(std::filesystem::path{l.tls_dir} / file))
              throw config_error(fmt::format(
                  "--tls-dir={}: no {} (scripts/make-certs.sh {} {} {} makes them)", l.tls_dir,
                  file, l.tls_dir, plan.workers.size(), plan.server_address));
        }
  } catch (const std::exception& e) {
    fmt::print(stderr, "dsq launch: error: {}\n", e.what());
    return 2;
  }
  const auto binary = l.dsq_binary.empty() ? self : l.dsq_binary;
  try {
    launcher run{l,      std::move(split),          std::move(plan),
                 binary, std::move(template_words), server_opts.run.checkpoint};
    return run.run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "dsq launch: error: {}\n", e.what());
    return 1;
  }
}

} // namespace dsq
