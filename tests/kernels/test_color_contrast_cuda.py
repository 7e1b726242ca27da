"""CUDA twins of the colour and contrast kernels against the CPU ones (Numba's simulator where there is no GPU)."""
import numpy as np
import pytest

from kernels.backend import CPU
from kernels.color import adjust_color, lut_coefficients, tone_curves
from kernels.color_i420 import adjust_color_i420, tone_lines
from kernels.colorspace import YuvFormat
from kernels.contrast import apply_contrast, apply_contrast_i420, contrast_coefficients
from kernels.contrast_stats import tile_histograms, tile_mappings
from kernels.planes import i420_planes, i420_shape
from kernels.thumbnail import bgr_stats_thumbnail, bgr_thumbnail, i420_bgr_thumbnail
from realtime.stages.color import ColorParams, ColorStage
from realtime.stages.contrast import ContrastParams, ContrastStage

from conftest import host, on

pytestmark = pytest.mark.cuda
SHAPES = [(7, 9), (13, 17)]


def rand(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


@pytest.mark.parametrize("interpolation, saturation", [("none", 1.0), ("none", 1.4), ("tetrahedral", 1.4),
                                                       ("trilinear", 1.4)])
@pytest.mark.parametrize("shape", SHAPES)
def test_adjust_color_with_lut_parity(cuda_backend, shape, interpolation, saturation):
    """Saturation 1 without a LUT is a table look-up on the CPU; the rest is the fused loop on both."""
    frame = rand(shape + (3,))
    curves = tone_curves(0.03, 1.2, 1.3, (1.1, 1.0, 0.9))
    kw = {}
    if interpolation != "none":
        lut = np.random.default_rng(1).uniform(0, 255, (3, 3, 3, 3)).astype(np.float32)
        coef = lut_coefficients(3, (0.0, 0.05, 0.0), (1.0, 1.0, 0.9))
        kw = dict(lut=lut, lut_coef=coef, interpolation=interpolation)
    cpu = adjust_color(frame, curves, saturation, backend=CPU, **kw)
    gkw = {k: on(cuda_backend, v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    gpu = adjust_color(on(cuda_backend, frame), on(cuda_backend, curves), saturation, backend=cuda_backend, **gkw)
    assert np.abs(host(cuda_backend, gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("factor, taps", [(1, None), (3, 2)])
def test_thumbnails_parity(cuda_backend, factor, taps):
    frame = rand((13, 17, 3), 2)
    shape = (13 // factor, 17 // factor)
    cpu = bgr_thumbnail(frame, factor, taps=taps, out=np.empty(shape + (3,), np.float32))
    gpu = bgr_thumbnail(on(cuda_backend, frame), factor, taps=taps, out=cuda_backend.empty(shape + (3,), np.float32),
                        backend=cuda_backend)
    assert np.allclose(host(cuda_backend, gpu), cpu, atol=1e-3)
    cpu = bgr_stats_thumbnail(frame, factor, taps=taps, out=np.empty((3,) + shape, np.float32))
    gpu = bgr_stats_thumbnail(on(cuda_backend, frame), factor, taps=taps,
                              out=cuda_backend.empty((3,) + shape, np.float32), backend=cuda_backend)
    assert np.allclose(host(cuda_backend, gpu), cpu, atol=1e-3)


@pytest.mark.parametrize("grid", [(2, 3), (5, 4)])
def test_clahe_kernels_parity(cuda_backend, grid):
    """Tile histograms (atomics on the GPU), clip + redistribute + CDF + temporal blend, bilinear apply."""
    frame = rand((13, 17, 3), 3)
    thumb = bgr_stats_thumbnail(frame, 1, out=np.empty((3, 13, 17), np.float32))[0]
    hist_cpu = tile_histograms(thumb, out=np.empty(grid + (256,), np.int32))
    hist_gpu = tile_histograms(on(cuda_backend, thumb), out=cuda_backend.empty(grid + (256,), np.int32),
                               backend=cuda_backend)
    assert np.array_equal(host(cuda_backend, hist_gpu), hist_cpu)
    start = np.random.default_rng(4).uniform(0, 255, grid + (256,)).astype(np.float32)
    maps_cpu = tile_mappings(hist_cpu, 2.5, 0.3, state=start.copy())
    maps_gpu = tile_mappings(hist_gpu, 2.5, 0.3, state=on(cuda_backend, start), backend=cuda_backend)
    assert np.allclose(host(cuda_backend, maps_gpu), maps_cpu, atol=1e-3)
    # strength 0 takes the CPU's table look-up path: the same values as the CUDA loop.
    for coef in (contrast_coefficients(12.0, 230.0, 0.7), contrast_coefficients(12.0, 230.0, 0.0)):
        cpu = apply_contrast(frame, maps_cpu, coef)
        gpu = apply_contrast(on(cuda_backend, frame), maps_gpu, on(cuda_backend, coef), backend=cuda_backend)
        assert np.abs(host(cuda_backend, gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("planar", [False, True], ids=["bgr", "i420"])
def test_stages_parity_over_time(cuda_backend, planar):
    """Both stages with their temporal state: the same BGR or I420 frames from the CPU and the CUDA backend."""
    rng = np.random.default_rng(5)
    if planar:
        base = rng.integers(40, 160, i420_shape(12, 16))
        frames = [np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8) for _ in range(3)]
    else:
        base = rng.integers(20, 140, (13, 17, 3))
        frames = [np.clip(base * (0.8, 1.0, 1.3) + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
                  for _ in range(3)]
    cparams = ContrastParams(clahe=0.5, tiles_x=3, tiles_y=2)
    stages_cpu = [ContrastStage(cparams, CPU), ColorStage(ColorParams(saturation=1.2), CPU)]
    stages_gpu = [ContrastStage(cparams, cuda_backend), ColorStage(ColorParams(saturation=1.2), cuda_backend)]
    assert all(s.planar for s in stages_gpu)  # on a GPU files run both on planes
    for s in stages_cpu + stages_gpu:
        s.yuv_format = YuvFormat("bt709", False) if planar else None
    for f in frames:
        a = f
        b = on(cuda_backend, f)
        for sc, sg in zip(stages_cpu, stages_gpu):
            a = sc.apply(a)
            b = sg.apply(b)
            assert np.abs(host(cuda_backend, b).astype(int) - a).max() <= 1
    assert stages_gpu[1].gains == pytest.approx(stages_cpu[1].gains, rel=1e-3)


@pytest.mark.parametrize("fmt", [YuvFormat("bt709", False), YuvFormat("bt601", True)])
def test_i420_kernels_parity(cuda_backend, fmt):
    """The I420 thumbnail, colour pass and contrast pass (CPU tables and loop against the CUDA kernel)."""
    img = rand(i420_shape(10, 14), 6)
    planes = i420_planes(img)
    gimg = on(cuda_backend, img)
    gplanes = i420_planes(gimg)
    to_bgr, from_bgr = fmt.to_bgr_coefficients(), fmt.from_bgr_coefficients()
    cpu = i420_bgr_thumbnail(planes, to_bgr, 3, taps=2, out=np.empty((3, 4, 3), np.float32))
    gpu = i420_bgr_thumbnail(gplanes, on(cuda_backend, to_bgr), 3, taps=2,
                             out=cuda_backend.empty((3, 4, 3), np.float32), backend=cuda_backend)
    assert np.allclose(host(cuda_backend, gpu), cpu, atol=1e-3)
    curves = tone_curves(0.03, 1.2, 1.3, (1.1, 1.0, 0.9))
    cpu = np.empty_like(img)
    adjust_color_i420(planes, curves, 1.3, to_bgr, from_bgr, out=i420_planes(cpu))
    gpu = cuda_backend.empty(img.shape)
    adjust_color_i420(gplanes, on(cuda_backend, curves), 1.3, on(cuda_backend, to_bgr), on(cuda_backend, from_bgr),
                      out=i420_planes(gpu), backend=cuda_backend)
    assert np.abs(host(cuda_backend, gpu).astype(int) - cpu).max() <= 1
    lines = tone_lines(0.03, 1.2, (1.1, 1.0, 0.9))
    adjust_color_i420(planes, curves, 1.3, to_bgr, from_bgr, lines=lines, out=i420_planes(cpu))
    adjust_color_i420(gplanes, on(cuda_backend, curves), 1.3, on(cuda_backend, to_bgr), on(cuda_backend, from_bgr),
                      lines=on(cuda_backend, lines), out=i420_planes(gpu), backend=cuda_backend)
    assert np.abs(host(cuda_backend, gpu).astype(int) - cpu).max() <= 1
    maps = np.sort(np.random.default_rng(7).uniform(0, 255, (2, 3, 256)).astype(np.float32), axis=-1)
    for coef in (contrast_coefficients(12.0, 230.0, 0.7), contrast_coefficients(12.0, 230.0, 0.0)):
        cpu = apply_contrast_i420(img, maps, coef, float(to_bgr[0]), float(to_bgr[1]), out=np.empty_like(img))
        gpu = apply_contrast_i420(gimg, on(cuda_backend, maps), on(cuda_backend, coef), float(to_bgr[0]),
                                  float(to_bgr[1]), out=cuda_backend.empty(img.shape), backend=cuda_backend)
        assert np.abs(host(cuda_backend, gpu).astype(int) - cpu).max() <= 1


@pytest.mark.parametrize("planar", [False, True], ids=["bgr", "i420"])
def test_planned_and_white_point_paths_parity(cuda_backend, planar):
    """``--analyze`` plans and a white point on a GPU: the values and the pixels the CPU gets."""
    rng = np.random.default_rng(6)
    shape = i420_shape(12, 16) if planar else (12, 16, 3)
    frames = [rng.integers(30, 200, shape).astype(np.uint8) for _ in range(2)]
    fmt = YuvFormat("bt709", False) if planar else None
    levels, gains = (20.0, 200.0), np.array([0.1, 0.0, -0.1])
    for params in (ColorParams(), ColorParams(white_point="7,5")):
        outs = []
        for backend in (CPU, cuda_backend):
            contrast, color = ContrastStage(ContrastParams(), backend), ColorStage(params, backend)
            for s in (contrast, color):
                s.yuv_format = fmt
            outs.append([host(backend, color.apply(contrast.apply(on(backend, f), levels), gains)) for f in frames])
        for a, b in zip(*outs):
            # Two stages in a row, each within a level of its CPU twin (float rounding on a GPU):
            # the second starts from the first's difference, so the chain is within two.
            assert np.abs(a.astype(int) - b).max() <= 2
