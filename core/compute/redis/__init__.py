"""The CPU jobs (rank, register, compose) on a Redis-backed arq queue, for bot instances and `fffusion worker`
processes on any number of machines.

client.py (`QueuePool`) is the bot side: the same `start` / `run(job)` / `close` as the in-process `WorkerPool`,
so the service does not know which one it has. supervisor.py (`run_worker`) is the worker side: worker processes,
each with its models loaded once into its runtime context and its own arq consumer (consumer.py), so a job goes
from Redis straight to the process that runs it (a hop through a local pool cost more CPU than the queue itself);
a process that dies is replaced. arq_private.py holds the two arq internals overridden, and why.

What arq gives, and what is set here:
- a job has a timeout (`job_timeout_s`); a job lost with a killed worker stays in the queue and runs again on
  another worker once its in-progress mark expires (`job_timeout_s` + `job_rerun_after_s`), `job_tries` runs in
  all (core/limits.py);
- while no worker process anywhere is alive (their heartbeats), a caller is refused at once rather than left to
  wait out its deadline;
- the queue is bounded: past `queue_length` waiting jobs a bot instance answers "busy" at once (the length is read
  in the transaction that adds the job, so the bound holds however many instances add at once);
- adding a job publishes a nudge that wakes the idle workers, and finishing one publishes its id on the asking
  instance's channel, so neither side waits for arq's polling interval; polling stays as the fallback when a
  message is missed (`queue_poll_s` on the workers, FALLBACK_POLL_S here), and a result channel that was lost
  and is back wakes every caller to look once;
- a worker claims jobs with one script (free jobs found and marked in progress at once) where arq takes five
  round trips per job; the rest of a job's life (its run, its result, its retries) is arq's own;
- a deleted person's jobs that no worker has started leave the queue with their face (`withdraw`), and their
  callers, on any instance, end at once with "deleted".
"""

