#include "model/cnn.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <immintrin.h>
#include <stdexcept>

#include <fmt/format.h>

#include "base/simd/simd_dispatch.hpp"
#include "model/cross_entropy.hpp"
#include "model/data_rng.hpp"
#include "model/kernels/add_into.hpp"
#include "model/kernels/gemm.hpp"
#include "model/matrix_product.hpp"

namespace dsq {

namespace {

using const_matrix_view = Eigen::Map<const Eigen::MatrixXf>;
using const_vector_view = Eigen::Map<const Eigen::VectorXf>;
using matrix_view = Eigen::Map<Eigen::MatrixXf>;

constexpr Eigen::Index kernel = 5;
constexpr Eigen::Index padding = kernel / 2; // "same" convolution: the side is kept

// Samples per forward/backward pass. The second layer's im2col matrix holds
// channels[0] * 25 * (side/2)^2 numbers per sample (3.1 MB for 32 channels on 28 x 28), so an
// evaluation chunk of 1024 images at once would need gigabytes; 32 keeps it at ~100 MB and the
// matrix products still have thousands of columns.
constexpr Eigen::Index samples_per_pass = 32;

// Columns of the second convolution's im2col matrix (and of its gradient) per block: 256
// columns of 25 * 32 rows are 800 KB, which stay in the core's L2 between the copy and the
// products. A multiple of gemm_depth_block, so that the weights' gradient, summed block by
// block, adds the same sums in the same order as one product over all columns.
constexpr Eigen::Index conv_columns_per_block = gemm_depth_block;

// Feature maps are stored as a matrix (channels, pixels * count): column b * side^2 + r * side
// + c holds the channels of pixel (r, c) of sample b. A single-channel input batch (d x count,
// column-major) already has this layout, and so does a flattened (channels * pixels, count).

// cols (25 * channels, side^2 * count): the column of output pixel (b, r, c) holds, tap by tap
// of the 5 x 5 window around it (row-major), the channels of the input pixel under the tap, zero
// outside the image. With the channels innermost in both the maps and the taps, the taps of
// one window row are one contiguous run of the input: one copy each. This writes columns
// [first, end) of it, column `first` at `out`.
void im2col_columns(const float* in, Eigen::Index channels, Eigen::Index side, Eigen::Index first,
                    Eigen::Index end, float* out) {
  const Eigen::Index pixels = side * side, rows = kernel * kernel * channels;
  Eigen::Index b = first / pixels, r = first % pixels / side, c = first % side;
  for (Eigen::Index column = first; column < end; ++column, out += rows) {
    const Eigen::Index left = std::max<Eigen::Index>(c - padding, 0);
    const Eigen::Index right = std::min<Eigen::Index>(c + padding, side - 1);
    for (Eigen::Index kr = 0; kr < kernel; ++kr) {
      float* taps = out + kr * kernel * channels;
      const Eigen::Index rr = r + kr - padding;
      if (rr < 0 || rr >= side) {
        std::fill(taps, taps + kernel * channels, 0.0f);
        continue;
      }
      const Eigen::Index before = (left - (c - padding)) * channels;
      const Eigen::Index inside = (right - left + 1) * channels;
      std::fill(taps, taps + before, 0.0f);
      std::copy_n(in + (b * pixels + rr * side + left) * channels, inside, taps + before);
      std::fill(taps + before + inside, taps + kernel * channels, 0.0f);
    }
    if (++c == side) {
      c = 0;
      if (++r == side)
        r = 0, ++b;
    }
  }
}

// Copies `count` single-channel images into `bordered`, each into a square of side + 4 with a
// zero border (the padding), one after the other, for im2col_image and shifted_images.
void border_images(const float* images, Eigen::Index side, Eigen::Index count,
                   std::vector<float>& bordered) {
  const Eigen::Index wide = side + 2 * padding, pixels = side * side;
  bordered.assign(static_cast<std::size_t>(wide * wide * count), 0.0f);
  for (Eigen::Index b = 0; b < count; ++b)
    for (Eigen::Index r = 0; r < side; ++r)
      std::copy_n(images + b * pixels + r * side, side,
                  bordered.data() + b * wide * wide + (r + padding) * wide + padding);
}

// The im2col matrix (25, side^2) of one single-channel image that border_images() bordered
// (at `bordered`), as im2col_columns writes it, into `out`: with the border in place, every
// window row is five floats to copy with no test for the image's edge (im2col_columns' fill
// and copy calls of a few floats each took longer than the first convolution's product).
void im2col_image(const float* bordered, Eigen::Index side, float* out) {
  const Eigen::Index wide = side + 2 * padding;
  for (Eigen::Index r = 0; r < side; ++r)
    for (Eigen::Index c = 0; c < side; ++c, out += kernel * kernel)
      for (Eigen::Index kr = 0; kr < kernel; ++kr) {
        const float* row = bordered + (r + kr) * wide + c;
        for (Eigen::Index kc = 0; kc < kernel; ++kc)
          out[kr * kernel + kc] = row[kc];
      }
}

// The transpose of columns [first, end) of the chunk's im2col matrix (im2col_image's, image
// after image), from the same bordered images: row q - first of `out` (a column-major matrix
// whose columns are `ld` floats apart) holds the 25 taps of pixel q, so that each of its
// columns is one tap's shifted image: runs of an image row to copy.
void shifted_images(const std::vector<float>& bordered, Eigen::Index side, Eigen::Index first,
                    Eigen::Index end, Eigen::Index ld, float* out) {
  const Eigen::Index wide = side + 2 * padding, pixels = side * side;
  for (Eigen::Index tap = 0; tap < kernel * kernel; ++tap) {
    const Eigen::Index kr = tap / kernel, kc = tap % kernel;
    float* dst = out + tap * ld;
    for (Eigen::Index q = first; q < end;) {
      const Eigen::Index b = q / pixels, r = q % pixels / side, c = q % side;
      const Eigen::Index run = std::min(side - c, end - q);
      std::copy_n(bordered.data() + b * wide * wide + (r + kr) * wide + c + kc, run,
                  dst + (q - first));
      q += run;
    }
  }
}

// The adjoint of im2col_columns: adds every entry of columns [first, end) of an im2col matrix
// (column `first` at dcols) back onto the input pixel it was copied from, in din. Each window
// row's run of taps is added by the active level's add_into (at v4 it took a quarter of the
// baseline loop's time).
void col2im_columns(const float* dcols, Eigen::Index channels, Eigen::Index side,
                    Eigen::Index first, Eigen::Index end, float* din) {
  const add_into_kernel add_into = add_into_at(active_simd_level());
  const Eigen::Index pixels = side * side, rows = kernel * kernel * channels;
  Eigen::Index b = first / pixels, r = first % pixels / side, c = first % side;
  for (Eigen::Index column = first; column < end; ++column, dcols += rows) {
    const Eigen::Index left = std::max<Eigen::Index>(c - padding, 0);
    const Eigen::Index right = std::min<Eigen::Index>(c + padding, side - 1);
    for (Eigen::Index kr = 0; kr < kernel; ++kr) {
      const Eigen::Index rr = r + kr - padding;
      if (rr < 0 || rr >= side)
        continue;
      const float* taps = dcols + (kr * kernel + left - (c - padding)) * channels;
      float* dst = din + (b * pixels + rr * side + left) * channels;
      add_into(dst, taps, (right - left + 1) * channels);
    }
    if (++c == side) {
      c = 0;
      if (++r == side)
        r = 0, ++b;
    }
  }
}

// The four inputs of the 2 x 2 window whose top left pixel's channels start at `top`, in the
// order pooling compares them: top left, top right, bottom left, bottom right.
template <class Float>
std::array<Float*, 4> window(Float* top, Eigen::Index channels, Eigen::Index side) {
  return {top, top + channels, top + side * channels, top + (side + 1) * channels};
}

// 2 x 2 max-pooling of z + bias (z: channels x side^2 * count, the bias of a channel added to
// each of its entries) followed by ReLU; `which` records which of its window's four inputs
// (window()'s order) each output's maximum was, for the backward pass. The bias is added here
// rather than by a pass over z (z.colwise() += bias, the same one rounding per entry): z is
// read once, and nothing else needs z + bias. Four channels at a time with SSE (the baseline):
// GCC leaves the plain loops of this function and unpool's scalar, and they took 20% of a step.
void pool_and_relu(const float* z, const float* bias, Eigen::Index channels, Eigen::Index side,
                   Eigen::Index count, float* dst, std::uint8_t* best_of) {
  const Eigen::Index half = side / 2, pixels = side * side;
  for (Eigen::Index b = 0; b < count; ++b)
    for (Eigen::Index r = 0; r < half; ++r)
      for (Eigen::Index c = 0; c < half; ++c, dst += channels, best_of += channels) {
        const auto in = window(z + (b * pixels + 2 * r * side + 2 * c) * channels, channels, side);
        Eigen::Index ch = 0;
        for (; ch + 4 <= channels; ch += 4) { // what the loop below does, four channels at once
          const __m128 shift = _mm_loadu_ps(bias + ch);
          __m128 best = _mm_add_ps(_mm_loadu_ps(in[0] + ch), shift);
          __m128i k = _mm_setzero_si128();
          for (int q = 1; q < 4; ++q) {
            const __m128 v = _mm_add_ps(_mm_loadu_ps(in[q] + ch), shift);
            const __m128 greater = _mm_cmpgt_ps(v, best);
            best = _mm_blendv_ps(best, v, greater);
            k = _mm_blendv_epi8(k, _mm_set1_epi32(q), _mm_castps_si128(greater));
          }
          const __m128i bytes = _mm_packus_epi16(_mm_packus_epi32(k, k), k);
          const std::int32_t four = _mm_cvtsi128_si32(bytes);
          std::memcpy(best_of + ch, &four, sizeof four);
          _mm_storeu_ps(dst + ch, _mm_max_ps(_mm_setzero_ps(), best)); // std::max(best, 0)
        }
        for (; ch < channels; ++ch) {
          float best = in[0][ch] + bias[ch];
          std::uint8_t k = 0;
          for (std::uint8_t q = 1; q < 4; ++q) {
            const float v = in[q][ch] + bias[ch];
            if (v > best)
              best = v, k = q;
          }
          best_of[ch] = k;
          dst[ch] = std::max(best, 0.0f);
        }
      }
}

// The adjoint of pool_and_relu: each output's gradient goes to the input that was its maximum,
// where the ReLU let it through; every other input gets +0. Every entry of dz (channels x
// side^2 * count) is written once, window by window, rather than zeroed and then scattered
// into. Without a branch on the data: `out > 0` is true for about half the outputs in no
// pattern, and a branch on it mispredicted so often that the scatter took 3-9% of a CNN step.
void unpool(const float* g, const float* o, const std::uint8_t* best_of, Eigen::Index channels,
            Eigen::Index side, Eigen::Index count, float* dz) {
  const Eigen::Index half = side / 2, pixels = side * side;
  for (Eigen::Index b = 0; b < count; ++b)
    for (Eigen::Index r = 0; r < half; ++r)
      for (Eigen::Index c = 0; c < half; ++c, g += channels, o += channels, best_of += channels) {
        const auto d = window(dz + (b * pixels + 2 * r * side + 2 * c) * channels, channels, side);
        Eigen::Index ch = 0;
        for (; ch + 4 <= channels; ch += 4) { // what the loop below does, four channels at once
          const __m128 through = _mm_cmpgt_ps(_mm_loadu_ps(o + ch), _mm_setzero_ps());
          const __m128 gradient = _mm_and_ps(_mm_loadu_ps(g + ch), through);
          std::int32_t four;
          std::memcpy(&four, best_of + ch, sizeof four);
          const __m128i k = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(four));
          for (int q = 0; q < 4; ++q)
            _mm_storeu_ps(
                d[q] + ch,
                _mm_and_ps(gradient, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_set1_epi32(q)))));
        }
        for (; ch < channels; ++ch) {
          const std::uint32_t through = o[ch] > 0.0f ? ~0u : 0u;
          const float gradient =
              std::bit_cast<float>(std::bit_cast<std::uint32_t>(g[ch]) & through);
          for (std::uint8_t q = 0; q < 4; ++q)
            d[q][ch] = best_of[ch] == q ? gradient : 0.0f;
        }
      }
}

