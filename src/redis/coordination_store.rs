//! The engine's `CoordinationStore` on Redis. Every run's keys are fields of one hash
//! (`run_keys`), every operation is one atomic command or script on that hash, each write
//! renews the hash's TTL, and `forget_run` drops the hash but for the fields that must
//! outlive the run. A dropped connection surfaces as a `BackendError` (the engine
//! redelivers the job) while fred reconnects in the background.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;

use super::coordination::{command_error, CoordinationClient};
use super::renewals::Renewals;
use super::run_keys::{run_hash, Place};
use super::scripts::{self, LuaScript};
use super::{RedisError, RedisOptions};
use crate::engine::keys as engine_keys;
use crate::engine::traits::{
    BackendError, BackendResult, BoxFuture, CoordinationStore, FinalClaim, JobFinish, JobFinished, JobStart,
    JoinOutcome, Reservation, SetAdd,
};

/// Default lifetime of coordination keys after a run's last write: longer
/// than any human-in-the-loop wait we expect.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

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
    members: LuaScript,
    values: LuaScript,
    claim_once: LuaScript,
    put: LuaScript,
    arrive_at_join: LuaScript,
    forget_run: LuaScript,
    bump_epoch: LuaScript,
    claim_final: LuaScript,
    finish_job: LuaScript,
    reserve_jobs: LuaScript,
}

pub struct RedisCoordination {
    connection: Arc<CoordinationClient>,
    ttl_seconds: String,
    scripts: Scripts,
    renewals: Renewals,
}

impl RedisCoordination {
    /// Connects (fails fast with ERR_REDIS_UNREACHABLE), then reconnects by itself.
    pub async fn connect(options: &RedisOptions, settings: CoordinationSettings) -> Result<Self, RedisError> {
        let connection = CoordinationClient::connect(options).await?;
        Ok(Self::new(Arc::new(connection), settings))
    }

    /// On an existing connection (shared with the JS-facing store).
    pub fn new(connection: Arc<CoordinationClient>, settings: CoordinationSettings) -> Self {
        RedisCoordination {
            connection,
            ttl_seconds: settings.key_ttl.as_secs().max(1).to_string(),
            scripts: Scripts {
                add_member: LuaScript::on_sets(scripts::ADD_MEMBER),
                remove_member: LuaScript::on_sets(scripts::REMOVE_MEMBER),
                clear_set: LuaScript::on_sets(scripts::CLEAR_SET),
                members: LuaScript::plain(scripts::MEMBERS),
                values: LuaScript::plain(scripts::VALUES),
                claim_once: LuaScript::plain(scripts::CLAIM_ONCE),
                put: LuaScript::plain(scripts::PUT),
                arrive_at_join: LuaScript::on_sets(scripts::ARRIVE_AT_JOIN),
                forget_run: LuaScript::plain(scripts::FORGET_RUN),
                bump_epoch: LuaScript::plain(scripts::BUMP_EPOCH),
                claim_final: LuaScript::plain(scripts::CLAIM_FINAL),
                finish_job: scripts::finish_job(),
                reserve_jobs: scripts::reserve_jobs(),
            },
            renewals: Renewals::default(),
        }
    }

    pub fn connection(&self) -> &Arc<CoordinationClient> {
        &self.connection
    }

    fn client(&self) -> &Client {
        self.connection.client()
    }

    /// `reserve_jobs`, bumping the epoch too when asked; answers the epoch (0 if not).
    async fn reserve(
        &self,
        run_id: &str,
        jobs: Vec<(String, String)>,
        stamp: String,
        bump_epoch: bool,
    ) -> BackendResult<u64> {
        let outstanding = Place::of(&engine_keys::outstanding(run_id));
        let epoch_field = match bump_epoch {
            true => Place::of(&engine_keys::epoch(run_id)).value(),
            false => String::new(),
        };
        let mut args = Vec::with_capacity(4 + 2 * jobs.len());
        args.extend([
            Place::of(&engine_keys::progress(run_id)).value(),
            stamp,
            outstanding.count(),
            epoch_field,
        ]);
        for (token, record) in jobs {
            args.push(outstanding.member(&token));
            args.push(record);
        }
        let (_, epoch): (i64, i64) = self
            .write("reserve jobs", &self.scripts.reserve_jobs, &outstanding, args)
            .await
            .map_err(|e| e.into_backend("reserve jobs"))?;
        Ok(u64::try_from(epoch).unwrap_or(0))
    }

