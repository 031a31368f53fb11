#include "training/worker/worker_core.hpp"

#include "model/make_model.hpp"
#include "training/double_squeeze.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

namespace dsq {

namespace effect = worker_effect;

worker_core::worker_core(worker_settings settings, time_point now)
    : settings_(std::move(settings)), timer_(now) {}

worker_effects worker_core::start(bool self_register, time_point now) {
  worker_effects out;
  if (self_register)
    register_with_server(false, now, out);
  auto beat = on_heartbeat_timer();
  out.insert(out.end(), beat.begin(), beat.end());
  return out;
}

worker_effects worker_core::stop(bool error, std::string reason) {
  stopped_ = true;
  return {effect::stop{error, std::move(reason)}};
}

std::string worker_core::who() const {
  return joined() ? fmt::format("worker {}", id_) : std::string{"worker"};
}

worker_effects worker_core::heard_from_server() {
  timer_.heard_from_server();
  if (!silent_since_)
    return {};
  silent_since_.reset();
  if (!settings_.verbose)
    return {};
  return {effect::say{who() + ": the server answers again; going on"}};
}

void worker_core::progressed(time_point now, worker_effects& out) {
  if (auto after = timer_.progressed(now))
    out.push_back(effect::arm_timer{effect::timer::retry, *after});
}

void worker_core::register_with_server(bool returning, time_point now, worker_effects& out) {
  registered_ = true;
  out.push_back(effect::send_register{returning, id_});
  progressed(now, out); // the welcome is owed from now on
}

// -- the server's messages -------------------------------------------------------------------

namespace {

/// The run's configuration as this worker trains it: the welcome's, with this host's data
/// directory and the concrete data set the server loaded. A worker never resolves `auto`
/// itself, so it never falls back to synthetic data when the server trains on MNIST.
run_config config_of(const welcome& w, const std::string& data_dir) {
  auto cfg = w.config;
  cfg.data_dir = data_dir;
  if (!w.data.spec.empty())
    cfg.dataset = w.data.spec;
  return cfg;
}

std::string megabytes(std::uint64_t bytes) {
  return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
}

} // namespace

std::optional<std::string> worker_core::load_own_data(const welcome& w) {
  // A welcome that states no data set: only the configuration would say, and `auto` there
  // would make this worker guess (synthetic data when it finds no MNIST). It never does.
  if (w.data.spec.empty())
    throw std::runtime_error("the server's welcome names no data set, and this worker never "
                             "guesses one: run the same dsq version on server and workers");
  const auto source = settings_.source;
  if (source == data_origin::server)
    return std::string{"--data=server"};
  const auto cfg = config_of(w, settings_.data_dir);
  const bool local = source == data_origin::local;
  const std::string fix = "or --data=auto to get it from the server";
  training_setup mine;
  try {
    mine = load_training(cfg);
  } catch (const std::exception& e) {
    if (local)
      throw std::runtime_error(fmt::format("{} (--data=local: give --data-dir=DIR holding the "
                                           "server's data, {})",
                                           e.what(), fix));
    return fmt::format("no local copy of the data ({})", e.what());
  }
  if (auto differs = data_mismatch(w.data, mine.identity); !differs.empty()) {
    if (local)
      throw std::runtime_error(differs + " (--data=local), " + fix);
    return differs.substr(0, differs.find(';')); // what differs, without the fix
  }
  settings_.setup = std::move(mine);
  own_data_ = true;
  return std::nullopt;
}

void worker_core::start_fetch(welcome& w, const std::string& why, worker_effects& out) {
  fetch_.emplace(w.data, data_chunk_size(settings_.message_limit));
  fetch_welcome_ = std::move(w);
  fetch_reported_ = 0;
  fetch_grants_.clear();
  registered_ = false; // the welcome is taken; the chunks are owed now
  if (settings_.verbose)
    out.push_back(
        effect::say{fmt::format("worker: {}; getting the training set from the "
                                "server ({}, {} chunks)",
                                why, megabytes(fetch_->total_bytes()), fetch_->chunk_count())});
  ask_for_chunks(out);
}

void worker_core::ask_for_chunks(worker_effects& out) {
  while (auto r = fetch_->next_request())
    out.push_back(effect::send_data_request{*r});
}

void worker_core::finish_fetch() {
  const auto& w = *fetch_welcome_;
  auto data = std::make_shared<train_test>();
  data->train = fetch_->take(); // checked: the fingerprint is the welcome's
  data->description = fmt::format("{} from the server ({} train samples, {} features)", w.data.spec,
                                  data->train.size(), data->train.dimension());
  const auto cfg = config_of(w, settings_.data_dir);
  training_setup setup;
  setup.net = make_model(cfg.model, data->train.dimension(), data->train.num_classes);
  setup.data = std::move(data);
  // The training set is the server's, fingerprint checked; the test set is not sent (workers
  // never evaluate), so the identity is the welcome's.
  setup.identity = w.data;
  settings_.setup = std::move(setup);
  own_data_ = true;
}

void worker_core::adopt(welcome& w) {
  if (!has_data(settings_.setup)) // on_welcome loads it, or the server sent it (on_data_chunk)
    throw std::logic_error("worker_core::adopt without data");
  id_ = w.worker_id;
  cfg_ = config_of(w, settings_.data_dir);
  total_steps_ = w.total_steps;
  state_every_ = w.state_every;
  // Data shared in the process is the server's own; data loaded here must be the same.
  if (own_data_ && !w.data.spec.empty())
    if (auto differs = data_mismatch(w.data, settings_.setup.identity); !differs.empty())
      throw std::runtime_error(differs);
  engine_.emplace(cfg_, settings_.setup, id_, w.version, w.model, w.momentum, w.shard);
  // Sharded (--servers=K, the welcome worker_shards assembled): each key range is compressed
  // and applied on its own. Before a checkpoint's state, which restores each range's residual.
  if (w.shards.count() > 1)
    engine_->use_ranges(w.shards.ranges);
  if (w.has_state) {
    engine_->restore(w.state); // back after a server restart: exactly where the run was
    // The welcome's shard wins: the same one (nothing changes) when every member came back,
    // a new generation when not.
    engine_->use_shard(w.shard);
  }
  updates_ = update_sequencer{w.version};
  // The one place the mode is read: from here on the policy answers for it.
  policy_.emplace(cfg_.mode == "async", total_steps_);
  slow_ = slow_factor(cfg_, id_);
  timer_.forget_push();
  delayed_.reset();
  registered_ = false;
}

std::string worker_core::joined_line(const welcome& w) const {
  return fmt::format("worker {}: {} at step {} of {}, shard {}/{} ({} samples){}", id_,
                     w.has_state ? "back with its state" : "joined", w.version, total_steps_,
                     w.shard.index + 1, w.shard.count, engine_->shard_size(),
                     slow_ > 1 ? fmt::format(", {}x slower", slow_) : std::string{});
}

worker_effects worker_core::on_welcome(welcome& w) {
  auto out = heard_from_server();
  if (!takes_welcome())
    return out;   // a copy of the welcome this worker already took
  fetch_.reset(); // registered again while the data came: it starts over with this welcome
  fetch_welcome_.reset();
  try {
    if (!has_data(settings_.setup))
      if (auto why = load_own_data(w)) {
        start_fetch(w, *why, out);
        return out;
      }
    adopt(w);
  } catch (const std::exception& e) {
    return stop(true, e.what());
  }
  if (settings_.verbose)
    out.push_back(effect::say{joined_line(w)});
  return out;
}

worker_effects worker_core::on_data_chunk(const data_chunk& c, time_point now) {
  auto out = heard_from_server();
  if (!fetch_)
    return out; // not asked for, or from before a new welcome
  try {
    if (fetch_->offer(c) == data_assembler::outcome::duplicate)
      return out;
  } catch (const std::exception& e) {
    return stop(true, e.what());
  }
  progressed(now, out);
  const auto tenths = fetch_->received_bytes() * 10 / fetch_->total_bytes();
  if (settings_.verbose && tenths > fetch_reported_ && !fetch_->complete()) {
    fetch_reported_ = tenths;
    out.push_back(
        effect::say{fmt::format("worker: {} of {} ({}%)", megabytes(fetch_->received_bytes()),
                                megabytes(fetch_->total_bytes()), tenths * 10)});
  }
  if (!fetch_->complete()) {
    ask_for_chunks(out);
    return out;
  }
  const auto bytes = fetch_->total_bytes();
  welcome w;
  try {
    finish_fetch();
    w = std::move(*fetch_welcome_);
    fetch_.reset();
    fetch_welcome_.reset();
    adopt(w);
  } catch (const std::exception& e) {
    fetch_.reset();
    fetch_welcome_.reset();
    return stop(true, e.what());
  }
  if (settings_.verbose) {
    out.push_back(effect::say{fmt::format("worker: got the training set from the server ({}, "
                                          "fingerprint {:016x} checked)",
                                          megabytes(bytes), w.data.train_fingerprint)});
    out.push_back(effect::say{joined_line(w)});
  }
  // What the server sent while the data came: its grants now; updates were not taken, and a
  // probe's answer says which are missing (on_sent asks for them).
  for (const auto& [version, number] : fetch_grants_)
    policy_->on_grant(version, number);
  fetch_grants_.clear();
  out.push_back(effect::send_probe{0});
  progressed(now, out);
  return out;
}

worker_effects worker_core::on_reshard(const shard_assignment& shard) {
  auto out = heard_from_server();
  if (joined())
    engine_->use_shard(shard);
  else if (fetch_welcome_)
    fetch_welcome_->shard = shard; // taken with the welcome once the data is here
  return out;
}

void worker_core::receive_update(model_update& u, time_point now, worker_effects& out) {
  if (!updates_.offer(u.version, std::move(u.payload)))
    return; // a duplicate, or from before this worker's welcome
  const auto before = engine_->version();
  while (auto payload = updates_.next())
    engine_->apply(*payload);
  if (engine_->version() > before) {
    if (auto key = policy_->acknowledged_by(engine_->version()))
      timer_.acknowledged(*key, now);
    progressed(now, out);
  }
  const auto v = engine_->version();
  if (settings_.verbose && (v % 100 == 0 || v == total_steps_))
    out.push_back(effect::say{fmt::format("worker {}: step {}/{}", id_, v, total_steps_)});
}

worker_effects worker_core::on_update(model_update& u, time_point now) {
  auto out = heard_from_server();
  if (!joined())
    return out; // from before this worker's welcome
  try {
    receive_update(u, now, out);
  } catch (const std::exception& e) {
    return stop(true, std::string{"corrupt update from the server: "} + e.what());
  }
  return out;
}

worker_effects worker_core::on_grant(std::uint64_t version, std::uint64_t number, time_point now) {
  auto out = heard_from_server();
  if (fetching() && fetch_grants_.size() < 64)
    fetch_grants_.emplace_back(version, number); // taken once the data is here
  if (!joined() || !policy_->on_grant(version, number))
    return out;                         // before the welcome, or a copy of a grant already taken
  timer_.acknowledged(number - 1, now); // granted again: the last push was taken
  progressed(now, out);
  return out;
}

worker_effects worker_core::on_ack(std::uint64_t key, time_point now) {
  auto out = heard_from_server();
  if (joined())
    timer_.acknowledged(key, now);
  return out;
}

worker_effects worker_core::on_resend(std::uint64_t key) {
  auto out = heard_from_server();
  if (timer_.resend_requested(key))
    out.push_back(effect::resend_push{key});
  return out;
}

worker_effects worker_core::on_sent(std::uint64_t latest) {
  auto out = heard_from_server();
  // Every update the server sent before this answer came before it: one up to `latest` that is
  // still missing (updates apply in order, so any gap shows in the version) was lost. Ask for
  // what is missing.
  if (joined() && !orphaned_ && engine_->version() < latest)
    out.push_back(effect::send_status{engine_->version()});
  return out;
}

worker_effects worker_core::on_resync(welcome& w, time_point now) {
  auto out = heard_from_server();
  // Too far behind for the server's ring: the full model, keeping δ⁽ⁱ⁾ and the sampler.
  if (!joined() || w.worker_id != id_ || w.version <= engine_->version())
    return out;
  try {
    engine_->reset_model(w.version, w.model, w.momentum);
    engine_->use_shard(w.shard); // the same shard changes nothing
  } catch (const std::exception& e) {
    return stop(true, std::string{"bad resync from the server: "} + e.what());
  }
  updates_ = update_sequencer{w.version};
  if (auto key = policy_->acknowledged_by(w.version))
    timer_.acknowledged(*key, now);
  progressed(now, out);
  return out;
}

worker_effects worker_core::on_shutdown(const farewell& f, time_point now) {
  if (!(f.may_rejoin && joined()))
    return stop(f.error, f.reason);
  // Removed for silence (hung, or cut off): awake again, join anew through the elastic-join
  // path, as a new worker with a zero residual.
  worker_effects out;
  if (settings_.verbose)
    out.push_back(
        effect::say{fmt::format("worker {}: removed ({}); registering again", id_, f.reason)});
  engine_.reset();
  timer_.forget_push();
  delayed_.reset();
  register_with_server(false, now, out);
  return out;
}

worker_effects worker_core::on_reject(const farewell& f) {
  if (f.error)
    return stop(true, "rejected by the server: " + f.reason);
  auto out = stop(false, f.reason);
  out.insert(out.begin(), effect::say{"worker: the server declined: " + f.reason});
  return out;
}

// -- the connection --------------------------------------------------------------------------

worker_effects worker_core::on_server_lost() {
  if (!settings_.reconnects)
    return stop(true, "lost the connection to the server");
  // Keep everything and wait to be told where the server is now. Data on its way is dropped:
  // the next welcome starts it over.
  fetch_.reset();
  fetch_welcome_.reset();
  orphaned_ = true;
  registered_ = false;
  silent_since_.reset(); // gone, not silent: the reconnect has its own bound
  worker_effects out{effect::find_server{}};
  if (settings_.verbose)
    out.insert(out.begin(), effect::say{who() + ": lost the connection to the server; "
                                                "reconnecting (--reconnect-timeout)"});
  return out;
}

worker_effects worker_core::on_reconnected(time_point now) {
  stale_reconnects_ = 0;
  orphaned_ = false;
  worker_effects out;
  if (settings_.verbose)
    out.push_back(effect::say{
        joined() ? fmt::format("worker {}: reached the server again; registering, asking for "
                               "id {} back",
                               id_, id_)
                 : std::string{"worker: reached the server again; registering"}});
  register_with_server(joined(), now, out);
  return out;
}

worker_effects worker_core::on_stale_reconnect() {
  if (!(orphaned_ && settings_.reconnects))
    return {};
  if (++stale_reconnects_ > 100)
    return stop(true, "lost the connection to the server (reconnecting gives back the server "
                      "that died)");
  return {effect::arm_timer{effect::timer::reconnect, std::chrono::milliseconds(100)}};
}

worker_effects worker_core::on_reconnect_timer() {
  if (!orphaned_)
    return {};
  return {effect::find_server{}};
}

worker_effects worker_core::on_leave() {
  if (!joined())
    return stop(false, {}); // nothing to announce: its down message tells the server
  // The server's farewell says the leave arrived: quitting at once could end the process before
  // the leave went out. Nothing else matters any more; give up after 2 s.
  return {effect::send_leave{id_, std::chrono::seconds(2), std::nullopt}};
}

worker_effects worker_core::compute_failed(std::string why) {
  if (!joined())
    return stop(true, std::move(why));
  // Without the reason the server would see only a lost connection, and a run whose last
  // worker failed would wait for others, its failure on the worker's console alone.
  stopped_ = true;
  return {effect::send_leave{id_, std::chrono::seconds(2), std::move(why)}};
}

// -- timers ----------------------------------------------------------------------------------

bool worker_core::waiting() const {
  // Waiting for a welcome is waiting for the server too, but only the silence rule needs
  // probes then: without it nothing is asked.
  const bool awaits_welcome =
      (registered_ || fetching()) && settings_.server_timeout > duration::zero();
  if (!(joined() || awaits_welcome) || orphaned_ || delayed_)
    return false; // nothing is owed to this worker (a straggler's timer sends its push)
  return awaits_welcome || timer_.unacknowledged() || policy_->waiting(engine_->version());
}

worker_effects worker_core::on_retry_timer(time_point now) {
  // A worker that reconnects does not give up on a silent server after --server-timeout: it
  // says so and goes on probing it for --reconnect-timeout more (a stopped server that resumes
  // finds its workers where they were), then gives up as one that does not reconnect.
  const auto limit = settings_.server_timeout;
  const bool keeps_trying = settings_.reconnects && limit > duration::zero() &&
                            settings_.reconnect_timeout > duration::zero();
  const auto next =
      timer_.fired(now, waiting(), keeps_trying ? limit + settings_.reconnect_timeout : limit);
  const auto seconds = [](duration d) { return std::chrono::duration<double>(d).count(); };
  if (next.server_silent)
    return stop(true, fmt::format("the server has not answered for {:g} s while this worker "
                                  "waited for it (--server-timeout{}): it is stopped, hung or "
                                  "cut off",
                                  seconds(*next.server_silent),
                                  keeps_trying ? ", then --reconnect-timeout" : ""));
  worker_effects out;
  const auto silent = timer_.unanswered_since();
  if (!silent)
    silent_since_.reset(); // the count started again (this worker was paused itself)
  else if (keeps_trying && !silent_since_ && now - *silent >= limit) {
    silent_since_ = *silent;
    if (settings_.verbose)
      out.push_back(effect::say{fmt::format(
          "{}: the server has not answered for {:g} s (--server-timeout); still trying to reach "
          "it for up to {:g} s (--reconnect-timeout)",
          who(), seconds(now - *silent), seconds(settings_.reconnect_timeout))});
  }
  if (next.probe)
    out.push_back(effect::send_probe{*next.probe});
  if (next.timer)
    out.push_back(effect::arm_timer{effect::timer::retry, *next.timer});
  return out;
}

worker_effects worker_core::on_straggler_due(time_point now) {
  if (!delayed_)
    return {};
  auto p = std::move(*delayed_);
  delayed_.reset();
  worker_effects out;
  send(std::move(p), now, out);
  return out;
}

worker_effects worker_core::on_heartbeat_timer() {
  // Liveness: the server removes a worker it has not heard from for --worker-timeout.
  double period = 1.0;
  if (joined() && cfg_.worker_timeout_s > 0)
    period = std::min(period, cfg_.worker_timeout_s / 4);
  else if (!joined())
    period = 0.25;
  return {effect::send_heartbeat{},
          effect::arm_timer{effect::timer::heartbeat,
                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::duration<double>(period))}};
}