// out[r] += the sum of row r of m, with the bits of Eigen's `out += m.rowwise().sum()` (Eigen 3.4,
// at the build's packet size), in one pass over m's columns: Eigen makes one pass per packet of
// rows, eight over dz1's 3.2 MB. Eigen sums the rows that `out` takes a packet at a time (from
// its first packet-aligned entry, whole packets) as p = column 0, then p + ((c(i) + c(i+1)) +
// (c(i+2) + c(i+3))) for i = 1, 5, ... below (columns - 1) & ~3, then the remaining columns one
// by one; the other rows column by column from column 0.
void add_row_sums(const Eigen::MatrixXf& m, float* out, std::vector<float>& sums) {
  constexpr Eigen::Index width = Eigen::internal::packet_traits<float>::size;
  constexpr int alignment = int(width * sizeof(float)); // a whole packet's
  const Eigen::Index rows = m.rows(), columns = m.cols();
  if (rows == 0 || columns == 0)
    return;
  const Eigen::Index start = Eigen::internal::first_aligned<alignment>(out, rows);
  const Eigen::Index end = start + (rows - start) / width * width;
  sums.assign(m.data(), m.data() + rows);
  float* s = sums.data();
  const Eigen::Index grouped = (columns - 1) & ~Eigen::Index(3);
  Eigen::Index i = 1;
  for (; i < grouped; i += 4) {
    const float* c = m.data() + i * rows;
    for (Eigen::Index r = 0; r < start; ++r)
      s[r] = (((s[r] + c[r]) + c[rows + r]) + c[2 * rows + r]) + c[3 * rows + r];
    for (Eigen::Index r = start; r < end; ++r)
      s[r] = s[r] + ((c[r] + c[rows + r]) + (c[2 * rows + r] + c[3 * rows + r]));
    for (Eigen::Index r = end; r < rows; ++r)
      s[r] = (((s[r] + c[r]) + c[rows + r]) + c[2 * rows + r]) + c[3 * rows + r];
  }
  for (; i < columns; ++i) {
    const float* c = m.data() + i * rows;
    for (Eigen::Index r = 0; r < rows; ++r)
      s[r] = s[r] + c[r];
  }
  for (Eigen::Index r = 0; r < rows; ++r)
    out[r] = out[r] + s[r];
}

} // namespace

