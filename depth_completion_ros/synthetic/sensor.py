"""The depth sensor model: how raw depth departs from the rendered ground truth.

Transparent surfaces return nothing or the depth behind them, dark and shiny materials lose
large clumps, grazing surfaces drop out, the projector leaves occlusion shadows beside edges,
the range is limited, noise grows with z squared and values are quantised. Hole shapes come
from :mod:`depth_completion_ros.holes`, shared with training and evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import CameraIntrinsics
from ..holes import DEFAULT_FOCAL_PER_WIDTH, HoleSimulator, coherent_dropout
from .raycast import RenderBuffers, dot, norm

#: Holes of the synthetic sensor beyond those its materials cause: always projector shadows;
#: fewer random blobs and speckles than :data:`holes.PRESETS` ``"sensor"``, and no colour-driven
#: dropouts, because here the materials say which surfaces are dark or shiny (the preset guesses
#: that from the colour image of real frames, which carry no material labels).
SENSOR_HOLES = HoleSimulator(
    blob_probability=0.15,
    polygon_probability=0.05,
    appearance_probability=0.0,
    shadow_probability=1.0,
    max_range_m=(5.0, 9.0),
    speckle_density=(0.0005, 0.004),
)


@dataclass(frozen=True)
class SensorModel:
    """How the raw depth departs from the ground truth (defaults: an indoor structured-light camera).

    ``noise_sigma_m`` = (a, b): axial noise ``sigma(z) = a + b (z - 0.4)^2`` metres, the Kinect
    model of Nguyen et al. (2012). ``grazing_cos`` = (low, high): surfaces seen at an incidence
    cosine below ``low`` always drop out, above ``high`` never. ``see_through`` is the share of
    transparent-surface pixels that return the depth behind the glass instead of nothing.
    ``dropout_scale`` is the clump size of material dropouts (fraction of the shorter side).
    ``highlight_dropout`` = (low, high): highlight strengths between which a pixel's chance to
    return nothing rises from 0 to 1 (active stereo loses the projected pattern in specular
    highlights); None: highlights do not matter. ``left_band_baseline_m``: stereo baseline of a
    camera whose depth is registered to its left imager, which leaves the invalid band of
    ``fx * baseline / z`` pixels along the left image edge that the right imager cannot see
    (RealSense D400); 0: no band.
    """

    holes: HoleSimulator = SENSOR_HOLES
    noise_sigma_m: tuple[float, float] = (0.0012, 0.0019)
    quantisation_m: float = 0.001
    grazing_cos: tuple[float, float] = (0.12, 0.3)
    see_through: float = 0.3
    dropout_scale: float = 0.05
    highlight_dropout: tuple[float, float] | None = None
    left_band_baseline_m: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.see_through <= 1.0:
            raise ValueError(f"see_through must lie in [0, 1], got {self.see_through}")
        if not 0.0 <= self.grazing_cos[0] < self.grazing_cos[1] <= 1.0:
            raise ValueError(f"grazing_cos must be (low, high) with 0 <= low < high <= 1, got {self.grazing_cos}")
        if min(self.noise_sigma_m) < 0 or self.quantisation_m < 0 or not self.dropout_scale > 0:
            raise ValueError("noise_sigma_m and quantisation_m must be >= 0 and dropout_scale > 0")
        if self.highlight_dropout is not None and not 0.0 <= self.highlight_dropout[0] < self.highlight_dropout[1]:
            raise ValueError(
                f"highlight_dropout must be (low, high) with 0 <= low < high, got {self.highlight_dropout}"
            )
        if not self.left_band_baseline_m >= 0:
            raise ValueError(f"left_band_baseline_m must be >= 0, got {self.left_band_baseline_m}")

    def noise_sigma(self, depth: np.ndarray) -> np.ndarray:
        """Standard deviation (m) of the axial noise at each depth."""
        base, quadratic = self.noise_sigma_m
        return np.float32(base) + np.float32(quadratic) * np.square(depth - np.float32(0.4))


def default_intrinsics(width: int, height: int) -> CameraIntrinsics:
    """A Kinect-like pinhole camera (about 58 degrees horizontal field of view) for any size."""
    focal = DEFAULT_FOCAL_PER_WIDTH * width
    return CameraIntrinsics(fx=focal, fy=focal, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, width=width, height=height)


def sense(
    buffers: RenderBuffers,
    material_dropout: np.ndarray,
    normal: np.ndarray,
    transparent: np.ndarray,
    rgb: np.ndarray,
    rng: np.random.Generator,
    sensor: SensorModel,
    highlight: np.ndarray | None = None,
) -> np.ndarray:
    """What the depth camera reports for a traced frame (0 = no measurement).

    ``material_dropout`` is each pixel's chance to return nothing because of its material (dark
    or shiny); ``transparent`` marks glass in front, which returns nothing or, with the sensor's
    ``see_through`` share, the depth behind it. ``highlight`` is the specular highlight strength
    per pixel, used by sensors with ``highlight_dropout``.
    """
    shape = buffers.depth.shape
    clump = sensor.dropout_scale * min(shape)
    if transparent.any():
        sees_through = transparent & coherent_dropout(sensor.see_through, shape, rng, clump)
        measured = np.where(sees_through, buffers.opaque_depth, buffers.depth)
        measured[~np.isfinite(measured)] = 0.0
    else:
        sees_through, measured = transparent, buffers.depth.copy()
    drop = sensor.holes(measured, rgb, rng=rng, fx=buffers.intrinsics.fx)
    drop |= transparent & ~sees_through
    incidence = np.abs(dot(normal, buffers.directions)) / norm(buffers.directions)
    low, high = sensor.grazing_cos
    grazing = np.clip((np.float32(high) - incidence) / np.float32(high - low), 0.0, 1.0)
    probability = np.maximum(material_dropout * ~transparent, grazing)
    if sensor.highlight_dropout is not None and highlight is not None:
        low, high = sensor.highlight_dropout
        blinded = np.clip((highlight - np.float32(low)) / np.float32(high - low), 0.0, 1.0)
        np.maximum(probability, blinded, out=probability)
    if sensor.left_band_baseline_m > 0:
        with np.errstate(divide="ignore"):
            band_px = np.float32(buffers.intrinsics.fx * sensor.left_band_baseline_m) / measured
        drop |= np.arange(shape[1], dtype=np.float32)[None, :] < band_px
    drop |= coherent_dropout(probability, shape, rng, clump)
    noisy = measured + sensor.noise_sigma(measured) * rng.standard_normal(shape, dtype=np.float32)
    if sensor.quantisation_m > 0:
        noisy = np.rint(noisy / np.float32(sensor.quantisation_m)) * np.float32(sensor.quantisation_m)
    noisy[drop | (measured <= 0) | (noisy <= 0)] = 0.0
    return noisy.astype(np.float32, copy=False)