// -- computing -------------------------------------------------------------------------------

bool worker_core::gradient_due() const {
  return !stopped_ && joined() && !delayed_ && policy_->should_compute(engine_->version());
}

gradient_push worker_core::compute() {
  gradient_push p;
  if (state_every_ > 0 && engine_->version() % state_every_ == 0) {
    // For the server's checkpoint of this step: the state before this gradient.
    p.has_state = true;
    p.state = engine_->snapshot();
  }
  p.grant = policy_->grant_number();
  auto g = engine_->compute();
  policy_->computed(g.step);
  p.worker_id = id_;
  p.step = g.step;
  p.loss = g.loss;
  p.payload = std::move(g.payload);
  const auto every = cfg_.verify_replicas;
  if (every > 0 && g.step % every == 0) {
    const auto& ranges = engine_->ranges();
    if (ranges.empty()) {
      p.model_digest = replica_digest(engine_->x());
    } else { // each shard checks its own range (worker_shards)
      const auto& x = engine_->x();
      for (const auto& r : ranges)
        p.range_digests.push_back(replica_digest(
            std::span<const float>{x.data() + r.begin, static_cast<std::size_t>(r.size())}));
    }
  }
  return p;
}

void worker_core::recycle_payload(std::vector<std::uint8_t> bytes) noexcept {
  if (engine_)
    engine_->recycle_payload(std::move(bytes));
}

worker_effects worker_core::push(gradient_push p, time_point started, time_point now) {
  worker_effects out;
  if (slow_ > 1) {
    const auto extra = (slow_ - 1) * (now - started);
    delayed_ = std::move(p);
    out.push_back(effect::arm_timer{effect::timer::straggler,
                                    std::chrono::duration_cast<std::chrono::microseconds>(extra)});
    return out;
  }
  send(std::move(p), now, out);
  return out;
}

void worker_core::send(gradient_push p, time_point now, worker_effects& out) {
  const auto key = policy_->push_key(p.step, p.grant);
  out.push_back(effect::send_push{std::move(p), key});
  if (auto after = timer_.pushed(key, now))
    out.push_back(effect::arm_timer{effect::timer::retry, *after});
}

} // namespace dsq
