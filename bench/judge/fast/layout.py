"""The fast judge's state: fixed slots in a few numpy arrays instead of the workflow's pydantic models.

``workflows.judge.models`` keeps the judge's state in frozen pydantic models, copied at every poll. Here each
model's scalar fields are slots of one float and one int array (the names below say which field each holds),
and its lists are arrays of their own, updated in place. Only the fields the decisions read are kept.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

FloatVector: TypeAlias = NDArray[np.float64]
IntVector: TypeAlias = NDArray[np.int64]
IntMatrix: TypeAlias = NDArray[np.int64]
FloatMatrix: TypeAlias = NDArray[np.float64]
IntCube: TypeAlias = NDArray[np.int64]
FloatCube: TypeAlias = NDArray[np.float64]
IntHyper: TypeAlias = NDArray[np.int64]
BoolCube: TypeAlias = NDArray[np.bool_]
"""Aliases naming an array's rank for the reader (numpy's typing has no rank): vector 1, matrix 2, cube 3,
hyper 4."""

# ErrorRateTestState's floats (``error_float``).
MAX_LOG_E_FAIL = 0
MAX_LOG_E_PASS = 1
MAX_LOG_LATE = 2
PEARSON_SUM = 3
VARIANCE_SUM = 4
VARIANCE_SQUARE_SUM = 5
RECENT_REQUESTS_STABLE = 6
RECENT_REQUESTS_CANDIDATE = 7
RECENT_ERRORS_STABLE = 8
RECENT_ERRORS_CANDIDATE = 9
ERROR_FLOATS = 10

# ErrorRateTestState's integers (``error_int``).
SKIPPED_POLLS = 0
LATE_STARTS = 1
PEARSON_POLLS = 2
REQUESTS_SUM_STABLE = 3
REQUESTS_SUM_CANDIDATE = 4
ERRORS_SUM_STABLE = 5
ERRORS_SUM_CANDIDATE = 6
STEP_LOG_LIKELIHOOD_SET = 7
"""1 once ``step_log_likelihood`` is a list (an informative poll in this step); 0: the empty list."""
ERROR_INTS = 8

# ArmTotals and Increment integers, per version (``totals_int[arm]``, ``step_int[arm]``).
REQUESTS = 0
ERRORS = 1
QUALITY_COUNT = 2
LATENCY_TOTAL = 3
RESET = 4
"""Increments only: the process restarted (``Increment.reset``)."""
COUNTS = 5

# ArmTotals and Increment floats, per version.
QUALITY_SUM = 0
QUALITY_SUM_SQUARES = 1
SUMS = 2

# The run's constants (``params``), computed in Python by the workflow judge's own expressions (run.py).
LIMIT = 0
"""criteria.error_rate_ratio_max."""
LOG_LIMIT = 1
FAIL_MAIN = 2
"""The carried test's fail threshold, log(1 / (alpha x (1 - late share)))."""
FAIL_LATE = 3
PASS_RATIO = 4
CAP_LOG_SHARE = 5
"""log of the weight share of the grid points beyond MARGIN_RATIO_CAP (``log_e_beyond``)."""
TRIGGER_LOG_SHARE = 6
"""The same for the hard error trigger's ratio."""
MARGIN = 7
MARGIN_PASS_THRESHOLD = 8
MARGIN_FAIL_THRESHOLD = 9
LATENCY_LIMIT = 10
LATENCY_THRESHOLD = 11
QUALITY_DROP = 12
QUALITY_THRESHOLD = 13
LATENCY_TRIGGER = 14
LATE_WEIGHT_PLANNED = 15
"""``late_start_log_weight`` before the planned polls' end, and after it (next)."""
LATE_WEIGHT_SLACK = 16
TWO_EXPONENT = 17
"""2.0, the exponent of ``numerics.py_square``, as a runtime value."""
PARAMS = 18

# The run's integer constants (``settings``).
MIN_REQUESTS = 0
HORIZON = 1
PLANNED = 2
"""Starts before this one get LATE_WEIGHT_PLANNED (``late_start_log_weight``)."""
THIRD = 3
STEPS = 4
STEP_POLLS = 5
SETTINGS = 6

# Verdicts and decisions, as the trace and the outcome report them.
INCONCLUSIVE = 0
PASS = 1
FAIL = 2
UNTESTABLE = 3
CONTINUE = 0
ROLLBACK = 2
VERDICTS = ("inconclusive", "pass", "fail", "untestable")
DECISIONS = ("continue", "pass", "rollback")

# One row of the trace per poll (``trace``): what the check compares with the workflow judge.
T_DECISION = 0
T_ERROR_VERDICT = 1
T_LATENCY_VERDICT = 2
T_QUALITY_VERDICT = 3
T_ERROR_TRIGGER = 4
T_LATENCY_TRIGGER = 5
T_REQUESTS = 6
"""Then errors, quality count, latency total of stable, then the same of the candidate (8 columns)."""
TRACE_INTS = 14
# Floats of the trace (``trace_float``).
F_QUALITY_SUMS = 0
"""Stable's quality sum and sum of squares, then the candidate's (4 columns)."""
F_ERROR_STATE = 4
"""ErrorRateTestState's floats (ERROR_FLOATS columns)."""
F_MARGIN = F_ERROR_STATE + ERROR_FLOATS
"""ErrorMarginState's two variances."""
F_QUALITY = F_MARGIN + 2
"""QualityTestState's two variances."""
F_LATENCY = F_QUALITY + 2
"""Sum of each arm's latency variances (0 without a test)."""
F_LOG_LIKELIHOOD = F_LATENCY + 2
"""Sum of the log-likelihoods, of the late-onset detector's values (finite ones) and of the step's log-likelihoods."""
TRACE_FLOATS = F_LOG_LIKELIHOOD + 3
