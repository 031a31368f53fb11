#include "config/cli/command_options.hpp"

namespace dsq {

std::string_view command_name(dsq_command c) {
  switch (c) {
  case dsq_command::local:
    return "local";
  case dsq_command::server:
    return "server";
  case dsq_command::worker:
    return "worker";
  case dsq_command::launch:
    return "launch";
  }
  return "?";
}

std::string command_list(command_set commands) {
  std::string text;
  int left = 0;
  constexpr dsq_command every[] = {dsq_command::local, dsq_command::server, dsq_command::worker,
                                   dsq_command::launch};
  for (auto c : every)
    left += uses(commands, c);
  for (auto c : every) {
    if (!uses(commands, c))
      continue;
    if (!text.empty())
      text += left == 1 ? " and " : ", ";
    text += "dsq " + std::string{command_name(c)};
    --left;
  }
  return text;
}

std::string_view group_heading(option_group g, dsq_command command) {
  switch (g) {
  case option_group::run:
    return "the run";
  case option_group::model_and_data:
    return "model and data";
  case option_group::compression:
    return "method and compression";
  case option_group::mode:
    return "sync or async, stragglers";
  case option_group::server:
    return command == dsq_command::local ? "the parameter server" : "server";
  case option_group::worker:
    return "worker";
  case option_group::process:
    return "this process";
  case option_group::tls:
    return "TLS (all three together, or none)";
  case option_group::faults:
    switch (command) {
    case dsq_command::local:
      return "faults to inject (net/PROTOCOL.md; ready scenarios in config/faults/)";
    case dsq_command::server:
      return "faults to inject (the workers inject message and worker faults on their links)";
    case dsq_command::worker:
      return "faults to inject on this worker's link to the server (net/PROTOCOL.md)";
    case dsq_command::launch:
      return "faults to inject";
    }
    break;
  case option_group::output:
    return "output";
  case option_group::launch:
    return "where the processes run, and how they are kept";
  }
  return "";
}

std::string_view spec_syntax_help() {
  return R"(specs (NAME[:key=value,...]):
  --model       softmax[:l2=X]
                mlp[:hidden=N,N,...][,l2=X]                  (default hidden=256,128)
                cnn[:channels=A,B][,hidden=H][,l2=X]         (default 32,64 and 1024)
                at most 100000000 parameters (model/model_limits.hpp)
  --dataset     auto: mnist if its files are found, else synthetic
                mnist[:dir=PATH][,limit=N]
                synthetic[:n=N][,test=N][,d=D][,classes=C][,noise=X][,separation=X]
                libsvm:path=FILE[,test=FILE][,split=F][,features=N][,zero_based=auto|0|1]
                csv:path=FILE[,test=FILE][,split=F][,label=auto|first|last|name:COL]
                    [,sep=auto|comma|semicolon|tab]
                each with [,normalize=none|unit|standardize] (fitted on the training part;
                libsvm and csv default to standardize, the others to none); without test=,
                split=F (default 0.2) of the samples are the test set.
                Relative paths and MNIST are looked for in the working directory, then
                --data-dir (else $DSQ_DATA_DIR), the installed data, the repository's data/.
                Details: docs/model.md
  --compressor  identity | fp16 | sign[:block=B] | topk:k=K | randomk:k=K[,unbiased=1] |
                qsgd:s=S (also for --uplink and --downlink)
)";
}

} // namespace dsq
