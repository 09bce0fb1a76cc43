"""DepthCompleter: raw depth (+ RGB) in, completed depth at the input's resolution out.

Stages, each timed: ``sanitize`` (NaN, inf, out-of-range -> 0) -> ``interpolate`` (the fast
midpoint pass, optional) -> the method: ``interp`` (that pass alone), ``classical``
(:func:`classical.classical_fill`) or ``model`` (a model refining the classical fill:
``classical``, ``working inputs``, ``infer``, ``correction``; a model predicting depth itself:
``fit`` the frame to the network, ``infer``, ``restore`` the prediction to the frame) ->
``merge``: observed pixels are always returned as measured, and model fills whose confidence is
below ``confidence_threshold`` are handled as ``low_confidence`` says: ``hole`` leaves them 0,
``classical`` takes the classical fill there (a hybrid that keeps the network only where it is
confident).

:meth:`DepthCompleter.complete` runs three stages a stream may run on different threads:
:meth:`~DepthCompleter.prepare` (checks, sanitising, the interpolation pass, a refining model's
classical prior and working inputs), :meth:`~DepthCompleter.fill` (the method: the classical fill
or the network) and :meth:`~DepthCompleter.finish` (a refining model's correction, the merge).

The output has exactly the input's height and width, whatever ``fit`` does internally, so a
published completed image keeps the input's ``camera_info`` unchanged.

numpy in gives numpy out; torch in gives torch out on the same device. CUDA tensors stay on
the GPU through sanitising, interpolation and the model; only the classical fill (OpenCV)
runs on the CPU.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .arrays import to_numpy
from .backends import CompletionBackend, ModelFileError, create_backend
from .classical import ClassicalOptions, classical_fill
from .depth_io import sanitize_depth
from .geometry import Box, fit_box, resize_color, resize_depth
from .interpolation import midpoint_fill
from .model.refine import PreparedRefinement, finish_refinement, prepare_refinement
from .options import FITS, LOW_CONFIDENCE, METHODS, CompleterOptions

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
#: A (B, H, W[, 3]) batch inside :meth:`DepthCompleter.complete`: numpy or a torch tensor, which
#: one decided at run time (a CPU tensor is worked on as numpy; the model stage uses its
#: backend's kind), so it cannot be a static type.
FrameBatch = Any

__all__ = ["FITS", "LOW_CONFIDENCE", "METHODS", "CompleterOptions", "Completion", "CompletionWork", "DepthCompleter"]


@dataclass(frozen=True)
class Completion(Generic[ArrayT]):
    """Result of :meth:`DepthCompleter.complete`, shaped and typed like the input depth.

    ``confidence`` (model method only) is 1 on observed pixels, the network's confidence on
    its fills and 0 where the classical fill covered the frame outside the model's crop.
    ``timings`` holds milliseconds per stage plus ``total``.
    """

    depth: ArrayT
    confidence: ArrayT | None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CompletionWork(Generic[ArrayT]):
    """A batch between the stages of :meth:`DepthCompleter.complete`, :meth:`~DepthCompleter.prepare`
    -> :meth:`~DepthCompleter.fill` -> :meth:`~DepthCompleter.finish` (maybe on different threads).

    ``depth_m`` is the caller's array (the output follows its kind, rank and device); ``frames``,
    ``colors`` its (B, H, W[, 3]) views; the rest is what the stages so far made of them.
    """

    depth_m: ArrayT
    frames: FrameBatch
    colors: FrameBatch | None
    observed: FrameBatch  # sanitised
    prefilled: FrameBatch  # after the interpolation pass (``observed`` itself without it)
    stopwatch: _Stopwatch
    #: The classical fill when the method needs one besides its own fill: a refining model's
    #: prior, the hybrid's fallback, the frame outside a cropping model's view.
    classical: FrameBatch | None = None
    #: A refining model's working-resolution inputs (prepare) and its outputs there (fill).
    refinement: PreparedRefinement | None = None
    network_outputs: tuple[torch.Tensor, torch.Tensor | None] | None = None
    #: The method's fill and, for a model, its confidence (fill, or finish for a refining model).
    filled: FrameBatch | None = None
    confidence: FrameBatch | None = None
    #: Whether :meth:`DepthCompleter.fill` has run (a refining model's fill may legitimately be
    #: None until finish: no frame had depth to refine).
    fill_done: bool = False


class DepthCompleter:
    """Completes batches of depth frames with one configured method (see module docstring).

    ``fit`` (model method) maps a frame of any size to the network: ``crop`` centre-crops to
    the model's aspect ratio and resizes (nearest for depth) to its input size, and fills the
    rest of the frame classically; ``resize`` resizes the whole frame (distorting the aspect
    ratio); ``full`` runs at the frame's own resolution, padded to the network stride (needs a
    backend without a fixed input size). ``backend`` is a kind for :func:`create_backend`
    (with ``model_path``, ``device`` and ``backend_options``) or a ready CompletionBackend;
    these are ignored by the other methods. ``low_confidence`` (``hole`` or ``classical``)
    decides what replaces model fills below ``confidence_threshold``.
    """

    def __init__(
        self,
        options: CompleterOptions | str | None = None,
        *,
        backend: str | CompletionBackend | None = None,
        classical_options: ClassicalOptions | None = None,
        backend_options: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        """``DepthCompleter(options)``, ``DepthCompleter("classical", fit="resize")`` or keyword fields only.

        ``options`` (a :class:`CompleterOptions`, or just its ``method``) is updated with
        ``overrides``, fields of :class:`CompleterOptions` (as ``classical_fill`` takes
        ``ClassicalOptions`` fields). ``backend`` is a backend kind (an option) or a ready
        CompletionBackend to use instead of loading one.
        """
        if isinstance(options, str):
            overrides["method"] = options
            options = None
        ready_backend = backend if isinstance(backend, CompletionBackend) else None
        if backend is not None and ready_backend is None:
            overrides["backend"] = backend
        options = options or CompleterOptions()
        if overrides:
            unknown = set(overrides) - {f.name for f in dataclasses.fields(CompleterOptions)}
            if unknown:
                raise TypeError(f"unknown DepthCompleter option(s) {', '.join(sorted(unknown))}; "
                                f"see CompleterOptions")
            options = dataclasses.replace(options, **overrides)
        self.options = options
        self.classical_options = classical_options or ClassicalOptions()
        self.backend: CompletionBackend | None = None
        if options.method == "model":
            self.backend = ready_backend or create_backend(
                options.backend, options.model_path or None, options.device or None, **dict(backend_options or {})
            )
            if options.fit == "full" and self.backend.input_size is not None:
                raise ValueError(
                    f"fit='full' runs the network at each frame's own size, but this {self.backend.name} model "
                    f"takes {self.backend.input_size[0]}x{self.backend.input_size[1]} only; use fit='crop' or "
                    f"'resize', or export the ONNX with --dynamic"
                )

    @property
    def method(self) -> str:
        """The completion method (``options.method``)."""
        return self.options.method

    def describe(self) -> str:
        """One line for logs: method, backend, device, input size and why faster backends were skipped."""
        options = self.options
        parts = [f"method={options.method}", f"interpolation={'on' if options.interpolate else 'off'}"]
        if self.backend is not None:
            fit = "working resolution from the frame size" if self.backend.refines_prior else options.fit
            parts += [f"fit={fit}", f"backend={self.backend.describe()}"]
            if options.confidence_threshold > 0:
                parts.append(f"confidence_threshold={options.confidence_threshold} (below: {options.low_confidence})")
            if self.backend.selection_reasons:
                parts.append("skipped: " + "; ".join(self.backend.selection_reasons))
        return ", ".join(parts)

    def complete(
        self, depth_m: ArrayT, rgb: np.ndarray | torch.Tensor | None = None, *, sanitized: bool = False
    ) -> Completion[ArrayT]:
        """Complete ``depth_m`` (H, W) or (B, H, W) float metres; ``rgb`` uint8 (…, H, W, 3) or None.

        The model method needs ``rgb``; the classical method uses it only with RGB guidance.
        ``sanitized=True`` says ``depth_m`` already is what :func:`sanitize_depth` makes of it with
        this completer's ``min_depth`` and ``max_depth`` (as ``rgbd_input.decode_rgbd`` returns it), so
        the completer skips its own pass over the frame. ``depth_m`` is never written to.
        """
        return self.finish(self.fill(self.prepare(depth_m, rgb, sanitized=sanitized)))

    def prepare(
        self, depth_m: ArrayT, rgb: np.ndarray | torch.Tensor | None = None, *, sanitized: bool = False
    ) -> CompletionWork[ArrayT]:
        """The first stage of :meth:`complete` (same arguments): input checks, sanitising, the
        interpolation pass and, for a model that refines it, the classical prior and the network's
        working-resolution inputs.

        :meth:`fill` then runs the method (the classical fill, or the network) and :meth:`finish`
        brings its result to the frames. The stages let a stream finish frame n on one thread while
        another prepares and fills frame n + 1 (the node does).
        """
        frames, colors = self._check_inputs(depth_m, rgb)
        stopwatch = _Stopwatch(_cuda_device(frames, colors, self.backend))
        if sanitized:
            observed = frames
        else:
            with stopwatch.stage("sanitize"):
                observed = sanitize_depth(frames, min_depth=self.options.min_depth, max_depth=self.options.max_depth)
        prefilled = observed
        if self.options.interpolate:
            with stopwatch.stage("interpolate"):
                prefilled = midpoint_fill(observed, sanitized=True)
        classical = refinement = None
        backend = self.backend
        if backend is not None and backend.refines_prior:
            # A refining model: the classical fill, computed once, is the network's prior and the
            # fallback (low confidence, frames without any depth). ``fit`` does not apply: the
            # network runs at a working resolution chosen from the frame size and its correction
            # is upsampled edge-aware to the frame (:func:`model.refine_frames`).
            if backend.config is None:
                raise ModelFileError(f"{backend.describe()}: a prior-refining model must record its model config "
                                     "(its working resolution); this file has none")
            with stopwatch.stage("classical"):
                classical = classical_fill(prefilled, colors, options=self.classical_options, sanitized=True)
            with stopwatch.stage("working inputs"):
                assert colors is not None  # _check_inputs demands colour for the model method
                refinement = prepare_refinement(backend.config, colors, prefilled, classical)
        stopwatch.pause()
        return CompletionWork(depth_m, frames, colors, observed, prefilled, stopwatch, classical, refinement)

    def fill(self, work: CompletionWork[ArrayT]) -> CompletionWork[ArrayT]:
        """The second stage of :meth:`complete`: the method's own fill (the interpolation pass
        alone, the classical fill or the network) for a batch from :meth:`prepare`."""
        stopwatch = work.stopwatch
        stopwatch.resume()
        colors, prefilled, classical = work.colors, work.prefilled, work.classical
        confidence = network_outputs = None
        filled: FrameBatch | None = None
        if self.method == "interp":
            filled = _copy(prefilled) if prefilled is work.frames else prefilled  # never return the caller's array
        elif self.method == "classical":
            with stopwatch.stage("classical"):
                filled = classical_fill(prefilled, colors, options=self.classical_options, sanitized=True)
        elif work.refinement is not None:
            assert self.backend is not None  # a refinement is prepared for a model only
            working = work.refinement.working
            with stopwatch.stage("infer"):
                if working is not None:  # else no frame had depth to refine: finish keeps the prior
                    network_outputs = self.backend.infer(working.rgb, working.depth, working.prior)
        else:
            backend = self.backend
            assert backend is not None  # method "model" loads one in __init__
            filled, confidence, classical = self._fit_model_fill(backend, prefilled, colors, stopwatch)
            hybrid = self.options.confidence_threshold > 0 and self.options.low_confidence == "classical"
            if hybrid and classical is None:
                with stopwatch.stage("classical"):
                    classical = _as_kind(classical_fill(prefilled, colors, options=self.classical_options,
                                                        sanitized=True), backend)
        stopwatch.pause()
        return dataclasses.replace(work, classical=classical, network_outputs=network_outputs, filled=filled,
                                   confidence=confidence, fill_done=True)

    def finish(self, work: CompletionWork[ArrayT]) -> Completion[ArrayT]:
        """The last stage of :meth:`complete`: a refining model's correction brought to the frames,
        then the merge with the measured pixels, for a batch from :meth:`fill`."""
        if not work.fill_done:
            raise ValueError("finish() takes a batch that went through fill(); this one has not")
        stopwatch = work.stopwatch
        stopwatch.resume()
        filled, confidence, classical = work.filled, work.confidence, work.classical
        if work.refinement is not None:
            backend = self.backend
            assert backend is not None  # a refinement is prepared for a model only
            with stopwatch.stage("correction"):
                refined, refined_confidence = finish_refinement(work.refinement, work.network_outputs)
                filled, confidence = _as_kind(refined, backend), _as_kind(refined_confidence, backend)
                classical = _as_kind(classical, backend)
        assert filled is not None  # every method's fill, a refining model's once corrected
        with stopwatch.stage("merge"):
            # Merge where the fill lies (the model's device, or the CPU for numpy work).
            on_device = isinstance(filled, torch.Tensor)
            where: Callable[..., FrameBatch] = torch.where if on_device else np.where
            observed = torch.as_tensor(work.observed).to(filled.device) if on_device else to_numpy(work.observed)
            if self.method == "model":
                is_observed = observed > 0
                completed = where(is_observed, observed, filled)
            else:  # the classical fill and interpolation return observed pixels bit-exact: nothing to merge
                completed = filled
            if confidence is not None:
                confidence = where(is_observed, 1.0, confidence)
                if self.options.confidence_threshold > 0:
                    fallback = 0.0 if self.options.low_confidence == "hole" else classical
                    completed = where(confidence >= self.options.confidence_threshold, completed, fallback)
            depth_m, batched = work.depth_m, work.depth_m.ndim == 3
            depth_out = _like_input(completed, depth_m, batched)
            confidence_out = None if confidence is None else _like_input(confidence, depth_m, batched)
        return Completion(depth_out, confidence_out, stopwatch.finish())

    def _check_inputs(
        self, depth: ArrayT, rgb: np.ndarray | torch.Tensor | None
    ) -> tuple[FrameBatch, FrameBatch | None]:
        """(B, H, W) depth and (B, H, W, 3) colour views; ValueError/TypeError naming the problem."""
        if not isinstance(depth, (np.ndarray, torch.Tensor)):
            raise TypeError(f"depth must be a numpy array or torch tensor, got {type(depth).__name__}")
        if depth.ndim not in (2, 3) or 0 in depth.shape:
            raise ValueError(f"depth must be a non-empty (H, W) or (B, H, W) array, got shape {tuple(depth.shape)}")
        if not (
            depth.is_floating_point() if isinstance(depth, torch.Tensor) else np.issubdtype(depth.dtype, np.floating)
        ):
            raise TypeError(f"depth must be float metres, got {depth.dtype}; convert sensor units with "
                            f"depth_io.sanitize_depth(depth, scale)")
        frames: FrameBatch = depth if depth.ndim == 3 else depth[None]
        if isinstance(frames, torch.Tensor) and frames.device.type == "cpu":
            # On the CPU the numpy implementations are the fast ones (OpenCV, lookup tables).
            frames = frames.detach().numpy()
        if rgb is None:
            if self.method == "model":
                raise ValueError("method 'model' needs the RGB image registered to the depth; got rgb=None "
                                 "(use method='classical' for depth-only input)")
            return frames, None
        if not isinstance(rgb, (np.ndarray, torch.Tensor)):
            raise TypeError(f"rgb must be a numpy array or torch tensor, got {type(rgb).__name__}")
        expected = (*depth.shape, 3)
        if tuple(rgb.shape) != expected:
            raise ValueError(f"rgb must have shape {expected} (uint8 RGB matching depth {tuple(depth.shape)}), "
                             f"got {tuple(rgb.shape)}")
        if rgb.dtype not in (np.uint8, torch.uint8):
            raise TypeError(f"rgb must be uint8, got {rgb.dtype}")
        return frames, rgb if rgb.ndim == 4 else rgb[None]

    def _fit_model_fill(
        self, backend: CompletionBackend, prefilled: FrameBatch, colors: FrameBatch, stopwatch: _Stopwatch
    ) -> tuple[FrameBatch, FrameBatch, FrameBatch | None]:
        """A model that predicts depth itself (not a refining one), fitted to its input size:
        prediction (B, H, W), its confidence at frame resolution and the classical fill when one
        was needed outside the model's view (else None), all in the backend's kind.

        A backend that takes tensors gets the whole stage on its device; the ONNX Runtime CPU
        backend gets numpy and OpenCV, several times faster than torch's CPU kernels here.
        """
        with stopwatch.stage("fit"):
            depth, rgb = _as_kind(prefilled, backend), _as_kind(colors, backend)
            height, width = depth.shape[-2:]
            box, net_depth, net_rgb = self._fit_to_model(backend, depth, rgb)
        with stopwatch.stage("infer"):
            predicted, confidence = backend.infer(net_rgb, net_depth)
        with stopwatch.stage("restore"):
            predicted = predicted[:, 0]
            # A foreign model without a confidence output: its fills are all taken as certain.
            confidence = _full_like(predicted, 1.0) if confidence is None else confidence[:, 0]
            x, y, box_w, box_h = box
            if self.options.fit == "full":
                predicted, confidence = predicted[:, :height, :width], confidence[:, :height, :width]
            else:
                predicted = _resize_linear(predicted, box_w, box_h)
                confidence = _resize_linear(confidence, box_w, box_h)
        if (box_w, box_h) == (width, height):
            return predicted, confidence, None
        with stopwatch.stage("classical"):
            # Outside the crop the network saw nothing: fill it classically so every pixel has depth.
            classical = _as_kind(classical_fill(depth, rgb, options=self.classical_options), backend)
            filled, outside_confidence = _copy(classical), _full_like(classical, 0.0)
            filled[:, y : y + box_h, x : x + box_w] = predicted
            outside_confidence[:, y : y + box_h, x : x + box_w] = confidence
        return filled, outside_confidence, classical

    def _fit_to_model(self, backend: CompletionBackend, depth: ArrayT, rgb: ArrayT) -> tuple[Box, ArrayT, ArrayT]:
        """The frame region the network sees (x, y, w, h) and the network's (N, C, h, w) inputs."""
        height, width = depth.shape[-2:]
        if self.options.fit == "full":
            multiple = backend.size_multiple
            depth, rgb = _pad_bottom_right(depth, rgb, -height % multiple, -width % multiple)
            return (0, 0, width, height), depth[:, None], _rgb_to_network(rgb)
        model_w, model_h = backend.input_size or backend.model_size
        box = fit_box(width, height, model_w / model_h) if self.options.fit == "crop" else (0, 0, width, height)
        x, y, box_w, box_h = box
        depth, rgb = depth[:, y : y + box_h, x : x + box_w], rgb[:, y : y + box_h, x : x + box_w]
        net_depth = _resize_nearest(depth, model_w, model_h)[:, None]
        return box, net_depth, _rgb_to_network(_resize_color(rgb, model_w, model_h))


