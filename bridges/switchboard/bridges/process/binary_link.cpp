// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/process/binary_link.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/serializer_impl.hpp>
#include <caf/send.hpp>

#include <switchboard/channel.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/log.hpp>

#include <unistd.h>

namespace switchboard::bridges {

namespace {

// kind byte + u64 id
constexpr size_t header_size = 9;

void put_id(std::string& frame, uint64_t id) {
  for (int i = 0; i < 8; ++i)
    frame[1 + i] = static_cast<char>((id >> (56 - 8 * i)) & 0xff);
}

uint64_t get_id(const std::string& frame) {
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i)
    id = (id << 8) | static_cast<unsigned char>(frame[1 + i]);
  return id;
}

// A response handler that takes any reply: CAF 0.17's typed handlers need
// the reply's types, and a link forwards whatever the target answers. It
// must tell the visitor it matched, or CAF retries it with an
// unexpected_response error.
class any_reply final : public caf::detail::behavior_impl {
public:
  explicit any_reply(std::function<void(caf::message)> fn)
      : fn_(std::move(fn)) {}

  caf::match_case::result invoke(caf::detail::invoke_result_visitor& f,
                                 caf::type_erased_tuple& xs) override {
    fn_(caf::message::copy(xs));
    f();
    return caf::match_case::match;
  }

private:
  std::function<void(caf::message)> fn_;
};

// CAF's binary format, with one more check: a sequence may not claim more
// elements than the bytes left could hold (a packed vector<bool> holds 8 per
// byte). CAF 0.17 resizes a byte sequence to its claimed size before it
// reads, so a garbled frame could otherwise ask for 4 GiB.
class bounded_source final : public caf::deserializer {
public:
  bounded_source(caf::actor_system& sys, const char* data, size_t size)
      : caf::deserializer(sys), inner_(sys, data, size) {}

