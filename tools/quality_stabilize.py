"""Quality evaluation of the ``stabilize`` stage against ffmpeg, vid.stab and vidgear.

Three kinds of input:

* ``corpus`` (ground truth, the main one): the shake users really have, on the
  real pictures of :mod:`corpus`, split into a ``tune`` and a ``report`` half
  (``--split``; defaults are tuned on ``tune`` only).  Each case type
  (:data:`SHAKES`) is rendered on every photograph of the half: hand shake with
  roll at three strengths (``light``, ``hand`` - the reference case, ``strong``),
  walking bob (1-3 Hz), tremor (4-10 Hz) on a still camera, zoom breathing,
  a rolling pan, a still tripod knocked once (``bump``; the frames before the
  knock must come out identical), a large foreground sprite moving on its own
  (``pet``; ``plain``: the same over a background blurred plain, where the sprite holds most of the corners;
  ``bare``: blurred further, a bare floor with next to no corners of its own), a
  still camera over running water (``water``), and the half's real
  still-camera clips with shake added (``clip``; each clip is first held still,
  :func:`held_still`, so that its own small camera motion is not taken as intended).  Output is scored against
  the frames the camera *meant* to take; mean and worst over the sources per
  case type, and the targets checked on the worst case.
* ``pan`` (ground truth): one photograph (``clean_flower_540p.mp4`` frame 60)
  under a pan with white-spectrum shake above 1 Hz and a little roll.
* ``clip``: real shaky clips of the shared media folder as they are (no ground
  truth): **ITF**, **stability** (share of the energy of the frame-to-frame
  translation spectrum at or below 2 Hz, DC excluded; 1 is perfectly smooth
  motion, in the spirit of Liu et al. 2013's low-frequency share) and **crop**
  (``1 / zoom`` of output against input).

Ground-truth metrics (each output frame registered to the intended one, a
similarity ``(dx, dy, angle, zoom)`` about the centre):

- **jitter**: RMS of the fast part of the frame-centre displacement (the
  displacement minus its centred 15-frame moving average), px - the reference
  definition;
- **drift**: RMS of the slow part (the moving average): lag on pans, shake
  followed as if intended;
- **corner jitter**: the fast part over the centre and four points near the
  corners, so roll and zoom shake count too (the crop zoom's slow changes fall
  in the slow part);
- **crop**: mean ``1 / zoom`` of the output against the intended frame;
- **ITF**: mean PSNR (Y) between consecutive output frames, dB.

Whole-process speed (fps) is input frames over wall-clock time of the process
that reads the lossless ``.y4m`` input and writes the ``.y4m`` output, startup
included.  vidgear (the ``tools`` extra: ``pip install -e ".[tools]"``) is run
twice: its default box filter over 25 frames (24 frames of delay) and, from
0.3.6 on, its zero-delay Kalman filter for live streams; without it the tool
skips it with a note.

``corpus`` runs the stage in this process on BGR frames by default (``--runner
inproc``, fast, for tuning); ``--runner cli`` runs the command line on the
``.y4m`` file as a user would.  The peers run on each case's ``.y4m`` file in the
same run (``--peers none`` for vqe alone, as tuning does).  ``speed`` times vqe and vidgear on the reference
case (720p, hand shake with roll), whole process, in the same run.
For before/after figures, copy this file into the other version's checkout and
run it there, from that checkout (``python -m realtime`` takes the package from the
working directory first).

Examples
--------
::

    python tools/quality_stabilize.py corpus --split tune --lookahead 0,5
    python tools/quality_stabilize.py corpus --split report --lookahead 0,5 --cases hand,water,pet
    python tools/quality_stabilize.py speed --lookahead 0,5 --peers all --repeat 2

    python tools/quality_stabilize.py pan --size 1280x720 --frames 240 --lookahead 0,3,5
    python tools/quality_stabilize.py clip --clip shaky_seattle_walk_360p.avi --clip shaky_foreman_cif.mp4
    python tools/quality_stabilize.py static
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from qualitylib import (  # noqa: E402
    MEDIA,
    Y4mReader,
    Y4mWriter,
    bgr_to_yuv,
    ffmpeg_exe,
    read_clip,
    read_y4m_bgr,
    run_timed,
    vqe_command,
    write_y4m,
    yuv_to_bgr,
)

log = logging.getLogger("quality_stabilize")
PHOTO = ("clean_flower_540p.mp4", 60)
SHAKY_CLIPS = ("shaky_seattle_walk_360p.avi", "shaky_foreman_cif.mp4")
STATIC_CLIP = "clean_person_indoor_432p.mp4"
#: Frames of the centred moving average separating jitter (above) from drift (below).
SPLIT_FRAMES = 15


# --- clips ------------------------------------------------------------------------------------



def smooth_noise(rng: np.random.Generator, n: int, low_hz: float, high_hz: float, fps: float) -> np.ndarray:
    """Unit-RMS random signal with its energy between ``low_hz`` and ``high_hz``."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / fps)
    spec[(f < low_hz) | (f > high_hz)] = 0
    sig = np.fft.irfft(spec, n)
    return sig / max(sig.std(), 1e-9)


@dataclass
class CameraPath:
    """Per frame: camera centre on the photograph (px of the output) and roll (rad)."""

    x: np.ndarray
    y: np.ndarray
    roll: np.ndarray


