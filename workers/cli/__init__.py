"""``rollouts``: the small command people use to sign and send decisions about a running rollout."""