class _Stopwatch:
    """Milliseconds per stage; synchronises a CUDA device at stage ends so each figure is that
    stage's own cost rather than whatever the asynchronous queue happened to flush.

    ``total`` counts the time between :meth:`pause` and :meth:`resume` out: the wait of a
    batch for the thread that runs its next stage is not the completer's work.
    """

    def __init__(self, cuda_device: torch.device | None) -> None:
        self._cuda_device = cuda_device
        self._start = time.perf_counter()
        self._counted_s = 0.0
        self.timings: dict[str, float] = {}

    def pause(self) -> None:
        self._counted_s += time.perf_counter() - self._start

    def resume(self) -> None:
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        begin = time.perf_counter()
        yield
        if self._cuda_device is not None:
            torch.cuda.synchronize(self._cuda_device)
        self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - begin) * 1000.0

    def finish(self) -> dict[str, float]:
        self.timings["total"] = (self._counted_s + time.perf_counter() - self._start) * 1000.0
        return self.timings


def _cuda_device(
    depth: np.ndarray | torch.Tensor, rgb: np.ndarray | torch.Tensor | None, backend: CompletionBackend | None
) -> torch.device | None:
    """The CUDA device this call touches, if any (to time its stages truthfully)."""
    for device in (getattr(depth, "device", None), getattr(rgb, "device", None), getattr(backend, "device", None)):
        if isinstance(device, torch.device) and device.type == "cuda":
            return device
    return None


