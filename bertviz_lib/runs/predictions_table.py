"""(temporary)"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bertviz_lib.data import LabelledData
from bertviz_lib.metrics import prediction_ids


def predictions_table(
    data: LabelledData, probabilities: np.ndarray, threshold: float
) -> pd.DataFrame:
    """Validation texts with true and predicted labels and a probability column per class."""
    names = np.array(data.label_names)
    decided = prediction_ids(probabilities, data.problem_type, threshold)
    if data.problem_type == "multi_label":
        predicted = [";".join(names[row.astype(bool)]) for row in decided]
        confidence = probabilities.max(axis=1)
    else:
        predicted = list(names[decided])
        confidence = probabilities[np.arange(len(decided)), decided]
    table = pd.DataFrame(
        {
            "text": data.texts,
            "true_label": [";".join(row) for row in data.labels],
            "predicted_label": predicted,
            "confidence": confidence,
        }
    )
    for index, name in enumerate(data.label_names):
        table[f"p_{name}"] = probabilities[:, index]
    return table
