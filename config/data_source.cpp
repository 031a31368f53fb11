#include "config/data_source.hpp"

#include "config/run_config.hpp"

#include <string>

namespace dsq {

data_source parse_data_source(std::string_view text) {
  if (text == "local")
    return data_source::local;
  if (text == "server")
    return data_source::server;
  if (text == "auto")
    return data_source::automatic;
  throw config_error("--data=" + std::string{text} + ": expected local, server or auto");
}

} // namespace dsq