// Everything the backward pass of one chunk needs from its forward pass.
// One per thread, kept between calls: its matrices keep their sizes from one batch to the next,
// so that a step allocates (and the kernel maps and zeroes) nothing.
struct convolutional_network::chunk_pass {
  Eigen::MatrixXf cols1, z1; // of one image
  Eigen::MatrixXf pooled1, cols2, z2, pooled2, hidden, logits;
  std::vector<std::uint8_t> which1, which2; // pool_and_relu's maxima
  std::vector<float> bordered_images;       // border_images' copy of the chunk's images
  Eigen::MatrixXf taps1;                    // shifted_images' block
  std::vector<float> row_sums;              // add_row_sums' running sums
  Eigen::MatrixXf delta, dhidden, dfeatures, dz2, dcols, dpooled1, dz1; // the backward pass
  Eigen::MatrixXf weights1_t, dweights1_t; // conv2's weights and their gradient, transposed
  Eigen::MatrixXf dfeatures_t;             // dfeatures, transposed
};

convolutional_network::convolutional_network(Eigen::Index input_dim,
                                             std::array<Eigen::Index, 2> channels,
                                             Eigen::Index hidden, int num_classes, float l2)
    : input_dim_(input_dim), side_(0), channels_(channels), hidden_(hidden),
      num_classes_(num_classes), l2_(l2) {
  while ((side_ + 1) * (side_ + 1) <= input_dim)
    ++side_;
  if (input_dim < 16 || side_ * side_ != input_dim || side_ % 4 != 0)
    throw std::invalid_argument(fmt::format(
        "convolutional_network: needs square images whose side is a multiple of 4 (such as "
        "28 x 28 = 784 features), got {} features",
        input_dim));
  if (num_classes < 2 || !(l2 >= 0))
    throw std::invalid_argument(fmt::format(
        "convolutional_network: need num_classes >= 2 and l2 >= 0 (got {}, {})", num_classes, l2));
  if (channels[0] < 1 || channels[1] < 1 || hidden < 1)
    throw std::invalid_argument(
        fmt::format("convolutional_network: channels and hidden must be >= 1 (got {},{} and {})",
                    channels[0], channels[1], hidden));
  const Eigen::Index quarter = side_ / 4;
  const std::array<std::array<Eigen::Index, 2>, 4> shapes{{
      {channels[0], kernel * kernel},
      {channels[1], channels[0] * kernel * kernel},
      {hidden, channels[1] * quarter * quarter},
      {Eigen::Index{num_classes}, hidden},
  }};
  for (std::size_t l = 0; l < shapes.size(); ++l) {
    const auto [rows, cols] = shapes[l];
    const auto weights = static_cast<std::size_t>(rows * cols);
    blocks_[l] = {rows, cols, num_parameters_, num_parameters_ + weights};
    num_parameters_ += weights + static_cast<std::size_t>(rows);
  }
}