def camera_paths(frames: int, shake_px: float, seed: int, fps: float = 30.0) -> tuple[CameraPath, CameraPath]:
    """The intended path (pan with changing speed, slow tilt) and the shaken one."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    dur = frames / fps
    # Pan: speed rises and falls (0 to ~5 px/frame), a slow tilt, a slight intended roll.
    x = 120.0 * dur * (t / dur - np.sin(2 * np.pi * t / dur) / (2 * np.pi))
    y = 25.0 * np.sin(2 * np.pi * t / (dur * 1.3))
    roll = 0.01 * np.sin(2 * np.pi * t / dur)
    intended = CameraPath(x, y, roll)
    # Hand shake: a new random offset every frame (flat spectrum from 1 Hz up), minus the slow
    # part that no one could tell from an intended move; a little roll shake.
    sx = shake_px * smooth_noise(rng, frames, 1.0, fps / 2, fps)
    sy = shake_px * smooth_noise(rng, frames, 1.0, fps / 2, fps)
    sr = 0.003 * smooth_noise(rng, frames, 1.0, fps / 2, fps)
    shaken = CameraPath(x + sx, y + sy, roll + sr)
    return intended, shaken


def render(photo: np.ndarray, path: CameraPath, size: tuple[int, int], magnify: float,
           origin: tuple[float, float]) -> list[np.ndarray]:
    """Frames the virtual camera sees: output px -> photo px through roll, magnification and centre.

    ``origin`` is the photo point under the frame centre when the path is at (0, 0); the
    shaken and the intended renders must share it.
    """
    width, height = size
    out = []
    cx0, cy0 = (width - 1) / 2.0, (height - 1) / 2.0
    px0, py0 = origin
    for i in range(len(path.x)):
        c, s = np.cos(path.roll[i]) / magnify, np.sin(path.roll[i]) / magnify
        # photo = origin + (cam + R (x - c0)) / magnify
        m = np.array([[c, -s, px0 + path.x[i] / magnify - c * cx0 + s * cy0],
                      [s, c, py0 + path.y[i] / magnify - s * cx0 - c * cy0]])
        out.append(cv2.warpAffine(photo, m, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


def pan_clip(size: tuple[int, int], frames: int, shake_px: float, seed: int = 0):
    """Shaken frames and intended frames, from a real photograph."""
    photo = read_clip(MEDIA / PHOTO[0], None, 1, PHOTO[1])[0]
    width, height = size
    intended, shaken = camera_paths(frames, shake_px, seed)
    span = float(intended.x.max() - intended.x.min()) + 8 * shake_px
    # Magnify so that the frame plus the pan plus the shake fit on the photo.
    magnify = max((width + span) / photo.shape[1], (height + 8 * shake_px + 60) / photo.shape[0], 1.0)
    ph, pw = photo.shape[:2]
    # The pan is centred on the photograph.
    origin = (pw / 2.0 - (intended.x.min() + intended.x.max()) / 2.0 / magnify, ph / 2.0)
    return render(photo, shaken, size, magnify, origin), render(photo, intended, size, magnify, origin)


# --- y4m ----------------------------------------------------------------------------------------




# --- registration and metrics --------------------------------------------------------------------

def gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def register(ref: np.ndarray, img: np.ndarray, scale: float = 0.5) -> tuple[float, float, float, float] | None:
    """Similarity taking ``ref`` to ``img``, about the frame centre: (dx, dy, angle, zoom) in px/rad.

    Features of the reference (grid-spread), pyramidal LK on a half-size copy,
    then a full-size refinement, RANSAC similarity.  None if it fails.
    """
    a, b = gray(ref), gray(img)
    if scale != 1.0:
        a = cv2.resize(a, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = a.shape
    mask = np.zeros_like(a)
    mask[h // 10: h - h // 10, w // 10: w - w // 10] = 255
    p0 = cv2.goodFeaturesToTrack(a, 400, 0.01, 8, mask=mask, blockSize=5)
    if p0 is None or len(p0) < 10:
        return None
    lk = dict(winSize=(21, 21), maxLevel=4, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    p1, st, _ = cv2.calcOpticalFlowPyrLK(a, b, p0, None, **lk)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, p1, None, **lk)
    ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - p0).reshape(-1, 2), axis=1) < 0.3)
    if ok.sum() < 10:
        return None
    m, inl = cv2.estimateAffinePartial2D(p0[ok] / scale, p1[ok] / scale, method=cv2.RANSAC,
                                         ransacReprojThreshold=1.0, refineIters=20)
    if m is None:
        return None
    hh, ww = ref.shape[:2]
    cx, cy = (ww - 1) / 2.0, (hh - 1) / 2.0
    dx = m[0, 0] * cx + m[0, 1] * cy + m[0, 2] - cx
    dy = m[1, 0] * cx + m[1, 1] * cy + m[1, 2] - cy
    return float(dx), float(dy), float(np.arctan2(m[1, 0], m[0, 0])), float(np.hypot(m[0, 0], m[1, 0]))


def itf(frames: list[np.ndarray]) -> float:
    """Interframe transformation fidelity: mean PSNR (Y) of consecutive frames, dB."""
    vals = []
    for a, b in zip(frames, frames[1:]):
        mse = float(np.mean((gray(a).astype(np.float32) - gray(b).astype(np.float32)) ** 2))
        vals.append(99.0 if mse <= 1e-9 else 10 * np.log10(255.0 ** 2 / mse))
    return float(np.mean(vals)) if vals else 0.0


@dataclass
class Truth:
    jitter_px: float
    drift_px: float
    corner_jitter_px: float
    crop: float
    itf_db: float
    registered: int


def moving_average(v: np.ndarray, frames: int = SPLIT_FRAMES) -> np.ndarray:
    """Centred ``frames``-frame moving average along axis 0, reflected at the ends."""
    r = frames // 2
    pad = np.pad(v, ((r, r),) + ((0, 0),) * (v.ndim - 1), mode="reflect")
    k = np.ones(frames) / frames
    flat = pad.reshape(len(pad), -1)
    out = np.stack([np.convolve(flat[:, j], k, mode="valid") for j in range(flat.shape[1])], axis=1)
    return out.reshape(v.shape)


def point_displacements(fits: np.ndarray, w: int, h: int) -> np.ndarray:
    """``(n, 5, 2)``: where the centre and four points near the corners (at 90 % of the half-size)
    of the intended frame land in the output, minus where they are meant to be, px.

    ``fits`` rows are ``(dx, dy, angle, zoom)`` about the centre: rotation and zoom move the
    corners, not the centre, so only these points see roll and zoom shake.
    """
    q = np.array([[0.0, 0.0], [-1, -1], [1, -1], [-1, 1], [1, 1]]) * np.array([0.45 * w, 0.45 * h])
    q[0] = 0.0
    c, s_ = fits[:, 3] * np.cos(fits[:, 2]), fits[:, 3] * np.sin(fits[:, 2])
    x = c[:, None] * q[None, :, 0] - s_[:, None] * q[None, :, 1] - q[None, :, 0] + fits[:, None, 0]
    y = s_[:, None] * q[None, :, 0] + c[:, None] * q[None, :, 1] - q[None, :, 1] + fits[:, None, 1]
    return np.stack([x, y], axis=-1)


def truth_metrics(out: list[np.ndarray], intended: list[np.ndarray], skip: int = 0) -> Truth:
    """Residual jitter / drift (px) against the intended frames, crop ratio, ITF.

    jitter and drift follow the reference definitions: the frame-centre displacement between the
    output and the intended frame, split by a centred 15-frame moving average into its fast part
    (jitter, RMS) and its slow part (drift, RMS).  ``corner_jitter_px`` is the same fast part over
    the centre and four points near the corners, so rotation and zoom shake count too (the slowly
    released border zoom falls in the slow part).
    """
    n = min(len(out), len(intended))
    h, w = intended[0].shape[:2]
    fits = []
    last = (0.0, 0.0, 0.0, 1.0)
    missing = 0
    for i in range(skip, n):
        r = register(intended[i], out[i])
        if r is None:
            missing += 1
            r = last
        last = r
        fits.append(r)
    return Truth(*fit_metrics(np.asarray(fits), w, h), itf(out[skip:n]), n - skip - missing)


def fit_metrics(fits: np.ndarray, w: int, h: int) -> tuple[float, float, float, float]:
    """Jitter, drift, corner jitter (px) and crop of per-frame fits ``(n, 4)`` of the intended frame onto the
    output, ``(dx, dy, angle, zoom)`` about the centre (see :func:`truth_metrics`)."""
    centre = fits[:, :2]
    low = moving_average(centre)
    jitter = float(np.sqrt(np.mean(np.sum((centre - low) ** 2, axis=1))))
    drift = float(np.sqrt(np.mean(np.sum(low ** 2, axis=1))))
    pts = point_displacements(fits, w, h)
    corner = float(np.sqrt(np.mean(np.sum((pts - moving_average(pts)) ** 2, axis=-1))))
    return jitter, drift, corner, float(np.mean(1.0 / np.maximum(fits[:, 3], 1e-3)))


def trajectory(frames: list[np.ndarray]) -> np.ndarray:
    """Frame-to-frame translation (dx, dy) px of a clip, by registration of consecutive frames."""
    steps = []
    for a, b in zip(frames, frames[1:]):
        r = register(a, b, scale=1.0 if a.shape[1] <= 700 else 0.5)
        steps.append((0.0, 0.0) if r is None else (r[0], r[1]))
    return np.asarray(steps)


def stability(frames: list[np.ndarray], fps: float = 30.0, cutoff_hz: float = 2.0) -> float:
    """Low-frequency energy share of the camera motion: spectrum of the frame-to-frame translation,
    share of its (non-DC) energy at or below ``cutoff_hz``, mean of x and y (1 = perfectly smooth)."""
    steps = trajectory(frames)
    if len(steps) < 16:
        return float("nan")
    freqs = np.fft.rfftfreq(len(steps), 1.0 / fps)
    low = (freqs > 0) & (freqs <= cutoff_hz)
    shares = []
    for j in range(2):
        e = np.abs(np.fft.rfft(steps[:, j] - steps[:, j].mean())) ** 2
        total = e[1:].sum()
        shares.append(e[low].sum() / total if total > 0 else 1.0)
    return float(np.mean(shares))


def crop_against(inp: list[np.ndarray], out: list[np.ndarray], every: int = 5) -> float:
    zooms = []
    for i in range(0, min(len(inp), len(out)), every):
        r = register(inp[i], out[i])
        if r is not None:
            zooms.append(r[3])
    return float(np.mean(1.0 / np.asarray(zooms))) if zooms else float("nan")


# --- runners ----------------------------------------------------------------------------------------


def vqe_tree() -> str:
    """The checkout vqe runs from: the one this file is in (run the tool from there too)."""
    return str(Path(__file__).resolve().parents[1])


def vqe_cmd(src: Path, dst: Path, lookahead: int, sets: tuple[str, ...] = ()) -> list[str]:
    cmd = vqe_command("--file", str(src), "-o", str(dst), "--no-display", "--no-progress",
                      "--stages", "stabilize", "--set", f"stabilize.lookahead={lookahead}")
    for s in sets:
        cmd += ["--set", s]
    return cmd


def run_vqe(src: Path, dst: Path, lookahead: int, sets: tuple[str, ...] = ()) -> float:
    return run_timed(vqe_cmd(src, dst, lookahead, sets), env=dict(os.environ, PYTHONPATH=vqe_tree()))


def run_ffmpeg(src: Path, dst: Path, vf: str) -> float:
    return run_timed([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-vf", vf, "-f", "yuv4mpegpipe",
                      "-strict", "-1", str(dst)])


def run_vidstab(src: Path, dst: Path, work: Path) -> float:
    """vid.stab two-pass (detect over the whole clip, then transform): the offline reference."""
    trf = work / "transforms.trf"
    t = run_timed([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-vf",
                   f"vidstabdetect=result={trf}", "-f", "null", "-"])
    # vid.stab's defaults (smoothing 10, optimal static zoom) with its Gaussian path filter: the
    # default global optimiser ("opt") flattens an accelerating pan, drifting tens of px off it.
    return t + run_ffmpeg(src, dst, f"vidstabtransform=input={trf}:smoothing=10:optalgo=gauss:optzoom=1")


def have_vidgear(mode: str = "asw") -> bool:
    """Whether vidgear is installed (and new enough to have ``mode``: its Kalman filter came in 0.3.6)."""
    try:
        import vidgear.gears.stabilizer as stabilizer
    except Exception:
        return False
    return mode == "asw" or hasattr(stabilizer, "StabilizerMode")


def vidgear_worker(src: str, dst: str, mode: str = "asw") -> None:
    """vidgear's Stabilizer over a y4m file (run in its own process by :func:`run_vidgear`).

    ``mode`` ``"asw"`` is its default, a box filter over 25 frames that holds them back:
    its first outputs are None and, with no flush, the last frames never come out.  The
    held-back frames are padded with the last output so that frame counts match, and
    the number of real outputs is written to ``dst + ".frames"`` so that scores leave the
    padding out (:func:`real_outputs`).  ``"kalman"`` (vidgear 0.3.6 on) is its
    zero-delay filter for live streams, with its default noise settings.
    """
    from vidgear.gears.stabilizer import Stabilizer

    logging.disable(logging.CRITICAL)
    if mode == "kalman":
        from vidgear.gears.stabilizer import StabilizerMode
        stab = Stabilizer(mode=StabilizerMode.KALMAN, crop_n_zoom=True, border_size=40, logging=False)
    else:
        stab = Stabilizer(smoothing_radius=25, crop_n_zoom=True, border_size=40, logging=False)
    reader = Y4mReader(Path(src))
    fmt = reader.fmt
    writer = Y4mWriter(Path(dst), reader.width, reader.height, reader.fps, fmt)
    n_in = n_out = 0
    last = None
    try:
        while (planes := reader.read_planes()) is not None:
            n_in += 1
            out = stab.stabilize(yuv_to_bgr(planes, fmt))
            if out is None:
                continue
            last = out
            writer.write_planes(bgr_to_yuv(np.ascontiguousarray(out), fmt))
            n_out += 1
        Path(dst + ".frames").write_text(str(n_out))
        while n_out < n_in and last is not None:
            writer.write_planes(bgr_to_yuv(np.ascontiguousarray(last), fmt))
            n_out += 1
    finally:
        stab.clean()
        reader.close()
        writer.close()


def real_outputs(dst: Path, out: list[np.ndarray]) -> list[np.ndarray]:
    """The frames a method really produced (vidgear's padding left out), then forget the note."""
    note = Path(str(dst) + ".frames")
    if not note.exists():
        return out
    n = int(note.read_text())
    note.unlink()
    return out[:n]


def run_vidgear(src: Path, dst: Path, mode: str = "asw") -> float:
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            f"import quality_stabilize as q; q.vidgear_worker({str(src)!r}, {str(dst)!r}, {mode!r})")
    return run_timed([sys.executable, "-c", code])


