//! The Lua scripts behind each coordination operation: one round trip, atomic, on one
//! Redis key (the run's hash, see `run_keys`), so they work on Redis Cluster too.
//! Every script that writes renews the hash's TTL in the same step, but the finish
//! script, which may leave it to the next renewal when it proves the hash existed
//! (`renewals`): a key never exists without one (unlike the reference's unchecked
//! INCR + EXPIRE pipeline, K12), and a run's keys expire together one TTL after its
//! last write (within `renewals::RENEW_EVERY`), so a join set written hours before a
//! human answers does not expire while the run is active (W22).
//!
//! Scripts take `KEYS[1]` = the hash, `ARGV[1]` = TTL seconds, then their fields and
//! values. A set is one field per member plus a count field (`run_keys::Place`).

use std::sync::RwLock;

use fred::prelude::*;

/// Helpers shared by the set scripts.
const SETS: &str = r#"
local hash = KEYS[1]
local ttl = tonumber(ARGV[1])
local function count_of(count_field)
  return tonumber(redis.call('HGET', hash, count_field) or '0')
end
local function drop_set(prefix, count_field)
  local doomed = {count_field}
  for _, field in ipairs(redis.call('HKEYS', hash)) do
    if string.sub(field, 1, #prefix) == prefix then doomed[#doomed + 1] = field end
  end
  for first = 1, #doomed, 1000 do
    redis.call('HDEL', hash, unpack(doomed, first, math.min(first + 999, #doomed)))
  end
end
"#;

/// `ARGV[2]` = the member's field, `ARGV[3]` = the count field. Answers `{added, size}`.
pub const ADD_MEMBER: &str = r#"
local added = redis.call('HSETNX', hash, ARGV[2], '1')
local size
if added == 1 then size = redis.call('HINCRBY', hash, ARGV[3], 1) else size = count_of(ARGV[3]) end
redis.call('EXPIRE', hash, ttl)
return {added, size}
"#;

/// `ARGV[2]` = the member's field, `ARGV[3]` = the count field. Answers the size left.
pub const REMOVE_MEMBER: &str = r#"
local size
if redis.call('HDEL', hash, ARGV[2]) == 1 then
  size = redis.call('HINCRBY', hash, ARGV[3], -1)
else
  size = count_of(ARGV[3])
end
if size <= 0 then
  redis.call('HDEL', hash, ARGV[3])
  size = 0
end
redis.call('EXPIRE', hash, ttl)
return size
"#;

/// `ARGV[2]` = the members' field prefix, `ARGV[3]` = the count field.
pub const CLEAR_SET: &str = r#"
drop_set(ARGV[2], ARGV[3])
redis.call('EXPIRE', hash, ttl)
return 1
"#;

/// `ARGV[1]` = the members' field prefix (read-only: no TTL). Answers the members.
pub const MEMBERS: &str = r#"
local prefix = ARGV[1]
local members = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #prefix) == prefix then
    members[#members + 1] = string.sub(field, #prefix + 1)
  end
end
return members
"#;

/// `ARGV[1]` = a field prefix (read-only: no TTL). Answers the values of the fields
/// that start with it.
pub const VALUES: &str = r#"
local prefix = ARGV[1]
local values = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if string.sub(all[i], 1, #prefix) == prefix then values[#values + 1] = all[i + 1] end
end
return values
"#;

/// `ARGV[2]` = the member's field, `ARGV[3]` = the count field, `ARGV[4]` = expected
/// size, `ARGV[5]` = this arrival's fired marker (a value field of the same run),
/// `ARGV[6]` = the members' field prefix. See `CoordinationStore::arrive_at_join`.
pub const ARRIVE_AT_JOIN: &str = r#"
local added = redis.call('HSETNX', hash, ARGV[2], '1')
if redis.call('HEXISTS', hash, ARGV[5]) == 1 then
  if added == 1 then redis.call('HDEL', hash, ARGV[2]) end
  redis.call('EXPIRE', hash, ttl)
  return 1
end
local size
if added == 1 then size = redis.call('HINCRBY', hash, ARGV[3], 1) else size = count_of(ARGV[3]) end
if size >= tonumber(ARGV[4]) then
  redis.call('HSET', hash, ARGV[5], 'fired')
  drop_set(ARGV[6], ARGV[3])
  redis.call('EXPIRE', hash, ttl)
  return 1
end
redis.call('EXPIRE', hash, ttl)
return 0
"#;

/// `ARGV[2]` = the field, `ARGV[3]` = the value. Answers 1 when this call set it.
pub const CLAIM_ONCE: &str = r#"
local claimed = redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return claimed
"#;

/// `ARGV[2]` = the field, `ARGV[3]` = the value.
pub const PUT: &str = r#"
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"#;

/// Helper of the scripts that reserve jobs: for each (token field, record) of `ARGV`
/// from `first` to `last`, adds the token with the job's record as its value (a
/// reconciler reads the record there: `CoordinationStore::work_record`); answers how
/// many tokens are new.
const RESERVE: &str = r#"
local function reserve(hash, first, last)
  local tokens = {}
  for at = first, last, 2 do
    tokens[#tokens + 1] = ARGV[at]
    tokens[#tokens + 1] = ARGV[at + 1]
  end
  local added = 0
  for at = 1, #tokens, 1000 do
    added = added + redis.call('HSET', hash, unpack(tokens, at, math.min(at + 999, #tokens)))
  end
  return added
end
"#;

/// `CoordinationStore::finish_job` in one step. `ARGV[2]` = the job's done field,
/// `ARGV[3]` = its marker, `ARGV[4]` = the progress field, `ARGV[5]` = the stamp,
/// `ARGV[6]` = the job's own token field, `ARGV[7]` = the outstanding count field,
/// `ARGV[8]` = '1' when the TTL and progress stamp are due for renewal (`renewals`),
/// `ARGV[9]` = how many successors, then per successor its token field and record, then
/// per join arrival its member field, the join's count field, its members' prefix, the
/// arrivals it expects, the join job's token field and record, and the arriving job's
/// id (the member's value). Answers `{claimed, drained, joins...}`: per arrival `{}`
/// while the join waits, `{'fired', job ids of its arrivals...}` when this one fired
/// it (its members are dropped: a loop's next round starts empty). A job that trades its
/// token for as many new ones (a chain's hop) leaves the count as it is: it is at
/// least 1 then. A job that did not find its own token renews whatever the caller
/// says: the hash may be new.
const FINISH_JOB_BODY: &str = r#"
local function fire(prefix, count_field)
  local members = {}
  for _, field in ipairs(redis.call('HKEYS', hash)) do
    if string.sub(field, 1, #prefix) == prefix then members[#members + 1] = field end
  end
  local arrived = {'fired'}
  for first = 1, #members, 1000 do
    local last = math.min(first + 999, #members)
    for _, job in ipairs(redis.call('HMGET', hash, unpack(members, first, last))) do
      arrived[#arrived + 1] = job or ''
    end
    redis.call('HDEL', hash, unpack(members, first, last))
  end
  redis.call('HDEL', hash, count_field)
  return arrived
end
local claimed = redis.call('HSETNX', hash, ARGV[2], ARGV[3])
local added = 0
local arrivals_from = 10 + 2 * tonumber(ARGV[9])
local fired = {}
if claimed == 1 then
  added = reserve(hash, 10, arrivals_from - 1)
  for at = arrivals_from, #ARGV, 7 do
    local size
    if redis.call('HSETNX', hash, ARGV[at], ARGV[at + 6]) == 1 then
      size = redis.call('HINCRBY', hash, ARGV[at + 1], 1)
    else
      size = count_of(ARGV[at + 1])
    end
    if size >= tonumber(ARGV[at + 3]) then
      added = added + redis.call('HSET', hash, ARGV[at + 4], ARGV[at + 5])
      fired[#fired + 1] = fire(ARGV[at + 2], ARGV[at + 1])
    else
      fired[#fired + 1] = {}
    end
  end
end
local removed = redis.call('HDEL', hash, ARGV[6])
local drained = 0
if added == 0 or added ~= removed then
  local left = redis.call('HINCRBY', hash, ARGV[7], added - removed)
  if left <= 0 then
    redis.call('HDEL', hash, ARGV[7])
    drained = 1
  end
end
if ARGV[8] == '1' or removed == 0 then
  redis.call('HSET', hash, ARGV[4], ARGV[5])
  redis.call('EXPIRE', hash, ttl)
end
return {claimed, drained, unpack(fired)}
"#;

/// `CoordinationStore::reserve_jobs` in one step. `ARGV[2]` = the progress field,
/// `ARGV[3]` = the stamp, `ARGV[4]` = the outstanding count field, `ARGV[5]` = the epoch
/// field to bump (or ''), then per job its token field and its record. Answers the
/// tokens the run has and the epoch (0 when not bumped).
const RESERVE_JOBS_BODY: &str = r#"
local hash = KEYS[1]
local added = reserve(hash, 6, #ARGV)
redis.call('HSET', hash, ARGV[2], ARGV[3])
local size = redis.call('HINCRBY', hash, ARGV[4], added)
local epoch = 0
if ARGV[5] ~= '' then epoch = redis.call('HINCRBY', hash, ARGV[5], 1) end
redis.call('EXPIRE', hash, tonumber(ARGV[1]))
return {size, epoch}
"#;

pub fn finish_job() -> LuaScript {
    LuaScript::on_sets(&format!("{RESERVE}{FINISH_JOB_BODY}"))
}

pub fn reserve_jobs() -> LuaScript {
    LuaScript::plain(&format!("{RESERVE}{RESERVE_JOBS_BODY}"))
}

/// `ARGV[2]` = the epoch field, bumped; `ARGV[2..]` = the fields that outlive the run
/// (its epoch and final claim): the rest of the run's hash is dropped, those stay for
/// one more TTL.
pub const FORGET_RUN: &str = r#"
local hash = KEYS[1]
redis.call('HINCRBY', hash, ARGV[2], 1)
local kept = {}
local fields = {unpack(ARGV, 2)}
local values = redis.call('HMGET', hash, unpack(fields))
for i, field in ipairs(fields) do
  if values[i] then
    kept[#kept + 1] = field
    kept[#kept + 1] = values[i]
  end
end
local existed = redis.call('DEL', hash)
if #kept > 0 then
  redis.call('HSET', hash, unpack(kept))
  redis.call('EXPIRE', hash, tonumber(ARGV[1]))
end
return existed
"#;

/// `ARGV[2]` = the epoch field. Answers the new epoch.
pub const BUMP_EPOCH: &str = r#"
local epoch = redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return epoch
"#;

/// `ARGV[2]` = the final-claim field, `ARGV[3]` = the new claim, `ARGV[4]` = the claim
/// it may replace (or ''). Answers nil when the new claim was stored, else the claim
/// that stands.
pub const CLAIM_FINAL: &str = r#"
local stored = redis.call('HGET', KEYS[1], ARGV[2])
if not stored or (ARGV[4] ~= '' and stored == ARGV[4]) then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
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
    /// A script that uses the set helpers (`count_of`, `drop_set`).
    pub fn on_sets(body: &str) -> Self {
        Self::plain(&format!("{SETS}{body}"))
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
