"""Procedural textures: the albedo patterns materials carry (paint, wood, tiles, books, ...).

Patterns are functions of surface coordinates in metres plus two channels of shared tileable
noise, so a surface looks the same from every camera position and costs one ``cv2.remap`` and a
few array operations per material per frame.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .primitives import Material, Vec3

#: Side of the shared noise texture (texels); it tiles.
NOISE_TEXELS = 512
#: Noise texels per pattern period (plank width, tile size, ...).
TEXELS_PER_PERIOD = 128.0
#: Entries of a scene's random table that :func:`cell_hash` indexes (a power of two).
HASH_SIZE = 4096


@functools.lru_cache(maxsize=1)
def noise_texture() -> np.ndarray:
    """Two channels of unit-variance, tileable noise shared by all scenes (per-primitive texture
    offsets already make surfaces differ): 1/f detail, and smooth blotches with features about
    16x larger. One remap of both channels costs less than two remaps."""
    rng = np.random.default_rng(20240929)
    fy = np.fft.fftfreq(NOISE_TEXELS)[:, None]
    fx = np.fft.rfftfreq(NOISE_TEXELS)[None, :]
    frequency = np.hypot(fx, fy) * NOISE_TEXELS
    channels = []
    for spectrum_filter in (1.0 / (frequency + 2.0), np.exp(-np.square(frequency / 16.0))):
        spectrum = np.fft.rfft2(rng.standard_normal((NOISE_TEXELS, NOISE_TEXELS))) * spectrum_filter
        noise = np.fft.irfft2(spectrum, s=(NOISE_TEXELS, NOISE_TEXELS))
        channels.append((noise - noise.mean()) / noise.std())
    texture = np.stack(channels, axis=-1).astype(np.float32)
    texture.flags.writeable = False
    return texture


def cell_hash(table: np.ndarray, i: np.ndarray, j: np.ndarray | int = 0) -> np.ndarray:
    """A random value in [0, 1) per integer cell (plank, tile, book), stable across frames."""
    hashed: np.ndarray = table[(i.astype(np.int64) * 92821 + np.asarray(j, np.int64) * 68917) & (HASH_SIZE - 1)]
    return hashed


def _mix(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-pixel blend of colours ``a`` and ``b`` ((N, 3) or (1, 3)) by ``weight`` (N,)."""
    blend: np.ndarray = a + (b - a) * weight[:, None]
    return blend


class Texels(NamedTuple):
    """What a pattern sees of one material's pixels: surface coordinates (metres), two noise
    samples (fine detail, smooth blotches) and the scene's random table for :func:`cell_hash`."""

    u: np.ndarray
    v: np.ndarray
    fine: np.ndarray
    coarse: np.ndarray
    table: np.ndarray


# Procedural patterns: albedo, (N, 3) or one colour (1, 3), of a material's pixels.
def _paint(m: Material, t: Texels) -> np.ndarray:
    return _colour(m.color) * (1.0 + 0.025 * t.coarse + 0.01 * t.fine)[:, None]


def _wood(m: Material, t: Texels) -> np.ndarray:
    """Planks ``period`` wide along u, boards 1.3 m long with staggered ends, grain and seams."""
    plank = np.floor(t.v / m.period_m)
    along = t.u + 3.0 * cell_hash(t.table, plank)
    board = np.floor(along / 1.3)
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (t.v / m.period_m * 3.0 + 0.6 * t.coarse + 0.15 * t.fine))
    albedo = _mix(_colour(m.color), _colour(m.accent), 0.25 * cell_hash(t.table, plank, board) + 0.3 * grain)
    albedo[(t.v / m.period_m - plank < 0.03) | (along / 1.3 - board < 0.004)] *= 0.45
    return albedo


def _tiles(m: Material, t: Texels) -> np.ndarray:
    """Square tiles ``period`` wide with slightly varying tones, grout in the accent colour."""
    iu, iv = np.floor(t.u / m.period_m), np.floor(t.v / m.period_m)
    albedo = _colour(m.color) * (0.93 + 0.14 * cell_hash(t.table, iu, iv) + 0.03 * t.fine)[:, None]
    albedo[(t.u / m.period_m - iu < 0.04) | (t.v / m.period_m - iv < 0.04)] = _colour(m.accent)
    return albedo


def _stripes(m: Material, t: Texels) -> np.ndarray:
    """Carpet: stripes ``period`` wide of random shades between the two colours, fibre noise."""
    albedo = _mix(_colour(m.color), _colour(m.accent), cell_hash(t.table, np.floor(t.u / m.period_m)))
    return albedo * (1.0 + 0.18 * t.fine)[:, None]


def _fabric(m: Material, t: Texels) -> np.ndarray:
    return _colour(m.color) * (1.0 + 0.08 * t.fine + 0.05 * t.coarse)[:, None]


def _books(m: Material, t: Texels) -> np.ndarray:
    """A row of spines ``period`` tall: random colours and heights, the dark shelf back above."""
    spine = np.floor(t.u / 0.035)
    hue = np.stack([cell_hash(t.table, spine, k) for k in (11, 23, 37)], axis=1)
    albedo: np.ndarray = (0.12 + 0.6 * hue * hue) * (1.0 + 0.05 * t.fine)[:, None]
    albedo[t.v / m.period_m > 0.7 + 0.3 * cell_hash(t.table, spine, 51)] = _colour(m.accent) * 0.3
    return albedo


def _art(m: Material, t: Texels) -> np.ndarray:
    """Colourful smooth blotches between the two colours (paintings, foliage)."""
    weights = np.stack([0.5 + 0.5 * np.sin(3.0 * t.coarse + phase) for phase in (0.0, 2.1, 4.2)], axis=1)
    albedo: np.ndarray = _colour(m.color) + (_colour(m.accent) - _colour(m.color)) * weights
    return albedo


def _metal(m: Material, t: Texels) -> np.ndarray:
    return _colour(m.color) * (1.0 + 0.05 * t.fine + 0.08 * t.coarse)[:, None]


def _outdoor(m: Material, t: Texels) -> np.ndarray:
    """The view through a window: sky (the material colour) above a ragged horizon at about
    1.3 m, hazy greenery and facades below; ``v`` is the height on the wall."""
    horizon = np.clip((t.v - 1.3 - 0.25 * t.coarse) / 0.5, 0.0, 1.0)
    ground = _colour((0.45, 0.5, 0.38)) * (1.0 + 0.25 * t.fine + 0.2 * t.coarse)[:, None]
    return _mix(ground, _colour(m.color), horizon)


def _colour(rgb: Vec3) -> np.ndarray:
    return np.asarray(rgb, np.float32)[None, :]


_PATTERN_FUNCTIONS = {
    "paint": _paint,
    "wood": _wood,
    "tiles": _tiles,
    "stripes": _stripes,
    "fabric": _fabric,
    "books": _books,
    "art": _art,
    "metal": _metal,
    "outdoor": _outdoor,
}
#: Patterns a :class:`Material` can carry; ``outdoor`` is the emissive view through a window.
PATTERNS = tuple(_PATTERN_FUNCTIONS)


def texture(material: Material, texels: Texels) -> np.ndarray:
    """Albedo (N, 3) float32 of one material's pixels."""
    albedo = _PATTERN_FUNCTIONS[material.pattern](material, texels)
    return np.broadcast_to(albedo, (texels.u.size, 3)).astype(np.float32, copy=False)
