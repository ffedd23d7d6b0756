"""The clock: rq-scheduler, polling every second, that also keeps the periodic sweep alive."""

from datetime import datetime, timezone

from rq_scheduler import Scheduler

SWEEP_JOB = "workers.jobs.sweep"
SWEEP_JOB_ID = "bellhop-sweep"


class BellhopScheduler(Scheduler):
    """rq-scheduler that re-registers the sweep whenever Redis has lost it (a flush, a restart)."""

    def __init__(self, *args, sweep_interval: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.sweep_interval = sweep_interval

    def enqueue_jobs(self):
        """Make sure the sweep is scheduled, then move due jobs to the queue."""
        self.ensure_sweep()
        return super().enqueue_jobs()

    def ensure_sweep(self) -> None:
        """Schedule the periodic sweep unless it is already there."""
        if SWEEP_JOB_ID in self:
            return
        self.schedule(
            scheduled_time=datetime.now(timezone.utc),
            func=SWEEP_JOB,
            interval=self.sweep_interval,
            repeat=None,
            id=SWEEP_JOB_ID,
            result_ttl=self.sweep_interval * 2,
            timeout=max(60, self.sweep_interval * 10),
        )
