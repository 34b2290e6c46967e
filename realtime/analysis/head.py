"""Head pose, gaze and eye/mouth state of each face, from its mesh (where the landmarker found one).

Head pose is the rotation in the landmarker's facial transformation matrix, as Euler angles in
degrees with OpenFace's axes and signs (its pose_Rx, pose_Ry, pose_Rz are the same angles in
radians): camera axes x to the image's right, y down, z away from the camera, R = Rx(pitch) Ry(yaw) Rz(roll).
In image terms, as the frame was analysed (the app mirrors webcams first, see --mirror):

    head_yaw   > 0: the nose points to the image's left   (unmirrored: the subject turns to their right)
    head_pitch > 0: the nose points down                   (head bowed; wild-dev's faces, mostly posed for
                                                            the camera, have a median of +2.5)
    head_roll  > 0: the head leans clockwise in the image

Gaze is where the eyes point, in the camera's terms like OpenFace's gaze_angle_x/y (which are radians):
the head's yaw and pitch plus the eyes' turn in the head, with the same signs (gaze_yaw > 0: looking
towards the image's left; gaze_pitch > 0: looking down). The eyes' turn comes from each iris centre's
offset from the middle of its eye's corners, on an eyeball whose radius is EYEBALL_RADIUS eye widths,
less the offset of eyes at rest (the iris centre sits above the corners' line).

eyes_closed and mouth_open are the blendshapes eyeBlinkLeft/Right (mean of both) and jawOpen over
their thresholds; head_frontal says the head is turned little enough for the expression readings to
hold (bench/head_pose.py measured where they stop holding; bench/README.md, "Head pose").
"""

from __future__ import annotations

import math

import numpy as np

from mappings import BLENDSHAPE_NAMES
from realtime.analysis.faces import Face

# An adult eyeball's radius (~12 mm) over the corner-to-corner width of the eye opening (~29 mm).
EYEBALL_RADIUS = 12 / 29
# Eye corners (outer, inner on the image's left eye; inner, outer on the right one), then the iris centres:
# each pair runs from the image's left to its right on any upright face, mirrored or not.
EYES = (((33, 133), 468), ((362, 263), 473))
EYES_CLOSED_AT = 0.5  # mean eyeBlink score
MOUTH_OPEN_AT = 0.2  # jawOpen score
# bench/head_pose.py on the 1,744 wild-dev photos with a mesh: emotion accuracy is 54.2% within 20 degrees
# of yaw and 34.6% beyond; 52.7% within 20 degrees of the median pitch (+2.5) and 40.3% beyond.
FRONTAL_YAW, FRONTAL_PITCH_CENTRE, FRONTAL_PITCH = 20.0, 2.5, 20.0
# The same run: neutral faces, which mostly look at the camera, have a median eye pitch of -9.8 from the corners.
EYE_PITCH_AT_REST = -9.8
_BLINK = [BLENDSHAPE_NAMES.index("eyeBlinkLeft"), BLENDSHAPE_NAMES.index("eyeBlinkRight")]
_JAW_OPEN = BLENDSHAPE_NAMES.index("jawOpen")


def euler_degrees(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of R = Rx(pitch) Ry(yaw) Rz(roll)."""
    r = rotation
    yaw = math.asin(max(-1.0, min(1.0, r[0, 2])))
    pitch = math.atan2(-r[1, 2], r[2, 2])
    roll = math.atan2(-r[0, 1], r[0, 0])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def eye_turn_degrees(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) of the eyes in the head, both eyes averaged, with head pose's signs (0, 0: at rest)."""
    turns = []
    for (left, right), iris in EYES:
        a, b = landmarks[left].astype(np.float64), landmarks[right].astype(np.float64)
        width = float(np.linalg.norm(b - a))
        if width < 1e-6:
            continue
        u = (b - a) / width  # along the eye, towards the image's right
        v = np.array([-u[1], u[0]])  # across it, downwards
        offset = landmarks[iris] - (a + b) / 2
        radius = EYEBALL_RADIUS * width
        sideways = float(np.clip(offset @ u / radius, -1, 1))
        down = float(np.clip(offset @ v / radius, -1, 1))
        turns.append((-math.degrees(math.asin(sideways)), math.degrees(math.asin(down)) - EYE_PITCH_AT_REST))
    if not turns:
        return math.nan, math.nan
    yaw, pitch = np.mean(turns, axis=0)
    return float(yaw), float(pitch)


def frontal(yaw: float, pitch: float) -> bool:
    """Whether the expression readings of a face held at this head pose can be trusted."""
    return abs(yaw) <= FRONTAL_YAW and abs(pitch - FRONTAL_PITCH_CENTRE) <= FRONTAL_PITCH


class HeadState:
    """Sets head pose, gaze, head_frontal, eyes_closed and mouth_open on faces with a mesh."""

    def apply(self, face: Face) -> None:
        mesh = face.mesh
        if mesh is None or mesh.rotation is None:
            return
        face.head_yaw, face.head_pitch, face.head_roll = euler_degrees(mesh.rotation)
        eye_yaw, eye_pitch = eye_turn_degrees(mesh.landmarks)
        face.gaze_yaw, face.gaze_pitch = face.head_yaw + eye_yaw, face.head_pitch + eye_pitch
        face.head_frontal = int(frontal(face.head_yaw, face.head_pitch))
        face.eyes_closed = int(float(mesh.blendshapes[_BLINK].mean()) >= EYES_CLOSED_AT)
        face.mouth_open = int(float(mesh.blendshapes[_JAW_OPEN]) >= MOUTH_OPEN_AT)
