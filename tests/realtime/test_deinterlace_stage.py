"""The deinterlace stage: detection, field order, modes, timing, bad input, file mode and decoders end to end."""
import dataclasses
import subprocess
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.colorspace import YuvFormat, bgr_to_yuv
from kernels.deinterlace import blend_fields
from kernels.planes import i420_planes, i420_shape
from realtime.errors import ConfigError
from realtime.run.frames import Frame
from realtime.run.ringbuffer import RingBuffer, Slot
from realtime.settings import build_settings
from realtime.sources.files import SourceInfo, open_source
from realtime.sources.streams import StreamSource
from realtime.sources.y4m import Y4mReader, Y4mWriter
from realtime.stages.deinterlace import DeinterlaceParams, DeinterlaceStage

from conftest import run_vqe

PROGRESSIVE_CLIPS = ["clean_bikes_street_272p.mp4", "clean_flower_540p.mp4", "clean_person_indoor_432p.mp4",
                     "lowres_carphone_qcif.mp4", "noisy_lowlight_alley_720p.mp4", "shaky_foreman_cif.mp4",
                     "shaky_seattle_walk_360p.avi"]


def stage(**params):
    return DeinterlaceStage(DeinterlaceParams(**params), CPU)


def scene(n, height, width, seed=0, speed=2):
    """A detailed picture panning diagonally: a progressive sequence at field rate."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 256, ((height + 80) // 4, (width + 80) // 4, 3)).astype(np.uint8)
    base = cv2.resize(big, (big.shape[1] * 4, big.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(base[speed * t % 70:][:height, speed * t % 70:][:, :width]) for t in range(n)]


def woven(frames, tff=True):
    out = []
    for first, second in zip(frames[0::2], frames[1::2]):
        w = first.copy()
        rows = slice(1, None, 2) if tff else slice(0, None, 2)
        w[rows] = second[rows]
        out.append(w)
    return out


def combing(image):
    """Share of pixels (in %) whose luma zig-zags by more than 12 levels against both vertical neighbours."""
    y = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY).astype(np.int32)
    mid, up, down = y[1:-1], y[:-2], y[2:]
    return 100.0 * np.mean((mid - up) * (mid - down) > 144)


def frames_of(source, limit):
    slot = Slot(np.empty((1, 1, 3), np.uint8))
    out = []
    while len(out) < limit and source.read_into(slot):
        out.append(Frame(slot.image.copy(), slot.index, slot.pts_s, 0.0))
    return out


def run(st, frames, flush=True):
    """(image copy, index, pts, untouched) of every output frame."""
    out = []
    for f in frames:
        out.extend((o.image.copy(), o.index, o.pts_s, o.image is f.image) for o in st.push(f))
    if flush:
        out.extend((o.image.copy(), o.index, o.pts_s, False) for o in st.flush())
    return out


def info(field_order="progressive", fps=Fraction(25)):
    return SourceInfo("x", 64, 48, fps, None, YuvFormat(), field_order, time_base=Fraction(1, 25))


# --- parameters ----------------------------------------------------------------------------------

@pytest.mark.parametrize("override, names", [("deinterlace.mode=weave", "deinterlace.mode"),
                                             ("deinterlace.order=top", "deinterlace.order"),
                                             ("deinterlace.release=0", "deinterlace.release")])
def test_bad_parameters_name_the_fix(override, names):
    with pytest.raises(ConfigError) as err:
        build_settings(stages="deinterlace", overrides=(override,), backend="cpu")
    text = str(err.value)
    assert names in text and "\n" not in text and ("one of" in text or "in [" in text)


def test_registered_first():
    from realtime.stages import STAGES

    assert next(iter(STAGES)) == "deinterlace"


# --- detection -----------------------------------------------------------------------------------

def test_progressive_clips_pass_through_bit_exact(media):
    for name in PROGRESSIVE_CLIPS:
        source = open_source(media / name)
        try:
            st = stage()
            st.set_source(source.info)
            frames = frames_of(source, 40)
        finally:
            source.close()
        outputs = run(st, frames)
        assert len(outputs) == len(frames)
        assert all(same for *_, same in outputs), name  # the very same image: untouched
        assert st.detector.votes["interlaced"] == 0, name


def test_real_interlaced_clip_is_detected_and_combing_removed(media):
    source = open_source(media / "interlaced_aerial_576i_bff.mp4")
    try:
        frames = frames_of(source, 12)
        st = stage()
        st.set_source(source.info)  # flagged progressive: detection decides
    finally:
        source.close()
    outputs = run(st, frames, flush=False)
    assert st.deinterlaced == len(frames) and st.detector.order == "bff"
    for (img, *_), f in list(zip(outputs, frames))[1:]:  # the first frame cannot tell the order
        np.testing.assert_array_equal(img[1::2], f.image[1::2])  # bottom field first: kept
    before = np.mean([combing(f.image) for f in frames])
    after = np.mean([combing(img) for img, *_ in outputs])
    assert before > 5.0 and after < 0.15 * before


@pytest.mark.parametrize("tff", [True, False])
def test_order_is_detected_from_the_frames(tff):
    frames = [Frame(img, i, i / 25, 0.0) for i, img in enumerate(woven(scene(24, 96, 128), tff))]
    st = stage()
    outputs = run(st, frames, flush=False)
    assert st.detector.interlaced and st.detector.order == ("tff" if tff else "bff")
    kept = slice(0, None, 2) if tff else slice(1, None, 2)
    for (img, *_), f in list(zip(outputs, frames))[3:]:
        np.testing.assert_array_equal(img[kept], f.image[kept])  # the first field is kept
        assert combing(img) < 0.3 * combing(f.image)


def test_detection_releases_after_progressive_frames():
    interlaced = woven(scene(12, 96, 128, seed=1))
    progressive = scene(20, 96, 128, seed=2, speed=3)
    frames = [Frame(img, i, i / 25, 0.0) for i, img in enumerate(interlaced + progressive)]
    st = stage(release=4)
    outputs = run(st, frames)
    assert not outputs[5][3] and outputs[-1][3]  # deinterlaced while combed, untouched again at the end


def test_still_interlaced_scene_stays_undecided():
    still = [Frame(scene(1, 48, 64)[0], i, i / 25, 0.0) for i in range(6)]
    st = stage()
    run(st, still)
    assert st.detector.votes["interlaced"] == 0


# --- source flag and order overrides ------------------------------------------------------------------

def test_flag_gives_order_and_output_description():
    st = stage()
    out = st.set_source(info("bff"))
    assert out.field_order == "progressive" and out.fps == 25 and out.time_base == Fraction(1, 25)
    still = scene(1, 48, 64)[0]
    outputs = run(st, [Frame(still, i, i / 25, 0.0) for i in range(3)])
    assert st.deinterlaced == 3  # flagged interlaced: every frame, even a still one
    np.testing.assert_array_equal(outputs[0][0][1::2], still[1::2])

    bob = stage(mode="bob")
    out = bob.set_source(info("tff"))
    assert out.fps == 50 and out.time_base == Fraction(1, 50) and bob.rate_factor == 2 and bob.delay_frames == 1


def test_order_override_beats_flag_and_combed_ignores_flag():
    st = stage(order="tff")
    st.set_source(info("bff"))
    img = woven(scene(2, 48, 64))[0]
    out = run(st, [Frame(img, 0, 0.0, 0.0)])
    np.testing.assert_array_equal(out[0][0][0::2], img[0::2])

    combed_only = stage(frames="combed")
    combed_only.set_source(info("tff"))
    still = scene(1, 48, 64)[0]
    assert all(same for *_, same in run(combed_only, [Frame(still, i, i / 25, 0.0) for i in range(4)]))


# --- modes ---------------------------------------------------------------------------------------------

def test_bob_doubles_frames_with_field_timestamps():
    fields = woven(scene(8, 48, 64))
    st = stage(mode="bob", frames="all", order="tff")
    outputs = run(st, [Frame(img, i, 0.04 * i, 0.0) for i, img in enumerate(fields)])
    assert [o[1] for o in outputs] == list(range(8))
    np.testing.assert_allclose([o[2] for o in outputs], 0.02 * np.arange(8), atol=1e-9)
    for k, img in enumerate(fields):
        np.testing.assert_array_equal(outputs[2 * k][0][0::2], img[0::2])      # first field kept
        np.testing.assert_array_equal(outputs[2 * k + 1][0][1::2], img[1::2])  # then the second


def test_bob_repeats_progressive_frames():
    frames = [Frame(img, i, 0.04 * i, 0.0) for i, img in enumerate(scene(6, 48, 64, speed=3))]
    outputs = run(stage(mode="bob"), frames)
    assert len(outputs) == 12
    np.testing.assert_allclose([o[2] for o in outputs], 0.02 * np.arange(12), atol=1e-9)
    for k, f in enumerate(frames):
        np.testing.assert_array_equal(outputs[2 * k][0], f.image)
        np.testing.assert_array_equal(outputs[2 * k + 1][0], f.image)


def test_blend_mode():
    img = woven(scene(2, 48, 64))[0]
    out = run(stage(mode="blend", frames="all"), [Frame(img, 0, 0.0, 0.0)])
    np.testing.assert_array_equal(out[0][0], blend_fields(img))


def ring_run(st, images, slots=3):
    """:func:`run` with the frames read into a capture ring of ``slots`` (as Capture gives them): the stage
    keeps history by reference, and a slot whose frame is still held is read into another buffer."""
    ring = RingBuffer(slots, images[0].shape)
    out, kept = [], 0
    for i, img in enumerate(images):
        slot = ring.acquire_write()
        np.copyto(slot.ensure_shape(img.shape), img)
        ring.publish(slot)
        slot = ring.acquire_read()
        frame = Frame(slot.image, i, 0.04 * i, 0.0)
        out.extend((o.image.copy(), o.index, o.pts_s) for o in st.push(frame))
        ring.release(slot)
        read_into = id(frame.image)
        del frame
        kept += id(slot.ensure_shape(img.shape)) != read_into  # held as history: the slot moved on
        slot.image[...] = 77  # what a source would write next
    out.extend((o.image.copy(), o.index, o.pts_s) for o in st.flush())
    return out, kept


@pytest.mark.parametrize("mode", ["adaptive", "bob"])
@pytest.mark.parametrize("planar", [False, True])
def test_history_kept_by_reference_gives_the_results_of_fresh_frames(mode, planar):
    """The stage keeps interlaced inputs as history without copying them, and nothing writes over them."""
    images = woven_i420(10, 32, 48) if planar else woven(scene(20, 48, 64))
    fresh = run(stage(mode=mode, frames="all"), [Frame(img.copy(), i, 0.04 * i, 0.0) for i, img in enumerate(images)])
    ringed, kept = ring_run(stage(mode=mode, frames="all"), images)
    assert kept == len(images)
    assert len(ringed) == len(fresh)
    for (img, *meta), (ref, *ref_meta) in zip(ringed, fresh):
        assert meta == ref_meta[:2]
        np.testing.assert_array_equal(img, ref)


# --- bad input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["adaptive", "bob", "blend"])
@pytest.mark.parametrize("shape", [(1, 16), (2, 8), (3, 5), (7, 9), (37, 53)])
def test_odd_and_tiny_frames(mode, shape):
    rng = np.random.default_rng(shape[0])
    frames = [Frame(rng.integers(0, 256, shape + (3,)).astype(np.uint8), i, i / 25, 0.0) for i in range(4)]
    outputs = run(stage(mode=mode, frames="all"), frames)
    assert len(outputs) == (8 if mode == "bob" else 4)
    assert all(img.shape == shape + (3,) for img, *_ in outputs)
    if shape[0] == 1:  # a single line holds no second field: unchanged
        assert all(np.array_equal(img, frames[i // (2 if mode == "bob" else 1)].image)
                   for i, (img, *_) in enumerate(outputs))


def test_size_change_flushes_the_held_field_first():
    st = stage(mode="bob", frames="all")
    small = woven(scene(4, 24, 32))
    big = woven(scene(4, 48, 64))
    outputs = run(st, [Frame(img, i, 0.04 * i, 0.0) for i, img in enumerate(small + big)])
    assert [img.shape[0] for img, *_ in outputs] == [24] * 4 + [48] * 4


# --- I420 frames -------------------------------------------------------------------------------------------

def i420(y, u, v):
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(-1, y.shape[1])


def i420_of(img):
    """A stand-in I420 frame of a BGR picture (grey as Y, subsampled B and R as chroma)."""
    return i420(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), img[::2, ::2, 0].copy(), img[::2, ::2, 2].copy())


def woven_i420(n, height, width, seed=0, tff=True):
    """Interlaced I420 frames of a panning scene: every plane woven by rows (chroma rows alternate fields too)."""
    progressive = [i420_of(img) for img in scene(2 * n, height, width, seed=seed)]
    rows = slice(1, None, 2) if tff else slice(0, None, 2)
    frames = []
    for first, second in zip(progressive[0::2], progressive[1::2]):
        w = first.copy()
        for plane, later in zip(i420_planes(w), i420_planes(second)):
            plane[rows] = later[rows]
        frames.append(w)
    return frames


def as_bgr(plane):
    """A plane as a BGR frame of three equal channels: the BGR path's result on it is the plane's, three times."""
    return np.repeat(plane[:, :, None], 3, axis=2)


@pytest.mark.parametrize("mode", ["adaptive", "bob", "blend"])
def test_planar_luma_matches_bgr_path(mode):
    """Detection (order auto) and interpolation on I420 act on Y as the BGR path acts on a grey frame of Y."""
    frames = woven_i420(12, 96, 128, tff=False)
    st = stage(mode=mode)
    planar = run(st, [Frame(f, i, i / 25, 0.0) for i, f in enumerate(frames)])
    assert st.deinterlaced == len(frames) and st.detector.votes["interlaced"] >= len(frames) - 1
    grey = run(stage(mode=mode), [Frame(as_bgr(i420_planes(f)[0]), i, i / 25, 0.0) for i, f in enumerate(frames)])
    assert len(planar) == len(grey) == len(frames) * (2 if mode == "bob" else 1)
    for (img, *meta), (ref, *ref_meta) in zip(planar, grey):
        assert img.shape == frames[0].shape and meta == ref_meta
        np.testing.assert_array_equal(i420_planes(img)[0], ref[:, :, 0])
    if mode == "adaptive":  # the detected order (bottom field first) is followed: odd rows kept
        for (img, *_), f in list(zip(planar, frames))[2:]:
            np.testing.assert_array_equal(i420_planes(img)[0][1::2], i420_planes(f)[0][1::2])


@pytest.mark.parametrize("mode", ["adaptive", "bob"])
def test_planar_chroma_deinterlaced_alone_with_the_same_parity(mode):
    frames = woven_i420(8, 32, 48, seed=3)
    planar = run(stage(mode=mode, frames="all", order="bff"), [Frame(f, i, i / 25, 0.0) for i, f in enumerate(frames)])
    for p in (1, 2):
        alone = run(stage(mode=mode, frames="all", order="bff"),
                    [Frame(as_bgr(i420_planes(f)[p]), i, i / 25, 0.0) for i, f in enumerate(frames)])
        for (img, *_), (ref, *_) in zip(planar, alone):
            np.testing.assert_array_equal(i420_planes(img)[p], ref[:, :, 0])
    for (img, *_), f in zip(planar[::2] if mode == "bob" else planar, frames):
        for out_plane, in_plane in zip(i420_planes(img), i420_planes(f)):
            np.testing.assert_array_equal(out_plane[1::2], in_plane[1::2])  # bottom field first: kept


def test_planar_progressive_frames_pass_through_untouched():
    frames = [i420_of(img) for img in scene(12, 48, 64, speed=3)]
    st = stage()
    outputs = run(st, [Frame(f, i, i / 25, 0.0) for i, f in enumerate(frames)])
    assert all(same for *_, same in outputs) and st.detector.votes["interlaced"] == 0


@pytest.mark.parametrize("mode", ["adaptive", "bob", "blend"])
@pytest.mark.parametrize("size", [(2, 2), (4, 6), (6, 8), (10, 4)])
def test_planar_tiny_frames(mode, size):
    rng = np.random.default_rng(size[0])
    frames = [Frame(rng.integers(0, 256, i420_shape(*size)).astype(np.uint8), i, i / 25, 0.0) for i in range(4)]
    outputs = run(stage(mode=mode), frames) + run(stage(mode=mode, frames="all"), frames)
    assert len(outputs) == 2 * len(frames) * (2 if mode == "bob" else 1)
    assert all(img.shape == i420_shape(*size) for img, *_ in outputs)


# --- end to end --------------------------------------------------------------------------------------------

def write_interlaced_y4m(path, frames, order="tff", fps=25):
    fmt = YuvFormat("bt601", False)
    writer = Y4mWriter(path, frames[0].shape[1], frames[0].shape[0], Fraction(fps), fmt, order)
    for f in frames:
        writer.write_planes(bgr_to_yuv(f, fmt))
    writer.close()


@pytest.mark.parametrize("mode, factor", [("adaptive", 1), ("bob", 2)])
def test_file_mode_writes_progressive_output_at_the_right_rate(tmp_path, mode, factor):
    src = tmp_path / "in.y4m"
    write_interlaced_y4m(src, woven(scene(12, 48, 64)))
    out = tmp_path / "out.y4m"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "deinterlace", "--set",
                f"deinterlace.mode={mode}")
    assert r.returncode == 0, r.stderr
    reader = Y4mReader(out)
    count = 0
    while reader.read_planes() is not None:
        count += 1
    reader.close()
    assert reader.field_order == "progressive" and reader.fps == 25 * factor and count == 6 * factor


def test_bob_to_mp4_keeps_field_timestamps(tmp_path):
    src = tmp_path / "in.y4m"
    write_interlaced_y4m(src, woven(scene(16, 48, 64)))
    out = tmp_path / "out.mkv"
    r = run_vqe("--file", src, "-o", out, "--no-display", "--stages", "deinterlace", "--set", "deinterlace.mode=bob")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        times = [f.time for f in c.decode(video=0)]
    assert len(times) == 16
    np.testing.assert_allclose(np.diff(times), 0.02, atol=1e-3)


def test_interlaced_flagged_encode_decodes_and_deinterlaces(tmp_path):
    """File and stream decoders deliver the woven fields of an interlaced-flagged stream (not black)."""
    fields = woven(scene(16, 64, 96))
    path = tmp_path / "il.ts"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg2video", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.options = {"flags": "+ildct+ilme", "qscale": "2"}
        for i, img in enumerate(fields):
            frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    with av.open(str(path)) as c:
        assert next(c.decode(video=0)).interlaced_frame
    for source in (open_source(path), StreamSource(str(path), retries=0)):
        try:
            got = frames_of(source, 8)
        finally:
            source.close()
        assert len(got) == 8
        for f, ref in zip(got, fields):  # the woven picture, combing included (luma: chroma is subsampled)
            luma = [cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2GRAY).astype(int) for x in (f.image, ref)]
            assert np.abs(luma[0] - luma[1]).mean() < 8  # a black frame is ~100 away
        st = stage(order="tff")
        outputs = run(st, [dataclasses.replace(f, pts_s=f.index / 25) for f in got])
        assert st.deinterlaced == 8
        assert np.mean([combing(img) for img, *_ in outputs[1:]]) < 0.3 * np.mean([combing(f.image) for f in got])


@pytest.mark.cuda
@pytest.mark.parametrize("mode, planar", [("adaptive", False), ("bob", False), ("adaptive", True)])
def test_cuda_stage_matches_cpu(cuda_backend, mode, planar):
    fields = woven_i420(3, 14, 18) if planar else woven(scene(6, 13, 17))
    cpu = run(stage(mode=mode), [Frame(img, i, i / 25, 0.0) for i, img in enumerate(fields)])
    gpu_stage = DeinterlaceStage(DeinterlaceParams(mode=mode), cuda_backend)
    gpu = run(gpu_stage, [Frame(cuda_backend.asarray(img), i, i / 25, 0.0) for i, img in enumerate(fields)])
    assert [o[1:3] for o in gpu] == [o[1:3] for o in cpu]
    for (a, *_), (b, *_) in zip(gpu, cpu):
        assert np.abs(cuda_backend.to_host(a).astype(int) - b).max() <= 1


@pytest.mark.parametrize("order", ["tff", "bff"])
def test_file_source_reads_the_containers_field_order(tmp_path, ffmpeg, order):
    """The decoder's field order (codec parameters) becomes the source's hint for order=auto."""
    path = tmp_path / f"{order}.ts"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-frames:v", "4",
                    "-vf", f"setfield={order}", "-c:v", "mpeg2video", "-flags", "+ilme+ildct", str(path)], check=True)
    source = open_source(path)
    try:
        assert source.info.field_order == order
    finally:
        source.close()