    /// Runs a writing script on `place`'s hash: `ARGV` = the TTL, then `args`.
    async fn write<R: FromValue>(
        &self,
        command: &'static str,
        script: &LuaScript,
        place: &Place,
        args: Vec<String>,
    ) -> Result<R, RedisError> {
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(self.ttl_seconds.clone());
        argv.extend(args);
        script
            .run(self.client(), vec![place.hash.clone()], argv)
            .await
            .map_err(|e| command_error(command, &place.hash, e))
    }
}

/// One arrival's answer of the finish script (see `scripts::FINISH_JOB_BODY`). A member
/// an earlier version of this store added holds '1', not its job: then nobody can tell.
fn join_outcome(answer: Option<&Value>) -> JoinOutcome {
    let Some(Value::Array(items)) = answer else {
        return JoinOutcome::Waiting;
    };
    let mut items = items.iter().filter_map(Value::as_string);
    if items.next().as_deref() != Some("fired") {
        return JoinOutcome::Waiting;
    }
    let arrived: Vec<String> = items.collect();
    let known = arrived.iter().all(|job| !job.is_empty() && job != "1");
    JoinOutcome::Fired {
        arrived: known.then_some(arrived),
    }
}

fn size(count: i64) -> usize {
    usize::try_from(count).unwrap_or(0)
}

impl CoordinationStore for RedisCoordination {
    fn add_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<SetAdd>> {
        Box::pin(async move {
            let place = Place::of(key);
            let args = vec![place.member(member), place.count()];
            let (added, count): (i64, i64) = self
                .write("HSETNX+HINCRBY", &self.scripts.add_member, &place, args)
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
            let place = Place::of(key);
            let args = vec![place.member(member), place.count()];
            let count: i64 = self
                .write("HDEL+HINCRBY", &self.scripts.remove_member, &place, args)
                .await
                .map_err(|e| e.into_backend("remove member"))?;
            Ok(size(count))
        })
    }

    fn set_size<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<usize>> {
        Box::pin(async move {
            let place = Place::of(key);
            let count: Option<i64> = self
                .client()
                .hget(&place.hash, place.count())
                .await
                .map_err(|e| command_error("HGET", &place.hash, e).into_backend("set size"))?;
            Ok(size(count.unwrap_or(0)))
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
            let place = Place::of(key);
            let fired = Place::of(fired_key);
            if fired.hash != place.hash {
                return Err(BackendError::new(
                    "arrive at join",
                    format!("the fired marker '{fired_key}' is not a key of the run of '{key}'"),
                ));
            }
            let args = vec![
                place.member(member),
                place.count(),
                expected.to_string(),
                fired.value(),
                place.members(),
            ];
            let fired: i64 = self
                .write(
                    "HSETNX+HINCRBY+HSET (join)",
                    &self.scripts.arrive_at_join,
                    &place,
                    args,
                )
                .await
                .map_err(|e| e.into_backend("arrive at join"))?;
            Ok(fired == 1)
        })
    }

