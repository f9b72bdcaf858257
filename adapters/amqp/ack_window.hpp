#pragma once

// Acks as few frames as possible. On one channel the broker numbers deliveries 1, 2, 3...;
// an ack with `multiple` settles every outstanding delivery up to its tag. The window
// tracks the delivered tags in order: once a prefix of them is settled, one multiple-ack
// of the prefix's last acked tag settles the acked ones (rejected ones were rejected on
// their own and are no longer outstanding, so a multiple-ack never touches them). Acks
// behind a tag still unsettled are held; the owner sends them one by one when they have
// waited long enough (see take_held), so a slow message never holds the others for long.
// Pure logic, no I/O; owned by one thread.

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace herald::amqp {

class ack_window {
public:
  /// A delivery with `tag` was received. Tags must increase; a gap counts as settled.
  void delivered(std::uint64_t tag);

  /// The owner acked `tag`. False when the window does not know it (never delivered, or
  /// already settled): the caller then acks it on its own, as before.
  bool acked(std::uint64_t tag);

  /// The owner rejected `tag`; the caller sends the reject itself, at once.
  void rejected(std::uint64_t tag);

  /// The tag of one multiple-ack settling every acked tag of the settled prefix, if any;
  /// the prefix leaves the window.
  std::optional<std::uint64_t> take_prefix_ack();

  /// Acks held behind an unsettled tag, to be sent one by one; they stay in the window as
  /// settled.
  std::vector<std::uint64_t> take_held();

  /// How many acks are held.
  std::size_t held() const { return held_; }
  /// Delivered tags not settled with the broker yet (outstanding).
  std::size_t outstanding() const { return marks_.size(); }

private:
  enum mark : std::uint8_t { open, acked_here, settled };
  std::uint64_t base_ = 0; ///< tag of marks_.front()
  std::deque<mark> marks_;
  std::size_t held_ = 0;
};

} // namespace herald::amqp
