#include "adapters/amqp/ack_window.hpp"

namespace herald::amqp {

void ack_window::delivered(std::uint64_t tag) {
  if (marks_.empty()) {
    base_ = tag;
  }
  auto next = base_ + marks_.size();
  if (tag < next) {
    return; // not increasing: ignore rather than corrupt the window
  }
  while (next++ < tag) {
    marks_.push_back(settled);
  }
  marks_.push_back(open);
}

bool ack_window::acked(std::uint64_t tag) {
  if (tag < base_ || tag >= base_ + marks_.size() || marks_[tag - base_] != open) {
    return false;
  }
  marks_[tag - base_] = acked_here;
  held_ += 1;
  return true;
}

void ack_window::rejected(std::uint64_t tag) {
  if (tag >= base_ && tag < base_ + marks_.size() && marks_[tag - base_] == open) {
    marks_[tag - base_] = settled;
  }
}

std::optional<std::uint64_t> ack_window::take_prefix_ack() {
  std::optional<std::uint64_t> last;
  while (!marks_.empty() && marks_.front() != open) {
    if (marks_.front() == acked_here) {
      last = base_;
      held_ -= 1;
    }
    marks_.pop_front();
    base_ += 1;
  }
  return last;
}

std::vector<std::uint64_t> ack_window::take_held() {
  std::vector<std::uint64_t> out;
  out.reserve(held_);
  for (std::size_t i = 0; i < marks_.size() && out.size() < held_; ++i) {
    if (marks_[i] == acked_here) {
      marks_[i] = settled;
      out.push_back(base_ + i);
    }
  }
  held_ = 0;
  return out;
}

} // namespace herald::amqp
