"""Array type names shared by the statistics modules of judge/; imported for type checking
only, so numpy stays out of a plain import.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
