#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

#include <Eigen/Core>

namespace dsq {

/// A data set's d x N float matrix (dataset::features), column-major like Eigen::MatrixXf, that
/// either owns its values or views memory kept alive by someone else: a read-only mapping of a
/// data cache file, which every process of a host shares through the page cache instead of
/// faulting in a private copy (fresh memory costs a page fault per 4 KiB on first touch, about
/// 0.6 s for MNIST's 188 MB on the project's machine; a mapped cache costs milliseconds).
///
/// Use it as an Eigen::MatrixXf: it is an Eigen::Map over its values, so every read (col,
/// middleCols, data, products) is Eigen's, and resize(), conservativeResize(), coefficient
/// writes, `<<` and assigning any Eigen expression work on the values it owns. A data set a
/// program builds always owns its values; copies always own. A view (only the built-in readers
/// make one, and the runtime passes data sets on as const) is read-only: assigning an
/// expression makes the matrix own the result, never write it coefficient by coefficient.
/// Pass it to your own functions as `Eigen::Ref<const Eigen::MatrixXf>` (a `const
/// Eigen::MatrixXf&` parameter compiles but copies the matrix).
class feature_matrix : public Eigen::Map<Eigen::MatrixXf> {
  using base = Eigen::Map<Eigen::MatrixXf>;

public:
  /// 0 x 0.
  feature_matrix() noexcept : base(nullptr, 0, 0) {}

  /// rows x cols owned values, uninitialised.
  feature_matrix(Eigen::Index rows, Eigen::Index cols) : base(nullptr, 0, 0) { resize(rows, cols); }

  /// An owned copy of any Eigen expression (implicit, like Eigen::MatrixXf's).
  template <class Derived>
  feature_matrix(const Eigen::DenseBase<Derived>& other) : base(nullptr, 0, 0) { // NOLINT
    *this = other;
  }

  /// rows x cols read-only values at `values`, which `owner` keeps alive.
  static feature_matrix view(std::shared_ptr<void> owner, float* values, Eigen::Index rows,
                             Eigen::Index cols) {
    feature_matrix m;
    m.keep_ = std::move(owner);
    m.reseat(values, rows, cols);
    return m;
  }

  feature_matrix(const feature_matrix& other) : base(nullptr, 0, 0) { assign(other); }
  feature_matrix(feature_matrix&& other) noexcept : base(nullptr, 0, 0) { take(other); }

  feature_matrix& operator=(const feature_matrix& other) {
    if (this != &other)
      assign(other);
    return *this;
  }
  feature_matrix& operator=(feature_matrix&& other) noexcept {
    if (this != &other)
      take(other);
    return *this;
  }

  /// Evaluates `other` and owns the result. As for Eigen::MatrixXf, an expression of the same
  /// size is evaluated in place (coefficient-wise expressions may read this matrix; products
  /// are evaluated into a temporary by Eigen); otherwise into fresh storage while the old
  /// values, which `other` may read, are still alive.
  template <class Derived>
  feature_matrix& operator=(const Eigen::DenseBase<Derived>& other) {
    assign(other);
    return *this;
  }

  /// True if the values are this matrix's own (not a view of a mapping).
  bool owns_values() const noexcept { return keep_ == nullptr || owned_ != nullptr; }

  /// rows x cols owned values; the old ones are lost unless the size is unchanged and owned.
  void resize(Eigen::Index rows, Eigen::Index cols) {
    if (owned_ && rows == this->rows() && cols == this->cols())
      return;
    std::shared_ptr<float[]> fresh;
    if (rows * cols > 0)
      fresh.reset(new float[static_cast<std::size_t>(rows * cols)]);
    keep_ = fresh;
    owned_ = std::move(fresh);
    reseat(owned_.get(), rows, cols);
  }

  /// Keeps the values that stay (Eigen::MatrixXf::conservativeResize); fewer columns of a view
  /// stay a view, since columns are a prefix of column-major storage.
  void conservativeResize(Eigen::Index rows, Eigen::Index cols) {
    if (rows == this->rows() && cols <= this->cols()) {
      reseat(data(), rows, cols);
      return;
    }
    Eigen::MatrixXf grown(rows, cols);
    const auto keep_rows = std::min(rows, this->rows());
    const auto keep_cols = std::min(cols, this->cols());
    grown.topLeftCorner(keep_rows, keep_cols) = topLeftCorner(keep_rows, keep_cols);
    *this = grown;
  }
  void conservativeResize(Eigen::Index rows, Eigen::NoChange_t) {
    conservativeResize(rows, cols());
  }
  void conservativeResize(Eigen::NoChange_t, Eigen::Index cols) {
    conservativeResize(rows(), cols);
  }

private:
  void reseat(float* values, Eigen::Index rows, Eigen::Index cols) noexcept {
    // A Map is re-pointed by constructing it anew in place (Eigen's documented idiom).
    new (static_cast<base*>(this)) base(values, rows, cols);
  }

  template <class Derived>
  void assign(const Eigen::DenseBase<Derived>& other) {
    if (owned_ && other.rows() == rows() && other.cols() == cols()) {
      base::operator=(other);
      return;
    }
    feature_matrix fresh;
    fresh.resize(other.rows(), other.cols());
    static_cast<base&>(fresh) = other;
    take(fresh);
  }

  void take(feature_matrix& other) noexcept {
    keep_ = std::move(other.keep_);
    owned_ = std::move(other.owned_);
    reseat(other.data(), other.rows(), other.cols());
    other.keep_.reset();
    other.owned_.reset();
    other.reseat(nullptr, 0, 0);
  }

  std::shared_ptr<void> keep_;     ///< what keeps the values alive: owned_, or a mapping
  std::shared_ptr<float[]> owned_; ///< the values when this matrix owns them
};

} // namespace dsq
