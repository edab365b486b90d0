"""A synthetic clinic: patients, their ulcers, visits, healing phases and the metadata table.

Phases follow a Markov chain over visits (I -> P -> R, with relapses), which gives the
clinic's mix (~31% I, 56% P, 13% R) and patients whose label changes over time. The
informative latent variables are drawn from ``signals`` given the phase; every other
clinical column is realistic-looking noise with missing cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfu.constants import CLASSES
from dfu.data import schema
from dfu.demo.signals import IMAGE_SIGNALS, METADATA_SIGNALS

# Phase chain: initial distribution and per-visit transitions (rows: from I, P, R).
_START = np.array([0.64, 0.36, 0.0])
_MOVE = np.array([[0.52, 0.46, 0.02], [0.05, 0.76, 0.19], [0.02, 0.34, 0.64]])

_LOCATIONS = {
    "Hallux": ["Hallux plantar", "Hallux medial", "Hallux tip", "hallux dorsal"],
    "toes": ["2nd toe", "3rd toe tip", "5th toe lateral", "4th toe", "Toe web"],
    "middle": ["1st MTH", "5th MTH", "Midfoot plantar", "Met head 2-3", "Arch"],
    "Heel": ["Heel posterior", "Heel plantar", "heel lateral"],
    "Ankle": ["Lateral malleolus", "Medial malleolus", "Ankle anterior"],
}
_PAIN_TYPES = ["Burning", "Stabbing", "Throbbing", "Aching", "Tingling", "0"]
_DRESSINGS = ["Foam", "Alginate", "Hydrogel", "Silver", "Gauze", "Honey"]
_PERI_ULCER = (
    ("Edema at Peri-ulcer", 0.3),
    ("Pale Colour at Peri-ulcer", 0.15),
    ("Maceration at Peri-ulcer", 0.2),
)
_FOOT = (
    ("Foot Hair Loss", 0.5),
    ("Foot Dry Skin", 0.6),
    ("Foot Fissure Cracks", 0.2),
    ("Foot Callus", 0.45),
    ("Thickened Toenail", 0.4),
    ("Foot Fungal Nails", 0.3),
)


def simulate_clinic(
    n_patients: int, rng: np.random.Generator, visits: tuple[int, int] = (2, 8)
) -> pd.DataFrame:
    """One row per assessment: ids, label, latent signals, and per-patient/ulcer context.
    ``visits``: a patient's number of visits is drawn uniformly from [low, high)."""
    rows = []
    for patient in range(1, n_patients + 1):
        n_ulcers = rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1])
        n_visits = int(rng.integers(*visits))
        days = np.concatenate([[0], np.cumsum(rng.integers(7, 35, size=n_visits - 1))])
        side = rng.choice(["Left", "Right"])
        for dfu in range(1, n_ulcers + 1):
            # Later ulcers may appear after the first visit.
            first = 0 if dfu == 1 else int(rng.integers(0, max(1, n_visits - 1)))
            phase = rng.choice(3, p=_START)
            for appt in range(first, n_visits):
                if appt > first:
                    phase = rng.choice(3, p=_MOVE[phase])
                rows.append(
                    dict(
                        patient=patient,
                        appt=appt,
                        dfu=dfu,
                        days=int(days[appt]),
                        y=int(phase),
                        side=side,
                    )
                )
    clinic = pd.DataFrame(rows)
    y = clinic["y"].to_numpy()
    for name, signal in {**METADATA_SIGNALS, **IMAGE_SIGNALS}.items():
        clinic[name] = signal.sample(y, rng)
    clinic["label"] = [CLASSES[i] for i in y]
    return clinic


