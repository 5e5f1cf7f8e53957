//! The run API both adapter classes expose, written once. napi classes cannot share
//! methods through a trait, so this macro writes the same `#[napi] impl` block for each;
//! every method forwards to the class's `core: AdapterCore`. Callers import `napi_derive::napi`.

macro_rules! run_api {
    ($adapter:ident) => {
        #[napi]
        impl $adapter {
            /// Every metric of this adapter in Prometheus' text format (what `/metrics`
            /// serves when `metrics: { port }` is set), for users who serve it themselves.
            #[napi]
            pub fn metrics(&self) -> String {
                self.core.metrics.render()
            }

            /// `host:port` where `/metrics` is served, once `start()` opened it; `null`
            /// without the `metrics` option or after `stop()`.
            #[napi]
            pub fn metrics_address(&self) -> Option<String> {
                self.core.metrics.address().map(|address| address.to_string())
            }

            /// Starts a run (cast) and resolves with its run id.
            #[napi(
                ts_args_type = "blueprintId: string, initialContext?: Record<string, any>, options?: StartRunOptions"
            )]
            pub fn start_run<'env>(
                &self,
                env: &'env napi::Env,
                blueprint_id: String,
                initial_context: Option<napi::bindgen_prelude::Unknown<'env>>,
                options: Option<$crate::bindings::adapter_core::StartRunOptions>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
                let initial_context = $crate::bindings::json::context_from_js(env, initial_context, "initialContext")
                    .map_err(|e| $crate::bindings::errors::coded(env, &e))?;
                self.core.start_run(env, blueprint_id, initial_context, options)
            }

            /// Resolves when the run is `completed`, `failed` or `awaiting`.
            #[napi(ts_return_type = "Promise<RunResult>")]
            pub fn wait_for_run<'env>(
                &self,
                env: &'env napi::Env,
                run_id: String,
                options: Option<$crate::bindings::adapter_core::WaitOptions>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, napi::bindgen_prelude::Unknown<'env>>> {
                self.core.wait_for_run(env, run_id, options)
            }

            /// Starts a run at `at` (milliseconds since 1970, e.g. `date.getTime()`) through
            /// the durable timer service; resolves with its run id once the schedule is stored.
            #[napi(
                ts_args_type = "blueprintId: string, initialContext: Record<string, any> | undefined, at: number, options?: StartRunOptions"
            )]
            pub fn schedule<'env>(
                &self,
                env: &'env napi::Env,
                blueprint_id: String,
                initial_context: Option<napi::bindgen_prelude::Unknown<'env>>,
                at: f64,
                options: Option<$crate::bindings::adapter_core::StartRunOptions>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
                let initial_context = $crate::bindings::json::context_from_js(env, initial_context, "initialContext")
                    .map_err(|e| $crate::bindings::errors::coded(env, &e))?;
                let mut options = options.unwrap_or_default();
                options.at = Some(at);
                self.core.start_run(env, blueprint_id, initial_context, Some(options))
            }

            /// Starts a run and resolves with its result (ask).
            #[napi(
                ts_args_type = "blueprintId: string, initialContext?: Record<string, any>, options?: StartRunOptions",
                ts_return_type = "Promise<RunResult>"
            )]
            pub fn run<'env>(
                &self,
                env: &'env napi::Env,
                blueprint_id: String,
                initial_context: Option<napi::bindgen_prelude::Unknown<'env>>,
                options: Option<$crate::bindings::adapter_core::StartRunOptions>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, napi::bindgen_prelude::Unknown<'env>>> {
                let initial_context = $crate::bindings::json::context_from_js(env, initial_context, "initialContext")
                    .map_err(|e| $crate::bindings::errors::coded(env, &e))?;
                self.core.run(env, blueprint_id, initial_context, options)
            }

            /// Runs the blueprint once per input, at most `concurrency` at once; resolves with
            /// the results in input order (rejects on the first run that cannot start).
            #[napi(
                ts_args_type = "blueprintId: string, inputs: Array<Record<string, any>>, options?: RunManyOptions",
                ts_return_type = "Promise<RunResult[]>"
            )]
            pub fn run_many<'env>(
                &self,
                env: &'env napi::Env,
                blueprint_id: String,
                inputs: napi::bindgen_prelude::Unknown<'env>,
                options: Option<$crate::bindings::run_many::RunManyOptions>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, napi::bindgen_prelude::Unknown<'env>>> {
                let inputs = $crate::bindings::json::contexts_from_js(env, inputs, "inputs")
                    .map_err(|e| $crate::bindings::errors::coded(env, &e))?;
                $crate::bindings::run_many::run_many(env, self.core.engine.clone(), blueprint_id, inputs, options)
            }

            /// Like `runMany`, but an async iterator of `{ index, result }` (or `{ index, error }`)
            /// in the order runs finish: `for await (const { index, result } of adapter.runEach(...))`.
            #[napi(
                ts_args_type = "blueprintId: string, inputs: Array<Record<string, any>>, options?: RunManyOptions",
                ts_return_type = "AsyncIterable<RunEachEntry>"
            )]
            pub fn run_each<'env>(
                &self,
                env: &'env napi::Env,
                blueprint_id: String,
                inputs: napi::bindgen_prelude::Unknown<'env>,
                options: Option<$crate::bindings::run_many::RunManyOptions>,
            ) -> napi::Result<$crate::bindings::run_many::RunResults> {
                let inputs = $crate::bindings::json::contexts_from_js(env, inputs, "inputs")
                    .map_err(|e| $crate::bindings::errors::coded(env, &e))?;
                $crate::bindings::run_many::run_each(env, self.core.engine.clone(), blueprint_id, inputs, options)
            }

            /// Resumes a run paused on a `wait` node, following the edges of `action`.
            #[napi(ts_args_type = "runId: string, action: string, output?: any")]
            pub fn resume_with_action<'env>(
                &self,
                env: &'env napi::Env,
                run_id: String,
                action: String,
                output: Option<napi::bindgen_prelude::Unknown<'env>>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                let output = match output {
                    Some(output) => $crate::bindings::json::json_from_js(env, output, "output")
                        .map_err(|e| $crate::bindings::errors::coded(env, &e))?,
                    None => None,
                };
                self.core.resume_with_action(env, run_id, action, output)
            }

            /// Continues one waiting node, as FlowRuntime's `resume`: `nodeId` (default: the
            /// first waiting node) with `resumeData.output` as its output, along the edges of
            /// `resumeData.action` (if given) and its action-less edges; other waiting nodes
            /// keep waiting.
            #[napi(ts_args_type = "runId: string, resumeData?: { output?: unknown; action?: string }, nodeId?: string")]
            pub fn resume<'env>(
                &self,
                env: &'env napi::Env,
                run_id: String,
                resume_data: Option<napi::bindgen_prelude::Object<'env>>,
                node_id: Option<String>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                let data = $crate::bindings::json::resume_data_from_js(env, resume_data)
                    .map_err(|e| $crate::bindings::errors::coded(env, &e))?;
                self.core.resume(env, run_id, data, node_id)
            }

            /// Ends a run `cancelled` (a final result: waiters receive it, nothing of the run
            /// runs afterwards); resolves with `'cancelled'`, or `'already'` when it was
            /// cancelled before. ERR_RUN_FINISHED when it completed or failed first,
            /// ERR_UNKNOWN_RUN for a run that never started.
            #[napi(ts_args_type = "runId: string, reason?: string", ts_return_type = "Promise<'cancelled' | 'already'>")]
            pub fn cancel<'env>(
                &self,
                env: &'env napi::Env,
                run_id: String,
                reason: Option<String>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
                self.core.cancel(env, run_id, reason)
            }

            /// Every result the run published so far, oldest first.
            #[napi(ts_return_type = "Promise<PublishedResult[]>")]
            pub fn published_results<'env>(
                &self,
                env: &'env napi::Env,
                run_id: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, napi::bindgen_prelude::Unknown<'env>>> {
                self.core.published_results(env, run_id)
            }

            /// Adds a listener for `run:start`, `node:start`, `node:finish`, `node:retry`,
            /// `node:error` or `run:finish`.
            #[napi(ts_args_type = "name: FlowcraftEventName, listener: (event: FlowcraftEvent) => void")]
            pub fn on(&self, env: napi::Env, name: String, listener: napi::bindgen_prelude::Function) -> napi::Result<()> {
                $crate::bindings::adapter_core::check_event_name(&name)?;
                self.core.runtime.on(&env, &name, listener)
            }

            /// Removes a listener added with `on`.
            #[napi(ts_args_type = "name: FlowcraftEventName, listener: (event: FlowcraftEvent) => void")]
            pub fn off(&self, env: napi::Env, name: String, listener: napi::bindgen_prelude::Function) -> napi::Result<()> {
                $crate::bindings::adapter_core::check_event_name(&name)?;
                self.core.runtime.off(&env, &name, listener)
            }
        }
    };
}
