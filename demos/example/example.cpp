// The example program of README.md: trains a model dsq does not have (least squares as a
// classifier) on a data set it does not have (Gaussian blobs from the seed) with an operator it
// does not have (8-bit stochastic rounding), all three registered by name, with dsq's own run:
//
//   example local  [dsq options]                 the server and --workers workers in-process
//   example server [dsq options] --port=P        the server of a run across processes
//   example worker --server=127.0.0.1:P          one worker of it (start --workers of them)
//
// The options are dsq's (`dsq local --help`); model, data and operator default to the ones here.

#include "blobs.hpp"
#include "least_squares.hpp"
#include "stochastic_rounding.hpp"

#include <dsq/operator.hpp>
#include <dsq/registry.hpp>
#include <dsq/run.hpp>
#include <dsq/version.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

// Every process of a run registers the same names before it runs: the server builds the model
// and the data from --model and --dataset, and each worker does so from the spec the server
// sends, so a worker that did not register them would refuse to train.
void register_example() {
  dsq::register_model("least_squares",
                      [](const dsq::spec_args& args, Eigen::Index features, int classes) {
                        return std::make_unique<example::least_squares>(
                            features, classes, args.number("l2", 0.0), args.text());
                      });
  dsq::register_dataset("blobs", [](const dsq::spec_args& args, const dsq::data_context& ctx) {
    example::blobs_shape shape;
    shape.classes = static_cast<int>(args.count("classes", 4));
    shape.features = static_cast<Eigen::Index>(args.count("features", 16));
    shape.train = args.count("train", 8000);
    shape.test = args.count("test", 2000);
    shape.noise = args.number("noise", 1.0);
    if (shape.classes < 2 || shape.features < 1 || shape.train < 1 || shape.noise < 0)
      throw dsq::spec_error(args.error("classes >= 2, features >= 1, train >= 1, noise >= 0"));
    return std::make_shared<const example::blobs>(shape, args.count("seed", ctx.seed));
  });
  dsq::register_operator("sr8", [](const dsq::spec_args& args) {
    const auto levels = args.count("levels", 127);
    if (levels < 1 || levels > 127)
      throw dsq::spec_error(args.error("levels must lie in [1, 127]"));
    return std::make_unique<example::stochastic_rounding>(static_cast<int>(levels));
  });
}

// Appends `--key=value` unless the command line sets --key already: this program's defaults.
void default_option(std::vector<std::string>& args, const std::string& key,
                    const std::string& value) {
  for (const auto& arg : args)
    if (arg.rfind(key + "=", 0) == 0)
      return;
  args.push_back(key + "=" + value);
}

} // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command != "local" && command != "server" && command != "worker") {
    std::fprintf(stderr, "usage: example local|server|worker [dsq options]  (dsq %s)\n",
                 dsq::version());
    return 2;
  }
  register_example();

  std::vector<std::string> args(argv, argv + argc);
  if (command != "worker") { // a worker trains with what the server sends
    default_option(args, "--model", "least_squares:l2=0.0001");
    default_option(args, "--dataset", "blobs:classes=4,features=16");
    default_option(args, "--compressor", "sr8");
    default_option(args, "--steps", "400");
    default_option(args, "--eval-every", "100");
  }
  std::vector<const char*> pointers;
  for (const auto& arg : args)
    pointers.push_back(arg.c_str());

  dsq::run_config cfg;
  try {
    // dsq's own options, checked as the dsq program checks them.
    cfg = dsq::parse_command_line(static_cast<int>(pointers.size()), pointers.data());
  } catch (const dsq::config_error& e) {
    std::fprintf(stderr, "example: error: %s\n", e.what());
    return 2;
  }

  // What the run reports while it runs: the evaluated rows and dsq's progress lines.
  dsq::run_observer observer;
  observer.on_row = [](const dsq::step_record& row) {
    if (row.evaluated)
      std::printf("example: step %llu: test accuracy %.4f, test loss %.4f, %llu bytes up\n",
                  static_cast<unsigned long long>(row.step), row.test_accuracy, row.test_loss,
                  static_cast<unsigned long long>(row.total_bytes_up));
    return true; // false would stop the run here
  };
  observer.on_log = [](std::string_view line) {
    std::printf("%.*s\n", static_cast<int>(line.size()), line.data());
  };

  const dsq::run_result result = command == "local"    ? dsq::run_local(cfg, observer)
                                 : command == "server" ? dsq::run_server(cfg, observer)
                                                       : dsq::run_worker(cfg);
  if (!result.ok) {
    std::fprintf(stderr, "example: error: %s\n", result.error.c_str());
    return 1;
  }
  if (command != "worker") {
    const auto& s = result.summary;
    std::printf("example: done: %s on %s, %llu steps, %llu workers, test accuracy %.4f, "
                "%llu bytes up, %llu bytes down, %zu parameters\n",
                s.model.c_str(), s.dataset.c_str(), static_cast<unsigned long long>(s.steps),
                static_cast<unsigned long long>(s.workers), s.test_accuracy,
                static_cast<unsigned long long>(s.bytes_up),
                static_cast<unsigned long long>(s.bytes_down), result.model.size());
  }
  return 0;
}
