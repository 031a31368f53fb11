#include "net/protocol/register_types.hpp"

#include "net/protocol/messages.hpp"

namespace dsq {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<worker_hello>("dsq::worker_hello")
      .add_message_type<shard_assignment>("dsq::shard_assignment")
      .add_message_type<welcome>("dsq::welcome")
      .add_message_type<gradient_push>("dsq::gradient_push")
      .add_message_type<model_update>("dsq::model_update")
      .add_message_type<farewell>("dsq::farewell")
      .add_message_type<data_request>("dsq::data_request")
      .add_message_type<data_chunk>("dsq::data_chunk")
      .add_message_type<shard_join>("dsq::shard_join")
      .add_message_type<shard_setup>("dsq::shard_setup")
      .add_message_type<slice_held>("dsq::slice_held")
      .add_message_type<slice_refused>("dsq::slice_refused")
      .add_message_type<round_commit>("dsq::round_commit")
      .add_message_type<member_change>("dsq::member_change")
      .add_message_type<shard_end>("dsq::shard_end")
      .add_message_type<shard_report>("dsq::shard_report")
      // checkpoints of a sharded run
      .add_message_type<slice_save>("dsq::slice_save")
      .add_message_type<slice_saved>("dsq::slice_saved")
      .add_message_type<slice_traffic>("dsq::slice_traffic") // protocol 10
      // Krum with K > 1 (protocol 10)
      .add_message_type<distance_query>("dsq::distance_query")
      .add_message_type<distance_reply>("dsq::distance_reply")
      .add_message_type<std::vector<float>>("std::vector<float>");
}

} // namespace dsq