std::size_t convolutional_network::num_parameters() const {
  return num_parameters_;
}

void convolutional_network::do_initialize(Eigen::Ref<Eigen::VectorXf> params,
                                          std::uint64_t seed) const {
  for (std::size_t l = 0; l < blocks_.size(); ++l) {
    const auto& blk = blocks_[l];
    auto rng = data_rng::for_stream(seed, l);
    const double stddev = std::sqrt(2.0 / double(blk.cols));
    for (auto& w : params.segment(Eigen::Index(blk.weight_offset), blk.rows * blk.cols))
      w = static_cast<float>(stddev * rng.normal());
    params.segment(Eigen::Index(blk.bias_offset), blk.rows).setZero();
  }
}

void convolutional_network::forward(const Eigen::VectorXf& params, const float* images,
                                    Eigen::Index count, chunk_pass& pass) const {
  auto weights = [&](std::size_t l) {
    return const_matrix_view(params.data() + blocks_[l].weight_offset, blocks_[l].rows,
                             blocks_[l].cols);
  };
  auto bias = [&](std::size_t l) {
    return const_vector_view(params.data() + blocks_[l].bias_offset, blocks_[l].rows);
  };
  const Eigen::Index half = side_ / 2, quarter = side_ / 4;

  // The first layer an image at a time: its im2col matrix (78 KB) and its maps (100 KB) stay in
  // L2 from the copy through the product to the pooling (the same bits: every column of the
  // product is its own), where the whole chunk's, 2.5 and 3.2 MB, went to memory and back.
  border_images(images, side_, count, pass.bordered_images);
  const Eigen::Index wide = side_ + 2 * padding, pooled_per_image = channels_[0] * half * half;
  pass.cols1.resize(kernel * kernel, side_ * side_);
  pass.z1.resize(channels_[0], side_ * side_);
  pass.pooled1.resize(channels_[0], half * half * count);
  pass.which1.resize(static_cast<std::size_t>(pass.pooled1.size()));
  for (Eigen::Index b = 0; b < count; ++b) {
    im2col_image(pass.bordered_images.data() + b * wide * wide, side_, pass.cols1.data());
    multiply(pass.z1, as_is(weights(0)), as_is(pass.cols1));
    pool_and_relu(pass.z1.data(), bias(0).data(), channels_[0], side_, 1,
                  pass.pooled1.data() + b * pooled_per_image,
                  pass.which1.data() + b * pooled_per_image);
  }

  // The second layer's im2col matrix (3.1 MB per sample for 32 channels) is never whole: a
  // block of its columns is written and multiplied at once, and the product reads it from L2
  // rather than from memory (the same bits: every column of the product is its own).
  const Eigen::Index columns2 = half * half * count;
  pass.cols2.resize(kernel * kernel * channels_[0], std::min(conv_columns_per_block, columns2));
  pass.z2.resize(channels_[1], columns2);
  for (Eigen::Index first = 0; first < columns2; first += conv_columns_per_block) {
    const Eigen::Index width = std::min(conv_columns_per_block, columns2 - first);
    im2col_columns(pass.pooled1.data(), channels_[0], half, first, first + width,
                   pass.cols2.data());
    auto z2 = pass.z2.middleCols(first, width);
    multiply(z2, as_is(weights(1)), as_is(pass.cols2.leftCols(width)));
  }
  pass.pooled2.resize(channels_[1], quarter * quarter * count);
  pass.which2.resize(static_cast<std::size_t>(pass.pooled2.size()));
  pool_and_relu(pass.z2.data(), bias(1).data(), channels_[1], half, count, pass.pooled2.data(),
                pass.which2.data());

  const const_matrix_view features(pass.pooled2.data(), channels_[1] * quarter * quarter, count);
  pass.hidden.resize(hidden_, count);
  multiply(pass.hidden, as_is(weights(2)), as_is(features));
  pass.hidden.colwise() += bias(2);
  pass.hidden = pass.hidden.cwiseMax(0.0f);
  pass.logits.resize(num_classes_, count);
  multiply(pass.logits, as_is(weights(3)), as_is(pass.hidden));
  pass.logits.colwise() += bias(3);
}

