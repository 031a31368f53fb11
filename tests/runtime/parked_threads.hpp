#pragma once

// Threads that exist before a test changes a per-thread setting of the whole process, and stay
// parked (alive, blocked) until the object goes away: the setting must reach them too.

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

class parked_threads {
public:
  explicit parked_threads(int count) {
    for (int i = 0; i < count; ++i)
      threads_.emplace_back([this] {
        std::unique_lock lock{m_};
        cv_.wait(lock, [this] { return done_; });
      });
  }
  ~parked_threads() {
    {
      std::lock_guard lock{m_};
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }
  parked_threads(const parked_threads&) = delete;
  parked_threads& operator=(const parked_threads&) = delete;

private:
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};
