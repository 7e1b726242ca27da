"""Quality evaluation of the ``stabilize`` stage against ffmpeg, vid.stab and vidgear.

Two kinds of input:

* ``pan`` (ground truth): a real photograph (a frame of a clip in
  the shared media folder, ``clean_flower_540p.mp4`` frame 60 by default, as
  ``tools/quality.py`` does) seen by a virtual camera that follows a known
  smooth path (a pan whose speed changes, a slow tilt) plus known hand shake
  (a random offset of ``--shake`` px RMS per axis every frame, its
  spectrum flat above 1 Hz, and a little roll).
  The photograph is magnified to fill the frame (bicubic).  Each output frame
  is registered to the frame the camera *meant* to take (the same path with
  no shake): the residual rigid motion ``v_t = (dx, dy, angle * H/2)`` in px
  gives

  - **jitter**: RMS of the high-frequency part of ``v_t`` (``v`` minus its
    Gaussian-smoothed self, sigma 5 frames, i.e. above about 1 Hz at 30 fps);
  - **drift**: RMS of the low-frequency part (how far the output wanders off the
    intended path: lag on pans, shake followed as if intended);
  - **crop**: mean ``1 / zoom`` of the output against the intended frame;
  - **ITF**: mean PSNR (Y) between consecutive output frames, dB.

* ``clip``: real shaky clips of the shared media folder as they are (no ground
  truth): **ITF**, **stability** (share of the energy of the frame-to-frame
  translation spectrum at or below 2 Hz, DC excluded; 1 is perfectly smooth
  motion, in the spirit of Liu et al. 2013's low-frequency share) and **crop**
  (``1 / zoom`` of output against input).

Whole-process speed (fps) is input frames over wall-clock time of the process
that reads the lossless ``.y4m`` input and writes the ``.y4m`` output, startup
included.  vidgear is measured only where ``pip install vidgear`` was done (it
is not a project dependency); the tool skips it with a note otherwise.

Examples
--------
::

    python tools/quality_stabilize.py pan --size 1280x720 --frames 240 --lookahead 0,3,5
    python tools/quality_stabilize.py clip --clip shaky_seattle_walk_360p.avi --clip shaky_foreman_cif.mp4
    python tools/quality_stabilize.py static
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from qualitylib import (MEDIA, Y4mReader, Y4mWriter, bgr_to_yuv, ffmpeg_exe, read_clip, read_y4m_bgr,  # noqa: E402
                        run_timed, vqe_command, write_y4m, yuv_to_bgr)

log = logging.getLogger("quality_stabilize")
PHOTO = ("clean_flower_540p.mp4", 60)
SHAKY_CLIPS = ("shaky_seattle_walk_360p.avi", "shaky_foreman_cif.mp4")
STATIC_CLIP = "clean_person_indoor_432p.mp4"
#: Gaussian sigma (frames) separating jitter (above) from drift (below).
SPLIT_SIGMA = 5.0


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


def gaussian_smooth(v: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass along axis 0 with reflected ends."""
    r = int(3 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(v, ((r, r),) + ((0, 0),) * (v.ndim - 1), mode="reflect")
    return np.stack([np.convolve(pad[:, j], k, mode="valid") for j in range(v.shape[1])], axis=1)


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
    crop: float
    itf_db: float
    registered: int


def truth_metrics(out: list[np.ndarray], intended: list[np.ndarray], skip: int = 0) -> Truth:
    """Residual jitter / drift (px) against the intended frames, crop ratio, ITF."""
    n = min(len(out), len(intended))
    h = intended[0].shape[0]
    v, zooms = [], []
    last = (0.0, 0.0, 0.0, 1.0)
    missing = 0
    for i in range(skip, n):
        r = register(intended[i], out[i])
        if r is None:
            missing += 1
            r = last
        last = r
        v.append((r[0], r[1], r[2] * h / 2.0))
        zooms.append(r[3])
    v = np.asarray(v)
    low = gaussian_smooth(v, SPLIT_SIGMA)
    jitter = float(np.sqrt(np.mean(np.sum((v - low) ** 2, axis=1))))
    drift = float(np.sqrt(np.mean(np.sum(low ** 2, axis=1))))
    return Truth(jitter, drift, float(np.mean(1.0 / np.maximum(np.asarray(zooms), 1e-3))), itf(out[skip:n]),
                 n - skip - missing)


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


def vqe_cmd(src: Path, dst: Path, lookahead: int, sets: tuple[str, ...] = ()) -> list[str]:
    cmd = vqe_command("--file", str(src), "-o", str(dst), "--no-display", "--no-progress",
                      "--stages", "stabilize", "--set", f"stabilize.lookahead={lookahead}")
    for s in sets:
        cmd += ["--set", s]
    return cmd


def run_vqe(src: Path, dst: Path, lookahead: int, sets: tuple[str, ...] = ()) -> float:
    return run_timed(vqe_cmd(src, dst, lookahead, sets),
                     env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))


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


