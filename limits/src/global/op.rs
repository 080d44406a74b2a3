//! The three operations and the Lua that makes each one atomic on Redis.

use std::sync::LazyLock;

use redis::aio::MultiplexedConnection;
use redis::{RedisResult, Script, Value};

use super::lane::Outcome;
use super::{GlobalError, Grant};

/// One request, with its full Redis key.
#[derive(Debug)]
pub(super) enum Op {
    /// GCRA take; see [`TAKE`].
    Take {
        key: Vec<u8>,
        interval_ns: u64,
        tolerance_ns: u64,
        want: u64,
    },
    /// Counter increment with a first-time expiry; see [`INCR`].
    Incr { key: Vec<u8>, by: u64, ttl_ms: u64 },
    /// Counter read.
    Get { key: Vec<u8> },
    /// Quota take: at most `want` units while the counter stays within
    /// `limit`; see [`QUOTA`].
    Quota {
        key: Vec<u8>,
        limit: u64,
        want: u64,
        ttl_ms: u64,
    },
}

/// GCRA on the server's clock, in one script. The key holds the theoretical
/// arrival time (TAT) as decimal nanoseconds since the epoch; a Lua double
/// cannot hold that exactly, so the script splits it into seconds and
/// nanoseconds and does all arithmetic relative to `now`, where the numbers
/// stay far below 2^53. ARGV: interval, tolerance, want (ns, ns, units).
/// Returns {granted, retry_after_ns, reset_ns, remaining}. A request less
/// than an interval after the TAT is admitted on the TAT's schedule rather
/// than its own (as the local GCRA does), so the time requests spend on
/// their way to Redis is not lost: under steady load a key gets exactly its
/// rate. A grant of 0 leaves the key alone; otherwise it expires an
/// interval after its TAT, when it means the same as no key.
const TAKE_LUA: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_ns = tonumber(t[2]) * 1000
local base = 0
local stored = redis.call('GET', KEYS[1])
if stored and string.len(stored) > 9 then
  local tat_s = tonumber(string.sub(stored, 1, -10))
  local tat_ns = tonumber(string.sub(stored, -9))
  if tat_s and tat_ns then
    local rel = (tat_s - now_s) * 1000000000 + (tat_ns - now_ns)
    if rel > -interval then base = rel end
  end
end
local avail = math.floor((tolerance + interval - base) / interval)
if avail < 0 then avail = 0 end
local granted = math.min(want, avail)
local tat = base + granted * interval
if granted > 0 then
  local total = now_ns + tat
  local s = now_s + math.floor(total / 1000000000)
  local ns = total % 1000000000
  local ttl = math.max(1, math.ceil((tat + interval) / 1000000))
  redis.call('SET', KEYS[1], string.format('%d%09d', s, ns), 'PX', ttl)
end
local retry = 0
if granted < want then retry = math.max(0, tat - tolerance) end
return {granted, retry, tat, avail - granted}
";

/// INCRBY, then PEXPIRE only if the key has no expiry yet. ARGV: by, ttl_ms.
const INCR_LUA: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
";

/// A quota's counter: grants up to `want` units while the count stays
/// within `limit`, adding them; the first count sets the expiry (the end
/// of the quota's period). ARGV: limit, want, ttl_ms. Returns {granted,
/// retry_after_ns, reset_ns, remaining} like [`TAKE_LUA`]: when fewer
/// than wanted were granted, the wait is until the counter expires.
const QUOTA_LUA: &str = r"
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local used = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local granted = math.min(want, math.max(0, limit - used))
if granted > 0 then
  used = redis.call('INCRBY', KEYS[1], granted)
end
local pttl = redis.call('PTTL', KEYS[1])
if pttl < 0 and granted > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  pttl = ttl
end
if pttl < 0 then pttl = ttl end
local retry = 0
if granted < want then retry = pttl * 1000000 end
return {granted, retry, pttl * 1000000, math.max(0, limit - used)}
";

/// [`QUOTA_LUA`] with its SHA1.
static QUOTA: LazyLock<Script> = LazyLock::new(|| Script::new(QUOTA_LUA));

/// [`TAKE_LUA`] with its SHA1, sent as EVALSHA (loaded on NOSCRIPT).
static TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE_LUA));

/// [`INCR_LUA`] with its SHA1.
static INCR: LazyLock<Script> = LazyLock::new(|| Script::new(INCR_LUA));

/// `prefix` followed by the caller's bytes.
pub(super) fn key(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(prefix.len() + key.len());
    full.extend_from_slice(prefix);
    full.extend_from_slice(key);
    full
}

// === impl Op ===

impl Op {
    /// Runs the operation on `conn` and returns Redis's raw answer;
    /// concurrent calls on clones of one connection are pipelined.
    pub(super) async fn run(&self, conn: &mut MultiplexedConnection) -> RedisResult<Value> {
        match self {
            Op::Take {
                key,
                interval_ns,
                tolerance_ns,
                want,
            } => {
                let mut call = TAKE.key(key.as_slice());
                call.arg(*interval_ns).arg(*tolerance_ns).arg(*want);
                call.invoke_async(conn).await
            }
            Op::Incr { key, by, ttl_ms } => {
                let mut call = INCR.key(key.as_slice());
                call.arg(*by).arg(*ttl_ms);
                call.invoke_async(conn).await
            }
            Op::Quota {
                key,
                limit,
                want,
                ttl_ms,
            } => {
                let mut call = QUOTA.key(key.as_slice());
                call.arg(*limit).arg(*want).arg(*ttl_ms);
                call.invoke_async(conn).await
            }
            Op::Get { key } => {
                redis::cmd("GET")
                    .arg(key.as_slice())
                    .query_async(conn)
                    .await
            }
        }
    }

    /// Reads the answer of this operation; an unexpected shape is a
    /// `Reply` error (decoded here, so the connection is not blamed).
    pub(super) fn decode(&self, value: Value) -> Result<Outcome, GlobalError> {
        let unexpected = || GlobalError::Reply(format!("unexpected answer {value:?}"));
        match self {
            Op::Take { .. } | Op::Quota { .. } => {
                grant(&value).map(Outcome::Grant).ok_or_else(unexpected)
            }
            Op::Incr { .. } | Op::Get { .. } if value == Value::Nil => Ok(Outcome::Count(0)),
            Op::Incr { .. } | Op::Get { .. } => {
                count(&value).map(Outcome::Count).ok_or_else(unexpected)
            }
        }
    }
}

/// `{granted, retry_after_ns, reset_ns, remaining}` as a [`Grant`].
fn grant(value: &Value) -> Option<Grant> {
    let Value::Array(items) = value else {
        return None;
    };
    let [granted, retry_after_ns, reset_ns, remaining] = items.as_slice() else {
        return None;
    };
    Some(Grant {
        granted: count(granted)?,
        retry_after_ns: count(retry_after_ns)?,
        reset_ns: count(reset_ns)?,
        remaining: count(remaining)?,
    })
}

/// A counter as an integer or a decimal string; negative reads as 0.
fn count(value: &Value) -> Option<u64> {
    let n: i64 = match value {
        Value::Int(n) => *n,
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok()?,
        _ => return None,
    };
    Some(n.max(0).unsigned_abs())
}