  caf::error begin_object(uint16_t& nr, std::string& name) override {
    return inner_.begin_object(nr, name);
  }
  caf::error end_object() override {
    return inner_.end_object();
  }
  caf::error begin_sequence(size_t& n) override {
    if (auto err = inner_.begin_sequence(n))
      return err;
    if (n > inner_.remaining() * 8)
      return caf::make_error(caf::sec::end_of_stream,
                             "a sequence longer than its frame");
    return caf::none;
  }
  caf::error end_sequence() override {
    return inner_.end_sequence();
  }
  caf::error apply_raw(size_t n, void* data) override {
    return inner_.apply_raw(n, data);
  }

protected:
  caf::error apply_impl(int8_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(uint8_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(int16_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(uint16_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(int32_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(uint32_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(int64_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(uint64_t& x) override {
    return inner_(x);
  }
  caf::error apply_impl(float& x) override {
    return inner_(x);
  }
  caf::error apply_impl(double& x) override {
    return inner_(x);
  }
  caf::error apply_impl(long double& x) override {
    return inner_(x);
  }
  caf::error apply_impl(std::string& x) override {
    return inner_(x);
  }
  caf::error apply_impl(std::u16string& x) override {
    return inner_(x);
  }
  caf::error apply_impl(std::u32string& x) override {
    return inner_(x);
  }

private:
  caf::binary_deserializer inner_;
};

bool holds_error(const caf::message& msg) {
  return msg.match_elements<caf::error>();
}

} // namespace

binary_link::binary_link(caf::event_based_actor* self, std::string name,
                         size_t max_frame, caf::timespan timeout,
                         link_hooks hooks)
    : self_(self), name_(std::move(name)), max_frame_(max_frame),
      timeout_(timeout), hooks_(std::move(hooks)) {}

void binary_link::detach(const caf::error& why) {
  ch_ = nullptr;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& kvp : pending)
    kvp.second.deliver(why);
}

caf::expected<std::string> binary_link::encode(link_kind kind, uint64_t id,
                                               caf::message& msg) {
  std::string frame(header_size, '\0');
  frame[0] = static_cast<char>(kind);
  put_id(frame, id);
  caf::serializer_impl<std::string> sink{self_->system(), frame};
  // Not `sink(msg)`: in CAF 0.17 that loses save's error (an unregistered
  // type then yields an empty frame).
  if (auto err = msg.save(sink))
    return make_error(errc::bad_message,
                      name_ + ": cannot encode " + caf::to_string(msg)
                        + " for the binary channel: "
                        + self_->system().render(err)
                        + " (register each type with add_message_type)");
  if (frame.size() > max_frame_)
    return make_error(errc::frame_too_large,
                      name_ + ": a message of " + std::to_string(frame.size())
                        + " bytes is over max-frame ("
                        + std::to_string(max_frame_) + ")");
  return frame;
}

caf::expected<outbound> binary_link::prepare(caf::message msg, bool request) {
  auto frame = encode(request ? link_kind::request : link_kind::send, 0, msg);
  if (!frame)
    return std::move(frame.error());
  outbound out;
  out.frame = std::move(*frame);
  out.request = request;
  if (request)
    out.rp = self_->make_response_promise();
  return out;
}

caf::error binary_link::write(outbound out) {
  uint64_t id = 0;
  if (out.request) {
    id = ++next_id_;
    put_id(out.frame, id);
  }
  if (ch_ == nullptr || !ch_->write(std::move(out.frame))) {
    auto err = make_error(errc::io_error, name_ + ": the channel is closed");
    if (out.request)
      out.rp.deliver(err);
    return err;
  }
  if (out.request)
    pending_.emplace(id, std::move(out.rp));
  return caf::none;
}

void binary_link::reply(uint64_t id, caf::message msg) {
  if (ch_ == nullptr)
    return; // the requester is gone with the channel
  auto frame = encode(link_kind::reply, id, msg);
  if (!frame) {
    // What the target answered cannot cross: the requester learns why.
    auto err = caf::make_message(frame.error());
    frame = encode(link_kind::reply, id, err);
    if (!frame)
      return;
  }
  ch_->write(std::move(*frame));
}

caf::error binary_link::write_connection(int fd, const std::string& bridge,
                                         const std::string& peer) {
  auto msg = caf::make_message(bridge, peer);
  auto frame = encode(link_kind::connection, 0, msg);
  if (!frame) {
    ::close(fd);
    return std::move(frame.error());
  }
  if (ch_ == nullptr) {
    ::close(fd);
    return make_error(errc::io_error, name_ + ": the channel is closed");
  }
  if (!ch_->write_handle(*frame, fd))
    return make_error(errc::io_error, name_ + ": the channel is closed");
  return caf::none;
}

caf::error decode_frame(caf::actor_system& sys, const std::string& payload,
                        inbound& out) {
  auto kind = payload.empty() ? 0xff : static_cast<unsigned char>(payload[0]);
  if (payload.size() < header_size || kind > 3)
    return make_error(errc::bad_message,
                      "a binary frame that is not a message ("
                        + std::to_string(payload.size()) + " bytes)");
  out.has_header = true;
  out.kind = static_cast<link_kind>(kind);
  out.id = get_id(payload);
  bounded_source source{sys, payload.data() + header_size,
                        payload.size() - header_size};
  if (auto err = out.msg.load(source))
    return make_error(errc::bad_message,
                      "cannot decode a message from the binary channel: "
                        + sys.render(err));
  return caf::none;
}

void binary_link::on_frame(const std::string& payload) {
  inbound in;
  if (auto err = decode_frame(self_->system(), payload, in)) {
    ++bad_frames_;
    auto what = reason_of(err);
    if (!in.has_header) {
      hooks_.log(what);
      return;
    }
    auto why = make_error(errc::bad_message, name_ + ": " + what);
    switch (in.kind) {
      case link_kind::request: reply(in.id, caf::make_message(why)); break;
      case link_kind::connection:
        if (hooks_.drop_connection)
          hooks_.drop_connection();
        hooks_.log(self_->system().render(why));
        break;
      case link_kind::reply: {
        auto i = pending_.find(in.id);
        if (i != pending_.end()) {
          auto rp = std::move(i->second);
          pending_.erase(i);
          rp.deliver(why);
          break;
        }
        [[fallthrough]];
      }
      case link_kind::send: hooks_.log(self_->system().render(why)); break;
    }
    return;
  }
  auto id = in.id;
  auto& msg = in.msg;
  switch (in.kind) {
    case link_kind::connection: {
      if (!msg.match_elements<std::string, std::string>()) {
        ++bad_frames_;
        if (hooks_.drop_connection)
          hooks_.drop_connection();
        hooks_.log("a connection frame without bridge and peer: "
                   + caf::to_string(msg));
        return;
      }
      if (!hooks_.connection) {
        if (hooks_.drop_connection)
          hooks_.drop_connection();
        hooks_.log("a connection from " + msg.get_as<std::string>(1)
                   + " nobody serves");
        return;
      }
      hooks_.connection(msg.get_as<std::string>(0), msg.get_as<std::string>(1));
      return;
    }
    case link_kind::send: {
      auto target = hooks_.target();
      if (!target) {
        hooks_.log("a message nobody takes (no \"to\"): "
                   + caf::to_string(msg));
        return;
      }
      caf::anon_send(target, std::move(msg));
      return;
    }
    case link_kind::request: {
      auto target = hooks_.target();
      if (!target) {
        reply(id, caf::make_message(make_error(
                    errc::unknown_actor,
                    name_ + ": no actor takes requests (no \"to\")")));
        return;
      }
      auto handle = self_->request(target, timeout_, std::move(msg));
      self_->add_multiplexed_response_handler(
        handle.id(),
        caf::behavior{caf::behavior::impl_ptr{caf::make_counted<any_reply>(
          [this, id](caf::message answer) { reply(id, std::move(answer)); })}});
      return;
    }
    case link_kind::reply: {
      auto i = pending_.find(id);
      if (i == pending_.end()) {
        hooks_.log("a reply nobody waits for (id " + std::to_string(id) + ")");
        return;
      }
      auto rp = std::move(i->second);
      pending_.erase(i);
      if (holds_error(msg))
        rp.deliver(msg.get_as<caf::error>(0));
      else
        rp.deliver(std::move(msg));
      return;
    }
  }
}

} // namespace switchboard::bridges