// Adds this chunk's gradient to grad; on entry pass.delta holds the gradient of the (whole
// batch's) loss with respect to the chunk's logits. The first chunk writes the weights'
// gradients instead of adding them to zeros (the same bits: a product's sums start from +0 and
// never become -0, and 0 + x = x), which saves zeroing and reading 13 MB for the default CNN.
void convolutional_network::backward(const Eigen::VectorXf& params, const float* images,
                                     Eigen::Index count, bool first_chunk, chunk_pass& pass,
                                     Eigen::Ref<Eigen::VectorXf> grad) const {
  (void)images; // the first layer's gradient reads their bordered copy, pass.bordered_images
  auto weights = [&](std::size_t l) {
    return const_matrix_view(params.data() + blocks_[l].weight_offset, blocks_[l].rows,
                             blocks_[l].cols);
  };
  auto grad_weights = [&](std::size_t l) {
    return matrix_view(grad.data() + blocks_[l].weight_offset, blocks_[l].rows, blocks_[l].cols);
  };
  auto grad_bias = [&](std::size_t l) {
    return grad.segment(Eigen::Index(blocks_[l].bias_offset), blocks_[l].rows);
  };
  const Eigen::Index half = side_ / 2, quarter = side_ / 4;

  // Output layer, then the dense hidden layer (its ReLU output is pass.hidden).
  multiply(grad_weights(3), as_is(pass.delta), transposed(pass.hidden), !first_chunk);
  grad_bias(3) += pass.delta.rowwise().sum();
  pass.dhidden.resize(hidden_, count);
  multiply(pass.dhidden, transposed(weights(3)), as_is(pass.delta));
  pass.dhidden.array() *= (pass.hidden.array() > 0.0f).cast<float>();

  const const_matrix_view features(pass.pooled2.data(), channels_[1] * quarter * quarter, count);
  multiply(grad_weights(2), as_is(pass.dhidden), transposed(features), !first_chunk);
  grad_bias(2) += pass.dhidden.rowwise().sum();
  // dfeatures = W^T dhidden as its transpose, dhidden^T W: W (12.8 MB) read in place, the
  // result's tiles written whole. Asked for as W^T dhidden, the product took the same
  // orientation but merged each 32 x 8 tile into dfeatures an entry at a time (C transposed);
  // the same sums in the same order either way, and a transpose copies them.
  pass.dfeatures_t.resize(count, features.rows());
  multiply(pass.dfeatures_t, transposed(pass.dhidden), as_is(weights(2)));
  pass.dfeatures = pass.dfeatures_t.transpose();
  // Flattened features and the pooled maps share one layout: unpool reads it as the maps.
  pass.dz2.resize(channels_[1], half * half * count);
  unpool(pass.dfeatures.data(), pass.pooled2.data(), pass.which2.data(), channels_[1], half, count,
         pass.dz2.data());

  // Second convolution: dz2 is the gradient with respect to its output. A block of columns at
  // a time, as in the forward pass: its im2col block again (a copy from the pooled maps in L2
  // costs less than keeping 20 MB and reading it back from memory), the weights' gradient from
  // it, and the gradient of the block, added back onto the pooled maps while it is in L2. The
  // same bits as whole products: a block is gemm_depth_block columns (or a multiple), so the
  // weight gradient sums the same blocks of terms in the same order, and the other two
  // products' columns are their own.
  static_assert(conv_columns_per_block % gemm_depth_block == 0);
  const Eigen::Index columns2 = half * half * count;
  add_row_sums(pass.dz2, grad_bias(1).data(), pass.row_sums);
  pass.dpooled1.setZero(channels_[0], columns2);
  pass.dcols.resize(pass.cols2.rows(), pass.cols2.cols());
  // Both products read conv2's weights (or write their gradient) transposed, as column-major
  // copies made once per chunk rather than in every block: dcols' product would pack W^T from
  // W in each of the 25 blocks, and the weight gradient, computed transposed (its im2col block
  // read in place as the left operand), would write its 800 x 64 tiles into the 64 x 800
  // gradient an entry at a time. The same bits: the same sums, in the same order; a transpose
  // copies them.
  pass.weights1_t = weights(1).transpose();
  if (first_chunk)
    pass.dweights1_t.resize(blocks_[1].cols, blocks_[1].rows);
  else
    pass.dweights1_t = grad_weights(1).transpose();
  for (Eigen::Index first = 0; first < columns2; first += conv_columns_per_block) {
    const Eigen::Index width = std::min(conv_columns_per_block, columns2 - first);
    im2col_columns(pass.pooled1.data(), channels_[0], half, first, first + width,
                   pass.cols2.data());
    const auto dz2 = pass.dz2.middleCols(first, width);
    multiply(pass.dweights1_t, as_is(pass.cols2.leftCols(width)), transposed(dz2),
             !first_chunk || first > 0);
    auto dcols = pass.dcols.leftCols(width);
    multiply(dcols, as_is(pass.weights1_t), as_is(dz2));
    col2im_columns(pass.dcols.data(), channels_[0], half, first, first + width,
                   pass.dpooled1.data());
  }
  grad_weights(1) = pass.dweights1_t.transpose();

  // First convolution; the gradient with respect to the images is not needed. Its weights'
  // gradient is dz1 times the chunk's im2col matrix transposed, a block of gemm_depth_block
  // pixels at a time (the same sums in the same order, as for conv2), the block made from the
  // bordered images into L1 (shifted_images) rather than kept whole (2.5 MB) and packed: read
  // in place, each of its columns is one tap's run of pixels. dz1 is made an image at a time,
  // and every block it completes is multiplied while it is in L2.
  const Eigen::Index pixels = side_ * side_, pixels1 = pixels * count;
  const Eigen::Index pooled_per_image = channels_[0] * half * half;
  pass.dz1.resize(channels_[0], pixels1);
  pass.taps1.resize(std::min(gemm_depth_block, pixels1), kernel * kernel);
  Eigen::Index first = 0; // the next block of dz1's columns to multiply
  for (Eigen::Index b = 0; b < count; ++b) {
    const Eigen::Index offset = b * pooled_per_image;
    unpool(pass.dpooled1.data() + offset, pass.pooled1.data() + offset, pass.which1.data() + offset,
           channels_[0], side_, 1, pass.dz1.data() + b * pixels * channels_[0]);
    const Eigen::Index made = (b + 1) * pixels;
    for (; first < made && (first + gemm_depth_block <= made || made == pixels1);
         first += gemm_depth_block) {
      const Eigen::Index width = std::min(gemm_depth_block, pixels1 - first);
      shifted_images(pass.bordered_images, side_, first, first + width, pass.taps1.rows(),
                     pass.taps1.data());
      multiply(grad_weights(0), as_is(pass.dz1.middleCols(first, width)),
               as_is(pass.taps1.topRows(width)), !first_chunk || first > 0);
    }
  }
  add_row_sums(pass.dz1, grad_bias(0).data(), pass.row_sums);
}

