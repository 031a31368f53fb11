#include "actors/evaluator.hpp"

#include "net/protocol/atoms.hpp"
#include "training/run_log.hpp"

#include <caf/all.hpp>

namespace dsq {

namespace {

caf::behavior evaluator_behavior(caf::event_based_actor*, training_setup setup) {
  return {
      [setup](eval_atom, std::uint64_t, const std::vector<float>& params, bool with_train) {
        Eigen::Map<const Eigen::VectorXf> view(params.data(),
                                               static_cast<Eigen::Index>(params.size()));
        Eigen::VectorXf x = view;
        auto test = evaluate(*setup.net, x, setup.data->test);
        double train_loss = not_measured;
        if (with_train)
          train_loss = evaluate(*setup.net, x, setup.data->train).loss;
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
