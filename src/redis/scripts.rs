//! The Lua scripts behind each coordination operation: one round trip, atomic,
//! and every key written gets the TTL in the same script (a key never exists
//! without one, unlike the reference's unchecked INCR + EXPIRE pipeline, K12).
//!
//! Scripts take `KEYS[1]` = the key, `KEYS[2]` = its run's key index (absent
//! for keys outside a run), `ARGV[1]` = TTL seconds, `ARGV[2]` = refresh slack
//! seconds, `ARGV[3]` = the operation's argument. They touch keys listed in
//! the run index that are not in KEYS, so they need a single Redis (or
//! Sentinel), not Redis Cluster: the engine's key names carry no hash tag.

use std::sync::RwLock;

use fred::prelude::*;

/// Records `key` in its run's index and keeps the whole run alive: when the
/// index's TTL has dropped by more than the slack, every key of the run gets
/// the full TTL again (and keys that no longer exist leave the index). So a
/// join set written hours before a human answers does not expire while the
/// run is active (W22); a run's keys expire one TTL after its last write.
///
/// `index(keys)` does the same for keys that already got their TTL when written
/// (`SET ... EX`): one SADD for all of them, one TTL check.
const TOUCH: &str = r#"
local ttl = tonumber(ARGV[1])
local slack = tonumber(ARGV[2])
local function refresh(index)
  if redis.call('TTL', index) < ttl - slack then
    for _, member in ipairs(redis.call('SMEMBERS', index)) do
      if redis.call('EXPIRE', member, ttl) == 0 then
        redis.call('SREM', index, member)
      end
    end
    redis.call('EXPIRE', index, ttl)
  end
end
local function touch(key)
  redis.call('EXPIRE', key, ttl)
  local index = KEYS[2]
  if not index then return end
  redis.call('SADD', index, key)
  refresh(index)