def methods(lookaheads: list[int], peers: str, work: Path, sets: tuple[str, ...]) -> list[tuple[str, object, int]]:
    """(label, runner(src, dst) -> wall s, frames of delay)."""
    out: list[tuple[str, object, int]] = [
        (f"vqe lookahead={n}", (lambda n: lambda s, d: run_vqe(s, d, n, sets))(n), n) for n in lookaheads]
    # The same process with no stage: the I/O ceiling on whole-process speed (and a no-op baseline).
    out.append(("vqe --stages none (I/O)", lambda s, d: run_timed(
        vqe_command("--file", str(s), "-o", str(d), "--no-display", "--no-progress",
                    "--stages", "none"), env=dict(os.environ, PYTHONPATH=vqe_tree())), 0))
    return out + peer_methods(peers, work)


def peer_methods(peers: str, work: Path) -> list[tuple[str, object, int]]:
    """The peers of ``--peers`` as :func:`methods` gives them."""
    out: list[tuple[str, object, int]] = []
    if peers in ("basic", "all"):
        out.append(("ffmpeg deshake", lambda s, d: run_ffmpeg(s, d, "deshake"), 0))
        out.append(("vid.stab 2-pass (offline)", lambda s, d: run_vidstab(s, d, work), -1))
    if peers == "all":
        if have_vidgear():
            out.append(("vidgear Stabilizer r=25", run_vidgear, 24))
        else:
            log.warning("vidgear is not installed (pip install vidgear): skipped")
        if have_vidgear("kalman"):
            out.append(("vidgear Kalman (live)", lambda s, d: run_vidgear(s, d, "kalman"), 0))
    return out


