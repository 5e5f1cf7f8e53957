//! The engine's `CoordinationStore` on Redis. Every operation is one atomic
//! script, every key written carries a TTL that any write to the same run
//! renews (see `scripts`), and `forget_run` drops a run's keys through its
//! key index. A dropped connection surfaces as a `BackendError` (the engine
//! redelivers the job) while fred reconnects in the background.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;

use super::coordination::{command_error, CoordinationClient};
use super::run_keys::{index_key, script_keys};
use super::scripts::{self, LuaScript};
use super::{RedisError, RedisOptions};
use crate::engine::keys as engine_keys;
use crate::engine::traits::{
    BackendResult, BoxFuture, CoordinationStore, FinalClaim, JobFinish, JobFinished, JobStart, SetAdd,
};

/// Default lifetime of coordination keys after a run's last write: longer
/// than any human-in-the-loop wait we expect.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most often a run's whole key set is re-expired.
const MAX_REFRESH_SLACK_SECONDS: u64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinationSettings {
    /// How long a run's keys live after its last write (whole seconds, >= 1).
    pub key_ttl: Duration,
}

impl Default for CoordinationSettings {
    fn default() -> Self {
        CoordinationSettings {
            key_ttl: DEFAULT_KEY_TTL,
        }
    }
}

struct Scripts {
    add_member: LuaScript,
    remove_member: LuaScript,
    clear_set: LuaScript,
    claim_once: LuaScript,
    put: LuaScript,
    arrive_at_join: LuaScript,
    forget_run: LuaScript,
    bump_epoch: LuaScript,
    claim_final: LuaScript,
    finish_job: LuaScript,
}

pub struct RedisCoordination {
    connection: Arc<CoordinationClient>,
    ttl_seconds: String,
    slack_seconds: String,
    scripts: Scripts,
}

impl RedisCoordination {
    /// Connects (fails fast with ERR_REDIS_UNREACHABLE), then reconnects by itself.
    pub async fn connect(options: &RedisOptions, settings: CoordinationSettings) -> Result<Self, RedisError> {
        let connection = CoordinationClient::connect(options).await?;
        Ok(Self::new(Arc::new(connection), settings))
    }

    /// On an existing connection (shared with the JS-facing store).
    pub fn new(connection: Arc<CoordinationClient>, settings: CoordinationSettings) -> Self {
        let ttl = settings.key_ttl.as_secs().max(1);
        let slack = (ttl / 10).clamp(1, MAX_REFRESH_SLACK_SECONDS);
        RedisCoordination {
            connection,
            ttl_seconds: ttl.to_string(),
            slack_seconds: slack.to_string(),
            scripts: Scripts {
                add_member: LuaScript::touching(scripts::ADD_MEMBER),
                remove_member: LuaScript::touching(scripts::REMOVE_MEMBER),
                clear_set: LuaScript::touching(scripts::CLEAR_SET),
                claim_once: LuaScript::touching(scripts::CLAIM_ONCE),
                put: LuaScript::touching(scripts::PUT),
                arrive_at_join: LuaScript::touching(scripts::ARRIVE_AT_JOIN),
                forget_run: LuaScript::plain(scripts::FORGET_RUN),
                bump_epoch: LuaScript::plain(scripts::BUMP_EPOCH),
                claim_final: LuaScript::plain(scripts::CLAIM_FINAL),
                finish_job: LuaScript::touching(scripts::FINISH_JOB),
            },
        }
    }

    pub fn connection(&self) -> &Arc<CoordinationClient> {
        &self.connection
    }

    async fn write<R: FromValue>(
        &self,
        command: &'static str,
        script: &LuaScript,
        key: &str,
        argument: &str,
    ) -> Result<R, RedisError> {
        let args = vec![
            self.ttl_seconds.clone(),
            self.slack_seconds.clone(),
            argument.to_string(),
        ];
        script
            .run(self.connection.client(), script_keys(key), args)
            .await
            .map_err(|e| command_error(command, key, e))
    }
}

fn size(count: i64) -> usize {
    usize::try_from(count).unwrap_or(0)
}

impl CoordinationStore for RedisCoordination {
    fn add_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<SetAdd>> {
        Box::pin(async move {
            let (added, count): (i64, i64) = self
                .write("SADD+SCARD", &self.scripts.add_member, key, member)
                .await
                .map_err(|e| e.into_backend("add member"))?;
            Ok(SetAdd {
                added: added == 1,
                size: size(count),
            })
        })
    }

    fn remove_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<usize>> {
        Box::pin(async move {
            let count: i64 = self
                .write("SREM+SCARD", &self.scripts.remove_member, key, member)
                .await
                .map_err(|e| e.into_backend("remove member"))?;
            Ok(size(count))
        })
    }

    fn set_size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<usize>> {
        Box::pin(async move {
            let count: i64 = self
                .connection
                .client()
                .scard(key)
                .await
                .map_err(|e| command_error("SCARD", key, e).into_backend("set size"))?;
            Ok(size(count))
        })
    }

