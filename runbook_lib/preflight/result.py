"""The checklist's rows and the result of a preflight: PASS / WARN / FAIL, each with its remedy."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PreconditionError

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass(frozen=True)
class CheckRow:
    check: str
    status: str  # PASS | WARN | FAIL
    finding: str
    remedy: str = ""
    #: the AWS error code behind a ``could not read`` row
    code: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Preflight:
    """The checklist for one source/target pair. Computed once by :func:`run_checks`."""

    rows: tuple[CheckRow, ...]
    snapshot: dict = field(default_factory=dict, repr=False)
    source_table: str | None = None
    target_table: str | None = None

    @property
    def ok(self) -> bool:
        return not any(r.status == FAIL for r in self.rows)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.status == FAIL)

    @property
    def warnings(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if r.status == WARN)

    def row(self, check: str) -> CheckRow:
        for r in self.rows:
            if r.check == check:
                return r
        raise KeyError(check)

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(
            [{"check": r.check, "status": r.status, "finding": r.finding, "remedy": r.remedy} for r in self.rows],
            columns=["check", "status", "finding", "remedy"],
        )

    def to_dict(self) -> dict:
        """JSON-ready, for the run state (``preflight`` and ``settings_snapshot``)."""
        return {
            "source_table": self.source_table,
            "target_table": self.target_table,
            "ok": self.ok,
            "rows": [
                {"check": r.check, "status": r.status, "finding": r.finding, "remedy": r.remedy, "code": r.code}
                for r in self.rows
            ],
        }

    def raise_for_failures(self) -> None:
        failures = self.failures
        if not failures:
            return
        lines = "; ".join(f"[{r.check}] {r.finding} -> {r.remedy}" for r in failures)
        raise PreconditionError(
            f"preflight failed for {self.source_table} -> {self.target_table}: "
            f"{len(failures)} check(s) failed: {lines}",
            table=self.source_table,
            step="preflight",
            code=failures[0].code if len(failures) == 1 else None,
        )
