"""The Zivot layout, written down once: column names, file-name grammar, modality folders.

Both the reader and the demo generator use these names, so the demo exercises exactly the
code path real data goes through. See ../shared/docs/DATASET.md for the protocol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- metadata CSV --------------------------------------------------------------------
ID_COLUMNS = ("ID", "Patient#", "Appt#", "DFU#", "Appt Days")
KEY_COLUMNS = ("Patient#", "Appt#", "DFU#")
# A record identifier, not a number ("8208A" occurs in the clinic's file): kept as text.
RECORD_ID_COLUMN = "ID"
LABEL_COLUMN = "Healing Phase Abs"
# Derived from the label: never features.
LEAK_COLUMNS = ("Healing Phase", "Phase Confidence (%)")

OFFLOADING_FLAGS = (
    "Offloading: Therapeutic Footwear",
    "Offloading: Scotcast Boot or RCW",
    "Offloading: Half Shoes or Sandals",
    "Offloading: Total Contact Cast",
    "Offloading: Crutches, Walkers or Wheelchairs",
    "No Offloading",
)
# Care given at the visit: admissible as features only when the config says so.
TREATMENT_COLUMNS = ("Dressing", "Dressing Grouped", *OFFLOADING_FLAGS, "Offloading Score")

NUMERIC_FEATURES = (
    "Age",
    "Weight (Kg)",
    "Height (cm)",
    "Smoking",
    "Alcohol Consumption",
    "Habits Score",
    "Type of Diabetes",
    "Heart Conditions",
    "Cancer History",
    "Sensory Peripheral",
    "Clinical Score",
    "Number of DFUs",
    "Onset (Days)",
    "No Toes Deformities",
    "Bunion",
    "Claw",
    "Hammer",
    "Charcot Arthropathy",
    "Flat (Pes Planus) Arch",
    "Abnormally High Arch",
    "No Arch Deformities",
    "Foot Score",
    "Wound Centre Temperature (°C)",
    "Peri-Ulcer Temperature (°C)",
    "Intact Skin Temperature (°C)",
    "Wound Centre Temperature Normalized (°C)",
    "Peri-Ulcer Temperature Normalized (°C)",
    "Pain Level",
    "Wound Tunneling",
    "Exudate Amount (None:0,Minor,Medium,Severe:3)",
    "No Peri-ulcer Conditions (False:0, True:1)",
    "Erythema at Peri-ulcer",
    "Edema at Peri-ulcer",
    "Pale Colour at Peri-ulcer",
    "Maceration at Peri-ulcer",
    "Wound Score",
    "No Foot Abnormalities",
    "Foot Hair Loss",
    "Foot Dry Skin",
    "Foot Fissure Cracks",
    "Foot Callus",
    "Thickened Toenail",
    "Foot Fungal Nails",
    "Leg Score",
    *OFFLOADING_FLAGS,
    "Offloading Score",
)

CATEGORICAL_FEATURES = (
    "Sex (F:0, M:1)",
    "Side (Left:0, Right:1)",
    "Foot Aspect",
    "Location",
    "Location Grouped (Hallux:1,Toes,Middle,Heel,Ankle:5)",
    "Type of Pain",
    "Type of Pain Grouped",
    "Type of Pain2",
    "Type of Pain_Grouped2",
    "Exudate Appearance (Serous:1,Haemoserous,Bloody,Thick:4)",
    "Odor",
    "Dressing",
    "Dressing Grouped",
)

METADATA_COLUMNS = (
    *ID_COLUMNS,
    *NUMERIC_FEATURES,
    *CATEGORICAL_FEATURES,
    "Healing Phase",
    LABEL_COLUMN,
    "Phase Confidence (%)",
)

# --- bounding-box CSVs ---------------------------------------------------------------
BBOX_COLUMNS = (
    "Filename",
    "Patient#",
    "Appt#",
    "DFU#",
    "DebriStat",
    "Camera",
    "Angle",
    "Bounding Box Number",
    "Xmin",
    "Ymin",
    "Xmax",
    "Ymax",
)

# --- image folders ---------------------------------------------------------------------
# modality -> (config attribute naming its folder, camera whose box crops it)
MODALITY_FOLDERS = {
    "depth_rgb": ("depth_rgb_dir", "D"),
    "depth_map": ("depth_map_dir", "D"),
    "thermal_rgb": ("thermal_rgb_dir", "T"),
    "thermal_map": ("thermal_map_dir", "T"),
}

# Field-of-view corrections for map crops (DATASET.md).
DEPTH_MAP_WIDEN = (3 / 69, 3 / 42)  # fraction of box width, height added on each side
THERMAL_MAP_MARGIN_PX = 30

# --- file names --------------------------------------------------------------------------
_NAME = re.compile(
    r"^(?P<seq>\d+)_(?P<token>P(?P<patient>\d{3})(?P<appt>\d{2})(?P<dfu>\d)"
    r"(?P<debridement>[AB])(?P<camera>[DT])(?P<angle>[LMR])(?P<zoom>[WZ]))\.png$"
)


@dataclass(frozen=True)
class ImageName:
    """The parts of ``{seq}_P{patient:03d}{appt:02d}{dfu}{debridement}{camera}{angle}{zoom}.png``."""

    seq: int
    patient: int
    appt: int
    dfu: int
    debridement: str
    camera: str
    angle: str
    zoom: str

    @property
    def token(self) -> str:
        """The ``P...`` part shared by a frame and its map."""
        return (
            f"P{self.patient:03d}{self.appt:02d}{self.dfu}"
            f"{self.debridement}{self.camera}{self.angle}{self.zoom}"
        )

    @property
    def filename(self) -> str:
        return f"{self.seq}_{self.token}.png"


def parse_image_name(name: str) -> ImageName | None:
    """The parts of a Zivot image file name, or None if it does not follow the grammar."""
    m = _NAME.match(name)
    if m is None:
        return None
    return ImageName(
        seq=int(m["seq"]),
        patient=int(m["patient"]),
        appt=int(m["appt"]),
        dfu=int(m["dfu"]),
        debridement=m["debridement"],
        camera=m["camera"],
        angle=m["angle"],
        zoom=m["zoom"],
    )


def assessment_id(patient: int, appt: int, dfu: int) -> str:
    """Stable text id of an assessment (one metadata row)."""
    return f"P{int(patient):03d}-A{int(appt):02d}-U{int(dfu)}"


# --- what the reader returns ------------------------------------------------------------
# The ids and label of an image set: the first columns of the reader's image sets and of the
# cache's index.
IMAGE_SET_IDS = ("set_id", "assessment_id", "patient", "appt", "dfu", "label")


# --- the demo's oracle (never read by the reader) --------------------------------------
# The demo generator writes its Bayes oracle into the dataset folder: every combination's exact
# posterior per assessment, which the report and jobs.check_learning read (demo data only).
ORACLE_DIR = "_oracle"
ORACLE_POSTERIORS = "posteriors.parquet"  # assessment_id, combo, y, p_I, p_P, p_R