    fn has_member<'a>(&'a self, key: &'a str, member: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let place = Place::of(key);
            let found: bool = self
                .client()
                .hexists(&place.hash, place.member(member))
                .await
                .map_err(|e| command_error("HEXISTS", &place.hash, e).into_backend("has member"))?;
            Ok(found)
        })
    }

    fn clear_set<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let place = Place::of(key);
            let args = vec![place.members(), place.count()];
            self.write::<i64>("HKEYS+HDEL", &self.scripts.clear_set, &place, args)
                .await
                .map(|_| ())
                .map_err(|e| e.into_backend("clear set"))
        })
    }

    fn claim_once<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<bool>> {
        Box::pin(async move {
            let place = Place::of(key);
            let args = vec![place.value(), value.to_string()];
            let claimed: i64 = self
                .write("HSETNX", &self.scripts.claim_once, &place, args)
                .await
                .map_err(|e| e.into_backend("claim once"))?;
            Ok(claimed == 1)
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Option<String>>> {
        Box::pin(async move {
            let place = Place::of(key);
            self.client()
                .hget(&place.hash, place.value())
                .await
                .map_err(|e| command_error("HGET", &place.hash, e).into_backend("get"))
        })
    }

    /// The record is the token's value; a token added by `add_member` holds '1'. A record
    /// in its own field is one an earlier version of this store wrote.
    fn work_record<'a>(
        &'a self,
        run_id: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, BackendResult<Option<String>>> {
        Box::pin(async move {
            let hash = run_hash(run_id);
            let fields = vec![
                Place::of(&engine_keys::outstanding(run_id)).member(token),
                Place::of(&engine_keys::work(run_id, token)).value(),
            ];
            let values: Vec<Option<String>> = self
                .client()
                .hmget(&hash, fields)
                .await
                .map_err(|e| command_error("HMGET", &hash, e).into_backend("work record"))?;
            let mut values = values.into_iter();
            let in_token = values.next().flatten().filter(|value| value != "1");
            Ok(in_token.or_else(|| values.next().flatten()))
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            let place = Place::of(key);
            let args = vec![place.value(), value.to_string()];
            self.write::<i64>("HSET", &self.scripts.put, &place, args)
                .await
                .map(|_| ())
                .map_err(|e| e.into_backend("put"))
        })
    }

    fn members<'a>(&'a self, key: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>> {
        Box::pin(async move {
            let place = Place::of(key);
            self.scripts
                .members
                .run(self.client(), vec![place.hash.clone()], vec![place.members()])
                .await
                .map_err(|e| command_error("HKEYS", &place.hash, e).into_backend("set members"))
        })
    }

    fn values_with_prefix<'a>(&'a self, key_prefix: &'a str) -> BoxFuture<'a, BackendResult<Vec<String>>> {
        Box::pin(async move {
            let place = Place::of(key_prefix);
            self.scripts
                .values
                .run(self.client(), vec![place.hash.clone()], vec![place.value()])
                .await
                .map_err(|e| command_error("HGETALL", &place.hash, e).into_backend("values with prefix"))
        })
    }

    fn begin_job<'a>(&'a self, run_id: &'a str, job_id: &'a str) -> BoxFuture<'a, BackendResult<JobStart>> {
        Box::pin(async move {
            let hash = run_hash(run_id);
            let fields = vec![
                Place::of(&engine_keys::job_done(run_id, job_id)).value(),
                Place::of(&engine_keys::recorded(run_id, job_id)).value(),
                Place::of(&engine_keys::epoch(run_id)).value(),
                Place::of(&engine_keys::outstanding(run_id)).member(job_id),
                Place::of(&engine_keys::work(run_id, job_id)).value(),
            ];
            let mut values: Vec<Option<String>> = self
                .client()
                .hmget(&hash, fields)
                .await
                .map_err(|e| command_error("HMGET", &hash, e).into_backend("begin job"))?;
            values.resize(5, None);
            // A member's value is its record, or "1" for a bare token (whose record, if
            // any, was kept in its own field by earlier versions).
            let reservation = match (values[3].take(), values[4].take()) {
                (None, _) => Reservation::Absent,
                (Some(value), legacy) if value == "1" => {
                    legacy.map_or(Reservation::Token, Reservation::Record)
                }
                (Some(record), _) => Reservation::Record(record),
            };
            Ok(JobStart {
                done: values[0].take(),
                recorded: values[1].take(),
                epoch: JobStart::epoch_of(values[2].take()),
                reservation,
            })
        })
    }

    fn finish_job<'a>(&'a self, finish: JobFinish<'a>) -> BoxFuture<'a, BackendResult<JobFinished>> {
        Box::pin(async move {
            let run_id = finish.run_id;
            let outstanding = Place::of(&engine_keys::outstanding(run_id));
            let mut args = Vec::with_capacity(8 + 2 * finish.successors.len() + 6 * finish.arrivals.len());
            args.extend([
                Place::of(&engine_keys::job_done(run_id, finish.job_id)).value(),
                finish.marker,
                Place::of(&engine_keys::progress(run_id)).value(),
                finish.stamp,
                outstanding.member(finish.token),
                outstanding.count(),
                if self.renewals.due(run_id) { "1" } else { "0" }.to_string(),
                finish.successors.len().to_string(),
            ]);
            for (token, record) in finish.successors {
                args.push(outstanding.member(&token));
                args.push(record);
            }
            let arrivals = finish.arrivals.len();
            for arrival in finish.arrivals {
                let join = Place::of(&arrival.key);
                let (token, record) = arrival.job;
                args.extend([
                    join.member(&arrival.member),
                    join.count(),
                    join.members(),
                    arrival.expected.to_string(),
                    outstanding.member(&token),
                    record,
                    arrival.job_id,
                ]);
            }
            let answer: Vec<Value> = self
                .write("finish job", &self.scripts.finish_job, &outstanding, args)
                .await
                .map_err(|e| e.into_backend("finish job"))?;
            let flag = |at: usize| answer.get(at).and_then(Value::as_i64) == Some(1);
            let joins = (0..arrivals).map(|at| join_outcome(answer.get(2 + at))).collect();
            Ok(JobFinished {
                claimed: flag(0),
                drained: flag(1),
                joins,
            })
        })
    }

    fn reserve_jobs<'a>(
        &'a self,
        run_id: &'a str,
        jobs: Vec<(String, String)>,
        stamp: String,
    ) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move { self.reserve(run_id, jobs, stamp, false).await.map(|_| ()) })
    }

    fn reserve_jobs_bumping_epoch<'a>(
        &'a self,
        run_id: &'a str,
        jobs: Vec<(String, String)>,
        stamp: String,
    ) -> BoxFuture<'a, BackendResult<u64>> {
        Box::pin(async move { self.reserve(run_id, jobs, stamp, true).await })
    }

    fn bump_epoch<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<u64>> {
        Box::pin(async move {
            let place = Place::of(&engine_keys::epoch(run_id));
            self.write::<i64>("HINCRBY", &self.scripts.bump_epoch, &place, vec![place.value()])
                .await
                .map(|epoch| u64::try_from(epoch).unwrap_or(0))
                .map_err(|e| e.into_backend("bump epoch"))
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
            let place = Place::of(&engine_keys::final_claim(run_id));
            let args = vec![
                place.value(),
                FinalClaim::encode(claimant, now_ms),
                replacing.unwrap_or_default().to_string(),
            ];
            let stored: Option<String> = self
                .write("HGET+HSET (final claim)", &self.scripts.claim_final, &place, args)
                .await
                .map_err(|e| e.into_backend("claim final result"))?;
            // The script stored the claim exactly when `judge` says `Won` (nil answer).
            Ok(FinalClaim::judge(claimant, stored, replacing))
        })
    }

    fn forget_run<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, BackendResult<()>> {
        Box::pin(async move {
            // The epoch and the final claim outlive the run (see `engine::run_state`).
            let place = Place::of(&engine_keys::epoch(run_id));
            let kept = vec![
                place.value(),
                Place::of(&engine_keys::final_claim(run_id)).value(),
            ];
            self.renewals.forget(run_id);
            self.write::<i64>("forget run", &self.scripts.forget_run, &place, kept)
                .await
                .map(|_| ())
                .map_err(|e| e.into_backend("forget run"))
        })
    }
}
