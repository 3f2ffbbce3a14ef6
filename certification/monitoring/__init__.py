"""Post-market monitoring (EU AI Act Art. 72): each window of production requests is judged against the certified
baseline with the spec's thresholds; a breach or an expired certificate withdraws the certificate and starts
re-certification.

certified (which certificates are watched), watchlist (one monitoring DAG per model), snapshot (the baseline: the
certified evaluation set, scored and pinned), inference_log (the production log, read in chunks), profile (mergeable
counts and drift measures), window (judging one window, once per certificate), judgement (thresholds and root
cause), actions (watch, withdraw, revoke, re-certify: each recorded once), certificate_page (its page and trend).
The names below are imported lazily, so the monitoring DAG file can read the watch list without pandas.
"""

from certification._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
