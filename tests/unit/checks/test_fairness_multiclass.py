"""The multiclass fairness engine against fairlearn and scikit-learn on ProPublica's COMPAS (race, sex and their
intersection), a three-class recidivism outcome predicted by a gradient-boosted model: one-vs-rest group metrics,
worst-class disparities and their Bonferroni adjustment, per-group confusion matrices, findings, the joint
bootstrap and the agreement with the binary engine run class by class."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import confusion_matrix, precision_score

from certification.checks.fairness import audit as binary
from certification.checks.fairness import multiclass as engine
from certification.checks.fairness.audit import JOIN, Comparison
from certification.demo.datasets import load_compas

ATTRIBUTES = ["race", "sex"]
GROUPINGS = ["race", "sex", "race & sex"]
CLASSES = ["no recidivism", "non-violent", "violent"]
FEATURES = ["age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count", "felony"]
REFERENCE = {
    "count": count,
    "selection_rate": selection_rate,
    "base_rate": lambda t, p: float(np.mean(t)),
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "ppv": lambda t, p: precision_score(t, p, zero_division=np.nan),
}
# the rows a measure is a share of, as a mask of one class's one-vs-rest truth
DENOMINATOR = {"selection_rate": lambda t: np.ones_like(t), "tpr": lambda t: t, "fpr": lambda t: ~t}
# how fairlearn's own disparity functions name the three per-class disparities
FAIRLEARN = {
    "demographic_parity": demographic_parity_difference,
    "equalized_odds": equalized_odds_difference,
    "equal_opportunity": equal_opportunity_difference,
}
# 'no recidivism' helps the person; being predicted to reoffend harms them
SIDES = {"no recidivism": "positive", "non-violent": "negative", "violent": "negative"}


@dataclass(frozen=True)
class Compas:
    evaluation: pd.DataFrame
    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray
    tables: dict[str, dict[str, binary.GroupTable]]


@pytest.fixture(scope="module")
def compas() -> Compas:
    """0 = no recidivism within two years, 1 = non-violent recidivism, 2 = violent recidivism (which wins over
    two_year_recid == 0: 40 rows); the model learns on a seeded half and predicts the other half."""
    frame = load_compas().assign(felony=lambda f: (f["c_charge_degree"] == "F").astype(int))
    y = np.where(frame["is_violent_recid"] == 1, 2, np.where(frame["two_year_recid"] == 1, 1, 0))
    order = np.random.default_rng(0).permutation(len(frame))
    train, held = order[: len(frame) // 2], np.sort(order[len(frame) // 2 :])
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(
        frame[FEATURES].iloc[train], y[train]
    )
    evaluation = frame.iloc[held].reset_index(drop=True)
    proba = model.predict_proba(evaluation[FEATURES])
    pred = proba.argmax(axis=1)
    assert len(np.unique(pred)) == 3  # every class is predicted somewhere
    tables = engine.audit(evaluation, ATTRIBUTES, y[held], pred, proba, CLASSES, resamples=1000, seed=0)
    return Compas(evaluation, y[held], pred, proba, tables)


def _columns(grouping: str) -> list[str]:
    return grouping.split(JOIN)


def _group_of(data: Compas, grouping: str) -> pd.Series:
    """Each row's group label in `grouping` ("African-American & Male")."""
    return reduce(lambda a, b: a + JOIN + b, (data.evaluation[c].astype(str) for c in _columns(grouping)))


def _by_group(values: Any) -> Any:
    """fairlearn's (or a groupby's) index as our group labels."""
    values.index = [k if isinstance(k, str) else JOIN.join(k) for k in values.index]
    return values


def _one_vs_rest(data: Compas, c: int) -> tuple[np.ndarray, np.ndarray]:
    return data.y == c, data.pred == c