def metadata_table(clinic: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The clinic's metadata CSV: every column of the real file, in its order."""
    n = len(clinic)
    patients = clinic["patient"].to_numpy()
    per_patient = _patient_columns(np.unique(patients), rng)
    table = per_patient.loc[patients].reset_index(drop=True)
    visit = _visit_columns(clinic, rng)
    ids = pd.DataFrame(
        {
            "ID": np.arange(1, n + 1),
            "Patient#": patients,
            "Appt#": clinic["appt"].to_numpy(),
            "DFU#": clinic["dfu"].to_numpy(),
            "Appt Days": clinic["days"].to_numpy(),
        }
    )
    label = clinic["label"].to_numpy()
    grade = rng.choice(["+", "", "-"], size=n, p=[0.3, 0.4, 0.3])
    leaks = pd.DataFrame(
        {
            "Healing Phase": [f"{a}{b}" for a, b in zip(label, grade, strict=False)],
            schema.LABEL_COLUMN: label,
            "Phase Confidence (%)": rng.integers(55, 100, size=n),
        }
    )
    out = pd.concat([ids, table, visit, leaks], axis=1)
    _blank_some_cells(out, rng)
    return out[list(schema.METADATA_COLUMNS)]


def _patient_columns(patients: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Columns constant for a patient (demographics, history, deformities)."""
    k = len(patients)
    b = lambda p: rng.binomial(1, p, size=k)  # noqa: E731
    smoking, alcohol = rng.integers(0, 4, size=k), rng.integers(0, 4, size=k)
    deform = {
        c: b(p)
        for c, p in [
            ("Bunion", 0.2),
            ("Claw", 0.25),
            ("Hammer", 0.2),
            ("Charcot Arthropathy", 0.08),
        ]
    }
    arch = {c: b(p) for c, p in [("Flat (Pes Planus) Arch", 0.2), ("Abnormally High Arch", 0.1)]}
    cols = {
        "Age": rng.normal(62, 11, size=k).round(),
        "Weight (Kg)": rng.normal(88, 17, size=k).round(1),
        "Height (cm)": rng.normal(171, 9, size=k).round(),
        "Sex (F:0, M:1)": rng.choice(["M", "F"], size=k, p=[0.7, 0.3]),
        "Smoking": smoking,
        "Alcohol Consumption": alcohol,
        "Habits Score": smoking + alcohol,
        "Type of Diabetes": rng.choice([1, 2], size=k, p=[0.15, 0.85]),
        "Heart Conditions": b(0.35),
        "Cancer History": b(0.1),
        "Sensory Peripheral": b(0.8),
        "Clinical Score": rng.integers(1, 5, size=k),
        "Number of DFUs": rng.integers(1, 4, size=k),
        **deform,
        "No Toes Deformities": (sum(deform.values()) == 0).astype(int),
        **arch,
        "No Arch Deformities": (sum(arch.values()) == 0).astype(int),
        "Foot Score": sum(deform.values()) + sum(arch.values()),
    }
    return pd.DataFrame(cols, index=patients)


def _visit_columns(clinic: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Columns of one assessment: the informative latents written as clinical values, plus noise.

    The draws happen in a fixed order (``_visit_draws``, then the site's, then the wound's), so
    a seed always writes the same clinic."""
    d = _visit_draws(clinic, rng)
    return pd.DataFrame({**_wound_site(clinic, d, rng), **_wound_state(d, rng), **_foot_care(d)})


def _visit_draws(clinic: pd.DataFrame, rng: np.random.Generator) -> dict:
    n = len(clinic)
    b = lambda p: rng.binomial(1, p, size=n)  # noqa: E731
    d = {"n": n, "intact": rng.normal(30.5, 1.2, size=n).round(1)}
    d["peri_norm"] = clinic["peri_temp"].to_numpy().round(2)
    d["centre_norm"] = (rng.normal(0.6, 1.0, size=n)).round(2)
    d["groups"] = rng.choice(list(_LOCATIONS), size=n, p=[0.25, 0.25, 0.3, 0.15, 0.05])
    d["exudate"] = clinic["exudate"].to_numpy().astype(int)
    d["erythema"] = clinic["erythema"].to_numpy().astype(int)
    d["peri"] = {c: b(p) for c, p in _PERI_ULCER}
    d["foot"] = {c: b(p) for c, p in _FOOT}
    d["offload"] = {c: b(0.25) for c in schema.OFFLOADING_FLAGS[:-1]}
    d["pain"] = rng.integers(0, 6, size=n)
    d["tunneling"] = rng.choice(4, size=n, p=[0.7, 0.15, 0.1, 0.05])
    d["pain_type"] = rng.choice(_PAIN_TYPES, size=n)
    d["dressing"] = rng.choice(_DRESSINGS, size=n)
    return d


def _wound_site(clinic: pd.DataFrame, d: dict, rng: np.random.Generator) -> dict:
    intact, centre_norm, peri_norm = d["intact"], d["centre_norm"], d["peri_norm"]
    return {
        "Side (Left:0, Right:1)": clinic["side"].to_numpy(),
        "Foot Aspect": rng.choice(["Plantar", "Dorsal", "Lateral", "Medial"], size=d["n"]),
        "Location": [rng.choice(_LOCATIONS[g]) for g in d["groups"]],
        "Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)": d["groups"],
        "Onset (Days)": np.exp(clinic["log_onset"].to_numpy()).round(),
        "Wound Centre Temperature (°C)": (intact + centre_norm).round(1),
        "Peri-Ulcer Temperature (°C)": (intact + peri_norm).round(2),
        "Intact Skin Temperature (°C)": intact,
        "Wound Centre Temperature Normalized (°C)": centre_norm,
        "Peri-Ulcer Temperature Normalized (°C)": peri_norm,
    }


def _wound_state(d: dict, rng: np.random.Generator) -> dict:
    n, pain_type, peri = d["n"], d["pain_type"], d["peri"]
    exudate, erythema, tunneling = d["exudate"], d["erythema"], d["tunneling"]
    return {
        "Pain Level": d["pain"],
        "Type of Pain": pain_type,
        "Type of Pain Grouped": np.where(pain_type == "0", "0", "Neuropathic"),
        "Type of Pain2": rng.choice(_PAIN_TYPES, size=n),
        "Type of Pain_Grouped2": rng.choice(["Neuropathic", "Nociceptive", "0"], size=n),
        "Wound Tunneling": tunneling,
        "Exudate Amount (None:0,Minor,Medium,Severe:3)": exudate,
        "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)": rng.choice(
            ["Serous", "Haemoserous", "Bloody", "Thick"], size=n
        ),
        "Odor": rng.choice(["NoOdor", "Unpleasant"], size=n, p=[0.8, 0.2]),
        "Erythema at Peri-ulcer": erythema,
        **peri,
        "No Peri-ulcer Conditions (False:0, True:1)": (erythema + sum(peri.values()) == 0).astype(
            int
        ),
        "Wound Score": exudate + erythema + tunneling + sum(peri.values()),
    }


def _foot_care(d: dict) -> dict:
    foot, offload, dressing = d["foot"], d["offload"], d["dressing"]
    return {
        **foot,
        "No Foot Abnormalities": (sum(foot.values()) == 0).astype(int),
        "Leg Score": sum(foot.values()),
        **offload,
        "No Offloading": (sum(offload.values()) == 0).astype(int),
        "Offloading Score": sum(offload.values()),
        "Dressing": dressing,
        "Dressing Grouped": np.where(
            np.isin(dressing, ["Silver", "Honey"]), "Antimicrobial", "Standard"
        ),
    }


def _blank_some_cells(table: pd.DataFrame, rng: np.random.Generator) -> None:
    """Empty cells as in the clinic's file: a few % in most columns, more in some."""
    rates = {"Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)": 0.2, "Type of Pain2": 0.8}
    protected = set(schema.ID_COLUMNS) | {schema.LABEL_COLUMN, "Healing Phase"}
    for col in table.columns:
        if col in protected:
            continue
        rate = rates.get(col, rng.uniform(0.0, 0.05))
        mask = rng.random(len(table)) < rate
        table[col] = table[col].astype(object).where(~mask, None)
