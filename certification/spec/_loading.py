"""Reading a spec: YAML text or file, the trigger form's and CLI's overrides applied, relative paths resolved against
the spec's folder, every problem reported as `source: field: problem`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from certification.errors import SpecError
from certification.spec._policy import Spec

# Form fields of the Airflow trigger and CLI flags map onto these spec fields.
OVERRIDES = {
    "model_uri": ("model", "uri"),
    "model_path": ("model", "path"),
    "model_sha256": ("model", "sha256"),
    "train_path": ("datasets", "train", "path"),
    "evaluation_path": ("datasets", "evaluation", "path"),
}


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], source: str) -> None:
    for key, value in overrides.items():
        if value in (None, ""):
            continue
        if key not in OVERRIDES:
            raise SpecError(source, f"unknown override {key!r}; known: {sorted(OVERRIDES)}", field=key)
        *parents, leaf = OVERRIDES[key]
        node = raw
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise SpecError(source, "must be a mapping", field=".".join(parents))
        if key == "model_uri":
            for other in ("path", "sha256", "predictions"):
                node.pop(other, None)
        elif key == "model_path":
            node.pop("uri", None), node.pop("predictions", None)
        node[leaf] = value


def _resolve_paths(spec: Spec, base: Path) -> Spec:
    def absolute(p: str) -> str:
        return str((base / p).resolve()) if not Path(p).is_absolute() else p

    data = spec.model_dump()
    for ref in data["datasets"].values():
        if ref is not None:
            ref["path"] = absolute(ref["path"])
    if data["model"]["path"]:
        data["model"]["path"] = absolute(data["model"]["path"])
    return Spec.model_validate(data)


def parse_spec(
    text: str, source: str, overrides: dict[str, Any] | None = None, base: Path | None = None
) -> Spec:
    """Validate spec text; every problem is reported as `source: field: problem`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(source, f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(source, "the spec must be a YAML mapping")
    _apply_overrides(raw, overrides or {}, source)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in err["loc"]) or "(top level)", err["msg"]) for err in exc.errors()
        ]
        field, message = problems[0]
        if len(problems) > 1:
            message += "; also " + "; ".join(f"{f}: {m}" for f, m in problems[1:])
        raise SpecError(source, message, field=field) from exc
    return _resolve_paths(spec, base or Path.cwd())


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> Spec:
    """Load and validate a spec file; relative paths resolve against the spec's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), f"cannot read spec: {exc}") from exc
    return parse_spec(text, str(path), overrides, base=path.resolve().parent)