float convolutional_network::penalty(const Eigen::VectorXf& params) const {
  if (l2_ == 0)
    return 0;
  double sum = 0;
  for (const auto& blk : blocks_)
    sum += params.segment(Eigen::Index(blk.weight_offset), blk.rows * blk.cols).squaredNorm();
  return static_cast<float>(0.5 * l2_ * sum);
}

float convolutional_network::do_loss_and_gradient(const Eigen::VectorXf& params,
                                                  const Eigen::MatrixXf& x,
                                                  std::span<const std::int32_t> y,
                                                  Eigen::Ref<Eigen::VectorXf> grad) const {
  for (const auto& blk : blocks_) // the weights' gradients are written by the first chunk
    grad.segment(Eigen::Index(blk.bias_offset), blk.rows).setZero();
  thread_local chunk_pass pass;
  const Eigen::Index total = x.cols();
  double data_loss = 0;
  for (Eigen::Index start = 0; start < total; start += samples_per_pass) {
    const Eigen::Index count = std::min(samples_per_pass, total - start);
    const float* images = x.data() + start * input_dim_;
    forward(params, images, count, pass);
    pass.delta = pass.logits;
    // The chunk's mean loss and its gradient, reweighted into the whole batch's mean.
    const float chunk_loss = cross_entropy_with_gradient(
        pass.delta, y.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(count)));
    const double weight = double(count) / double(total);
    data_loss += weight * chunk_loss;
    pass.delta *= static_cast<float>(weight);
    backward(params, images, count, start == 0, pass, grad);
  }
  if (l2_ != 0)
    for (const auto& blk : blocks_) {
      const auto n = blk.rows * blk.cols;
      grad.segment(Eigen::Index(blk.weight_offset), n) +=
          l2_ * params.segment(Eigen::Index(blk.weight_offset), n);
    }
  return static_cast<float>(data_loss) + penalty(params);
}