def have_vidgear() -> bool:
    try:
        import vidgear.gears.stabilizer  # noqa: F401
    except Exception:
        return False
    return True


def vidgear_worker(src: str, dst: str) -> None:
    """vidgear's Stabilizer over a y4m file (run in its own process by :func:`run_vidgear`).

    vidgear holds ``smoothing_radius`` frames and has no flush: its first outputs are
    None and the last frames never come out.  The held-back frames are padded with the
    last output so that frame counts match, and the number of real outputs is written
    to ``dst + ".frames"`` so that scores leave the padding out (:func:`real_outputs`).
    """
    from vidgear.gears.stabilizer import Stabilizer

    logging.disable(logging.CRITICAL)
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


def run_vidgear(src: Path, dst: Path) -> float:
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
            f"import quality_stabilize as q; q.vidgear_worker({str(src)!r}, {str(dst)!r})")
    return run_timed([sys.executable, "-c", code])


def methods(lookaheads: list[int], peers: str, work: Path, sets: tuple[str, ...]) -> list[tuple[str, object, int]]:
    """(label, runner(src, dst) -> wall s, frames of delay)."""
    out: list[tuple[str, object, int]] = [
        (f"vqe lookahead={n}", (lambda n: lambda s, d: run_vqe(s, d, n, sets))(n), n) for n in lookaheads]
    # The same process with no stage: the I/O ceiling on whole-process speed (and a no-op baseline).
    out.append(("vqe --stages none (I/O)", lambda s, d: run_timed(
        vqe_command("--file", str(s), "-o", str(d), "--no-display", "--no-progress",
                    "--stages", "none"), env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))), 0))
    if peers in ("basic", "all"):
        out.append(("ffmpeg deshake", lambda s, d: run_ffmpeg(s, d, "deshake"), 0))
        out.append(("vid.stab 2-pass (offline)", lambda s, d: run_vidstab(s, d, work), -1))
    if peers == "all":
        if have_vidgear():
            out.append(("vidgear Stabilizer r=25", run_vidgear, 24))
        else:
            log.warning("vidgear is not installed (pip install vidgear): skipped")
    return out


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
              env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])))
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
    p.add_argument("what", choices=("pan", "clip", "static"))
    p.add_argument("--size", type=_size, default=(1280, 720), help="WxH of the pan clip (default 1280x720)")
    p.add_argument("--frames", type=int, default=240, help="frames per clip (default 240)")
    p.add_argument("--shake", type=float, default=7.3,
                   help="hand shake, px RMS per axis (default 7.3: about 10.3 px input jitter, as the peers' clip)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the shake (default 0)")
    p.add_argument("--lookahead", type=lambda s: [int(x) for x in s.split(",")], default=[0, 5],
                   help="vqe lookaheads to run, comma-separated (default 0,5)")
    p.add_argument("--clip", action="append", default=[], help=f"clip of {MEDIA} (default {', '.join(SHAKY_CLIPS)})")
    p.add_argument("--set", action="append", default=[], help="extra vqe --set stabilize.PARAM=VALUE")
    p.add_argument("--peers", choices=("none", "basic", "all"), default="all",
                   help="peers to run: basic = ffmpeg deshake and vid.stab, all = also vidgear (default all)")
    p.add_argument("--workdir", help="keep the clips here (default: a temporary folder)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        {"pan": cmd_pan, "clip": cmd_clip, "static": cmd_static}[args.what](args, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
