#include "actors/evaluator.hpp"

#include "net/protocol/atoms.hpp"
#include "training/run_log.hpp"

#include <caf/all.hpp>

namespace dsq {

namespace {

caf::behavior evaluator_behavior(caf::event_based_actor*, training_setup setup) {
  // The data's own evaluation sets: a program's data may have none (not measured).
  auto source = data_of(setup);
  return {
      [setup, source](eval_atom, std::uint64_t, const std::vector<float>& params, bool with_train) {
        Eigen::Map<const Eigen::VectorXf> view(params.data(),
                                               static_cast<Eigen::Index>(params.size()));
        Eigen::VectorXf x = view;
        evaluation test{not_measured, not_measured};
        if (const auto* test_set = source->test_set())
          test = evaluate(*setup.net, x, *test_set);
        double train_loss = not_measured;
        if (const auto* train_set = source->train_set(); with_train && train_set)
          train_loss = evaluate(*setup.net, x, *train_set).loss;
        return caf::make_message(test.loss, test.accuracy, train_loss);
      },
  };
}

} // namespace

caf::actor spawn_evaluator(caf::actor_system& sys, training_setup setup, bool detached) {
  if (detached)
    return sys.spawn<caf::detached>(evaluator_behavior, std::move(setup));
  return sys.spawn(evaluator_behavior, std::move(setup));
}

} // namespace dsq