end
local function index(keys)
  local index = KEYS[2]
  if not index or #keys == 0 then return end
  for first = 1, #keys, 1000 do
    redis.call('SADD', index, unpack(keys, first, math.min(first + 999, #keys)))
  end
  refresh(index)
end
"#;

pub const ADD_MEMBER: &str = r#"
local added = redis.call('SADD', KEYS[1], ARGV[3])
local size = redis.call('SCARD', KEYS[1])
touch(KEYS[1])
return {added, size}
"#;

pub const REMOVE_MEMBER: &str = r#"
redis.call('SREM', KEYS[1], ARGV[3])
local size = redis.call('SCARD', KEYS[1])
touch(KEYS[1])
return size
"#;

pub const CLEAR_SET: &str = r#"
redis.call('DEL', KEYS[1])
touch(KEYS[1])
return 1
"#;

/// `ARGV[3]` = member, `ARGV[4]` = expected size, `ARGV[5]` = this arrival's fired
/// marker (a key of the same run). See `CoordinationStore::arrive_at_join`.
pub const ARRIVE_AT_JOIN: &str = r#"
local added = redis.call('SADD', KEYS[1], ARGV[3])
if redis.call('EXISTS', ARGV[5]) == 1 then
  if added == 1 then redis.call('SREM', KEYS[1], ARGV[3]) end
  touch(KEYS[1])
  return 1
end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  redis.call('SET', ARGV[5], 'fired', 'EX', ttl)
  redis.call('DEL', KEYS[1])
  touch(KEYS[1])
  touch(ARGV[5])
  return 1
end
touch(KEYS[1])
return 0
"#;

pub const CLAIM_ONCE: &str = r#"
local claimed = redis.call('SET', KEYS[1], ARGV[3], 'NX', 'EX', ttl)
index({KEYS[1]})
if claimed then return 1 else return 0 end
"#;

pub const PUT: &str = r#"
redis.call('SET', KEYS[1], ARGV[3], 'EX', ttl)
index({KEYS[1]})
return 1
"#;

/// `CoordinationStore::finish_job` in one step. `KEYS[1]` = the run's outstanding set,
/// `KEYS[2]` = its index, `KEYS[3]` = the job's done marker, `KEYS[4]` = the run's
/// progress stamp, `KEYS[5..]` = the successors' work records; `ARGV[3]` = the marker,
/// `ARGV[4]` = the stamp, `ARGV[5]` = the job's own token, then the successors'
/// tokens, then their records. Answers `{claimed, tokens left}`.
pub const FINISH_JOB: &str = r#"
local claimed = redis.call('SET', KEYS[3], ARGV[3], 'NX', 'EX', ttl)
local written = {KEYS[3], KEYS[4]}
local count = #KEYS - 4
if claimed and count > 0 then
  local tokens = {}
  for i = 1, count do
    redis.call('SET', KEYS[4 + i], ARGV[5 + count + i], 'EX', ttl)
    tokens[i] = ARGV[5 + i]
    written[#written + 1] = KEYS[4 + i]
  end
  for first = 1, count, 1000 do
    redis.call('SADD', KEYS[1], unpack(tokens, first, math.min(first + 999, count)))
  end
end
redis.call('SREM', KEYS[1], ARGV[5])
redis.call('SET', KEYS[4], ARGV[4], 'EX', ttl)
local left = redis.call('SCARD', KEYS[1])
if left > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  written[#written + 1] = KEYS[1]
end
index(written)
if claimed then return {1, left} else return {0, left} end
"#;

/// `KEYS[1]` = the run's index: deletes every key it lists (one DEL per thousand), then
/// itself.
pub const FORGET_RUN: &str = r#"
local members = redis.call('SMEMBERS', KEYS[1])
for first = 1, #members, 1000 do
  redis.call('DEL', unpack(members, first, math.min(first + 999, #members)))
end
redis.call('DEL', KEYS[1])
return #members
"#;

/// `KEYS[1]` = a run's epoch, `ARGV[1]` = TTL seconds. Not in the run's index: it
/// must outlive `FORGET_RUN` (see `engine::run_state`).
pub const BUMP_EPOCH: &str = r#"
local epoch = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return epoch
"#;

/// `KEYS[1]` = a run's final claim, `ARGV[1]` = TTL seconds, `ARGV[2]` = the new claim,
/// `ARGV[3]` = the claim it may replace (or ''). Answers nil when the new claim was
/// stored, else the claim that stands. Not in the run's index: it outlives `FORGET_RUN`.
pub const CLAIM_FINAL: &str = r#"
local stored = redis.call('GET', KEYS[1])
if not stored or (ARGV[3] ~= '' and stored == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[1]))
  return false
end
return stored
"#;

/// A script run by SHA, loaded again when Redis forgot it (after a restart).
pub struct LuaScript {
    source: String,
    sha: RwLock<Option<String>>,
}

impl LuaScript {
    /// A script that uses `touch(key)`.
    pub fn touching(body: &str) -> Self {
        Self::plain(&format!("{TOUCH}{body}"))
    }

    pub fn plain(source: &str) -> Self {
        LuaScript {
            source: source.to_string(),
            sha: RwLock::new(None),
        }
    }

    pub async fn run<R: FromValue>(
        &self,
        client: &Client,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<R, Error> {
        let known = self.sha.read().ok().and_then(|sha| sha.clone());
        let sha = match known {
            Some(sha) => sha,
            None => self.load(client).await?,
        };
        match client.evalsha(sha, keys.clone(), args.clone()).await {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                let sha = self.load(client).await?;
                client.evalsha(sha, keys, args).await
            }
            result => result,
        }
    }

    async fn load(&self, client: &Client) -> Result<String, Error> {
        let sha: String = client.script_load(self.source.clone()).await?;
        if let Ok(mut slot) = self.sha.write() {
            *slot = Some(sha.clone());
        }
        Ok(sha)
    }
}
