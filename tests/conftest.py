"""Shared fixtures."""

import cv2
import numpy as np
import pytest
from skimage import data as skdata


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut photo (512x512, one upright face of ~95 px around x=224, y=128) as BGR uint8.

    Session-scoped and shared: copy it before drawing on it.
    """
    img = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    img.flags.writeable = False
    return img