def test_every_group_metric_equals_fairlearn_one_vs_rest(compas: Compas) -> None:
    assert set(compas.tables) == set(CLASSES)
    for c, label in enumerate(CLASSES):
        assert set(compas.tables[label]) == set(GROUPINGS)
        truth, predicted = _one_vs_rest(compas, c)
        for grouping in GROUPINGS:
            table = compas.tables[label][grouping]
            sensitive = compas.evaluation[_columns(grouping)]
            frame = MetricFrame(
                metrics=REFERENCE, y_true=truth, y_pred=predicted, sensitive_features=sensitive
            )
            by_group = _by_group(frame.by_group).loc[table.labels]
            assert table.counts.sum(axis=1).tolist() == by_group["count"].tolist()
            for measure in REFERENCE.keys() - {"count"}:
                # an undefined rate (no rows in its denominator) is NaN here; fairlearn reports 0 for some
                defined = table.size(measure) > 0
                assert np.isnan(table.values[measure]).tolist() == (~defined).tolist()
                expected = by_group[measure].to_numpy(dtype=float)[defined]
                np.testing.assert_allclose(table.values[measure][defined], expected, rtol=0, atol=1e-9)
            # calibration: mean of proba[:, c] - (y == c) per group
            residual = pd.Series(compas.proba[:, c] - truth).groupby([sensitive[a] for a in sensitive]).mean()
            expected = _by_group(residual).loc[table.labels]
            np.testing.assert_allclose(table.values["calibration_error"], expected, rtol=0, atol=1e-9)
    # the intersection has groups of one to three rows: reported, not dropped
    assert "Native American & Female" in compas.tables["violent"]["race & sex"].labels


