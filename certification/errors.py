"""Errors that end a certification run as `error` (bad input or an unreachable service), never as a pass."""


class CertificationError(Exception):
    """Base class: the run cannot be certified and the reason is recorded."""


class InputError(CertificationError):
    """Bad input, named by file and field so the submitter can fix it."""

    def __init__(self, source: str, problem: str, field: str | None = None) -> None:
        self.source, self.field, self.problem = source, field, problem
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {problem}")


class SpecError(InputError):
    """The certification spec is invalid."""


class LedgerError(CertificationError):
    """The audit ledger refused a write or could not be reached."""


class SignoffRefused(CertificationError):
    """A sign-off breaks a governance rule (own run, two roles, unknown role, run not awaiting sign-off)."""


class NotAuthorised(CertificationError):
    """The responsibility matrix does not let this person take this action."""


class NotApplicable(Exception):  # noqa: N818 - an outcome, not an error
    """A check cannot apply to this run (e.g. it needs the model, and only its predictions were supplied)."""
