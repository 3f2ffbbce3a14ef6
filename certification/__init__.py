"""A fail-closed model certification pipeline: spec → checks per stage → gate → named sign-offs → signed certificate,
every result and decision in a tamper-evident ledger, and post-market monitoring that withdraws the certificate.

The public names below are imported on first use, so `import certification` (e.g. from a DAG file) stays cheap. The
map of the package is ARCHITECTURE.md at the repository's root.
"""

from certification._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
