#pragma once

// The evaluator: measures the server's model on the test set (and, when asked, on the whole
// training set) in its own thread, so that aggregation never waits for an evaluation.
//
// Protocol:
//   (eval_atom, step, std::vector<float> params, bool with_train)
//     -> (double test_loss, double test_accuracy, double train_loss)   train_loss NaN if not asked

#include "training/training_setup.hpp"

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace dsq {

/// Spawns the evaluator; detached (a thread of its own) unless `detached` is false.
caf::actor spawn_evaluator(caf::actor_system& sys, training_setup setup, bool detached = true);

} // namespace dsq
