// One function per request type.  Each answers exactly one response into
// the output buffer (SEND: when settled, possibly by another thread).
#include <time.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "server/cluster.hpp"
#include "server/connection.hpp"
#include "server/nick_policy.hpp"

namespace sc::server {
namespace {

void put_send_ok(Bytes& out, const Pending& p) {
  const std::size_t at = begin_frame(out, Kind::Response, static_cast<std::uint8_t>(Type::Send), 0,
                                     p.sender_request);
  put_u32(out, p.message_id);
  end_frame(out, at);
}

void put_send_failed(Bytes& out, const Pending& p, std::string_view why) {
  const std::size_t at =
      begin_frame(out, Kind::Response, static_cast<std::uint8_t>(Type::Send),
                  static_cast<std::uint8_t>(Status::NotDelivered), p.sender_request);
  put_not_delivered(out, NotDelivered{p.message_id, std::string(why)});
  end_frame(out, at);
}

// Cost units against --max-request-rate.  What a request costs the server
// (and what its answer costs the others: a LIST is a copy of every entry, a
// NICK and a SUBSCRIBE fan out or take the publishing turn, an AUTH runs
// crypt_r, tens of ms of CPU for yescrypt); a TIME is 1.
constexpr double kCheapCost = 1;
constexpr double kListCost = 100;
constexpr double kAuthCost = 100;
constexpr double kNickCost = 100;
constexpr double kSubscribeCost = 100;

}  // namespace

void settle_ok(Shared& sh, const Pending& p) {
  if (sh.cluster != nullptr && !sh.cluster->is_local(p.sender)) {
    sh.cluster->acked(p.sender, p.message_id);
  } else if (const std::shared_ptr<Peer> sender = sh.registry.find(p.sender)) {
    Bytes frame;
    put_send_ok(frame, p);
    sender->post(frame);
  }
}

void settle_failed(Shared& sh, const Pending& p, std::string_view why) {
  if (sh.cluster != nullptr && !sh.cluster->is_local(p.sender)) {
    sh.cluster->failed(p.sender, p.message_id, why);
  } else if (const std::shared_ptr<Peer> sender = sh.registry.find(p.sender)) {
    Bytes frame;
    put_send_failed(frame, p, why);
    sender->post(frame);
  }
}

void Connection::announce(PresenceEvent event, LeaveReason reason) {
  sh_.registry.publish(event, reason, *peer_);
  if (sh_.cluster != nullptr) sh_.cluster->presence(event, reason, peer_->entry(), signed_in_);
}

double request_cost(const Frame& f) {
  switch (static_cast<Type>(f.header.type)) {
    case Type::List: return kListCost;
    case Type::Nick: return kNickCost;
    case Type::Subscribe: return kSubscribeCost;
    case Type::Auth: return kAuthCost;
    // Echoes and messages also cost by size: one more per started 4 KiB.
    case Type::Ping:
    case Type::Send: return kCheapCost + static_cast<double>((f.payload.size() + 4095) / 4096);
    default: return kCheapCost;
  }
}

bool Connection::charge(const Frame& f) { return request_bucket_.take(request_cost(f), now_); }

// TIME, NAME, LIST and BYE carry no payload.
bool Connection::require_empty(const Frame& f) {
  if (f.payload.empty()) return true;
  respond_error(f.header, Status::BadRequest, "trailing bytes");
  return false;
}

void Connection::on_time(const Frame& f) {
  if (!require_empty(f)) return;
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  // The offset can only change between seconds (a DST switch), and
  // localtime_r() takes glibc's global time-zone lock: once per second is
  // plenty, and pipelined TIMEs in one turn share the work.
  if (ts.tv_sec != zone_second_) {
    tm local{};
    localtime_r(&ts.tv_sec, &local);
    zone_second_ = ts.tv_sec;
    zone_offset_ = static_cast<std::int32_t>(local.tm_gmtoff);
    zone_name_.assign(local.tm_zone != nullptr ? local.tm_zone : "");
    if (zone_name_.size() > kMaxStr8Bytes) zone_name_.resize(kMaxStr8Bytes);
  }
  const std::size_t at = begin_frame(out_, Kind::Response, f.header.type, 0, f.header.id);
  put_i64(out_, std::int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000);
  put_i32(out_, zone_offset_);
  put_str8(out_, zone_name_);
  end_frame(out_, at);
}

void Connection::on_name(const Frame& f) {
  if (!require_empty(f)) return;
  const std::string& name = sh_.opts.name;
  respond_ok(f.header, ByteView(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
}

// The one answer that can be larger than max-payload: checked against
// --sendq before it is copied, so a client's output never passes it.
void Connection::on_list(const Frame& f) {
  if (!require_empty(f)) return;
  const std::shared_ptr<const ListPayload> list = sh_.registry.list();
  const std::uint64_t size = kHeaderSize + list->bytes.size();
  if (size > sh_.opts.sendq) {
    respond_error(f.header, Status::Internal,
                  fmt::format("the client list ({} bytes) is larger than this server's --sendq",
                              size));
    return;
  }
  if (unsent() + size > sh_.opts.sendq) {
    // Only a client that pipelines LISTs without reading gets here.
    drop_for_sendq();
    return;
  }
  respond_ok(f.header, ByteView(list->bytes.data(), list->bytes.size()));
  if (list->left_out != 0) {
    spdlog::warn("client {}: LIST left out the {} highest ids (a frame holds at most {} bytes)",
                 id(), list->left_out, kMaxServerPayload);
  }
}

void Connection::on_ping(const Frame& f) { respond_ok(f.header, f.payload); }

// Nicks are unique among connected clients by their comparison key (see
// nick_key()); setting your own current nick again is fine and announces
// nothing.  New clients have an empty nick.  Account names are reserved for
// their accounts, and a signed-in client keeps its account's name.
void Connection::on_nick(const Frame& f) {
  std::string nick;
  std::string_view why;
  if (decode_nick(f.payload, nick, &why) != Status::Ok) {
    respond_error(f.header, Status::BadRequest, why);
    return;
  }
  if (signed_in_) {
    respond_error(f.header, Status::BadRequest,
                  fmt::format("signed in as '{}': the nick is the account's name",
                              peer_->entry().nick));
    return;
  }
  // A look-alike of a nick in use is NICK_IN_USE even when it is also
  // refused on its own (a Cyrillic е in "alicе"): that says who it imitates.
  std::string key = nick_key(nick);
  const std::string in_use = fmt::format("nick '{}' is in use, or looks like one that is", nick);
  if (const std::string refused = nick_refusal(nick); !refused.empty()) {
    const bool taken = nick_reserved(key);
    respond_error(f.header, taken ? Status::NickInUse : Status::BadRequest,
                  taken ? in_use : refused);
    return;
  }
  if (sh_.accounts && sh_.accounts->current()->reserves(key)) {
    respond_error(f.header, Status::NickInUse,
                  fmt::format("nick '{}' is the name of an account, or looks like one", nick));
    return;
  }
  // Only attempts that could rename count against the nick-change rate.
  if (nick != peer_->entry().nick && !nick_bucket_.take(1, now_)) {
    respond_error(f.header, Status::RateLimited, "at most one nick change per second");
    return;
  }
  const NickResult r = sh_.registry.set_nick(*peer_, nick, std::move(key));
  if (r == NickResult::InUse) {
    respond_error(f.header, Status::NickInUse, in_use);
    return;
  }
  respond_ok(f.header);
  if (r == NickResult::Changed) {
    spdlog::debug("client {}: nick is now '{}'", id(), nick);
    announce(PresenceEvent::Renamed, LeaveReason::Bye);
  }
}

// Bit 0 asks for presence events; other bits are reserved and ignored, so
// that a later client asking for more still gets what this server offers.
void Connection::on_subscribe(const Frame& f) {
  std::uint8_t flags = 0;
  std::string_view why;
  if (decode_u8(f.payload, flags, &why) != Status::Ok) {
    respond_error(f.header, Status::BadRequest, why);
    return;
  }
  sh_.registry.set_subscribed(peer_, (flags & kSubscribePresence) != 0);
  respond_ok(f.header);
}

void Connection::on_bye(const Frame& f) {
  if (!require_empty(f)) return;
  respond_ok(f.header);
  close_gracefully(LeaveReason::Bye);
}

// SEND: validate, rate-limit, find the target, record the pending delivery
// within the target's unacked cap, then queue the MESSAGE.  No response now: the ACK,
// the deadline or the target leaving settles it.
void Connection::on_send(const Frame& f) {
  SendRequest req;
  std::string_view why;
  if (decode_send_request(f.payload, req, &why) != Status::Ok) {
    respond_error(f.header, Status::BadRequest, why);
    return;
  }
  // One token per started KiB: the limit counts bytes as well as messages.
  if (!send_bucket_.take(static_cast<double>(std::max<std::size_t>(1, (req.text.size() + 1023) / 1024)),
                         now_)) {
    respond_error(f.header, Status::RateLimited,
                  fmt::format("more than {} messages (or KiB of text) per second",
                              sh_.opts.max_send_rate));
    return;
  }
  const bool remote = sh_.cluster != nullptr && !sh_.cluster->is_local(req.target);
  const std::shared_ptr<Peer> target = remote ? nullptr : sh_.registry.find(req.target);
  if (!target && !(remote && sh_.registry.remote_contains(req.target))) {
    respond_error(f.header, Status::NoSuchClient, fmt::format("no client with id {}", req.target));
    return;
  }
  Pending p{sh_.deliveries.next_message_id(), id(), f.header.id, req.target,
            now_ + std::chrono::seconds(sh_.opts.delivery_timeout_s)};
  scratch_.clear();
  const std::size_t at = begin_frame(scratch_, Kind::Indication,
                                     static_cast<std::uint8_t>(Type::Message), 0, p.message_id);
  put_message(scratch_, Message{id(), peer_->entry().addr, peer_->entry().nick, realtime_us(),
                                std::move(req.text)});
  end_frame(scratch_, at);
  p.bytes = static_cast<std::uint32_t>(scratch_.size());
  // The entry goes into the table before the MESSAGE is queued, so an ACK,
  // however fast, finds it.
  if (const auto busy = sh_.deliveries.add_within(p, sh_.opts.max_unacked)) {
    respond_error(f.header, Status::RateLimited,
                  fmt::format("client {} is busy: {} bytes of messages await its acknowledgement",
                              req.target, *busy));
    return;
  }
  if (remote) {
    send_remote(p);
    return;
  }
  if (target->post(scratch_)) {
    sends_.push_back(p);
    return;
  }
  // The target is leaving (or dead) and will never ACK.  Its departure may
  // have settled the entry already; otherwise we do.
  if (sh_.deliveries.take(p.message_id)) {
    fail_undelivered(p, fmt::format("client {} left before acknowledging", req.target));
  }
}

// Another node's client: published to its node's channel.  Nobody
// listening there (the node is gone) or no broker: NOT_DELIVERED at once,
// not after the delivery timeout.
void Connection::send_remote(const Pending& p) {
  if (sh_.cluster->forward(p.target, ByteView(scratch_.data(), scratch_.size()))) {
    sends_.push_back(p);
    return;
  }
  if (sh_.deliveries.take(p.message_id)) {
    fail_undelivered(p, fmt::format("the server node of client {} cannot be reached", p.target));
  }
}

// ACK settles a pending message addressed to this client: OK to the ACK, and
// OK(message id) to the sender's SEND.
void Connection::on_ack(const Frame& f) {
  std::uint32_t message_id = 0;
  std::string_view why;
  if (decode_u32(f.payload, message_id, &why) != Status::Ok) {
    respond_error(f.header, Status::BadRequest, why);
    return;
  }
  const std::optional<Pending> p = sh_.deliveries.take_for_target(message_id, id());
  if (!p) {
    respond_error(f.header, Status::NoSuchMessage,
                  fmt::format("no pending message {} for you", message_id));
    return;
  }
  respond_ok(f.header);
  if (p->sender == id()) {
    put_send_ok(out_, *p);
    return;
  }
  settle_ok(sh_, *p);
}

// Answers a SEND of ours in our own buffer, anyone else's through its Peer.
void Connection::fail_undelivered(const Pending& p, std::string_view why) {
  if (p.sender == id()) {
    put_send_failed(out_, p, why);
    return;
  }
  settle_failed(sh_, p, why);
}

}  // namespace sc::server
