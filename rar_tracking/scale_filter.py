"""A one-dimensional scale filter: the target's size from a correlation over scales (issue 14).

The paper finds the size with a 3-scale pyramid (step 1.02): the network runs on three crops
and the highest response peak names the scale. Half of the overlap the tracker loses on the
validation split is size, not position (docs/evaluation.md, ``overlap_split``), and two of the
three network passes per frame serve only the size. This module is the alternative of DSST
(Danelljan et al., "Accurate scale estimation for robust visual tracking", BMVC 2014), which
CSRT also uses, reimplemented in numpy:

1. around the position the correlation filter found, ``num_scales`` patches of the target's
   size times ``step ** n`` (n = -(S-1)/2 .. (S-1)/2) are resampled to one small fixed model
   size and described by Felzenszwalb et al.'s HOG on 4 x 4 cells (one vector each);
2. the S vectors, weighted by a Hann window over n, are one multi-channel 1-D signal; a
   correlation filter over n, learnt in closed form in the Fourier domain (the 1-D analogue
   of the position filter's Eq. 10 without context terms), answers with a peak at the scale
   change: ``num / (den + lambda)`` with ``num = conj(X) * Y`` and ``den = sum |X|^2``,
   Y the transform of a Gaussian label centred on n = 0;
3. numerator and denominator are running averages over the frames learnt from.

The tracker then runs the network on one crop per frame. Values are DSST's published ones
(33 scales, learning rate 0.025, lambda 0.01, label sigma sqrt(S) / 4, a model of at most
512 pixels) except the step, which is the paper's (1.02, also DSST's). Nothing here is trained.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from .hog import hog_cells

MODEL_AREA = 512.0  # pixels of the resampled target (DSST's scale_model_max_area)
CELL = 4  # cell side of the orientation histograms, model pixels
LAMBDA = 1e-2  # regularisation of the scale filter (DSST)
SIGMA_FACTOR = 0.25  # label std = SIGMA_FACTOR * sqrt(num_scales) scale steps (DSST)


def model_size(size: tuple[float, float]) -> tuple[int, int]:
    """The fixed (width, height) every scale sample is resampled to: the target's aspect at
    about ``MODEL_AREA`` pixels, each side a multiple of ``CELL`` and at least two cells."""
    w, h = size
    k = math.sqrt(MODEL_AREA / (w * h))
    return (max(2 * CELL, int(round(w * k / CELL)) * CELL),
            max(2 * CELL, int(round(h * k / CELL)) * CELL))


def orientation_features(patches: np.ndarray) -> np.ndarray:
    """HOG (:func:`rar_tracking.hog.hog_cells`) of grey patches on ``CELL`` x ``CELL`` cells,
    one flat vector per patch: (N, H, W) -> (N, (H / CELL) * (W / CELL) * 31)."""
    return hog_cells(patches, CELL).reshape(len(patches), -1)


def scale_samples(image: np.ndarray, center: tuple[float, float], size: tuple[float, float],
                  factors: np.ndarray, model: tuple[int, int]) -> np.ndarray:
    """Grey patches of ``size * factor`` around ``center`` resampled to ``model`` (w, h).

    image: (H, W, 3) uint8 RGB. Returns (len(factors), model h, model w) float32 in [0, 1].
    The region of the largest factor is cut once (borders replicated), low-pass filtered for
    the downsampling, then every factor is one bilinear warp of that region.
    """
    (cx, cy), (w, h), (mw, mh) = center, size, model
    big = float(np.max(factors))
    rw, rh = int(math.ceil(w * big)) + 4, int(math.ceil(h * big)) + 4
    shift = np.array([[1.0, 0.0, rw / 2.0 - cx], [0.0, 1.0, rh / 2.0 - cy]])
    region = cv2.warpAffine(image, shift, (rw, rh), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    grey = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    k = min(mw / w, mh / h)
    if k < 1.0:  # anti-aliasing for the downsampling (about half the new pixel spacing)
        grey = cv2.GaussianBlur(grey, (0, 0), 0.5 / k)
    out = np.empty((len(factors), mh, mw), np.float32)
    for i, f in enumerate(factors):
        ax, ay = mw / (w * f), mh / (h * f)
        warp = np.array([[ax, 0.0, mw / 2.0 - ax * rw / 2.0], [0.0, ay, mh / 2.0 - ay * rh / 2.0]])
        out[i] = cv2.warpAffine(grey, warp, (mw, mh), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
    return out


class ScaleFilter:
    """The DSST scale filter of one target: ``learn`` at a known size, ``estimate`` the change.

    Args:
        num_scales: S, the samples per frame (odd; the middle one is the current size).
        step: ratio between neighbouring samples.
    """

    def __init__(self, num_scales: int = 33, step: float = 1.02):
        if num_scales < 3 or num_scales % 2 != 1:
            raise ValueError(f'num_scales: an odd number >= 3, got {num_scales}')
        self.num_scales, self.step = num_scales, step
        n = np.arange(num_scales) - num_scales // 2
        self.factors = step ** n.astype(np.float64)
        sigma = SIGMA_FACTOR * math.sqrt(num_scales)
        label = np.exp(-0.5 * n.astype(np.float64) ** 2 / sigma ** 2)
        self.label_hat = np.fft.fft(np.fft.ifftshift(label))  # peak at index 0 = no change
        self.window = np.hanning(num_scales + 2)[1:-1][:, None]  # no zero weights at the ends
        self.model: tuple[int, int] | None = None
        self.num: np.ndarray | None = None
        self.den: np.ndarray | None = None

    def copy(self) -> 'ScaleFilter':
        other = ScaleFilter.__new__(ScaleFilter)
        other.__dict__.update(self.__dict__)
        other.num = None if self.num is None else self.num.copy()
        other.den = None if self.den is None else self.den.copy()
        return other

    def _transform(self, image, center, size) -> np.ndarray:
        """The windowed samples' Fourier transform over scales, (S, D) complex."""
        patches = scale_samples(image, center, size, self.factors, self.model)
        return np.fft.fft(orientation_features(patches) * self.window, axis=0)

    def learn(self, image: np.ndarray, center: tuple[float, float],
              size: tuple[float, float], rate: float = 1.0) -> None:
        """Learn from the target at ``center`` with ``size`` (w, h) px: the newest frame
        weighs ``rate`` in the filter's numerator and denominator (``scale_filter_lr``); the
        first call fixes the model size and sets the filter outright."""
        first = self.num is None
        if first:
            self.model = model_size(size)
        x_hat = self._transform(image, center, size)
        num = np.conj(x_hat) * self.label_hat[:, None]
        den = np.sum(np.abs(x_hat) ** 2, axis=1)
        if first:
            self.num, self.den = num, den
        else:
            self.num += rate * (num - self.num)
            self.den += rate * (den - self.den)

    def response(self, image: np.ndarray, center: tuple[float, float],
                 size: tuple[float, float]) -> np.ndarray:
        """The filter's answer per sample (S,), ordered as ``factors`` (middle: no change)."""
        if self.num is None:
            raise RuntimeError('ScaleFilter.response before learn')
        z_hat = self._transform(image, center, size)
        r = np.real(np.fft.ifft(np.sum(self.num * z_hat, axis=1) / (self.den + LAMBDA)))
        return np.fft.fftshift(r)

    def estimate(self, image: np.ndarray, center: tuple[float, float],
                 size: tuple[float, float]) -> float:
        """The factor by which the target's size changed since the filter learnt it: the
        factor of the highest answer."""
        return float(self.factors[int(np.argmax(self.response(image, center, size)))])