evaluation convolutional_network::do_evaluate_batch(const Eigen::VectorXf& params,
                                                    const Eigen::MatrixXf& x,
                                                    std::span<const std::int32_t> y) const {
  thread_local chunk_pass pass;
  double loss_sum = 0;
  std::size_t correct = 0;
  std::vector<std::int32_t> predicted;
  for (Eigen::Index start = 0; start < x.cols(); start += samples_per_pass) {
    const Eigen::Index count = std::min(samples_per_pass, x.cols() - start);
    forward(params, x.data() + start * input_dim_, count, pass);
    const auto labels = y.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(count));
    loss_sum += total_cross_entropy(pass.logits, labels);
    predicted.resize(labels.size());
    argmax_per_column(pass.logits, predicted);
    for (std::size_t i = 0; i < labels.size(); ++i)
      correct += predicted[i] == labels[i];
  }
  return {loss_sum / double(x.cols()) + penalty(params), double(correct) / double(y.size())};
}

float convolutional_network::do_loss(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                     std::span<const std::int32_t> y) const {
  return static_cast<float>(do_evaluate_batch(params, x, y).loss);
}

void convolutional_network::do_predict(const Eigen::VectorXf& params, const Eigen::MatrixXf& x,
                                       std::span<std::int32_t> out) const {
  thread_local chunk_pass pass;
  for (Eigen::Index start = 0; start < x.cols(); start += samples_per_pass) {
    const Eigen::Index count = std::min(samples_per_pass, x.cols() - start);
    forward(params, x.data() + start * input_dim_, count, pass);
    argmax_per_column(
        pass.logits, out.subspan(static_cast<std::size_t>(start), static_cast<std::size_t>(count)));
  }
}

std::string convolutional_network::spec() const {
  auto text = fmt::format("cnn:channels={},{},hidden={}", channels_[0], channels_[1], hidden_);
  if (l2_ != 0)
    text += fmt::format(",l2={:g}", l2_);
  return text;
}

} // namespace dsq
