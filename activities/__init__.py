"""Activities: every call a rollout makes to the outside world (routers, metrics, eval and shadow endpoints, the lease).

Workflows must replay deterministically, so they do no I/O; everything that does lives here, written so that
Temporal may retry an activity, or run it again on another worker after a crash, without harm.
"""