# --- the shake corpus: shake users have, on real pictures of the tune and report halves -------------------

@dataclass(frozen=True)
class Shake:
    """One kind of camera shake, the intended move it rides on, and what else moves in the scene.

    Strengths are for a 720-line frame and scale with the frame height.

    Attributes
    ----------
    name : str
    move : {"pan", "roll_pan", "still"}
        The intended camera move: a pan with a changing speed and a slow tilt, the same with a
        slow intended roll, or a camera meant to stand still.
    xy_px : float
        Translation shake, px RMS per axis (``y_gain`` times that vertically).
    band_hz : (float, float)
        Frequency band of the shake (hand 1.5-7 Hz, walking 1-3 Hz, tremor 4-10 Hz).
    roll_deg, zoom_pct : float
        Rotation shake (degrees RMS) and zoom shake (% RMS of the log zoom), same band.
    bump : bool
        A still camera knocked once, a third into the clip (a damped swing).
    layer : {"", "pet", "water", "clip"}
        Something that moves on its own: a large foreground sprite (half the frame), running
        water over the lower 60 % of the frame, or a real still-camera clip of the half.
    plain_px : float
        Blur (px at 720 lines) of the still background, 0 for none: a few soft shapes (a plain wall or floor) where
        the moving layer then holds most of the frame's corners, or, blurred further, a bare floor with next to no
        corners of its own.
    """

    name: str
    move: str
    xy_px: float = 0.0
    band_hz: tuple[float, float] = (1.5, 7.0)
    roll_deg: float = 0.0
    zoom_pct: float = 0.0
    y_gain: float = 1.0
    bump: bool = False
    layer: str = ""
    plain_px: float = 0.0


SHAKES: dict[str, Shake] = {s.name: s for s in (
    # The reference case: hand shake with roll on a pan.
    Shake("hand", "pan", 10.0, (1.5, 7.0), roll_deg=0.3),
    Shake("light", "pan", 4.0, (1.5, 7.0), roll_deg=0.1),
    Shake("strong", "pan", 14.0, (1.5, 7.0), roll_deg=0.5),
    Shake("walk", "pan", 5.0, (1.0, 3.0), roll_deg=0.2, y_gain=1.6),
    Shake("tremor", "still", 2.5, (4.0, 10.0), roll_deg=0.1),
    Shake("zoom", "pan", 3.0, (1.5, 7.0), roll_deg=0.1, zoom_pct=0.6),
    Shake("roll", "roll_pan", 4.0, (1.5, 7.0), roll_deg=0.5),
    Shake("bump", "still", bump=True),
    Shake("pet", "still", 5.0, (1.5, 7.0), roll_deg=0.2, layer="pet"),
    Shake("plain", "still", 5.0, (1.5, 7.0), roll_deg=0.2, layer="pet", plain_px=12.0),
    Shake("bare", "still", 5.0, (1.5, 7.0), roll_deg=0.2, layer="pet", plain_px=30.0),
    # The second reference case: a still camera over running water, shaken.
    Shake("water", "still", 4.8, (1.5, 7.0), roll_deg=0.3, layer="water"),
    Shake("clip", "still", 4.8, (1.5, 7.0), roll_deg=0.3, layer="clip"),
)}
#: Period of the intended pan (s): speed from 0 to 240 px/s at 720 lines and back.
PAN_PERIOD_S = 8.0
#: Targets per lookahead: jitter, drift (px), crop; the moving-texture cases (water, clip) have their own jitter.
TARGETS = {0: dict(jitter=1.8, drift=4.0, crop=0.9, water=1.2), 5: dict(jitter=1.5, drift=2.0, crop=0.9, water=0.9)}
#: Cases over moving texture, held to the tighter ``water`` jitter target.
WATERY = ("water", "clip")


@dataclass
class Camera:
    """Per frame: camera centre (output px at zoom 1), roll (rad) and log zoom."""

    x: np.ndarray
    y: np.ndarray
    roll: np.ndarray
    log_zoom: np.ndarray

    def __add__(self, other: "Camera") -> "Camera":
        return Camera(self.x + other.x, self.y + other.y, self.roll + other.roll, self.log_zoom + other.log_zoom)


def intended_move(move: str, frames: int, scale: float, fps: float = 30.0, period_s: float = PAN_PERIOD_S) -> Camera:
    """The path the camera operator meant: still, or a pan whose speed rises and falls with a slow tilt (over
    ``period_s``; a shorter period is a pan that speeds up and slows down faster)."""
    t = np.arange(frames) / fps
    zero = np.zeros(frames)
    if move == "still":
        return Camera(zero, zero.copy(), zero.copy(), zero.copy())
    # The pan of the reference clip (8 s, as 240 frames of ``pan``), whatever the clip's length: its
    # acceleration, which no causal smoother follows without some lag, is the same in every case.
    dur = period_s
    x = scale * 120.0 * dur * (t / dur - np.sin(2 * np.pi * t / dur) / (2 * np.pi))
    y = scale * 25.0 * np.sin(2 * np.pi * t / (dur * 1.3))
    roll = 0.01 * np.sin(2 * np.pi * t / dur)
    if move == "roll_pan":
        # A slow intended roll of a few degrees (a pan that follows a slope): not shake.
        roll = np.deg2rad(3.0) * np.sin(np.pi * t / dur)
    return Camera(x, y, roll, zero.copy())


