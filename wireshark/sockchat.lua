-- sockchat.lua: Wireshark dissector for the sockchat wire protocol, version 1
-- (man/sockchat-protocol.7, shared/PROTOCOL.md, common/protocol.hpp).
--
-- Use:   wireshark -X lua_script:sockchat.lua capture.pcap
--        tshark -2 -X lua_script:sockchat.lua -r capture.pcap -Y sockchat
-- or copy this file into the personal Lua plugins folder (tshark -G folders).
-- TCP port 2555 is decoded as sockchat; for other ports use "Decode As..."
-- (tshark: -d tcp.port==PORT,sockchat).  TCP port 2556 is handed to TLS, and
-- what TLS decrypts there (or on a connection that negotiated the ALPN
-- "sockchat/1") is sockchat; other TLS ports: -d tls.port==PORT,sockchat.
-- Decrypting needs the session keys (tls.keylog_file).  Request/response
-- links need two passes: tshark -2, or any view in Wireshark after loading.
--
-- Display filter fields.  The scheme: header fields are sockchat.<field>;
-- a payload field of one message type is sockchat.<type>.<field>; a value
-- that several types carry has one shared name, so one filter finds it in
-- all of them.
--
--   header    sockchat.magic .version .kind .type .status .reserved .id
--             .length
--   links     sockchat.request_in (in a response: the request's frame)
--             sockchat.response_in (in a request: the response's frame)
--             sockchat.response_time (response time minus request time)
--   shared    sockchat.text          SEND request and MESSAGE text
--             sockchat.error_text    text of a non-OK response, ERROR text
--             sockchat.message_id    SEND OK and NOT_DELIVERED responses,
--                                    MESSAGE (from its header id) and ACK
--                                    (hidden copy of sockchat.ack.message_id)
--             sockchat.nick          NICK request
--             sockchat.name          NAME response
--             sockchat.payload       payload of an unknown type
--             sockchat.trailing      bytes after a complete payload
--   HELLO     sockchat.hello.client_id .heartbeat .idle_timeout
--             .delivery_timeout .max_payload .server_name, and in the
--             second edition .flags with the bits .flags.sign_in_required
--             .flags.encrypted .flags.clustered (absent in a first-edition
--             HELLO), then .extension (bytes of a later edition, ignored)
--   TIME      sockchat.time.us (absolute time, UTC) .utc_offset (s) .zone
--   LIST      sockchat.list.count, then one sockchat.entry subtree per client
--   entry     sockchat.entry.id .addr ("IP:port") .family .ip4 .ip6 .port
--             .connected_at (absolute time) .nick
--   SEND      sockchat.send.target
--   MESSAGE   sockchat.message.sender .addr .family .ip4 .ip6 .port .nick
--             .sent_at (absolute time)
--   PRESENCE  sockchat.presence.event .reason, then a sockchat.entry subtree
--   ACK       sockchat.ack.message_id
--   SUBSCRIBE sockchat.subscribe.flags .presence (bit 0)
--   PING      sockchat.ping.data
--   SHUTDOWN  sockchat.shutdown.reason
--   AUTH      sockchat.auth.account (request and OK response)
--             sockchat.auth.password (request; in clear unless inside TLS)
--
-- Expert info (filter sockchat.expert.<name>, or _ws.expert): bad_magic,
-- bad_version, bad_kind, too_large, short_payload, trailing_bytes,
-- bad_utf8, bad_addr, empty_text, bad_nick, bad_password, unknown_type,
-- bad_status,
-- error_response, error_indication.  A malformed frame is shown and flagged,
-- never a Lua error.  After bad magic or a bad version the peer closes the
-- connection (no resynchronising), so the rest of that segment is shown as
-- undecoded bytes.

local sockchat = Proto("sockchat", "sockchat chat protocol")

local HEADER_SIZE = 16
local MAGIC = 0x5343            -- "SC"
local VERSION = 1
local DEFAULT_PORT = 2555
local DEFAULT_TLS_PORT = 2556
local ALPN = "sockchat/1"
-- No frame in either direction may carry more (kMaxServerPayload,
-- kMaxMaxPayload): a bigger length is flagged instead of being reassembled.
local MAX_PAYLOAD = 16 * 1024 * 1024
local MAX_NICK_BYTES = 32
local MAX_PASSWORD_BYTES = 255

local KIND = { REQUEST = 1, RESPONSE = 2, INDICATION = 3 }
local KIND_NAMES = { [1] = "REQUEST", [2] = "RESPONSE", [3] = "INDICATION" }
local TYPE_NAMES = {
  [1] = "TIME", [2] = "NAME", [3] = "LIST", [4] = "SEND", [5] = "PING",
  [6] = "NICK", [7] = "ACK", [8] = "SUBSCRIBE", [9] = "BYE", [10] = "AUTH",
  [64] = "HELLO", [65] = "MESSAGE", [66] = "PRESENCE", [67] = "SHUTDOWN",
  [68] = "ERROR",
}
local TYPE = {
  TIME = 1, NAME = 2, LIST = 3, SEND = 4, PING = 5, NICK = 6, ACK = 7,
  SUBSCRIBE = 8, BYE = 9, AUTH = 10, HELLO = 64, MESSAGE = 65, PRESENCE = 66,
  SHUTDOWN = 67, ERROR = 68,
}
local STATUS_NAMES = {
  [0] = "OK", [1] = "BAD_REQUEST", [2] = "UNKNOWN_TYPE",
  [3] = "NO_SUCH_CLIENT", [4] = "NOT_DELIVERED", [5] = "TOO_LARGE",
  [6] = "RATE_LIMITED", [7] = "SERVER_FULL", [8] = "UNSUPPORTED_VERSION",
  [9] = "BAD_FRAME", [10] = "IDLE_TIMEOUT", [11] = "SENDQ_EXCEEDED",
  [12] = "NO_SUCH_MESSAGE", [13] = "AUTH_REQUIRED", [14] = "AUTH_FAILED",
  [15] = "ENCRYPTION_REQUIRED", [16] = "NICK_IN_USE",
  [17] = "TOO_MANY_CONNECTIONS", [255] = "INTERNAL",
}
local STATUS_OK = 0
local STATUS_NOT_DELIVERED = 4
local EVENT_NAMES = { [1] = "JOINED", [2] = "LEFT", [3] = "RENAMED" }
local EVENT_LEFT = 2
local REASON_NAMES = {
  [0] = "BYE", [1] = "CLOSED", [2] = "IDLE_TIMEOUT", [3] = "PROTOCOL_ERROR",
  [4] = "SENDQ_EXCEEDED", [5] = "SERVER_SHUTDOWN", [6] = "NODE_DOWN",
}
local FAMILY_NAMES = { [4] = "IPv4", [6] = "IPv6" }

-- ---------------------------------------------------------------------------
-- Fields.

local F = {
  magic = ProtoField.uint16("sockchat.magic", "Magic", base.HEX),
  version = ProtoField.uint8("sockchat.version", "Version", base.DEC),
  kind = ProtoField.uint8("sockchat.kind", "Kind", base.DEC, KIND_NAMES),
  type = ProtoField.uint8("sockchat.type", "Type", base.DEC, TYPE_NAMES),
  status = ProtoField.uint8("sockchat.status", "Status", base.DEC, STATUS_NAMES),
  reserved = ProtoField.uint16("sockchat.reserved", "Reserved", base.HEX),
  id = ProtoField.uint32("sockchat.id", "Id", base.DEC),
  length = ProtoField.uint32("sockchat.length", "Payload length", base.DEC),

  request_in = ProtoField.framenum("sockchat.request_in", "Request in frame",
                                   base.NONE, frametype.REQUEST),
  response_in = ProtoField.framenum("sockchat.response_in", "Response in frame",
                                    base.NONE, frametype.RESPONSE),
  response_time = ProtoField.relative_time("sockchat.response_time", "Response time"),

  text = ProtoField.string("sockchat.text", "Text", base.UNICODE),
  error_text = ProtoField.string("sockchat.error_text", "Error text", base.UNICODE),
  message_id = ProtoField.uint32("sockchat.message_id", "Message id", base.DEC),
  nick = ProtoField.string("sockchat.nick", "Nick", base.UNICODE),
  name = ProtoField.string("sockchat.name", "Server name", base.UNICODE),
  payload = ProtoField.bytes("sockchat.payload", "Payload"),
  trailing = ProtoField.bytes("sockchat.trailing", "Trailing bytes"),

  hello_client_id = ProtoField.uint32("sockchat.hello.client_id", "Your client id", base.DEC),
  hello_heartbeat = ProtoField.uint16("sockchat.hello.heartbeat", "Heartbeat interval (s)", base.DEC),
  hello_idle_timeout = ProtoField.uint16("sockchat.hello.idle_timeout", "Idle timeout (s)", base.DEC),
  hello_delivery_timeout = ProtoField.uint16("sockchat.hello.delivery_timeout",
                                             "Delivery timeout (s)", base.DEC),
  hello_max_payload = ProtoField.uint32("sockchat.hello.max_payload", "Max request payload (bytes)", base.DEC),
  hello_server_name = ProtoField.string("sockchat.hello.server_name", "Server name", base.UNICODE),
  hello_flags = ProtoField.uint8("sockchat.hello.flags", "Flags", base.HEX),
  hello_sign_in_required = ProtoField.bool("sockchat.hello.flags.sign_in_required",
                                           "Sign-in required", 8, { "yes", "no" }, 0x01),
  hello_encrypted = ProtoField.bool("sockchat.hello.flags.encrypted", "Encrypted (TLS)", 8,
                                    { "yes", "no" }, 0x02),
  hello_clustered = ProtoField.bool("sockchat.hello.flags.clustered", "Clustered", 8,
                                    { "yes", "no" }, 0x04),
  hello_extension = ProtoField.bytes("sockchat.hello.extension", "Later-edition fields (ignored)"),

  auth_account = ProtoField.string("sockchat.auth.account", "Account name", base.UNICODE),
  auth_password = ProtoField.string("sockchat.auth.password", "Password", base.UNICODE),

  time_us = ProtoField.absolute_time("sockchat.time.us", "Server time", base.UTC),
  time_utc_offset = ProtoField.int32("sockchat.time.utc_offset", "UTC offset (s)", base.DEC),
  time_zone = ProtoField.string("sockchat.time.zone", "Time zone", base.UNICODE),

  list_count = ProtoField.uint32("sockchat.list.count", "Client count", base.DEC),

  entry = ProtoField.none("sockchat.entry", "Client"),
  entry_id = ProtoField.uint32("sockchat.entry.id", "Client id", base.DEC),
  entry_connected_at = ProtoField.absolute_time("sockchat.entry.connected_at", "Connected at", base.UTC),
  entry_nick = ProtoField.string("sockchat.entry.nick", "Nick", base.UNICODE),

  send_target = ProtoField.uint32("sockchat.send.target", "Target client id", base.DEC),

  message_sender = ProtoField.uint32("sockchat.message.sender", "Sender client id", base.DEC),
  message_nick = ProtoField.string("sockchat.message.nick", "Sender nick", base.UNICODE),
  message_sent_at = ProtoField.absolute_time("sockchat.message.sent_at", "Sent at", base.UTC),

  presence_event = ProtoField.uint8("sockchat.presence.event", "Event", base.DEC, EVENT_NAMES),
  presence_reason = ProtoField.uint8("sockchat.presence.reason", "Reason", base.DEC, REASON_NAMES),

  ack_message_id = ProtoField.uint32("sockchat.ack.message_id", "Acknowledged message id", base.DEC),
  subscribe_flags = ProtoField.uint8("sockchat.subscribe.flags", "Flags", base.HEX),
  subscribe_presence = ProtoField.bool("sockchat.subscribe.presence", "Presence events", 8,
                                       { "subscribed", "not subscribed" }, 0x01),
  ping_data = ProtoField.bytes("sockchat.ping.data", "Data"),
  shutdown_reason = ProtoField.string("sockchat.shutdown.reason", "Reason", base.UNICODE),
}

-- An `addr` (in an entry and in MESSAGE): one "IP:port" item with its parts
-- below it, named after its owner: sockchat.<owner>.addr, .family, ...
local function addr_fields(owner, label)
  local p = "sockchat." .. owner .. "."
  return {
    addr = ProtoField.string(p .. "addr", label),
    family = ProtoField.uint8(p .. "family", "Family", base.DEC, FAMILY_NAMES),
    ip4 = ProtoField.ipv4(p .. "ip4", "IPv4 address"),
    ip6 = ProtoField.ipv6(p .. "ip6", "IPv6 address"),
    port = ProtoField.uint16(p .. "port", "Port", base.DEC),
  }
end
local ENTRY_ADDR_FIELDS = addr_fields("entry", "Address")
local MESSAGE_ADDR_FIELDS = addr_fields("message", "Sender address")

local field_list = {}
for _, set in ipairs({ F, ENTRY_ADDR_FIELDS, MESSAGE_ADDR_FIELDS }) do
  for _, f in pairs(set) do field_list[#field_list + 1] = f end
end
sockchat.fields = field_list

-- ---------------------------------------------------------------------------
-- Expert info.

local function malformed(name, text)
  return ProtoExpert.new("sockchat.expert." .. name, text,
                         expert.group.MALFORMED, expert.severity.ERROR)
end

local E = {
  bad_magic = malformed("bad_magic", "Bad magic (not \"SC\"); the peer closes the connection"),
  bad_version = malformed("bad_version", "Unsupported protocol version"),
  bad_kind = malformed("bad_kind", "Kind is not REQUEST, RESPONSE or INDICATION"),
  too_large = malformed("too_large", "Payload length above the protocol maximum (16 MiB)"),
  short_payload = malformed("short_payload", "Payload too short for its type"),
  trailing_bytes = malformed("trailing_bytes", "Trailing bytes after the payload"),
  bad_utf8 = malformed("bad_utf8", "Text is not valid UTF-8"),
  bad_addr = malformed("bad_addr", "Address family is neither 4 nor 6"),
  empty_text = malformed("empty_text", "Message text is empty"),
  bad_nick = ProtoExpert.new("sockchat.expert.bad_nick", "Nick breaks the nick rules",
                             expert.group.PROTOCOL, expert.severity.WARN),
  bad_password = ProtoExpert.new("sockchat.expert.bad_password", "Password is not 1-255 bytes",
                                 expert.group.PROTOCOL, expert.severity.WARN),
  unknown_type = ProtoExpert.new("sockchat.expert.unknown_type", "Type unknown for this kind",
                                 expert.group.PROTOCOL, expert.severity.WARN),
  bad_status = ProtoExpert.new("sockchat.expert.bad_status", "Status must be 0 in this frame",
                               expert.group.PROTOCOL, expert.severity.WARN),
  error_response = ProtoExpert.new("sockchat.expert.error_response", "Request failed",
                                   expert.group.RESPONSE_CODE, expert.severity.NOTE),
  error_indication = ProtoExpert.new("sockchat.expert.error_indication",
                                     "Server reports an error and closes the connection",
                                     expert.group.RESPONSE_CODE, expert.severity.WARN),
}

local expert_list = {}
for _, e in pairs(E) do expert_list[#expert_list + 1] = e end
sockchat.experts = expert_list

-- ---------------------------------------------------------------------------
-- Text rules (the same as common/codec.cpp's valid_utf8 and check_nick).

-- Length of the well-formed UTF-8 sequence starting at byte i of s, and its
-- code point; nil for an ill-formed one (overlong, surrogate, > U+10FFFF).
local function utf8_sequence(s, i)
  local c = s:byte(i)
  if c < 0x80 then return 1, c end
  local len, cp, lo, hi = 0, 0, 0x80, 0xBF
  if c >= 0xC2 and c <= 0xDF then len, cp = 2, c - 0xC0
  elseif c >= 0xE0 and c <= 0xEF then len, cp = 3, c - 0xE0
  elseif c >= 0xF0 and c <= 0xF4 then len, cp = 4, c - 0xF0
  else return nil end
  if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F
  elseif c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
  if i + len - 1 > #s then return nil end
  for k = 1, len - 1 do
    local b = s:byte(i + k)
    if k == 1 and (b < lo or b > hi) then return nil end
    if b < 0x80 or b > 0xBF then return nil end
    cp = cp * 64 + (b - 0x80)
  end
  return len, cp
end

-- The code points of s, or nil when s is not valid UTF-8.
local function utf8_code_points(s)
  local cps, i = {}, 1
  while i <= #s do
    local len, cp = utf8_sequence(s, i)
    if not len then return nil end
    cps[#cps + 1] = cp
    i = i + len
  end
  return cps
end

local function is_control(cp)
  return cp < 0x20 or (cp >= 0x7F and cp <= 0x9F)
end

-- Unicode White_Space.
local function is_whitespace(cp)
  return (cp >= 0x09 and cp <= 0x0D) or cp == 0x20 or cp == 0x85 or cp == 0xA0
      or cp == 0x1680 or (cp >= 0x2000 and cp <= 0x200A) or cp == 0x2028
      or cp == 0x2029 or cp == 0x202F or cp == 0x205F or cp == 0x3000
end

-- Why a nick (or an account name: `what`) breaks the rules, or nil when it
-- is fine.
local function nick_problem(s, what)
  what = what or "nick"
  if #s == 0 then return what .. " is empty" end
  if #s > MAX_NICK_BYTES then return what .. " is longer than 32 bytes" end
  local cps = utf8_code_points(s)
  if not cps then return what .. " is not valid UTF-8" end
  for _, cp in ipairs(cps) do
    if is_control(cp) then return what .. " contains a control character" end
    if is_whitespace(cp) then return what .. " contains whitespace" end
  end
  return nil
end

-- ---------------------------------------------------------------------------
-- Formatting.

local function hex_escape(c)
  return string.format("\\x%02x", c:byte())
end

-- Peer bytes made safe for a label that tshark prints to a terminal: C0,
-- DEL and C1 controls escaped; all non-ASCII escaped when not UTF-8.
local function printable(s)
  if not utf8_code_points(s) then return (s:gsub("[^\32-\126]", hex_escape)) end
  s = s:gsub("[%z\1-\31\127]", hex_escape)
  return (s:gsub("\194([\128-\159])", function(c) return string.format("\\u%04x", c:byte()) end))
end

local function format_ip6(range)
  local groups = {}
  for k = 0, 7 do groups[k + 1] = range(k * 2, 2):uint() end
  -- RFC 5952: the longest run (of two or more) of zero groups becomes "::".
  local best_at, best_len, at, len = 0, 0, 0, 0
  for k = 1, 8 do
    if groups[k] == 0 then
      if len == 0 then at = k end
      len = len + 1
      if len > best_len then best_at, best_len = at, len end
    else
      len = 0
    end
  end
  local parts = {}
  for k = 1, 8 do parts[k] = string.format("%x", groups[k]) end
  if best_len < 2 then return table.concat(parts, ":") end
  local head = table.concat(parts, ":", 1, best_at - 1)
  local tail = table.concat(parts, ":", best_at + best_len, 8)
  return head .. "::" .. tail
end

-- Microseconds since the epoch (an i64 range) as an NSTime.
-- Int64 arithmetic keeps every microsecond (a double would not beyond
-- 2^53); its / and % truncate toward zero like C's.
local function nstime_from_us(range)
  local us = range:int64()
  local secs, rem = us / 1000000, us % 1000000
  if rem < Int64(0) then secs, rem = secs - 1, rem + 1000000 end
  return NSTime(secs:tonumber(), rem:tonumber() * 1000)
end

local function format_utc_offset(seconds)
  local sign = seconds < 0 and "-" or "+"
  local a = math.abs(seconds)
  return string.format("UTC%s%02d:%02d", sign, math.floor(a / 3600), math.floor(a % 3600 / 60))
end

-- ---------------------------------------------------------------------------
-- Payload reader: a cursor over one frame's payload that flags a short
-- payload once and then makes every later read fail, so a decoder can read
-- field after field without checking each one.

local Reader = {}
Reader.__index = Reader

local function new_reader(tvb, tree, first, stop)
  return setmetatable({ tvb = tvb, tree = tree, off = first, stop = stop, bad = false }, Reader)
end

function Reader:left()
  return self.stop - self.off
end

-- True when n more bytes are there; otherwise flags the payload as short.
function Reader:need(n, what)
  if self.bad then return false end
  if self:left() >= n then return true end
  self.bad = true
  local msg = string.format("Short payload: %s needs %d bytes, %d left", what, n, self:left())
  if self:left() > 0 then
    self.tree:add_tvb_expert_info(E.short_payload, self.tvb(self.off, self:left()), msg)
  else
    self.tree:add_proto_expert_info(E.short_payload, msg)
  end
  return false
end

-- Takes n bytes; returns their range, or nil when the payload is short.
function Reader:take(n, what)
  if not self:need(n, what) then return nil end
  local r = self.tvb(self.off, n)
  self.off = self.off + n
  return r
end

-- Adds an integer field of n bytes; returns the item and the value.
function Reader:add_uint(tree, field, n, what)
  local r = self:take(n, what)
  if not r then return nil end
  return tree:add(field, r), r:uint()
end

function Reader:add_time(tree, field, what)
  local r = self:take(8, what)
  if not r then return nil end
  return tree:add(field, r, nstime_from_us(r))
end

-- Adds a UTF-8 string field over `range` (nil or empty: the string is
-- empty and `anchor` is highlighted instead); flags invalid UTF-8.
local function add_utf8(tree, field, range, anchor)
  if not range or range:len() == 0 then
    return tree:add(field, anchor, ""), ""
  end
  local raw = range:raw()
  local item = tree:add_packet_field(field, range, ENC_UTF_8)
  if not utf8_code_points(raw) then
    item:add_tvb_expert_info(E.bad_utf8, range)
  end
  return item, raw
end

-- str8: u8 length, then that many UTF-8 bytes.
function Reader:add_str8(tree, field, what)
  local lr = self:take(1, what .. " length")
  if not lr then return nil end
  local r = self:take(lr:uint(), what)
  if not r then return nil end
  return add_utf8(tree, field, r, lr)
end

-- text: the rest of the payload.
function Reader:add_text(tree, field)
  if self:left() == 0 then return add_utf8(tree, field, nil, self.tvb(self.off, 0)) end
  return add_utf8(tree, field, self:take(self:left(), "text"))
end

-- Flags bytes after the payload a type defines.
function Reader:finish()
  if self.bad or self:left() == 0 then return end
  local r = self.tvb(self.off, self:left())
  local item = self.tree:add(F.trailing, r)
  item:add_tvb_expert_info(E.trailing_bytes, r,
                           string.format("%d trailing bytes after the payload", r:len()))
end

-- addr: u8 family, 4 or 16 address bytes, u16 port.  Shown as one item
-- "IP:port" with the parts below it.  Returns the "IP:port" text.
function Reader:add_addr(tree, fields)
  local start = self.off
  local fr = self:take(1, "address family")
  if not fr then return nil end
  local family = fr:uint()
  local size = family == 4 and 4 or (family == 6 and 16 or nil)
  if not size then
    self.bad = true
    tree:add(fields.family, fr):add_tvb_expert_info(E.bad_addr, fr)
    return nil
  end
  local ipr = self:take(size, "address")
  local pr = self:take(2, "port")
  if not pr then return nil end
  local ip = family == 4 and tostring(ipr:ipv4()) or format_ip6(ipr)
  local text = family == 4 and (ip .. ":" .. pr:uint()) or ("[" .. ip .. "]:" .. pr:uint())
  local item = tree:add(fields.addr, self.tvb(start, self.off - start), text)
  item:add(fields.family, fr)
  item:add(family == 4 and fields.ip4 or fields.ip6, ipr)
  item:add(fields.port, pr)
  return text
end

-- entry: u32 id, addr, i64 connected-at, str8 nick; one subtree per client.
function Reader:add_entry(tree)
  local start = self.off
  local item = tree:add(F.entry, self.tvb(start, math.min(self:left(), 4)))
  local _, id = self:add_uint(item, F.entry_id, 4, "client id")
  local addr = self:add_addr(item, ENTRY_ADDR_FIELDS)
  self:add_time(item, F.entry_connected_at, "connected-at")
  local nick_item, nick = self:add_str8(item, F.entry_nick, "nick")
  local why = nick_item and nick ~= "" and nick_problem(nick)
  if why then nick_item:add_proto_expert_info(E.bad_nick, "Bad nick: " .. why) end
  if self.off > start then item:set_len(self.off - start) end
  item:set_text(string.format("Client %s, %s, nick \"%s\"", tostring(id or "?"),
                              addr or "?", printable(nick or "")))
end

-- ---------------------------------------------------------------------------
-- Payload decoders, one per layout.  Each reads with `r` and may flag.

local function decode_empty(_) end

local function decode_time_reply(r)
  r:add_time(r.tree, F.time_us, "server time")
  local item, offset = r:add_uint(r.tree, F.time_utc_offset, 4, "UTC offset")
  if item then
    local signed = offset >= 0x80000000 and offset - 0x100000000 or offset
    item:append_text(" (" .. format_utc_offset(signed) .. ")")
  end
  r:add_str8(r.tree, F.time_zone, "time zone")
end

local function decode_name_reply(r)
  r:add_text(r.tree, F.name)
end

local function decode_list_reply(r)
  local item, count = r:add_uint(r.tree, F.list_count, 4, "count")
  if not item then return end
  for _ = 1, count do
    if r.bad then return end
    r:add_entry(r.tree)
  end
end

local function decode_message_id(r)
  r:add_uint(r.tree, F.message_id, 4, "message id")
end

local function decode_send_request(r)
  r:add_uint(r.tree, F.send_target, 4, "target id")
  if r.bad then return end
  local item, text = r:add_text(r.tree, F.text)
  if text == "" then item:add_proto_expert_info(E.empty_text) end
end

local function decode_ping(r)
  if r:left() > 0 then r.tree:add(F.ping_data, r:take(r:left(), "data")) end
end

local function decode_nick_request(r)
  local item, nick = r:add_text(r.tree, F.nick)
  local why = nick_problem(nick)
  if why then item:add_proto_expert_info(E.bad_nick, "Bad nick: " .. why) end
end

local function decode_ack(r)
  local item, id = r:add_uint(r.tree, F.ack_message_id, 4, "message id")
  if item then
    -- So that sockchat.message_id finds a message's whole life.
    local hidden = r.tree:add(F.message_id, r.tvb(r.off - 4, 4), id)
    hidden:set_hidden()
  end
end

local function decode_subscribe(r)
  local item = r:add_uint(r.tree, F.subscribe_flags, 1, "flags")
  if item then item:add(F.subscribe_presence, r.tvb(r.off - 1, 1)) end
end

local function decode_hello(r)
  r:add_uint(r.tree, F.hello_client_id, 4, "client id")
  r:add_uint(r.tree, F.hello_heartbeat, 2, "heartbeat interval")
  r:add_uint(r.tree, F.hello_idle_timeout, 2, "idle timeout")
  r:add_uint(r.tree, F.hello_delivery_timeout, 2, "delivery timeout")
  r:add_uint(r.tree, F.hello_max_payload, 4, "max payload")
  r:add_str8(r.tree, F.hello_server_name, "server name")
  -- Second edition: a flags byte, absent from a first-edition HELLO (that is
  -- flags 0, not a short payload); bytes after it belong to a later edition
  -- and are shown, not flagged.
  if r.bad or r:left() == 0 then return end
  local item = r:add_uint(r.tree, F.hello_flags, 1, "flags")
  local fr = r.tvb(r.off - 1, 1)
  item:add(F.hello_sign_in_required, fr)
  item:add(F.hello_encrypted, fr)
  item:add(F.hello_clustered, fr)
  if r:left() > 0 then r.tree:add(F.hello_extension, r:take(r:left(), "extension")) end
end

-- An account name (str8), checked by the nick rules.
local function add_account(r)
  local item, account = r:add_str8(r.tree, F.auth_account, "account name")
  local why = item and nick_problem(account, "account name")
  if why then item:add_proto_expert_info(E.bad_nick, "Bad account name: " .. why) end
end

local function decode_auth_request(r)
  add_account(r)
  if r.bad then return end
  local item, password = r:add_text(r.tree, F.auth_password)
  if #password == 0 or #password > MAX_PASSWORD_BYTES then
    item:add_proto_expert_info(E.bad_password,
      string.format("Password of %d bytes; it must have 1 to %d", #password, MAX_PASSWORD_BYTES))
  end
end

local function decode_message(r)
  r:add_uint(r.tree, F.message_sender, 4, "sender id")
  r:add_addr(r.tree, MESSAGE_ADDR_FIELDS)
  r:add_str8(r.tree, F.message_nick, "sender nick")
  r:add_time(r.tree, F.message_sent_at, "sent-at")
  if not r.bad then r:add_text(r.tree, F.text) end
end

local function decode_presence(r)
  local _, event = r:add_uint(r.tree, F.presence_event, 1, "event")
  local item, reason = r:add_uint(r.tree, F.presence_reason, 1, "reason")
  if item and event ~= EVENT_LEFT then
    -- 0 means BYE only in a LEFT event.
    item:set_text(string.format("Reason: none (%d, only LEFT has one)", reason))
    if reason ~= 0 then
      item:add_proto_expert_info(E.bad_status, "Reason must be 0 unless the event is LEFT")
    end
  end
  if not r.bad then r:add_entry(r.tree) end
end

local function decode_shutdown(r)
  r:add_text(r.tree, F.shutdown_reason)
end

local function decode_error_text(r)
  r:add_text(r.tree, F.error_text)
end

local function decode_not_delivered(r)
  r:add_uint(r.tree, F.message_id, 4, "message id")
  if not r.bad then r:add_text(r.tree, F.error_text) end
end

local function decode_unknown(r)
  if r:left() > 0 then r.tree:add(F.payload, r:take(r:left(), "payload")) end
end

local REQUEST_DECODERS = {
  [TYPE.TIME] = decode_empty, [TYPE.NAME] = decode_empty, [TYPE.LIST] = decode_empty,
  [TYPE.SEND] = decode_send_request, [TYPE.PING] = decode_ping,
  [TYPE.NICK] = decode_nick_request, [TYPE.ACK] = decode_ack,
  [TYPE.SUBSCRIBE] = decode_subscribe, [TYPE.BYE] = decode_empty,
  [TYPE.AUTH] = decode_auth_request,
}
local OK_RESPONSE_DECODERS = {
  [TYPE.TIME] = decode_time_reply, [TYPE.NAME] = decode_name_reply,
  [TYPE.LIST] = decode_list_reply, [TYPE.SEND] = decode_message_id,
  [TYPE.PING] = decode_ping, [TYPE.NICK] = decode_empty, [TYPE.ACK] = decode_empty,
  [TYPE.SUBSCRIBE] = decode_empty, [TYPE.BYE] = decode_empty,
  [TYPE.AUTH] = add_account,
}
local INDICATION_DECODERS = {
  [TYPE.HELLO] = decode_hello, [TYPE.MESSAGE] = decode_message,
  [TYPE.PRESENCE] = decode_presence, [TYPE.SHUTDOWN] = decode_shutdown,
  [TYPE.ERROR] = decode_error_text,
}

-- The decoder for a frame's payload; nil when the type is unknown for
-- its kind.
local function payload_decoder(kind, type_, status)
  if kind == KIND.REQUEST then return REQUEST_DECODERS[type_] end
  if kind == KIND.INDICATION then return INDICATION_DECODERS[type_] end
  if kind ~= KIND.RESPONSE then return nil end
  if status == STATUS_OK then return OK_RESPONSE_DECODERS[type_] end
  if status == STATUS_NOT_DELIVERED and type_ == TYPE.SEND then return decode_not_delivered end
  -- Every failed response carries a text, also one to an unknown type.
  return decode_error_text
end

-- ---------------------------------------------------------------------------
-- Request/response links.  The first pass remembers, per TCP stream, the
-- frame of each request still waiting for its response (keyed by type and
-- id) and records both directions of each match; later passes only read.

local f_tcp_stream = Field.new("tcp.stream")

local pending = {}   -- "stream:type:id" -> { frame = n, ts = NSTime }
local links = {}     -- "req|resp:frame:type:id" -> { frame = n, delta = NSTime }

function sockchat.init()
  pending = {}
  links = {}
end

local function stream_of(_)
  local s = f_tcp_stream()
  return s and tostring(s.value) or "-"
end

local function remember_link(pinfo, kind, type_, id)
  local key = string.format("%s:%d:%d", stream_of(pinfo), type_, id)
  if kind == KIND.REQUEST then
    pending[key] = { frame = pinfo.number, ts = pinfo.abs_ts }
    return
  end
  local req = pending[key]
  if not req then return end
  pending[key] = nil
  -- abs_ts is a double (about 0.2 us resolution today): keep whole us.
  local us = math.max(0, math.floor((pinfo.abs_ts - req.ts) * 1e6 + 0.5))
  local delta = NSTime(math.floor(us / 1e6), (us % 1000000) * 1000)
  links[string.format("resp:%d:%d:%d", pinfo.number, type_, id)] = { frame = req.frame, delta = delta }
  links[string.format("req:%d:%d:%d", req.frame, type_, id)] = { frame = pinfo.number }
end

local function add_links(pinfo, tree, kind, type_, id)
  if kind ~= KIND.REQUEST and kind ~= KIND.RESPONSE then return end
  if not pinfo.visited then remember_link(pinfo, kind, type_, id) end
  local side = kind == KIND.REQUEST and "req" or "resp"
  local link = links[string.format("%s:%d:%d:%d", side, pinfo.number, type_, id)]
  if not link then return end
  if kind == KIND.REQUEST then
    tree:add(F.response_in, link.frame):set_generated()
  else
    tree:add(F.request_in, link.frame):set_generated()
    tree:add(F.response_time, link.delta):set_generated()
  end
end

-- ---------------------------------------------------------------------------
-- One frame.

-- "TIME request id=1", "SEND response NOT_DELIVERED id=5",
-- "MESSAGE indication id=1001", "ERROR indication BAD_FRAME" (PRESENCE
-- adds presence_summary()).
local function summary(kind, type_, status, id)
  local tname = TYPE_NAMES[type_] or string.format("type %d", type_)
  local kname = (KIND_NAMES[kind] or string.format("kind %d", kind)):lower()
  local s = tname .. " " .. kname
  if kind == KIND.RESPONSE or (kind == KIND.INDICATION and type_ == TYPE.ERROR) then
    s = s .. " " .. (STATUS_NAMES[status] or tostring(status))
  end
  if kind ~= KIND.INDICATION or id ~= 0 then s = s .. " id=" .. id end
  return s
end

-- " JOINED client=7" for a PRESENCE indication long enough to say it.
local function presence_summary(tvb)
  if tvb:len() < HEADER_SIZE + 6 then return "" end
  local event = tvb(HEADER_SIZE, 1):uint()
  return string.format(" %s client=%d", EVENT_NAMES[event] or tostring(event),
                       tvb(HEADER_SIZE + 2, 4):uint())
end

-- Several frames can end in one packet: the first sets the Info column,
-- later ones append.  pinfo.private lives for one dissection of one packet.
local function add_info(pinfo, text)
  if pinfo.private["sockchat_frames"] then
    pinfo.cols.info:append(", " .. text)
  else
    pinfo.cols.protocol = "sockchat"
    pinfo.cols.info = text
  end
  pinfo.private["sockchat_frames"] = "1"
end

local function add_header(tree, tvb)
  tree:add(F.magic, tvb(0, 2))
  tree:add(F.version, tvb(2, 1))
  local kind_item = tree:add(F.kind, tvb(3, 1))
  tree:add(F.type, tvb(4, 1))
  local status_item = tree:add(F.status, tvb(5, 1))
  tree:add(F.reserved, tvb(6, 2))
  tree:add(F.id, tvb(8, 4))
  tree:add(F.length, tvb(12, 4))
  return kind_item, status_item
end

-- Flags what the header says about the frame as a whole.
local function check_header(tvb, kind_item, status_item, decoder)
  local kind, type_, status = tvb(3, 1):uint(), tvb(4, 1):uint(), tvb(5, 1):uint()
  if not KIND_NAMES[kind] then kind_item:add_proto_expert_info(E.bad_kind) end
  if KIND_NAMES[kind] and not decoder then
    kind_item:add_proto_expert_info(E.unknown_type,
      string.format("Type %d is unknown for a %s", type_, KIND_NAMES[kind]))
  end
  local status_carrier = kind == KIND.RESPONSE or (kind == KIND.INDICATION and type_ == TYPE.ERROR)
  if status ~= 0 and not status_carrier then
    status_item:add_proto_expert_info(E.bad_status)
  elseif status ~= 0 and kind == KIND.RESPONSE then
    status_item:add_proto_expert_info(E.error_response,
      "Request failed: " .. (STATUS_NAMES[status] or tostring(status)))
  elseif kind == KIND.INDICATION and type_ == TYPE.ERROR then
    status_item:add_proto_expert_info(E.error_indication,
      "Server error " .. (STATUS_NAMES[status] or tostring(status)) .. "; connection closes")
  end
end

-- Dissects one complete frame (header and payload) in tvb.
local function dissect_frame(tvb, pinfo, tree)
  local kind, type_, status, id = tvb(3, 1):uint(), tvb(4, 1):uint(), tvb(5, 1):uint(), tvb(8, 4):uint()
  local text = summary(kind, type_, status, id)
  if kind == KIND.INDICATION and type_ == TYPE.PRESENCE then text = text .. presence_summary(tvb) end
  add_info(pinfo, text)
  local t = tree:add(sockchat, tvb(), "sockchat, " .. text)
  local kind_item, status_item = add_header(t, tvb)
  if kind == KIND.INDICATION and type_ == TYPE.MESSAGE then
    t:add(F.message_id, tvb(8, 4)):set_generated()
  end
  add_links(pinfo, t, kind, type_, id)
  local decoder = payload_decoder(kind, type_, status)
  check_header(tvb, kind_item, status_item, decoder)
  local r = new_reader(tvb, t, HEADER_SIZE, tvb:len())
  ;(decoder or decode_unknown)(r)
  r:finish()
end

-- ---------------------------------------------------------------------------
-- The byte stream: split into frames, reassemble across segments.

-- What is wrong with the header bytes present at `offset` (up to 16), or nil.
local function header_violation(tvb, offset, avail)
  if tvb(offset, 1):uint() ~= 0x53 or (avail >= 2 and tvb(offset + 1, 1):uint() ~= 0x43) then
    return E.bad_magic, "Bad magic"
  end
  if avail >= 3 and tvb(offset + 2, 1):uint() ~= VERSION then
    return E.bad_version, string.format("Unsupported version %d", tvb(offset + 2, 1):uint())
  end
  if avail >= HEADER_SIZE and tvb(offset + 12, 4):uint() > MAX_PAYLOAD then
    return E.too_large, string.format("Payload length %u is above the 16 MiB maximum",
                                      tvb(offset + 12, 4):uint())
  end
  return nil
end

-- Shows bytes that cannot be framed: the header fields that are there, the
-- rest as undecoded payload, all flagged.
local function dissect_broken(tvb, pinfo, tree, expert_info, why)
  add_info(pinfo, why)
  local t = tree:add(sockchat, tvb(), "sockchat, " .. why)
  if tvb:len() >= HEADER_SIZE then
    add_header(t, tvb)
    if tvb:len() > HEADER_SIZE then
      t:add(F.payload, tvb(HEADER_SIZE, tvb:len() - HEADER_SIZE))
    end
  else
    t:add(F.payload, tvb())
  end
  t:add_tvb_expert_info(expert_info, tvb(0, math.min(tvb:len(), HEADER_SIZE)), why)
end

function sockchat.dissector(tvb, pinfo, tree)
  local total = tvb:len()
  local offset = 0
  while offset < total do
    local avail = total - offset
    local expert_info, why = header_violation(tvb, offset, avail)
    if expert_info then
      dissect_broken(tvb(offset):tvb(), pinfo, tree, expert_info, why)
      return total
    end
    if avail < HEADER_SIZE then
      -- Not "16 - avail": TCP then hands over exactly that many bytes, and
      -- a payload in the rest of the same segment would be lost.
      pinfo.desegment_offset = offset
      pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
      return total
    end
    local size = HEADER_SIZE + tvb(offset + 12, 4):uint()
    if avail < size then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = size - avail
      return total
    end
    dissect_frame(tvb(offset, size):tvb(), pinfo, tree)
    offset = offset + size
  end
  return total
end

local tcp_port = DissectorTable.get("tcp.port")
tcp_port:add(DEFAULT_PORT, sockchat)
tcp_port:add_for_decode_as(sockchat)

-- sockchat over TLS (implicit TLS, the handshake first): TCP port 2556 goes
-- to the TLS dissector, which hands what it decrypts on that port, or on a
-- connection that negotiated our ALPN, back to us.  "Decode As" on tls.port
-- covers other ports.
-- Both lookups raise an error when Wireshark lacks what they name.
local has_tls, tls = pcall(Dissector.get, "tls")
if has_tls then tcp_port:add(DEFAULT_TLS_PORT, tls) end
local has_tls_port, tls_port = pcall(DissectorTable.get, "tls.port")
if has_tls_port then
  tls_port:add(DEFAULT_TLS_PORT, sockchat)
  tls_port:add_for_decode_as(sockchat)
end
local has_tls_alpn, tls_alpn = pcall(DissectorTable.get, "tls.alpn")
if has_tls_alpn then tls_alpn:add(ALPN, sockchat) end
