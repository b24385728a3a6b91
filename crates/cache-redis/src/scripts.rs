//! The Lua scripts behind the atomic operations.
//!
//! Each runs as one indivisible step on the server (`EVALSHA`; redis-rs's
//! [`redis::Script`] loads the script and retries once on `NOSCRIPT`, which is
//! safe because `NOSCRIPT` means nothing ran). Every script touches exactly one
//! key, declared in `KEYS`, so it runs unchanged on a cluster. Times come from
//! the server (`TIME`, `PTTL`), never from the client's clock.

use std::sync::LazyLock;

use redis::Script;

/// `get_or_set` for servers older than 7.0 (no `SET ... NX GET`): the value
/// now stored and whether this call stored it.
///
/// KEYS[1] = key; ARGV[1] = value, ARGV[2] = TTL in ms.
pub(crate) static GET_OR_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if current then
  return {current, 0}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], 1}
",
    )
});

/// `compare_and_set` with an expected value: replaces the value and TTL only
/// if the current value is exactly ARGV[1] (an absent key never matches).
/// Returns 1 when it replaced.
///
/// KEYS[1] = key; ARGV[1] = expected, ARGV[2] = new value, ARGV[3] = TTL in ms.
pub(crate) static COMPARE_AND_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
",
    )
});

/// `compare_and_delete`: deletes only if the current value is exactly ARGV[1].
/// Returns 1 when it deleted.
///
/// KEYS[1] = key; ARGV[1] = expected.
pub(crate) static COMPARE_AND_DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// `set_add`: SADD (in chunks of 1,000 members: Lua's `unpack` has a
/// limit), then the TTL when the key has none, as in [`INCR_BY`]. Returns how
/// many members were new. WRONGTYPE aborts it before any write.
///
/// KEYS[1] = key; ARGV[1] = TTL in ms, ARGV[2..] = members.
pub(crate) static SET_ADD: LazyLock<Script> = LazyLock::new(|| chunked_add("SADD"));

/// `hash_set`: HSET in chunks of 500 fields, then the TTL when the key has
/// none. Returns how many fields were new.
///
/// KEYS[1] = key; ARGV[1] = TTL in ms, ARGV[2..] = field, value, field, value...
pub(crate) static HASH_SET: LazyLock<Script> = LazyLock::new(|| chunked_add("HSET"));

/// `command` (SADD or HSET) over ARGV[2..] in chunks of 1,000 arguments,
/// then ARGV[1] ms of TTL when the key has none; the sum of the replies.
fn chunked_add(command: &str) -> Script {
    Script::new(&format!(
        r"
local added = 0
for i = 2, #ARGV, 1000 do
  added = added + redis.call('{command}', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return added
"
    ))
}

/// `hash_incr_by`: HINCRBY, then the TTL when the key has none; the field
/// read back as text (Lua numbers are doubles, see [`INCR_BY`]).
///
/// KEYS[1] = key; ARGV[1] = field, ARGV[2] = delta, ARGV[3] = TTL in ms.
pub(crate) static HASH_INCR_BY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return redis.call('HGET', KEYS[1], ARGV[1])
",
    )
});

/// `incr_by`: INCRBY, then the TTL when the key has none. After INCRBY a key
/// has no TTL exactly when this call created it (or when someone else wrote it
/// without one, which the contract's "every entry expires" also wants fixed);
/// an existing counter keeps its TTL. Checking `result == delta` instead
/// would be wrong for a counter that was at 0. INCRBY's own errors ("not an
/// integer", "would overflow", WRONGTYPE) abort the script before any write.
/// The result is read back as text: Lua numbers are doubles, which would round
/// counters beyond 2^53.
///
/// KEYS[1] = key; ARGV[1] = delta, ARGV[2] = TTL in ms.
pub(crate) static INCR_BY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('GET', KEYS[1])
",
    )
});

/// Sliding-window rate limit: a log of admitted requests in a sorted set,
/// scored by server time in microseconds. Entries older than the window are
/// dropped; a request is admitted while fewer than `limit` remain, and only
/// admitted requests are logged. Scores are made strictly increasing (a
/// request in the same microsecond, or after the server clock stepped back,
/// is logged one microsecond after the newest entry), so members are unique
/// and the log never loses an entry. When denied, the wait is until enough of
/// the oldest entries leave the window for one more request to fit. Scores
/// and members are written as integer text (`%.0f`): exact, and independent
/// of how a server version formats Lua numbers.
///
/// KEYS[1] = key; ARGV[1] = limit (at most 2^53: Lua numbers are doubles),
/// ARGV[2] = window in ms. Returns {allowed (0/1), requests now counted in the
/// window, retry_after in µs}.
pub(crate) static SLIDING_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window_us))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local score = now
  if newest[2] and tonumber(newest[2]) >= score then
    score = tonumber(newest[2]) + 1
  end
  local stamp = string.format('%.0f', score)
  redis.call('ZADD', KEYS[1], stamp, stamp)
  redis.call('PEXPIRE', KEYS[1], ARGV[2] + math.ceil(math.max(0, score - now) / 1000))
  return {1, count + 1, 0}
end
local blocker = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local wait = tonumber(blocker[2]) + window_us - now
if wait < 1 then
  wait = 1
end
return {0, count, wait}
",
    )
});

/// Fixed-window rate limit: a counter that starts its window (its TTL) at the
/// first request. Denied requests do not increment it; the wait is the
/// counter's remaining TTL.
///
/// KEYS[1] = key; ARGV[1] = limit (at most 2^53), ARGV[2] = window in ms.
/// Returns {allowed (0/1), requests now counted in the window, retry_after in µs}.
pub(crate) static FIXED_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local limit = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current == nil then
  return redis.error_reply('WRONGTYPE the key does not hold a fixed-window counter')
end
if current < limit then
  local value = redis.call('INCR', KEYS[1])
  if redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return {1, value, 0}
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if ttl < 1 then
  ttl = 1
end
return {0, current, ttl * 1000}
",
    )
});