def shake_of(shake: Shake, frames: int, scale: float, seed: int, fps: float = 30.0) -> Camera:
    """The shake added to the intended path (zero mean)."""
    rng = np.random.default_rng(seed)
    lo, hi = shake.band_hz
    band = lambda: smooth_noise(rng, frames, lo, min(hi, fps / 2), fps)  # noqa: E731
    x = scale * shake.xy_px * band()
    y = scale * shake.xy_px * shake.y_gain * band()
    roll = np.deg2rad(shake.roll_deg) * band()
    log_zoom = shake.zoom_pct / 100.0 * band()
    if shake.bump:
        # Knocked once: a damped 4 Hz swing of 25 px and 0.5 degrees, a third into the clip.
        t = (np.arange(frames) - frames // 3) / fps
        swing = np.where(t >= 0, np.exp(-np.maximum(t, 0) / 0.25) * np.sin(2 * np.pi * 4.0 * np.maximum(t, 0)), 0.0)
        x = x + scale * 25.0 * swing
        y = y + scale * 15.0 * swing
        roll = roll + np.deg2rad(0.5) * swing
    return Camera(x, y, roll, log_zoom)


def _view(cam: Camera, i: int, size: tuple[int, int], magnify: float, origin: tuple[float, float]) -> np.ndarray:
    """Output px -> world px (2x3) of frame ``i``: world = origin + (cam + R (x - c0) / zoom) / magnify."""
    width, height = size
    cx0, cy0 = (width - 1) / 2.0, (height - 1) / 2.0
    k = 1.0 / (magnify * math.exp(cam.log_zoom[i]))
    c, s_ = math.cos(cam.roll[i]) * k, math.sin(cam.roll[i]) * k
    return np.array([[c, -s_, origin[0] + cam.x[i] / magnify - c * cx0 + s_ * cy0],
                     [s_, c, origin[1] + cam.y[i] / magnify - s_ * cx0 - c * cy0]])


def render_view(world: np.ndarray, cam: Camera, i: int, size: tuple[int, int], magnify: float,
                origin: tuple[float, float]) -> np.ndarray:
    """What the camera sees of ``world`` at frame ``i`` (bicubic)."""
    return cv2.warpAffine(world, _view(cam, i, size, magnify, origin), size,
                          flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` scaled (aspect kept) and centre-cropped to exactly ``width x height``."""
    k = max(width / image.shape[1], height / image.shape[0])
    big = cv2.resize(image, (max(width, round(image.shape[1] * k)), max(height, round(image.shape[0] * k))),
                     interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    y0, x0 = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[y0:y0 + height, x0:x0 + width])


def held_still(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A real clip with its own camera motion taken out: each frame warped onto the first.

    The ``clip`` case promises a still camera under the added shake, but a "nearly still" real
    clip has shake of its own (``noisy_lowlight_alley_720p``: 1.6 px of jitter and a slow 20 px
    drift); left in, the intended frames would carry it and a stabilizer that takes it out would
    be scored as adding it.  Consecutive frames are registered (what moves on its own is left as
    it is) and the chained similarity undone, so the camera is still to a few hundredths of a px.
    """
    out = [frames[0]]
    to_first = np.eye(3)  # first frame px -> this frame's px
    h, w = frames[0].shape[:2]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    for prev, cur in zip(frames, frames[1:]):
        r = register(prev, cur)
        if r is not None:
            dx, dy, angle, zoom = r
            c, s_ = zoom * math.cos(angle), zoom * math.sin(angle)
            step = np.array([[c, -s_, cx + dx - c * cx + s_ * cy], [s_, c, cy + dy - s_ * cx - c * cy], [0, 0, 1]])
            to_first = step @ to_first
        out.append(cv2.warpAffine(cur, to_first[:2], (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


class StillWorld:
    """A still camera's world: a canvas a margin larger than the frame, changing per frame.

    The intended frame is the canvas's centre; the shaken camera looks at it through the
    shake.  ``layer`` makes part of it move on its own (a pet, water) or takes a real clip.
    """

    def __init__(self, base: np.ndarray | list[np.ndarray], size: tuple[int, int], margin: int, layer: str,
                 other: np.ndarray, frames: int, seed: int, plain_px: float = 0.0) -> None:
        width, height = size
        self.cw, self.ch = width + 2 * margin, height + 2 * margin
        self.margin = margin
        self.frames = frames
        self.layer = layer
        self.clip = [cover(f, self.cw, self.ch) for f in held_still(base)] if isinstance(base, list) else None
        self.base = None if self.clip is not None else cover(base, self.cw, self.ch)
        if plain_px > 0 and self.base is not None:
            self.base = cv2.GaussianBlur(self.base, (0, 0), plain_px * height / 720.0)
        self.rng = np.random.default_rng(seed)
        if layer == "pet":
            # The "pet": an ellipse of another real picture, half the frame wide, 70 % high.
            pw, ph = width // 2, int(0.7 * height)
            self.sprite = cover(other, pw, ph)
            yy, xx = np.mgrid[0:ph, 0:pw]
            inside = ((xx - pw / 2) / (pw / 2)) ** 2 + ((yy - ph / 2) / (ph / 2)) ** 2
            self.alpha = np.clip((1.0 - inside) * 8.0, 0.0, 1.0).astype(np.float32)[..., None]
        if layer == "water":
            # Running water: another real picture, flowing and rippling, over the lower 60 %.
            self.water_top = margin + int(0.4 * height)
            wh = self.ch - self.water_top
            self.water_src = cover(other, self.cw + 400, wh + 60)
            yy, xx = np.mgrid[0:wh, 0:self.cw].astype(np.float32)
            self.grid = (xx, yy)
            self.waves = [(self.rng.uniform(0.01, 0.06), self.rng.uniform(0, 2 * np.pi), self.rng.uniform(0.1, 0.35),
                           self.rng.uniform(1.5, 4.0)) for _ in range(4)]

    def __call__(self, i: int) -> np.ndarray:
        """The world (canvas) at frame ``i``."""
        if self.clip is not None:
            return self.clip[min(i, len(self.clip) - 1)]
        world = self.base
        if self.layer == "pet":
            world = world.copy()
            t = i / 30.0
            ph, pw = self.sprite.shape[:2]
            # It runs about on its own: a 3 s sideways sway over a third of the frame, a bob, a lean.
            cx = self.cw / 2 + 0.3 * self.cw * math.sin(2 * math.pi * t / 3.0)
            cy = self.ch / 2 + 0.08 * self.ch * math.sin(2 * math.pi * t / 1.1) + 0.05 * self.ch
            angle = 8.0 * math.sin(2 * math.pi * t / 2.3)
            m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, 1.0)
            m[:, 2] += (cx - pw / 2, cy - ph / 2)
            sprite = cv2.warpAffine(self.sprite, m, (self.cw, self.ch), flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(self.alpha, m, (self.cw, self.ch), flags=cv2.INTER_LINEAR)[..., None]
            world = (world * (1 - alpha) + sprite * alpha).astype(np.uint8)
        elif self.layer == "water":
            world = world.copy()
            xx, yy = self.grid
            # Flowing at 1.5 px a frame, with travelling ripples of different lengths and speeds.
            mx = xx + 200 + 1.5 * i
            my = yy + 30
            for k, phase, speed, amp in self.waves:
                mx = mx + amp * np.sin(k * yy + phase + speed * i)
                my = my + amp * np.cos(k * xx * 0.7 + phase - speed * 1.3 * i)
            water = cv2.remap(self.water_src, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            world[self.water_top:] = water
        return world


@dataclass
class Case:
    """One clip of the corpus: shaken frames, the frames meant, and what it is."""

    shake: str
    source: str
    shaken: list[np.ndarray]
    intended: list[np.ndarray]
    still_frames: int  # leading frames with no shake at all (a still tripod before its bump)


def make_case(shake: Shake, source: "object", other: "object", size: tuple[int, int], frames: int, seed: int) -> Case:
    """Render one case: ``source`` (a corpus photo or clip) under ``shake``; ``other`` lends the pet or the water."""
    width, height = size
    scale = height / 720.0
    cam_shake = shake_of(shake, frames, scale, seed)
    intended = intended_move(shake.move, frames, scale)
    if shake.move == "still":
        loaded = source.load()
        base = read_clip(loaded, None, frames) if isinstance(loaded, Path) else loaded
        other_img = other.load() if other is not None else None
        if isinstance(other_img, Path):
            other_img = read_clip(other_img, None, 1, 10)[0]
        margin = int(0.15 * width)
        world = StillWorld(base, size, margin, shake.layer, other_img, frames, seed, shake.plain_px)
        frames = min(frames, len(base)) if isinstance(base, list) else frames
        origin = ((world.cw - 1) / 2.0, (world.ch - 1) / 2.0)
        shaken_cam = intended + cam_shake
        shaken = [render_view(world(i), shaken_cam, i, size, 1.0, origin) for i in range(frames)]
        meant = [render_view(world(i), intended, i, size, 1.0, origin) for i in range(frames)]
    else:
        photo = source.load()
        span_x = float(intended.x.max() - intended.x.min()) + 8 * np.abs(cam_shake.x).max()
        span_y = float(intended.y.max() - intended.y.min()) + 8 * np.abs(cam_shake.y).max()
        # Magnified so the frame, the pan, the shake and a roll all stay on the picture.
        magnify = max(1.15 * (width + span_x) / photo.shape[1],
                      1.15 * (height + span_y + 0.05 * width) / photo.shape[0])
        ph, pw = photo.shape[:2]
        origin = (pw / 2.0 - (intended.x.min() + intended.x.max()) / 2.0 / magnify, ph / 2.0)
        shaken_cam = intended + cam_shake
        shaken = [render_view(photo, shaken_cam, i, size, magnify, origin) for i in range(frames)]
        meant = [render_view(photo, intended, i, size, magnify, origin) for i in range(frames)]
    still = frames // 3 if shake.bump else 0
    return Case(shake.name, source.name, shaken, meant, still)


def case_seed(source_name: str, base: int = 0) -> int:
    """The seed of a source's shake (and of its pet or water), drawn from the source's name: the tune and report
    halves never share a shake, and a source keeps its shake whatever else the half holds."""
    return zlib.crc32(source_name.encode()) + base


def case_sources(split: str, shake: Shake) -> list[tuple[object, object]]:
    """(source, other) pairs of one half for ``shake``: its photos (the next photo lends the pet or the
    water), or for ``clip`` its real still-camera clips."""
    import corpus

    present, _ = corpus.available(corpus.sources(split))
    photos = [s for s in present if s.kind == "photo"]
    if shake.layer == "clip":
        return [(s, None) for s in present if s.name in STILL_CLIPS]
    return [(p, photos[(i + 1) % len(photos)]) for i, p in enumerate(photos)]


#: Real clips from a (nearly) still camera, with content that moves on its own: a flower opening (tune);
#: a noisy dusk alley and a room where people walk (report).
STILL_CLIPS = ("flower_video", "alley_night", "person_indoor")


def run_inproc(frames: list[np.ndarray], lookahead: int, sets: tuple[str, ...]) -> tuple[list[np.ndarray], float]:
    """The stage in this process (the CPU backend, BGR frames): outputs and seconds spent in the pipeline."""
    from realtime.run.frames import Frame
    from realtime.run.pipeline import Pipeline
    from realtime.settings import build_settings

    settings = build_settings(stages="stabilize", overrides=(f"stabilize.lookahead={lookahead}", *sets),
                              backend="cpu")
    pipe = Pipeline(settings)
    t0 = time.perf_counter()
    out = [f.image.copy() for f in pipe.run(Frame(img, i, i / 30.0, time.monotonic()) for i, img in enumerate(frames))]
    return out, time.perf_counter() - t0


def score_case(case: Case, lookaheads: list[int], sets: tuple[str, ...], runner: str, work: Path,
               peers: str = "none") -> list[dict]:
    """Rows (one per method, then one per peer) of jitter, drift, corner jitter, crop and, for a still tripod,
    identical frames."""
    shaken = case.shaken
    if runner == "cli" or peers != "none":
        src = work / "case.y4m"
        write_y4m(src, shaken)
        if runner == "cli":
            shaken = read_y4m_bgr(src)  # (in-process, vqe takes the frames before the file's 4:2:0, as it did)
    rows = [dict(case=case.shake, source=case.source, method="input", **truth_metrics(shaken, case.intended).__dict__,
                 identical=float("nan"))]
    for n in lookaheads:
        if runner == "cli":
            dst = work / "out.y4m"
            run_vqe(src, dst, n, sets)
            out = read_y4m_bgr(dst)
            dst.unlink()
        else:
            out, _ = run_inproc(shaken, n, sets)
        same = float("nan")
        if case.still_frames:
            same = float(np.mean([np.array_equal(a, b) for a, b in zip(out[:case.still_frames], shaken)]))
        rows.append(dict(case=case.shake, source=case.source, method=f"vqe lookahead={n}",
                         **truth_metrics(out, case.intended).__dict__, identical=same))
    for label, run, _ in peer_methods(peers, work):
        dst = work / "peer.y4m"
        run(src, dst)
        out = real_outputs(dst, read_y4m_bgr(dst))
        dst.unlink()
        rows.append(dict(case=case.shake, source=case.source, method=label,
                         **truth_metrics(out, case.intended).__dict__, identical=float("nan")))
    return rows


def summarize(rows: list[dict], split: str) -> None:
    """Per case type and method: mean and worst over the sources; then every case pooled, and the targets."""
    print(f"\n{split} half: mean / worst over sources")
    print(f"{'case':<8}{'method':<19}{'n':>3}{'jitter px':>14}{'drift px':>14}{'corner jit':>14}{'crop':>13}"
          f"{'identical':>10}")
    keys = sorted({(r['case'], r['method']) for r in rows}, key=lambda k: (list(SHAKES).index(k[0]), k[1]))
    for case, method in keys:
        sel = [r for r in rows if r["case"] == case and r["method"] == method]
        _print_group(case, method, sel)
    for method in sorted({r["method"] for r in rows}):
        _print_group("all", method, [r for r in rows if r["method"] == method])
    print("\ntargets (worst case of the half):")
    for n, t in TARGETS.items():
        sel = [r for r in rows if r["method"] == f"vqe lookahead={n}"]
        if not sel:
            continue
        dry = [r for r in sel if r["case"] not in WATERY]
        wet = [r for r in sel if r["case"] in WATERY]
        checks = []
        if dry:
            checks += [("jitter", max(r["jitter_px"] for r in dry), "<=", t["jitter"]),
                       ("drift", max(r["drift_px"] for r in dry), "<=", t["drift"])]
        checks.append(("crop", min(r["crop"] for r in sel), ">=", t["crop"]))
        if wet:
            checks.append(("moving-texture jitter", max(r["jitter_px"] for r in wet), "<=", t["water"]))
        for name, value, op, target in checks:
            ok = value <= target if op == "<=" else value >= target
            print(f"  lookahead {n}: {name:<22}{value:7.2f} {op} {target:<5} {'ok' if ok else 'MISSED'}")
    sys.stdout.flush()


def _print_group(case: str, method: str, sel: list[dict]) -> None:
    def mw(key: str, worst=max) -> str:
        vals = [r[key] for r in sel]
        return f"{np.mean(vals):6.2f} /{worst(vals):6.2f}"

    ident = [r["identical"] for r in sel if not math.isnan(r["identical"])]
    same = f"{np.mean(ident):10.0%}" if ident else f"{'-':>10}"
    print(f"{case:<8}{method:<19}{len(sel):>3}{mw('jitter_px'):>14}{mw('drift_px'):>14}"
          f"{mw('corner_jitter_px'):>14}{mw('crop', min):>13}{same}")


def cmd_corpus(args: argparse.Namespace, work: Path) -> None:
    """The shake corpus of one half: every case type on every source of the half, mean and worst."""
    names = args.cases.split(",") if args.cases else list(SHAKES)
    rows: list[dict] = []
    for name in names:
        shake = SHAKES[name]
        for source, other in case_sources(args.split, shake):
            if args.sources and source.name not in args.sources.split(","):
                continue
            case = make_case(shake, source, other, args.size, args.frames, case_seed(source.name, args.seed))
            got = score_case(case, args.lookahead, tuple(args.set), args.runner, work, args.peers)
            rows += got
            if args.verbose:
                for r in got:
                    print(f"  {name:<7}{source.name:<14}{r['method']:<19}jitter {r['jitter_px']:6.2f} drift "
                          f"{r['drift_px']:6.2f} corner {r['corner_jitter_px']:6.2f} crop {r['crop']:.3f}", flush=True)
    summarize(rows, args.split)


def cmd_speed(args: argparse.Namespace, work: Path) -> None:
    """Whole-process fps at the reference case (hand shake with roll on a 720p pan), vqe and vidgear, same run."""
    import corpus

    source = next(s for s in corpus.sources("report") if s.kind == "photo")
    case = make_case(SHAKES["hand"], source, None, args.size, args.frames, case_seed(source.name, args.seed))
    src = work / "speed.y4m"
    write_y4m(src, case.shaken)
    print(f"\nspeed: {source.name} hand shake, {args.size[0]}x{args.size[1]}, {len(case.shaken)} frames, "
          f"whole process (start-up included), best of {args.repeat}")
    rows = []
    for label, runner, delay in methods(args.lookahead, args.peers, work, tuple(args.set)):
        walls = []
        for _ in range(args.repeat):
            dst = work / "out.y4m"
            walls.append(runner(src, dst))
            out = real_outputs(dst, read_y4m_bgr(dst))
            dst.unlink()
        m = truth_metrics(out, case.intended)
        rows.append((label, _delay(delay), len(case.shaken) / min(walls), m))
    print(f"{'method':<28}{'delay':>11}{'fps':>7}{'jitter px':>11}{'drift px':>10}{'corner':>8}{'crop':>7}")
    for label, delay, fps, m in rows:
        print(f"{label:<28}{delay:>11}{fps:7.0f}{m.jitter_px:11.2f}{m.drift_px:10.2f}{m.corner_jitter_px:8.2f}"
              f"{m.crop:7.3f}")
    sys.stdout.flush()


# --- experiments ---------------------------------------------------------------------------------------

def _delay(d: int) -> str:
    return "whole clip" if d < 0 else str(d)


def cmd_pan(args: argparse.Namespace, work: Path) -> None:
    shaken, intended = pan_clip(args.size, args.frames, args.shake, args.seed)
    src = work / "pan.y4m"
    write_y4m(src, shaken)
    # Everyone reads the 4:2:0 file: score the input as it was given, not before subsampling.
    shaken = read_y4m_bgr(src)
    inp = truth_metrics(shaken, intended)
    rows = [dict(method="input (shaken)", delay="-", fps=None, **inp.__dict__)]
    for label, runner, delay in methods(args.lookahead, args.peers, work, tuple(args.set)):
        dst = work / "out.y4m"
        wall = runner(src, dst)
        out = read_y4m_bgr(dst)
        if len(out) != len(shaken):
            log.warning("%s: %d output frames for %d input frames", label, len(out), len(shaken))
        out = real_outputs(dst, out)
        m = truth_metrics(out, intended)
        rows.append(dict(method=label, delay=_delay(delay), fps=len(shaken) / wall, **m.__dict__))
        dst.unlink()
    w, h = args.size
    print(f"\npan: {PHOTO[0]} frame {PHOTO[1]}, {w}x{h}, {args.frames} frames, shake {args.shake:g} px RMS "
          f"(+roll), seed {args.seed}")
    print(f"{'method':<28}{'delay':>11}{'jitter px':>11}{'drift px':>10}{'crop':>7}{'ITF dB':>8}{'fps':>7}")
    for r in rows:
        fps = f"{r['fps']:.0f}" if r["fps"] else "-"
        print(f"{r['method']:<28}{r['delay']:>11}{r['jitter_px']:11.2f}{r['drift_px']:10.2f}{r['crop']:7.3f}"
              f"{r['itf_db']:8.2f}{fps:>7}")
    sys.stdout.flush()


def cmd_clip(args: argparse.Namespace, work: Path) -> None:
    clips = args.clip or list(SHAKY_CLIPS)
    for name in clips:
        frames = read_clip(MEDIA / name, None, args.frames)
        src = work / "clip.y4m"
        write_y4m(src, frames)
        frames = read_y4m_bgr(src)
        cap = cv2.VideoCapture(str(MEDIA / name))
        clip_fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        cap.release()
        rows = [dict(method="input", delay="-", itf=itf(frames), stab=stability(frames, clip_fps), crop=1.0,
                     fps=None)]
        for label, runner, delay in methods(args.lookahead, args.peers, work, tuple(args.set)):
            dst = work / "out.y4m"
            wall = runner(src, dst)
            out = real_outputs(dst, read_y4m_bgr(dst))
            rows.append(dict(method=label, delay=_delay(delay), itf=itf(out), stab=stability(out, clip_fps),
                             crop=crop_against(frames, out), fps=len(frames) / wall))
            dst.unlink()
        h, w = frames[0].shape[:2]
        print(f"\nclip: {name}, {w}x{h}, {len(frames)} frames")
        print(f"{'method':<28}{'delay':>11}{'ITF dB':>8}{'stability':>10}{'crop':>7}{'fps':>7}")
        for r in rows:
            fps = f"{r['fps']:.0f}" if r["fps"] else "-"
            print(f"{r['method']:<28}{r['delay']:>11}{r['itf']:8.2f}{r['stab']:10.3f}{r['crop']:7.3f}{fps:>7}")
        sys.stdout.flush()


def cmd_static(args: argparse.Namespace, work: Path) -> None:
    """Static camera: the output must equal the input (within zoom) and keep its ITF.

    The reference is ``vqe --stages none`` on the same file (its 4:2:0 round trip), so
    "identical" frames mean the stabilizer passed them through unresampled.
    """
    frames = read_clip(MEDIA / STATIC_CLIP, None, args.frames)
    src = work / "static.y4m"
    write_y4m(src, frames)
    frames = read_y4m_bgr(src)
    ref_path = work / "none.y4m"
    run_timed(vqe_command("--file", str(src), "-o", str(ref_path), "--no-display",
                          "--no-progress", "--stages", "none"),
              env=dict(os.environ, PYTHONPATH=vqe_tree()))
    ref = read_y4m_bgr(ref_path)
    print(f"\nstatic: {STATIC_CLIP}, {frames[0].shape[1]}x{frames[0].shape[0]}, {len(frames)} frames")
    print(f"{'method':<28}{'ITF dB':>8}{'crop':>7}{'max shift px':>14}{'identical':>11}{'PSNR vs none':>14}")
    print(f"{'input':<28}{itf(frames):8.2f}{1.0:7.3f}{0.0:14.2f}{'-':>11}{'-':>14}")
    print(f"{'vqe --stages none':<28}{itf(ref):8.2f}{1.0:7.3f}{0.0:14.2f}{'-':>11}{'-':>14}")
    for n in args.lookahead:
        dst = work / "out.y4m"
        run_vqe(src, dst, n, tuple(args.set))
        out = read_y4m_bgr(dst)
        shifts, psnrs = [], []
        for i in range(0, len(ref), 10):
            r = register(ref[i], out[i])
            if r is not None:
                shifts.append(np.hypot(r[0], r[1]))
        same = sum(np.array_equal(a, b) for a, b in zip(ref, out))
        for a, b in zip(ref, out):
            mse = float(np.mean((a.astype(np.float32) - b) ** 2))
            psnrs.append(99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse))
        print(f"{'vqe lookahead=' + str(n):<28}{itf(out):8.2f}{crop_against(ref, out):7.3f}"
              f"{max(shifts) if shifts else float('nan'):14.2f}{same / len(ref):11.1%}{np.mean(psnrs):14.2f}")
        dst.unlink()


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    """Run one evaluation and print its table; returns the process exit status."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("pan", "clip", "static", "corpus", "speed"))
    p.add_argument("--size", type=_size, default=(1280, 720), help="WxH of the pan clip (default 1280x720)")
    p.add_argument("--frames", type=int, default=180, help="frames per clip (default 180)")
    p.add_argument("--shake", type=float, default=7.3,
                   help="hand shake, px RMS per axis (default 7.3: about 10.3 px input jitter, as the peers' clip)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the shake (default 0; corpus and speed: added to each source's own)")
    p.add_argument("--lookahead", type=lambda s: [int(x) for x in s.split(",")], default=[0, 5],
                   help="vqe lookaheads to run, comma-separated (default 0,5)")
    p.add_argument("--clip", action="append", default=[], help=f"clip of {MEDIA} (default {', '.join(SHAKY_CLIPS)})")
    p.add_argument("--set", action="append", default=[], help="extra vqe --set stabilize.PARAM=VALUE")
    p.add_argument("--peers", choices=("none", "basic", "all"), default="all",
                   help="peers to run: basic = ffmpeg deshake and vid.stab, all = also vidgear (default all)")
    p.add_argument("--workdir", help="keep the clips here (default: a temporary folder)")
    p.add_argument("--split", choices=("tune", "report"), default="tune",
                   help="corpus: the half of the corpus to run (tune on tune, report on report; default tune)")
    p.add_argument("--cases", default="", help=f"corpus: case types, comma-separated (default all: {','.join(SHAKES)})")
    p.add_argument("--sources", default="", help="corpus: only these sources of the half, comma-separated")
    p.add_argument("--runner", choices=("inproc", "cli"), default="inproc",
                   help="corpus: run the stage in this process on BGR frames (fast, for tuning) or as the "
                        "command line on a .y4m file (default inproc)")
    p.add_argument("--repeat", type=int, default=1, help="speed: runs per method, the best counts (default 1)")
    p.add_argument("-v", "--verbose", action="store_true", help="corpus: print every case")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        {"pan": cmd_pan, "clip": cmd_clip, "static": cmd_static, "corpus": cmd_corpus,
         "speed": cmd_speed}[args.what](args, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
