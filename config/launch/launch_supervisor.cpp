#include "config/launch/launch_supervisor.hpp"

#include <algorithm>
#include <csignal>
#include <sstream>
#include <stdexcept>

namespace dsq {

namespace {

/// `d` in seconds as a person writes it: "2", "0.5".
std::string seconds(launch_clock::duration d) {
  std::ostringstream s;
  s << std::chrono::duration<double>(d).count();
  return s.str();
}

/// The end of a restart's line: " in 2 s" after a back-off, then " (restart 2 of 5)".
std::string restart_note(launch_clock::duration delay, std::uint64_t restart, std::uint64_t of) {
  return (delay > launch_clock::duration::zero() ? " in " + seconds(delay) + " s" : std::string{}) +
         " (restart " + std::to_string(restart) + " of " + std::to_string(of) + ")";
}

launch_action say(std::string text, bool to_stderr) {
  launch_action a;
  a.what = launch_action::kind::say;
  a.text = "dsq launch: " + std::move(text);
  a.to_stderr = to_stderr;
  return a;
}

launch_action start(const launch_child& child, bool resume = false) {
  launch_action a;
  a.what = launch_action::kind::start;
  a.child = child;
  a.resume = resume;
  return a;
}

launch_action signal_to(const launch_child& child, int sig) {
  launch_action a;
  a.what = launch_action::kind::signal;
  a.child = child;
  a.sig = sig;
  return a;
}

launch_action kill_all() {
  launch_action a;
  a.what = launch_action::kind::kill_all;
  return a;
}

constexpr launch_child the_server{launch_role::server, 0};

} // namespace

bool server_crashed(const process_end& end) {
  return !end.exited || end.code == 1 || end.code == 4 || end.code == 6;
}

launch_supervisor::launch_supervisor(launch_plan plan, const launch_options& opts,
                                     std::string checkpoint, restart_rule restarts, stop_rule stops)
    : plan_{std::move(plan)}, opts_{opts},
      checkpoint_{std::move(checkpoint)}, restarts_{restarts}, stops_{stops} {
  if (plan_.servers.empty())
    throw std::invalid_argument("launch_supervisor: the plan has no server process");
  // Sharded runs (--servers=K): shard 0 (the leader) is `the_server`; the followers are watched
  // too, and the K shards restart together (on_follower_end, restart_shards).
  for (const auto& s : plan_.servers)
    children_[launch_child{launch_role::server, s.index}];
  for (const auto& w : plan_.workers)
    children_[launch_child{launch_role::worker, w.index}];
}

const planned_process& launch_supervisor::planned(const launch_child& c) const {
  const auto& group = c.role == launch_role::server ? plan_.servers : plan_.workers;
  return group.at(static_cast<std::size_t>(c.index));
}

std::vector<launch_action> launch_supervisor::listening(std::uint16_t port,
                                                        launch_clock::time_point now) {
  port_ = port;
  std::vector<launch_action> out;
  // The followers join the leader; the workers' welcome names them.
  for (std::size_t k = 1; k < plan_.servers.size(); ++k)
    out.push_back(start_child({launch_role::server, static_cast<int>(k)}, now));
  for (const auto& w : plan_.workers)
    out.push_back(start_child({launch_role::worker, w.index}, now));
  return out;
}

launch_action launch_supervisor::start_child(const launch_child& c, launch_clock::time_point now) {
  auto& s = children_.at(c);
  // Running from now on: the launcher starts it before anything else happens (or exits).
  s.running = true;
  s.started_at = now;
  s.restart_at.reset();
  const bool again = ever_started_.count(c) != 0;
  ever_started_.insert(c);
  return start(c, again && c.role == launch_role::server);
}

void launch_supervisor::started(const launch_child& child, launch_clock::time_point now) {
  auto& s = children_.at(child);
  s.running = true;
  s.started_at = now;
  s.restart_at.reset();
  ever_started_.insert(child);
}

std::optional<launch_clock::duration> launch_supervisor::backoff(const launch_child& c,
                                                                 launch_clock::time_point now) {
  auto& s = children_.at(c);
  if (now - s.started_at >= restarts_.quick) {
    s.quick_failures = 0;
    return launch_clock::duration::zero();
  }
  if (++s.quick_failures >= restarts_.loop_limit)
    return std::nullopt;
  if (s.quick_failures == 1)
    return launch_clock::duration::zero();
  auto delay = restarts_.first_delay;
  for (int i = 2; i < s.quick_failures && delay < restarts_.max_delay; ++i)
    delay *= 2;
  return std::min(delay, restarts_.max_delay);
}

std::vector<launch_action> launch_supervisor::ended(const launch_child& child,
                                                    const process_end& end,
                                                    launch_clock::time_point now) {
  std::vector<launch_action> out;
  children_.at(child).running = false;
  // A shard's end during a restart of every shard is part of it: they all come back (tick).
  const bool restarting = child.role == launch_role::server && shards_restart_at_;
  if (!restarting && child == the_server)
    on_server_end(end, now, out);
  else if (!restarting && child.role == launch_role::server)
    on_follower_end(child, end, now, out);
  else if (child.role == launch_role::worker)
    on_worker_end(child, end, now, out);
  auto more = tick(now);
  out.insert(out.end(), more.begin(), more.end());
  return out;
}

void launch_supervisor::on_server_end(const process_end& end, launch_clock::time_point now,
                                      std::vector<launch_action>& out) {
  // (After a follower's loss without a restart left, the leader's failure is that loss.)
  if (phase_ == phase::running && server_crashed(end) && !shard_failed_ &&
      server_restarts_ < opts_.restart_server) {
    if (const auto delay = backoff(the_server, now)) {
      ++server_restarts_;
      out.push_back(
          say("the server ended (" + end.description + "): restarting it from --checkpoint=" +
                  checkpoint_ + " on port " + std::to_string(port_) +
                  (plan_.servers.size() > 1 ? ", and every other shard from its own" : "") +
                  restart_note(*delay, server_restarts_, opts_.restart_server),
              true));
      restart_shards(now + *delay, out);
      return;
    }
    out.push_back(say("error: the server failed " + std::to_string(restarts_.loop_limit) +
                          " times in a row within " + seconds(restarts_.quick) +
                          " s of its start (a crash loop): not restarting it",
                      true));
  }
  leader_term_at_.reset();
  // A server that finished, or that we stopped (or killed past the stop's deadline), leaves the
  // outcome to what made us stop it: a worker's failure or a lost shard (1). One that failed on
  // its own keeps its code (3: diverged) even when its workers, told so, failed before it ended.
  const int code = end.shell_code();
  const bool stopped = end.success() || code == 128 + SIGTERM || code == 128 + SIGKILL;
  const bool lost_shard = shard_failed_ && stopped;
  if (signals_ == 0 || exit_code_ == 0)
    exit_code_ = (worker_failed_ && stopped) || lost_shard ? 1 : code;
  out.push_back(say("the server ended (" + end.description + ")", !end.success()));
  phase_ = phase::ending;
  cancel_restarts();
  // A finished server has said goodbye: its workers end by themselves. Otherwise they would
  // look for it until --reconnect-timeout: they are stopped now.
  term_at_ = now + (end.success() ? stops_.finished_grace : launch_clock::duration::zero());
  kill_at_ = *term_at_ + stops_.term_to_kill;
}

std::string launch_supervisor::shard_name(const launch_child& c) const {
  return "shard " + std::to_string(c.index) + " of " + std::to_string(plan_.servers.size()) + " " +
         prefix(c);
}

void launch_supervisor::on_follower_end(const launch_child& c, const process_end& end,
                                        launch_clock::time_point now,
                                        std::vector<launch_action>& out) {
  const auto name = shard_name(c);
  // A follower ends with the run (the leader's shard_end), possibly just before the leader.
  if (phase_ != phase::running || end.success()) {
    out.push_back(say(name + " ended (" + end.description + ")", !end.success()));
    return;
  }
  if (server_crashed(end) && server_restarts_ < opts_.restart_server) {
    if (const auto delay = backoff(the_server, now)) {
      ++server_restarts_;
      out.push_back(say(name + " ended (" + end.description +
                            "): restarting every shard from its checkpoint (--checkpoint=" +
                            checkpoint_ + "), the server on port " + std::to_string(port_) +
                            restart_note(*delay, server_restarts_, opts_.restart_server),
                        true));
      restart_shards(now + *delay, out);
      return;
    }
    out.push_back(say("error: the shards failed " + std::to_string(restarts_.loop_limit) +
                          " times in a row within " + seconds(restarts_.quick) +
                          " s of the server's start (a crash loop): not restarting them",
                      true));
  }
  // The leader loses the shard's key range and fails the run; should it not end, it is
  // stopped, and past the stop's deadline everything is killed.
  out.push_back(say("error: " + name + " ended (" + end.description +
                        "): the run cannot go on without its key range; the server ends it",
                    true));
  shard_failed_ = true;
  leader_term_at_ = now + stops_.shard_lost_grace;
  if (!kill_at_)
    kill_at_ = now + stops_.stop_to_kill;
}

void launch_supervisor::restart_shards(launch_clock::time_point at,
                                       std::vector<launch_action>& out) {
  shards_restart_at_ = at;
  for (const auto& [c, s] : children_)
    if (c.role == launch_role::server && s.running)
      out.push_back(signal_to(c, SIGKILL));
}

bool launch_supervisor::any_shard_running() const {
  return std::any_of(children_.begin(), children_.end(), [](const auto& entry) {
    return entry.first.role == launch_role::server && entry.second.running;
  });
}

void launch_supervisor::on_worker_end(const launch_child& c, const process_end& end,
                                      launch_clock::time_point now,
                                      std::vector<launch_action>& out) {
  if (phase_ != phase::running) {
    if (!end.success())
      out.push_back(say(prefix(c) + " ended (" + end.description + ")", true));
    return;
  }
  if (end.success()) {
    out.push_back(say(prefix(c) + " ended (" + end.description + ")", false));
    return;
  }
  std::string why =
      "no restart is left (--restart-workers=" + std::to_string(opts_.restart_workers) + ")";
  if (worker_restarts_ < opts_.restart_workers) {
    if (const auto delay = backoff(c, now)) {
      ++worker_restarts_;
      out.push_back(say(prefix(c) + " failed (" + end.description + "): restarting it" +
                            restart_note(*delay, worker_restarts_, opts_.restart_workers),
                        true));
      children_.at(c).restart_at = now + *delay;
      return;
    }
    why = "it failed " + std::to_string(restarts_.loop_limit) + " times in a row within " +
          seconds(restarts_.quick) + " s of its start (a crash loop)";
  }
  out.push_back(say("error: " + prefix(c) + " failed (" + end.description + ") and " + why +
                        ": stopping the run",
                    true));
  worker_failed_ = true;
  exit_code_ = 1;
  phase_ = phase::stopping;
  cancel_restarts();
  stop_run(SIGTERM, out);
  kill_at_ = now + stops_.stop_to_kill;
}

std::vector<launch_action> launch_supervisor::signalled(int sig, launch_clock::time_point now) {
  std::vector<launch_action> out;
  if (++signals_ > 1) {
    out.push_back(say("signal " + std::to_string(sig) + " again: killing every process", true));
    out.push_back(kill_all());
    launch_action done;
    done.what = launch_action::kind::exit;
    done.code = 128 + sig;
    out.push_back(done);
    over_ = true;
    return out;
  }
  out.push_back(say("signal " + std::to_string(sig) + ": stopping the run", true));
  if (phase_ == phase::running)
    phase_ = phase::stopping;
  // A server waiting for its restart never runs again: the run ends stopped.
  if (shards_restart_at_ && exit_code_ == 0)
    exit_code_ = 128 + sig;
  cancel_restarts();
  stop_run(sig, out);
  // The server writes its outputs and dismisses its workers; past this, everything is killed.
  kill_at_ = now + stops_.stop_to_kill;
  maybe_exit(out);
  return out;
}

std::vector<launch_action> launch_supervisor::tick(launch_clock::time_point now) {
  std::vector<launch_action> out;
  if (over_)
    return out;
  // Every shard again, with --resume, once the last of them has ended: the leader first.
  if (shards_restart_at_ && now >= *shards_restart_at_ && !any_shard_running()) {
    shards_restart_at_.reset();
    for (const auto& p : plan_.servers)
      out.push_back(start_child({launch_role::server, p.index}, now));
  }
  // A worker that failed with the shards (the lost shard's, or the leader's farewell) waits for
  // them: started earlier, it would meet the ending leader and be refused.
  for (auto& [c, s] : children_)
    if (s.restart_at && now >= *s.restart_at && !shards_restart_at_)
      out.push_back(start_child(c, now));
  if (leader_term_at_ && now >= *leader_term_at_) {
    leader_term_at_.reset();
    if (children_.at(the_server).running) {
      out.push_back(say("stopping the server (it runs on without a shard)", true));
      out.push_back(signal_to(the_server, SIGTERM));
    }
  }
  if (term_at_ && now >= *term_at_) {
    term_at_.reset();
    for (const auto& [c, s] : children_)
      if (c != the_server && s.running) {
        out.push_back(say("stopping " + prefix(c) + " (the server has ended)", true));
        out.push_back(signal_to(c, SIGTERM));
      }
  }
  if (kill_at_ && now >= *kill_at_) {
    kill_at_.reset();
    if (std::any_of(children_.begin(), children_.end(),
                    [](const auto& entry) { return entry.second.running; })) {
      out.push_back(say("processes still running after the stop: killing them", true));
      out.push_back(kill_all());
    }
  }
  maybe_exit(out);
  return out;
}

std::optional<launch_clock::time_point> launch_supervisor::next_deadline() const {
  std::optional<launch_clock::time_point> next;
  const auto consider = [&](const std::optional<launch_clock::time_point>& t) {
    if (t && (!next || *t < *next))
      next = t;
  };
  if (!shards_restart_at_) // else the workers start after the shards
    for (const auto& entry : children_)
      consider(entry.second.restart_at);
  if (!any_shard_running()) // else the last shard's end comes first
    consider(shards_restart_at_);
  consider(term_at_);
  consider(kill_at_);
  consider(leader_term_at_);
  return next;
}

void launch_supervisor::stop_run(int sig, std::vector<launch_action>& out) {
  if (children_.at(the_server).running) {
    out.push_back(signal_to(the_server, sig));
    return;
  }
  for (const auto& [c, s] : children_)
    if (s.running)
      out.push_back(signal_to(c, sig));
}

void launch_supervisor::cancel_restarts() {
  for (auto& entry : children_)
    entry.second.restart_at.reset();
  shards_restart_at_.reset();
  leader_term_at_.reset();
}

void launch_supervisor::maybe_exit(std::vector<launch_action>& out) {
  if (over_)
    return;
  for (const auto& entry : children_)
    if (entry.second.running || entry.second.restart_at)
      return;
  if (shards_restart_at_)
    return;
  launch_action done;
  done.what = launch_action::kind::exit;
  done.code = exit_code_;
  out.push_back(done);
  over_ = true;
}

} // namespace dsq
