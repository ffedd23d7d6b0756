"""The clock: rq-scheduler, polling every second, that also keeps the periodic sweep alive."""

import time
from datetime import datetime, timezone

from rq_scheduler import Scheduler

from webapp.plumbing import heartbeats

SWEEP_JOB = "workers.jobs.sweep"
SWEEP_JOB_ID = "bellhop-sweep"
RECOVER_JOB = "workers.jobs.recover_lost_jobs"
LOCK_SECONDS = 2


class BellhopScheduler(Scheduler):
    """rq-scheduler that re-registers the sweep whenever Redis has lost it (a flush, a restart)."""

    def __init__(self, *args, sweep_interval: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.sweep_interval = sweep_interval

    def acquire_lock(self):
        """Take the lock for one pass, for LOCK_SECONDS rather than rq-scheduler's 10 s.

        A scheduler killed while holding the lock blocks its standby until the lock expires, and every
        wake-up waits with it. A pass takes milliseconds; if one ever outlasts the lock, both schedulers
        may enqueue the same wake-ups, which are keyed by their second and harmless twice.
        """
        taken = self.connection.set(self.scheduler_lock_key, lock_holder(), ex=LOCK_SECONDS, nx=True)
        self._lock_acquired = bool(taken)
        return self._lock_acquired

    def enqueue_jobs(self):
        """Say the clock is ticking, make sure the sweep is scheduled, then move due jobs to the queue."""
        heartbeats.beat(self.connection, "scheduler", lock_holder())
        self.ensure_sweep()
        return super().enqueue_jobs()

    def enqueue_job(self, job):
        """Move a due job to its queue; a sweep whose last turn still waits there is not queued a second time.

        Behind a backlog, sweeps queued every interval would pile up, then run back to back ahead of the
        deliveries they dispatched.
        """
        if job.id == SWEEP_JOB_ID and self.connection.lpos(self.get_queue_for_job(job).key, job.id) is not None:
            self.connection.zadd(self.scheduled_jobs_key, {job.id: time.time() + int(job.meta["interval"])})
            return None
        return super().enqueue_job(job)

    def ensure_sweep(self) -> None:
        """Schedule the periodic sweep unless it is already there; if it was lost, so were the queued jobs."""
        if SWEEP_JOB_ID in self:
            return
        # Only an empty Redis (a flush, a restart without persistence, or the very first start) lacks the
        # sweep. Rows already claimed then have no job to send them: take them back now, not a lease later.
        now = datetime.now(timezone.utc)
        self.enqueue_at(now, RECOVER_JOB, now.isoformat())
        self.schedule(
            scheduled_time=datetime.now(timezone.utc),
            func=SWEEP_JOB,
            interval=self.sweep_interval,
            repeat=None,
            id=SWEEP_JOB_ID,
            # Kept, not expired: the one record every turn shares must outlive a turn waiting behind a backlog,
            # or the scheduler would take the sweep for lost with Redis.
            result_ttl=-1,
            timeout=max(60, self.sweep_interval * 10),
        )


def lock_holder() -> str:
    """The lock's value: which scheduler holds it (host and process id), for an operator or a test to read."""
    return heartbeats.process_name()
