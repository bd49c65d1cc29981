"""Traffic routers: how the candidate's share moves, one module per ``router.kind`` of the spec.

Every router can read back the weights it really applies, because a step counts as taken only once the router
confirms it, not when it accepted the request.
"""