    fn arrive_at_join<'a>(
        &'a self,
        key: &'a str,
        member: &'a str,
        expected: usize,
        fired_key: &'a str,
    ) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let args = vec![
                self.ttl_seconds.clone(),
                self.slack_seconds.clone(),
                member.to_string(),
                expected.to_string(),
                fired_key.to_string(),
            ];
            let fired: i64 = self
                .scripts
                .arrive_at_join
                .run(self.connection.client(), script_keys(key), args)
                .await
                .map_err(|e| command_error("SADD+SCARD+SET (join)", key, e).into_backend("arrive at join"))?;
            Ok(fired == 1)
        })
    }

    fn has_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let found: i64 = self
                .connection
                .client()
                .sismember(key, member)
                .await
                .map_err(|e| command_error("SISMEMBER", key, e).into_backend("has member"))?;
            Ok(found == 1)
        })
    }

    fn clear_set<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.write::<i64>("DEL", &self.scripts.clear_set, key, "")
                .await
                .map(|_| ())
                .map_err(|e| e.into_backend("clear set"))
        })
    }

    fn claim_once<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let claimed: i64 = self
                .write("SET NX EX", &self.scripts.claim_once, key, value)
                .await
                .map_err(|e| e.into_backend("claim once"))?;
            Ok(claimed == 1)
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Option<String>>> {
        Box::pin(async move { self.connection.get(key).await.map_err(|e| e.into_backend("get")) })
    }

    fn put<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            self.write::<i64>("SET EX", &self.scripts.put, key, value)
                .await
                .map(|_| ())
                .map_err(|e| e.into_backend("put"))
        })
    }

    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>> {
        Box::pin(async move {
            self.connection
                .client()
                .smembers(key)
                .await
                .map_err(|e| command_error("SMEMBERS", key, e).into_backend("set members"))
        })
    }

    fn begin_job<'a>(&'a self, run_id: &'a str, job_id: &'a str) -> BoxFuture<'a, BackendResult<JobStart>> {
        Box::pin(async move {
            let keys = vec![
                engine_keys::job_done(run_id, job_id),
                engine_keys::recorded(run_id, job_id),
                engine_keys::epoch(run_id),
            ];
            let mut values: Vec<Option<String>> = self
                .connection
                .client()
                .mget(keys.clone())
                .await
                .map_err(|e| command_error("MGET", &keys[0], e).into_backend("begin job"))?;
            values.resize(3, None);
            Ok(JobStart {
                done: values[0].take(),
                recorded: values[1].take(),
                epoch: JobStart::epoch_of(values[2].take()),
            })
        })
    }

    fn finish_job<'a>(&'a self, finish: JobFinish<'a>) -> BoxFuture<'a, BackendResult<JobFinished>> {
        Box::pin(async move {
            let run_id = finish.run_id;
            let outstanding = engine_keys::outstanding(run_id);
            let mut keys = vec![
                outstanding.clone(),
                index_key(run_id),
                engine_keys::job_done(run_id, finish.job_id),
                engine_keys::progress(run_id),
            ];
            keys.extend(
                finish
                    .successors
                    .iter()
                    .map(|(token, _)| engine_keys::work(run_id, token)),
            );
            let mut args = vec![
                self.ttl_seconds.clone(),
                self.slack_seconds.clone(),
                finish.marker,
                finish.stamp,
                finish.token.to_string(),
            ];
            let (tokens, records): (Vec<String>, Vec<String>) = finish.successors.into_iter().unzip();
            args.extend(tokens);
            args.extend(records);
            let (claimed, left): (i64, i64) = self
                .scripts
                .finish_job
                .run(self.connection.client(), keys, args)
                .await
                .map_err(|e| command_error("finish job", &outstanding, e).into_backend("finish job"))?;
            Ok(JobFinished {
                claimed: claimed == 1,
                left: size(left),
            })
        })
    }

    fn bump_epoch<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<u64>> {
        Box::pin(async move {
            let key = engine_keys::epoch(run_id);
            self.scripts
                .bump_epoch
                .run::<i64>(
                    self.connection.client(),
                    vec![key.clone()],
                    vec![self.ttl_seconds.clone()],
                )
                .await
                .map(|epoch| u64::try_from(epoch).unwrap_or(0))
                .map_err(|e| command_error("INCR", &key, e).into_backend("bump epoch"))
        })
    }

    fn claim_final<'a>(
        &'a self,
        run_id: &'a str,
        claimant: &'a str,
        now_ms: u64,
        replacing: Option<&'a str>,
    ) -> BoxFuture<'a, BackendResult<FinalClaim>> {
        Box::pin(async move {
            let key = engine_keys::final_claim(run_id);
            let args = vec![
                self.ttl_seconds.clone(),
                FinalClaim::encode(claimant, now_ms),
                replacing.unwrap_or_default().to_string(),
            ];
            let stored: Option<String> = self
                .scripts
                .claim_final
                .run(self.connection.client(), vec![key.clone()], args)
                .await
                .map_err(|e| {
                    command_error("GET+SET (final claim)", &key, e).into_backend("claim final result")
                })?;
            // The script stored the claim exactly when `judge` says `Won` (nil answer).
            Ok(FinalClaim::judge(claimant, stored, replacing))
        })
    }

    fn forget_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let index = index_key(run_id);
            self.scripts
                .forget_run
                .run::<i64>(self.connection.client(), vec![index.clone()], Vec::new())
                .await
                .map(|_| ())
                .map_err(|e| command_error("forget run", &index, e).into_backend("forget run"))
        })
    }
}