def _like_input(result: np.ndarray | torch.Tensor, like: ArrayT, batched: bool) -> ArrayT:
    """``result`` (B, H, W) as the caller's array kind, device and rank."""
    result = result if batched else result[0]
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(result).to(device=like.device, dtype=torch.float32)
    return np.ascontiguousarray(to_numpy(result), dtype=np.float32)


# Array helpers for the model stage: numpy/OpenCV on the CPU, torch on the backend's device.
# Each applies one rule to either kind, so both paths give the network the same input.


def _as_kind(array: FrameBatch, backend: CompletionBackend) -> FrameBatch:
    """``array`` as a tensor on the backend's device when it takes tensors, else as numpy.

    A read-only array (zero-copy message decoding returns views of the message buffer) is copied
    first: torch cannot wrap non-writable memory.
    """
    if not backend.takes_tensors:
        return to_numpy(array)
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        array = array.copy()
    return torch.as_tensor(array).to(backend.device)


def _full_like(array: ArrayT, value: float) -> ArrayT:
    return torch.full_like(array, value) if isinstance(array, torch.Tensor) else np.full_like(array, value)


def _copy(array: ArrayT) -> ArrayT:
    return array.clone() if isinstance(array, torch.Tensor) else array.copy()


def _resize_nearest(depth: ArrayT, width: int, height: int) -> ArrayT:
    """(B, H, W) depth resized without blending holes (geometry.resize_depth's nearest rule)."""
    if isinstance(depth, torch.Tensor):
        return F.interpolate(depth[:, None], size=(height, width), mode="nearest-exact")[:, 0]
    return resize_depth(depth, width, height, mode="nearest")


