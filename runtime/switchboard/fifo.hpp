// switchboard: an embeddable C++ actor runtime. MIT License.

// A first-in first-out queue that allocates nothing while empty and gives a
// burst's memory back once it drains. A connection holds a few of them and
// most are empty most of the time; libstdc++'s std::deque allocates 576
// bytes at construction and is 80 bytes itself, this is 32.

#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace switchboard {

template<class T>
class fifo {
public:
  bool empty() const noexcept {
    return head_ == xs_.size();
  }

  size_t size() const noexcept {
    return xs_.size() - head_;
  }

  T& front() {
    return xs_[head_];
  }

  /// The `i`-th element from the front.
  T& operator[](size_t i) {
    return xs_[head_ + i];
  }

  void push_back(T x) {
    xs_.push_back(std::move(x));
  }

  void pop_front() {
    if (++head_ < xs_.size()) {
      // Keep the consumed prefix under half the storage.
      if (head_ >= 32 && head_ * 2 >= xs_.size()) {
        xs_.erase(xs_.begin(),
                  xs_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
      return;
    }
    clear();
  }

  /// Empties the queue; storage beyond a few elements is given back.
  void clear() {
    head_ = 0;
    if (xs_.capacity() > 16)
      std::vector<T>{}.swap(xs_);
    else
      xs_.clear();
  }

private:
  std::vector<T> xs_;
  size_t head_ = 0;
};

} // namespace switchboard
