#include "config/data_origin.hpp"

#include "config/run_config.hpp"

#include <string>

namespace dsq {

data_origin parse_data_origin(std::string_view text) {
  if (text == "local")
    return data_origin::local;
  if (text == "server")
    return data_origin::server;
  if (text == "auto")
    return data_origin::automatic;
  throw config_error("--data=" + std::string{text} + ": expected local, server or auto");
}

} // namespace dsq