def _resize_color(rgb: ArrayT, width: int, height: int) -> ArrayT:
    """(B, H, W, 3) uint8 resized like geometry.resize_color: area when shrinking, else bilinear."""
    if not isinstance(rgb, torch.Tensor):
        return np.stack([resize_color(frame, width, height) for frame in rgb])
    shrinking = width < rgb.shape[2] or height < rgb.shape[1]
    values = rgb.permute(0, 3, 1, 2).to(torch.float32)
    if shrinking:
        values = F.interpolate(values, size=(height, width), mode="area")
    else:
        values = F.interpolate(values, size=(height, width), mode="bilinear", align_corners=False)
    return values.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def _rgb_to_network(rgb: ArrayT) -> ArrayT:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in 0–1, the network's colour input."""
    if isinstance(rgb, torch.Tensor):
        return rgb.permute(0, 3, 1, 2).to(torch.float32).div(255.0).contiguous()
    return np.ascontiguousarray(rgb.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def _resize_linear(values: ArrayT, width: int, height: int) -> ArrayT:
    """(B, h, w) dense prediction resized bilinearly (pixel-centre aligned, as OpenCV and torch agree)."""
    if isinstance(values, torch.Tensor):
        return F.interpolate(values[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
    return np.stack([cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR) for frame in values])


def _pad_bottom_right(depth: ArrayT, rgb: ArrayT, pad_h: int, pad_w: int) -> tuple[ArrayT, ArrayT]:
    """Pad to the network stride: depth with 0 (no measurement), colour by replicating its edge."""
    if isinstance(depth, torch.Tensor):
        colour = F.pad(rgb.permute(0, 3, 1, 2).to(torch.float32), (0, pad_w, 0, pad_h), mode="replicate")
        return F.pad(depth, (0, pad_w, 0, pad_h)), colour.to(torch.uint8).permute(0, 2, 3, 1)
    return (np.pad(depth, ((0, 0), (0, pad_h), (0, pad_w))),
            np.pad(rgb, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge"))
