#pragma once

// Where a `dsq worker` takes the run's data from (--data): its own files, the server, or its
// own files when their fingerprint is the server's and the server otherwise (net/PROTOCOL.md,
// "Data from the server").

#include <string_view>

namespace dsq {

/// --data=local|server|auto.
enum class data_origin {
  local,     ///< this host's files only; a worker whose data differs is refused
  server,    ///< always from the server, never reading a file
  automatic, ///< this host's files if they are the server's data, else from the server
};

/// The data_origin that `text` names. Throws config_error naming --data and the choices.
data_origin parse_data_origin(std::string_view text);

} // namespace dsq
