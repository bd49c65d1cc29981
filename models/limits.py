"""Caps on every part of a rollout spec, each with the reason it has that size.

The spec models use them as field bounds; validation quotes them in its messages; tests build inputs just past
them.
"""

from __future__ import annotations

MAX_SPEC_BYTES = 256 * 1024
"""Largest spec, as compact UTF-8 JSON, checked before anything else. A written spec is a few kilobytes; the
workflow's input, its failure and its record all carry parts of it, and must stay far below Temporal's payload
limits."""

MAX_NESTING = 16
"""Deepest nesting of objects and lists in a spec. The deepest real field (``shadow.compare.fields[0]``) is four
levels down; anything deeper is not a spec, and is refused before it reaches a recursive parser."""

MAX_NAME_CHARS = 128
"""Longest person's name (``requested_by``, approvers), manifest key, or response field name: names, not text."""

MAX_DESCRIPTION_CHARS = 1_000
"""Longest ``description``: "why this rollout, in a line", shown in the record and the UI."""

MAX_URL_CHARS = 2_048
"""Longest URL: the usual limit of browsers and servers. A 1 MB ``router.url`` made every rollback request fail
and retry forever."""

MAX_PROMQL_CHARS = 4_096
"""Longest PromQL query: a query sent on every analysis, in a URL, must stay well under servers' URL limits."""

MAX_PATH_CHARS = 1_024
"""Longest file path on the worker's disk (Linux's PATH_MAX is 4,096; real paths are far shorter)."""

MAX_STEPS = 20
"""Most canary steps. A rollout has a handful (the default has four); each step is a weight change, an
observation and entries in the record."""

MAX_APPROVERS = 50
"""Most approvers listed (and so the largest quorum): a team, not a directory."""

MAX_MANIFEST_ENTRIES = 64
"""Most manifest entries: model id, prompt file and hash, retrieval config... recorded as is in the record."""

MAX_MANIFEST_VALUE_CHARS = 1_024
"""Longest manifest string: an id, a hash, a path or a short note, never a file's content."""

MAX_MANIFEST_BYTES = 16 * 1024
"""Largest manifest as compact JSON: it is copied into the deployment record and every status."""

MAX_MANIFEST_INT = 2**53
"""Largest manifest integer (in absolute value): what every JSON reader reads exactly."""

MAX_COMPARE_FIELDS = 64
"""Most response fields a shadow comparator names."""

MAX_SHADOW_REQUESTS = 100_000
"""Most requests a shadow comparison replays: beyond that the comparison takes hours for no more evidence."""

MAX_SHADOW_CONCURRENCY = 256
"""Most shadow requests in flight per version: a replay must not load a version like production traffic."""

MAX_SCORE = 1e12
"""Largest magnitude of an eval score, a baseline or a tolerance: finite, and far beyond any real scale."""

MAX_CONSECUTIVE_FAILURES = 1_000
"""Most failed analyses in a row before the failure policy acts (about 3.5 days at the default 5m interval)."""

MAX_EXTENSIONS = 10
"""Most extensions of an inconclusive step's observation before its ``then``."""

MAX_PROBLEMS = 20
"""Most problems a ``SpecError`` lists; the rest are counted ("... and N more")."""

MAX_PROBLEM_CHARS = 300
"""Longest problem line. A path and a message are shorter; a longer line is cut (it never quotes a whole value)."""

MAX_SPEC_ERROR_CHARS = 8 * 1024
"""Largest ``SpecError`` message, in characters, whatever the input: a header (under 80), at most
``MAX_PROBLEMS`` lines of at most ``MAX_PROBLEM_CHARS`` + 5, and a count of the rest (under 40). The failure that
carries it, and its ``problems``, stay far below Temporal's payload limits."""

MAX_ERROR_RATE_MARGIN = 0.1
"""Largest ``criteria.error_rate_margin``: ten percentage points of errors beyond stable's is already a candidate
failing one request in ten more; a larger margin would only switch the error criterion off."""
MAX_SIGNATURE_CHARS = 4000
"""An armored SSH signature: about 300 characters for ed25519, 1,100 for RSA-4096."""

MAX_SEGMENTS = 8
"""Segments per step: a few attribute matches ANDed (internal users in one region), not a rules engine."""

MAX_SEGMENT_VALUES = 50
"""Values one segment matches (user groups, regions, plans): a flag constraint's list, kept short to read."""

MAX_SEGMENT_VALUE_CHARS = 100
"""One value a segment matches: a group, region or plan name."""
