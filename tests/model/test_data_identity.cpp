// The data set's identity that the server states in its welcome: its fingerprint tells equal
// data from different data, and a mismatch is one line that names what differs and the fix.
#include <boost/test/unit_test.hpp>

#include "model/data_identity.hpp"
#include "model/synthetic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include <string>

using namespace dsq;

namespace {

train_test small_data(std::uint64_t seed) {
  synthetic_options o;
  o.train_size = 30;
  o.test_size = 7;
  o.dimension = 5;
  o.num_classes = 3;
  return make_synthetic(o, seed);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(data_identity_tests)

BOOST_AUTO_TEST_CASE(equal_data_has_equal_fingerprints_and_no_mismatch) {
  const auto a = small_data(1);
  const auto b = small_data(1);
  BOOST_TEST(data_fingerprint(a.train) == data_fingerprint(b.train));
  const auto ia = identify_data("synthetic:n=30", a);
  const auto ib = identify_data("synthetic:n=30", b);
  BOOST_TEST((ia == ib));
  BOOST_TEST(data_mismatch(ia, ib).empty());
  BOOST_TEST(ia.train_samples == 30u);
  BOOST_TEST(ia.test_samples == 7u);
  BOOST_TEST(ia.features == 5u);
  BOOST_TEST(ia.classes == 3u);
}

// A remembered fingerprint stands for its read-only features only: the same features (address,
// shape, classes) hash only their labels, so a changed label still shows; other features, or
// the same memory once forgotten, are hashed anew.
BOOST_AUTO_TEST_CASE(a_remembered_fingerprint_is_reused_only_for_the_same_features) {
  const auto a = small_data(1);
  const auto expected = data_fingerprint(a.train);
  BOOST_TEST(remember_read_only_fingerprint(a.train) == expected);
  BOOST_TEST(data_fingerprint(a.train) == expected);
  auto relabelled = a.train; // owns a copy of the features: another address
  relabelled.labels[0] = (relabelled.labels[0] + 1) % 3;
  BOOST_TEST(data_fingerprint(relabelled) != expected);
  dataset view; // the remembered features with other labels
  view.features = feature_matrix::view(nullptr, const_cast<float*>(a.train.features.data()),
                                       a.train.features.rows(), a.train.features.cols());
  view.labels = relabelled.labels;
  view.num_classes = a.train.num_classes;
  BOOST_TEST(data_fingerprint(view) == data_fingerprint(relabelled));
  forget_read_only_fingerprints(a.train.features.data(),
                                sizeof(float) * static_cast<std::size_t>(a.train.features.size()));
  BOOST_TEST(data_fingerprint(a.train) == expected);
}

// Data sets of every length around the 16 lanes of the features' hash: one changed float in
// any position (lanes, tail) changes the fingerprint.
BOOST_AUTO_TEST_CASE(a_changed_float_anywhere_changes_the_fingerprint) {
  for (const Eigen::Index cols : {1, 3, 4, 5, 16, 33}) {
    dataset d;
    d.features = Eigen::MatrixXf::Random(4, cols);
    d.labels.assign(static_cast<std::size_t>(cols), 0);
    d.num_classes = 2;
    const auto before = data_fingerprint(d);
    for (Eigen::Index i = 0; i < d.features.size(); ++i) {
      auto changed = d;
      changed.features.data()[i] += 1.0f;
      BOOST_TEST(data_fingerprint(changed) != before, "cols " << cols << " float " << i);
    }
  }
}

BOOST_AUTO_TEST_CASE(one_changed_feature_or_label_changes_the_fingerprint) {
  const auto a = small_data(1);
  auto b = a;
  b.train.features(4, 29) = std::nextafter(b.train.features(4, 29), 1e9f);
  BOOST_TEST(data_fingerprint(a.train) != data_fingerprint(b.train));
  auto c = a;
  c.train.labels[0] = (c.train.labels[0] + 1) % 3;
  BOOST_TEST(data_fingerprint(a.train) != data_fingerprint(c.train));
  // The same values in another shape are other data.
  auto d = a;
  d.train.features.resize(a.train.features.cols(), a.train.features.rows());
  std::copy_n(a.train.features.data(), a.train.features.size(), d.train.features.data());
  BOOST_TEST(data_fingerprint(a.train) != data_fingerprint(d.train));
}

BOOST_AUTO_TEST_CASE(a_different_train_set_is_named_with_both_fingerprints_and_the_fix) {
  const auto server = identify_data("mnist", small_data(1));
  const auto mine = identify_data("mnist", small_data(2));
  const auto line = data_mismatch(server, mine);
  BOOST_TEST(contains(line, "this worker's data differs from the server's: MNIST train set "
                            "fingerprint "),
             line);
  BOOST_TEST(contains(line, fmt::format("{:016x} vs {:016x}", server.train_fingerprint,
                                        mine.train_fingerprint)),
             line);
  BOOST_TEST(contains(line, "give --data-dir=DIR holding the server's data"), line);
  BOOST_TEST(!contains(line, "\n"));
}

BOOST_AUTO_TEST_CASE(the_shape_is_named_before_the_fingerprint) {
  const auto server = identify_data("csv:path=a.csv", small_data(1));
  auto mine = server;
  mine.train_samples = 29;
  mine.train_fingerprint ^= 1;
  BOOST_TEST(data_mismatch(server, mine) ==
             "this worker's data differs from the server's: CSV train set 30 samples vs 29; "
             "give --data-dir=DIR holding the server's data");
  mine = server;
  mine.features = 4;
  BOOST_TEST(contains(data_mismatch(server, mine), "CSV features 5 vs 4"));
  mine = server;
  mine.test_fingerprint ^= 1;
  BOOST_TEST(contains(data_mismatch(server, mine), "CSV test set fingerprint"));
}

BOOST_AUTO_TEST_SUITE_END()
