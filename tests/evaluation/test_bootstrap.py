import numpy as np
import pytest

from dfu.config import ReportConfig
from dfu.evaluation.bootstrap import SCORES, PatientBootstrap, confusion, scores_from_confusion
from dfu.evaluation.metrics import classification_metrics


def clustered(n_patients: int, seed: int, per_patient: int = 4, accuracy: float = 0.7):
    """Patients whose own accuracy varies (Beta around ``accuracy``): rows of one patient
    are correlated, as visits of one patient are. Returns patients, y_true, y_pred."""
    rng = np.random.default_rng(seed)
    own = rng.beta(accuracy * 4, (1 - accuracy) * 4, n_patients)
    patients = np.repeat(np.arange(n_patients), per_patient)
    y_true = rng.integers(0, 3, len(patients))
    right = rng.random(len(patients)) < own[patients]
    wrong = (y_true + rng.integers(1, 3, len(patients))) % 3
    return patients, y_true, np.where(right, y_true, wrong)


def one_hot(y_pred):
    return np.eye(3)[y_pred]


@pytest.mark.parametrize("case", ["random", "one_class_predicted", "class_absent", "perfect"])
def test_scores_from_confusion_equal_scikit_learn(case):
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
    if case == "one_class_predicted":
        y_pred[:] = 1
    elif case == "class_absent":
        y_true[y_true == 2], y_pred[y_pred == 2] = 0, 1
    elif case == "perfect":
        y_pred = y_true.copy()
    mine = scores_from_confusion(confusion(y_true, y_pred))
    reference = classification_metrics(y_true, one_hot(y_pred))
    for name in SCORES:
        assert mine[name] == pytest.approx(reference[name], abs=1e-12), name


def test_interval_covers_the_truth_about_95_percent_of_the_time():
    # Truth: the expected accuracy of the patient population (Beta mean = 0.7).
    covered = []
    for seed in range(120):
        boot = PatientBootstrap(np.arange(40), ReportConfig(resamples=400, seed=seed))
        estimate = boot.estimates(*clustered(40, seed))["accuracy"]
        covered.append(estimate.low <= 0.7 <= estimate.high)
    assert 0.88 <= np.mean(covered) <= 0.99


def width(n_patients: int, seed: int = 0, per_patient: int = 4) -> float:
    rows = clustered(n_patients, seed, per_patient)
    e = PatientBootstrap(rows[0], ReportConfig(resamples=1000, seed=seed)).estimates(*rows)["kappa"]
    return e.high - e.low


def test_intervals_shrink_with_more_patients():
    assert width(200) < 0.7 * width(50)


def test_duplicating_every_row_changes_nothing():
    # Copies of the same visits are no new evidence: patients, not rows, are resampled.
    patients, y_true, y_pred = clustered(50, 3)
    boot = PatientBootstrap(patients, ReportConfig(resamples=500, seed=0))
    once = boot.estimates(patients, y_true, y_pred)["kappa"]
    ten = boot.estimates(np.repeat(patients, 10), np.repeat(y_true, 10), np.repeat(y_pred, 10))
    assert (ten["kappa"].low, ten["kappa"].high) == pytest.approx((once.low, once.high))


def test_one_patient_duplicated_many_times_does_not_narrow_the_interval():
    patients, y_true, y_pred = clustered(50, 4)
    mask = patients == 0
    heavy = (
        np.concatenate([patients, np.repeat(patients[mask], 60)]),
        np.concatenate([y_true, np.repeat(y_true[mask], 60)]),
        np.concatenate([y_pred, np.repeat(y_pred[mask], 60)]),
    )
    boot = PatientBootstrap(patients, ReportConfig(resamples=1000, seed=0))
    plain = boot.estimates(patients, y_true, y_pred)["kappa"]
    duplicated = boot.estimates(*heavy)["kappa"]
    assert duplicated.high - duplicated.low >= 0.95 * (plain.high - plain.low)


def test_paired_difference_has_the_sign_of_the_better_model():
    patients, y_true, good = clustered(60, 5, accuracy=0.8)
    rng = np.random.default_rng(0)
    bad = np.where(rng.random(len(y_true)) < 0.5, good, rng.integers(0, 3, len(y_true)))
    boot = PatientBootstrap(patients, ReportConfig(resamples=1000, seed=0))
    better = boot.difference((patients, y_true, good), (patients, y_true, bad))
    worse = boot.difference((patients, y_true, bad), (patients, y_true, good))
    assert better.value > 0 and better.low > 0 and better.above_zero > 0.97
    assert worse.value == pytest.approx(-better.value) and worse.high < 0
    assert worse.above_zero < 0.03


def test_a_model_against_itself_differs_by_exactly_zero():
    rows = clustered(30, 6)
    d = PatientBootstrap(rows[0], ReportConfig(resamples=200)).difference(rows, rows)
    assert (d.value, d.low, d.high, d.above_zero) == (0.0, 0.0, 0.0, 0.0)


def test_resamples_are_fixed_by_the_seed_and_unknown_patients_refused():
    rows = clustered(30, 7)
    a = PatientBootstrap(rows[0], ReportConfig(resamples=300, seed=11)).estimates(*rows)["kappa"]
    b = PatientBootstrap(rows[0], ReportConfig(resamples=300, seed=11)).estimates(*rows)["kappa"]
    assert a == b
    with pytest.raises(ValueError, match="not among the resampled"):
        PatientBootstrap([0, 1], ReportConfig()).estimates(
            np.array([5]), np.array([0]), np.array([0])
        )


def test_a_difference_says_how_many_rows_it_compared_and_refuses_unpaired_rows():
    rows = clustered(30, 8)
    boot = PatientBootstrap(rows[0], ReportConfig(resamples=200))
    d = boot.difference(rows, rows)
    assert d.n == len(rows[0]) and d.to_dict()["n"] == len(rows[0])
    with pytest.raises(ValueError, match="paired rows differ in number"):
        boot.difference(rows, tuple(r[:-4] for r in rows))