@pytest.fixture(scope="module")
def rates(compas: Compas) -> dict[tuple[str, int], Any]:
    """(grouping, class code) -> fairlearn's MetricFrame of the one-vs-rest selection rate, TPR and FPR."""
    metrics = {"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate}
    return {
        (grouping, c): MetricFrame(
            metrics=metrics,
            y_true=compas.y == c,
            y_pred=compas.pred == c,
            sensitive_features=compas.evaluation[_columns(grouping)],
        )
        for grouping in GROUPINGS
        for c in range(len(CLASSES))
    }


def _difference(data: Compas, frame: Any, grouping: str, c: int, measure: str, min_size: int) -> float | None:
    """MetricFrame.difference() over the groups with at least `min_size` rows in the measure's denominator
    (counted here with pandas; fairlearn reports 0 for a rate with none): the literal difference() when every
    group qualifies, else the same max - min over the groups that do; None when fewer than two qualify."""
    sensitive = _group_of(data, grouping)
    sizes = pd.Series(DENOMINATOR[measure](data.y == c)).groupby(sensitive).sum()
    judged = sizes.index[sizes >= min_size]
    if len(judged) < 2:
        return None
    if len(judged) == len(sizes):
        return float(frame.difference()[measure])
    values = _by_group(frame.by_group[measure].copy()).loc[judged]
    return float(values.max() - values.min())


@pytest.mark.parametrize("min_size", [1, 30])
def test_worst_class_disparity_equals_the_largest_metricframe_difference(
    compas: Compas, rates: dict[tuple[str, int], Any], min_size: int
) -> None:
    how = Comparison(min_size)
    literal = 0
    for grouping in GROUPINGS:
        tables = engine.for_grouping(compas.tables, grouping)
        for name in FAIRLEARN:
            result = engine.disparity(tables, name, how)
            per_class = {}
            for c, label in enumerate(CLASSES):
                gaps = [
                    _difference(compas, rates[grouping, c], grouping, c, m, min_size)
                    for m in binary.DISPARITIES[name]
                ]
                defined = [g for g in gaps if g is not None]
                per_class[label] = max(defined) if defined else None
            assert result["per_class"].keys() == per_class.keys()
            for label, expected in per_class.items():
                assert (result["per_class"][label] is None) == (expected is None)
                if expected is not None:
                    assert result["per_class"][label] == pytest.approx(expected, abs=1e-9)
            worst = max(v for v in per_class.values() if v is not None)
            assert result["value"] == pytest.approx(worst, abs=1e-9)
            assert per_class[result["class"]] == pytest.approx(worst, abs=1e-9)
            # the worst class's result is audit.disparity's for that class (but the p-value adjustment)
            own = binary.disparity(tables[result["class"]], name, how)
            keys = ("measure", "groups", "rates", "p_value", "ci_lower", "ci_upper")
            assert {k: result[k] for k in keys} == {k: own[k] for k in keys}
            literal += grouping == "sex"
    assert literal == 3  # sex: every group judged, so fairlearn's own difference() throughout


def test_sex_disparities_equal_fairlearns_own_functions(compas: Compas) -> None:
    """Both sexes have rows of every class, so with min_size 1 every group is judged and the worst class's gap is
    the largest of fairlearn's demographic parity / equalized odds / equal opportunity differences."""
    tables = engine.for_grouping(compas.tables, "sex")
    for name, difference in FAIRLEARN.items():
        gaps = [
            difference(*_one_vs_rest(compas, c), sensitive_features=compas.evaluation["sex"])
            for c in range(len(CLASSES))
        ]
        result = engine.disparity(tables, name, Comparison(1))
        assert result["value"] == pytest.approx(max(gaps), abs=1e-9)
        assert result["class"] == CLASSES[int(np.argmax(gaps))]


def test_adjusted_p_value_also_counts_the_classes_searched(compas: Compas) -> None:
    how = Comparison(30)
    below_one = 0
    for grouping in GROUPINGS:
        tables = engine.for_grouping(compas.tables, grouping)
        for name in ("demographic_parity", "equalized_odds", "equal_opportunity", "predictive_parity"):
            result = engine.disparity(tables, name, how)
            own = {label: binary.disparity(table, name, how) for label, table in tables.items()}
            searched = sum(r["value"] is not None for r in own.values())
            expected = min(1.0, own[result["class"]]["p_value_adjusted"] * searched)
            assert result["p_value_adjusted"] == pytest.approx(expected, rel=1e-12)
            assert result["p_value_adjusted"] >= own[result["class"]]["p_value_adjusted"]
            assert result["significant"] == (result["p_value_adjusted"] < how.alpha)
            below_one += result["p_value_adjusted"] < 1
    assert below_one >= 5  # the multiplication is exercised, not hidden by the cap
    # no class of 'violent' is predicted often enough to have a precision judged at min_size 30
    parity = engine.disparity(engine.for_grouping(compas.tables, "race"), "predictive_parity", how)
    assert parity["per_class"]["violent"] is None and parity["class"] != "violent"


def test_per_group_confusion_matrices_equal_scikit_learn(compas: Compas) -> None:
    matrices = engine.group_confusion(compas.evaluation, ATTRIBUTES, compas.y, compas.pred, CLASSES)
    assert list(matrices) == GROUPINGS
    for grouping, by_group in matrices.items():
        sensitive = _group_of(compas, grouping).to_numpy()
        assert sorted(by_group) == sorted(set(sensitive))
        for group, matrix in by_group.items():
            rows = sensitive == group
            expected = confusion_matrix(compas.y[rows], compas.pred[rows], labels=range(len(CLASSES)))
            assert matrix == expected.tolist()
        # the one-vs-rest counts of the audit are sums of these cells
        for c, label in enumerate(CLASSES):
            table = compas.tables[label][grouping]
            counts = [engine.one_vs_rest(np.array(by_group[g]), c).tolist() for g in table.labels]
            assert counts == table.counts.tolist()
    alone = engine.group_confusion(
        compas.evaluation, ATTRIBUTES, compas.y, compas.pred, CLASSES, intersections=False
    )
    assert list(alone) == ["race", "sex"]


def test_finding_names_the_disadvantaged_group_and_the_class(compas: Compas) -> None:
    how = Comparison(30)
    for grouping in GROUPINGS:
        result = engine.disparity(engine.for_grouping(compas.tables, grouping), "demographic_parity", how)
        c = CLASSES.index(result["class"])
        truth, predicted = _one_vs_rest(compas, c)
        sensitive = compas.evaluation[_columns(grouping)]
        frame = MetricFrame(
            metrics={"rate": selection_rate, "count": count},
            y_true=truth,
            y_pred=predicted,
            sensitive_features=sensitive,
        )
        by_group = _by_group(frame.by_group)
        rates = by_group.loc[by_group["count"] >= how.min_size, "rate"]
        lowest, highest = rates.idxmin(), rates.idxmax()
        for favourable, worse in (("positive", lowest), ("negative", highest)):
            sentence = engine.finding(grouping, "demographic_parity", result, {result["class"]: favourable})
            assert sentence.startswith(
                f"{grouping}: {worse} is disadvantaged on demographic parity for class '{result['class']}' — "
            ), sentence
    # on race, fewer 'no recidivism' predictions for African-American defendants than for any other group
    result = engine.disparity(engine.for_grouping(compas.tables, "race"), "demographic_parity", how)
    sentence = engine.finding("race", "demographic_parity", result, SIDES)
    assert result["class"] == "no recidivism" and result["significant"]
    assert sentence.startswith(
        "race: African-American is disadvantaged on demographic parity for class 'no recidivism'"
    )
    # a class missing from the mapping (and the default) counts as favourable
    assert engine.finding("race", "demographic_parity", result, {}) == sentence
    assert engine.finding("race", "demographic_parity", result) == sentence


def test_each_class_is_the_binary_engine_on_one_vs_rest_labels(compas: Compas) -> None:
    for c, label in enumerate(CLASSES):
        truth, predicted = _one_vs_rest(compas, c)
        alone = binary.audit(
            compas.evaluation,
            ATTRIBUTES,
            truth.astype(int),
            predicted.astype(int),
            compas.proba[:, c],
            resamples=0,
        )
        for grouping, table in alone.items():
            ours = compas.tables[label][grouping]
            assert ours.labels == table.labels and np.array_equal(ours.counts, table.counts)
            assert ours.values.keys() == table.values.keys()
            for measure, values in table.values.items():
                np.testing.assert_array_equal(ours.values[measure], values)
            assert ours.residual is not None and table.residual is not None
            np.testing.assert_array_equal(ours.residual, table.residual)


def test_classes_are_resampled_jointly_and_like_a_row_bootstrap(compas: Compas) -> None:
    for grouping in GROUPINGS:
        tables = engine.for_grouping(compas.tables, grouping)
        for measure in ("selection_rate", "base_rate"):
            # in every resample a group's rows fall into exactly one predicted (and one true) class
            total = sum(table.draws[measure] for table in tables.values())
            present = np.isfinite(total)
            assert present.mean() > 0.95
            np.testing.assert_allclose(total[present], 1.0, rtol=0, atol=1e-12)
    table = compas.tables["non-violent"]["race"]
    rate, size = table.values["selection_rate"], table.counts.sum(axis=1)
    big = size >= 100
    assert big.sum() >= 4
    np.testing.assert_allclose(
        table.draws["selection_rate"].std(axis=0)[big], np.sqrt(rate * (1 - rate) / size)[big], rtol=0.1
    )
    low, high = table.interval("selection_rate", 0.95)
    assert ((low <= rate) & (rate <= high))[big].all()


def test_audit_without_probabilities_and_on_a_single_attribute(compas: Compas) -> None:
    tables = engine.audit(
        compas.evaluation, ["sex"], compas.y, compas.pred, None, CLASSES, intersections=False, resamples=20
    )
    table = tables["violent"]["sex"]
    assert "calibration_error" not in table.values and table.draws["tpr"].shape == (20, 2)
    with pytest.raises(ValueError, match="needs audit"):
        engine.disparity(engine.for_grouping(tables, "sex"), "calibration_gap", Comparison(30))
    result = engine.disparity(engine.for_grouping(tables, "sex"), "equal_opportunity", Comparison(10_000))
    assert result["value"] is None and result["class"] is None
    assert result["per_class"] == {label: None for label in CLASSES}


def test_invalid_inputs_are_refused(compas: Compas) -> None:
    frame, y, pred, proba = compas.evaluation, compas.y, compas.pred, compas.proba
    with pytest.raises(ValueError, match="class codes"):
        engine.audit(frame, ATTRIBUTES, y, pred + 1, proba, CLASSES, resamples=0)
    with pytest.raises(ValueError, match="class codes"):
        engine.audit(frame, ATTRIBUTES, y.astype(str), pred, proba, CLASSES, resamples=0)
    with pytest.raises(ValueError, match="class codes"):
        engine.group_confusion(frame, ATTRIBUTES, y, pred[:-1], CLASSES)
    with pytest.raises(ValueError, match="proba"):
        engine.audit(frame, ATTRIBUTES, y, pred, proba[:, :2], CLASSES, resamples=0)
    with pytest.raises(ValueError, match="distinct"):
        engine.audit(frame, ATTRIBUTES, y, pred, proba, ["a", "a", "b"], resamples=0)
    tables = engine.for_grouping(compas.tables, "sex")
    with pytest.raises(ValueError, match="unknown disparity"):
        engine.disparity(tables, "outcome_parity", Comparison(30))
    result = engine.disparity(tables, "demographic_parity", Comparison(30))
    with pytest.raises(ValueError, match="favourable"):
        engine.finding("sex", "demographic_parity", result, {"violent": "bad"})
