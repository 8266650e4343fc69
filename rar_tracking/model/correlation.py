"""The contextual attentional correlation layer (Section 3.3), differentiable via torch.fft.

Conventions (all functions work on batches and are differentiable):

- A feature map is (..., C, H, W); its spectrum is ``torch.fft.rfft2`` over (H, W).
- The Gaussian label ``y`` has its peak at index (0, 0) (wrapped), so the response peak at
  wrapped index (dy, dx) is the displacement of the target from the crop centre.
- The filter is stored in the Fourier domain, ``w_hat`` (..., C, H, W//2+1), and the
  response is g(x) = F^-1( sum_c w_hat_c * x_hat_c ) (Eq. 11).

Eq. 10 of the paper is implemented as
    w_hat_c = sum_t beta_t conj(z0_hat_{c,t}) y_hat
              / ( sum_t beta_t ( sum_c |z0_hat_{c,t}|^2 + lambda2 sum_i sum_c |zi_hat_{c,t}|^2 ) + lambda1 ).
Two choices where the paper is loose, and why:
- The numerator uses the complex conjugate of the template spectrum: that is what setting the
  gradient of Eq. 8 to zero gives (the printed Eq. 10 omits it).
- Channels share one denominator (summed over channels), the multi-channel form of DCFNet
  [40] and CACF [31]. For one channel, and for many channels without context, it equals the
  ridge-regression solution of Eq. 9 exactly (Sherman-Morrison); with context and several
  channels it is the usual fast approximation of the exact per-frequency solve.
For T > 1 templates, Eq. 10 (ratio of beta-weighted sums, what trackers update online) is used;
it equals Eq. 9 for T = 1.
"""
from __future__ import annotations

import functools
import math

import torch


def gaussian_label(size: tuple[int, int], sigma: float, *, device=None,
                   dtype=torch.float32) -> torch.Tensor:
    """Desired response y (H, W): a Gaussian of std ``sigma`` cells with its peak at (0, 0).

    Distances are wrapped (index i stands for offset i if i < H/2 else i - H), so the
    label is the circularly shifted Gaussian used by DCF trackers.
    """
    h, w = size
    ys = torch.arange(h, device=device, dtype=dtype)
    xs = torch.arange(w, device=device, dtype=dtype)
    ys = torch.where(ys < (h + 1) // 2, ys, ys - h)
    xs = torch.where(xs < (w + 1) // 2, xs, xs - w)
    d2 = ys[:, None] ** 2 + xs[None, :] ** 2
    return torch.exp(-0.5 * d2 / (sigma * sigma))


def cosine_window(size: tuple[int, int], *, taper: float = 1.0, device=None,
                  dtype=torch.float32) -> torch.Tensor:
    """Window (H, W) that damps the borders of a crop before the FFT.

    ``taper`` 1 is the Hann window; below 1 a Tukey window: flat over the central
    ``1 - taper`` of each axis and a cosine fall to zero over the rest, so a target displaced
    by a quarter of the crop keeps its full weight (the Hann window weighs it about 0.5, which
    lowers its peak and pulls it towards the centre) while the borders are still damped.
    """
    h, w = size
    if taper >= 1.0:
        wy = torch.hann_window(h + 2, periodic=False, device=device, dtype=dtype)[1:-1]
        wx = torch.hann_window(w + 2, periodic=False, device=device, dtype=dtype)[1:-1]
        return wy[:, None] * wx[None, :]

    def tukey(n: int) -> torch.Tensor:
        t = torch.arange(1, n + 1, device=device, dtype=torch.float64) / (n + 1)  # in (0, 1)
        edge = torch.minimum(t, 1.0 - t)  # distance to the nearer border
        half = taper / 2.0
        fall = 0.5 * (1.0 - torch.cos(math.pi * edge / half)) if half > 0 else torch.ones_like(t)
        return torch.where(edge < half, fall, torch.ones_like(t)).to(dtype)
    return tukey(h)[:, None] * tukey(w)[None, :]


def shift_zero_fill(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """out[..., i, j] = x[..., i + dy, j + dx], zero where that falls outside the map.

    Used to cut context patches: the patch at offset (dy, dx) from the target, moved to the
    centre, without the wrap-around a circular shift would bring in.
    """
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    ys, ye = max(0, -dy), min(h, h - dy)
    xs, xe = max(0, -dx), min(w, w - dx)
    if ys < ye and xs < xe:
        out[..., ys:ye, xs:xe] = x[..., ys + dy:ye + dy, xs + dx:xe + dx]
    return out


def context_offsets(k: int, offset_y: int, offset_x: int) -> list[tuple[int, int]]:
    """k context positions around the target: up, down, left, right, then the diagonals."""
    around = [(-offset_y, 0), (offset_y, 0), (0, -offset_x), (0, offset_x),
              (-offset_y, -offset_x), (-offset_y, offset_x), (offset_y, -offset_x),
              (offset_y, offset_x)]
    if not 0 <= k <= len(around):
        raise ValueError(f'k must be in [0, {len(around)}], got {k}')
    return around[:k]


def target_window(size: int, box_cells: tuple[float, float], margin: float, *, device=None,
                  dtype=torch.float32) -> torch.Tensor:
    """Hann window (size, size) centred on the map, ``margin`` times the target box wide.

    box_cells: target (w, h) in feature cells. Zero outside (margin * w) x (margin * h) cells;
    never narrower than 3 cells, so that a tiny target keeps a usable patch.
    """
    centre = (size - 1) / 2.0
    x = torch.arange(size, device=device, dtype=dtype) - centre

    def hann(width: float) -> torch.Tensor:
        half = max(width, 3.0) / 2.0
        return torch.where(x.abs() < half, 0.5 + 0.5 * torch.cos(math.pi * x / half),
                           torch.zeros_like(x))
    return hann(margin * float(box_cells[1]))[:, None] * hann(margin * float(box_cells[0]))[None, :]


def template_patches(feat: torch.Tensor, window: torch.Tensor,
                     offsets: list[tuple[int, int]], target: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Target patch z0 and context patches z_i cut from one template feature map.

    feat: (B, C, H, W) features of the template crop (target at the centre). Returns z0
    (B, C, H, W) and z_ctx (B, k, C, H, W) or None, each multiplied by ``window``; z0 also by
    ``target`` ((H, W) or (B, 1, H, W), see :func:`target_window`) when given. Weighting z0 to
    the target keeps the static background of the template out of the filter (with the crop's
    window alone a still background answers at zero displacement and holds the box back); the
    context patches z_i keep the whole window, so Eq. 10 still pushes the background's
    response to zero.
    """
    z0 = feat * window if target is None else feat * (window * target)
    if not offsets:
        return z0, None
    ctx = torch.stack([shift_zero_fill(feat, dy, dx) * window for dy, dx in offsets], dim=1)
    return z0, ctx


# Largest map side for which rfft2 on a CPU uses the DFT matrices (see rfft2).
DFT_MATRIX_MAX_SIDE = 64


@functools.lru_cache(maxsize=16)
def _dft_matrices(h: int, w: int, dtype: torch.dtype, device: str
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """[cos | sin] of the forward DFT along W (W, 2 (W//2+1)) and [cos ; sin] along H (2H, H),
    angles -2 pi k n / N computed in float64 and exact modulo N."""
    def angles(n: int, m: int) -> torch.Tensor:
        k = torch.arange(n, dtype=torch.int64)[:, None] * torch.arange(m, dtype=torch.int64)
        return (-2.0 * math.pi / n) * torch.remainder(k, n).double()
    aw = angles(w, w // 2 + 1)                      # (W, Wf): n along W, k along Wf
    ah = angles(h, h)                               # (H, H), symmetric
    fw = torch.cat([aw.cos(), aw.sin()], dim=1)
    fh = torch.cat([ah.cos(), ah.sin()], dim=0)
    return fw.to(device=device, dtype=dtype), fh.to(device=device, dtype=dtype)


def rfft2(x: torch.Tensor) -> torch.Tensor:
    """``torch.fft.rfft2`` over the last two dimensions, (..., H, W) -> (..., H, W//2+1).

    On a CPU, for maps of at most ``DFT_MATRIX_MAX_SIDE`` a side, the transform is computed
    as two products with DFT matrices (the same result to float rounding, about 3e-7
    relative): the feature maps here are small and often of awkward sizes (29 x 29 at crop
    225, 29 being prime), where pocketfft took about 3x as long as the products on this
    development machine (one thread). Differentiable like ``torch.fft.rfft2``; elsewhere
    (CUDA, larger maps, other dtypes) it is ``torch.fft.rfft2``.
    """
    h, w = x.shape[-2:]
    if (x.device.type != 'cpu' or x.dtype not in (torch.float32, torch.float64)
            or max(h, w) > DFT_MATRIX_MAX_SIDE):
        return torch.fft.rfft2(x)
    fw, fh = _dft_matrices(h, w, x.dtype, str(x.device))
    wf = w // 2 + 1
    y = x.contiguous() @ fw             # (..., H, 2 Wf): real | imaginary part along W
    z = fh @ y                          # (..., 2H, 2Wf): [cos ; sin] along H of both parts
    # (C + iS)(R + iI) with C, S the cos and sin (angles already negative) along H
    real = z[..., :h, :wf] - z[..., h:, wf:]
    imag = z[..., :h, wf:] + z[..., h:, :wf]
    return torch.complex(real, imag)


def cacf_terms(z0: torch.Tensor, z_ctx: torch.Tensor | None,
               y_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-template terms of Eq. 10.

    z0: (B, C, H, W); z_ctx: (B, k, C, H, W) or None; y_hat: rfft2 of the label (H, W//2+1).
    Returns numerator conj(z0_hat) * y_hat (B, C, H, Wf) complex, the target energy
    sum_c |z0_hat|^2 (B, 1, H, Wf) and the context energy sum_i sum_c |zi_hat|^2 (B, 1, H, Wf).
    """
    z0_hat = rfft2(z0)
    numerator = torch.conj(z0_hat) * y_hat
    energy = (z0_hat.real ** 2 + z0_hat.imag ** 2).sum(dim=-3, keepdim=True)
    if z_ctx is None:
        context = torch.zeros_like(energy)
    else:
        zc_hat = rfft2(z_ctx)
        context = (zc_hat.real ** 2 + zc_hat.imag ** 2).sum(dim=(-4, -3)).unsqueeze(-3)
    return numerator, energy, context


def solve_filter(numerator: torch.Tensor, energy: torch.Tensor, context: torch.Tensor,
                 lambda1: float, lambda2: float) -> torch.Tensor:
    """Closed-form CACF filter of Eq. 10 from (beta-weighted) sums of the terms."""
    return numerator / (energy + lambda2 * context + lambda1)


def correlation_response(w_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Response g(x) of Eq. 11: (..., C, H, W) features -> (..., H, W) response map."""
    x_hat = rfft2(x)
    return torch.fft.irfft2((w_hat * x_hat).sum(dim=-3), s=x.shape[-2:])


def ridge_loss(response: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Training loss of Eq. 12, ||g(x) - y||^2, averaged over the batch."""
    return ((response - label) ** 2).flatten(1).sum(dim=1).mean()


def peak_and_psr(response: torch.Tensor, exclude: int = 2) -> tuple[torch.Tensor, torch.Tensor,
                                                                     torch.Tensor]:
    """Peak value, its wrapped (dy, dx) index and the peak-to-sidelobe ratio.

    response: (S, H, W). The sidelobe is the map without the (2*exclude+1)^2 cells around the
    peak (wrapped). Returns peak (S,), index (S, 2) long, psr (S,).
    """
    s, h, w = response.shape
    flat = response.reshape(s, -1)
    peak, idx = flat.max(dim=1)
    iy, ix = idx // w, idx % w
    ys = torch.arange(h, device=response.device)
    xs = torch.arange(w, device=response.device)
    dy = torch.remainder(ys[None, :] - iy[:, None] + h // 2, h) - h // 2
    dx = torch.remainder(xs[None, :] - ix[:, None] + w // 2, w) - w // 2
    near = (dy.abs()[:, :, None] <= exclude) & (dx.abs()[:, None, :] <= exclude)
    side = response.masked_fill(near, float('nan')).reshape(s, -1)
    mean = torch.nanmean(side, dim=1)
    std = torch.sqrt(torch.nanmean((side - mean[:, None]) ** 2, dim=1)).clamp_min(1e-8)
    return peak, torch.stack([iy, ix], dim=1), (peak - mean) / std


def subpixel_offset(response: torch.Tensor, iy: int, ix: int) -> tuple[float, float]:
    """Displacement (dy, dx) in cells of the peak at (iy, ix) of one (H, W) map.

    Wrapped to [-H/2, H/2), refined by a parabola through the peak and its two neighbours
    on each axis.
    """
    h, w = response.shape

    def refine(left: float, centre: float, right: float) -> float:
        denom = left - 2.0 * centre + right
        if denom >= 0 or not math.isfinite(denom):
            return 0.0
        return max(-0.5, min(0.5, 0.5 * (left - right) / denom))

    r = response
    oy = refine(float(r[(iy - 1) % h, ix]), float(r[iy, ix]), float(r[(iy + 1) % h, ix]))
    ox = refine(float(r[iy, (ix - 1) % w]), float(r[iy, ix]), float(r[iy, (ix + 1) % w]))
    dy = (iy + h // 2) % h - h // 2
    dx = (ix + w // 2) % w - w // 2
    return dy + oy, dx + ox


class TemplateSet:
    """The weighted set of templates over time of Eq. 8 and 10 (the filter's online state).

    Each entry holds the Eq. 10 terms of one template (numerator, target energy, context
    energy) and its weight beta_t. ``add`` decays the old weights by (1 - learning_rate) and
    gives the new template the weight learning_rate, so the filter follows the target; the first
    template (the user's box) keeps at least ``first_weight`` of the total weight, which guards
    against drift. When more than ``capacity`` entries exist, the two oldest after the first are
    folded into one (weights added, terms averaged by weight): lossless for Eq. 10, which only
    needs the weighted sums, and it bounds memory.
    """

    def __init__(self, capacity: int = 8, first_weight: float = 0.25):
        if capacity < 1:
            raise ValueError('capacity must be at least 1')
        self.capacity = capacity
        self.first_weight = first_weight
        self.terms: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.betas: list[float] = []
        self.ages: list[int] = []  # frames since each entry was added (the folded: the newest)
        self._cached: tuple | None = None  # (lambda1, lambda2, w_hat) until the set changes

    def __len__(self) -> int:
        return len(self.terms)

    def add(self, terms: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
            learning_rate: float) -> None:
        """Add one template's Eq. 10 terms (detached) with weight beta = learning_rate."""
        terms = tuple(t.detach() for t in terms)
        if self.terms and learning_rate <= 0.0:
            return  # beta = 0: the new template would not change Eq. 10
        self._cached = None
        self.ages = [a + 1 for a in self.ages]
        if not self.terms:
            self.terms, self.betas, self.ages = [terms], [1.0], [0]
            return
        self.betas = [b * (1.0 - learning_rate) for b in self.betas]
        self.terms.append(terms)
        self.betas.append(learning_rate)
        self.ages.append(0)
        rest = sum(self.betas[1:])
        if self.first_weight < 1.0 and self.betas[0] < self.first_weight * (self.betas[0] + rest):
            self.betas[0] = self.first_weight / (1.0 - self.first_weight) * rest
        if len(self.terms) > self.capacity:
            self._fold(1) if self.capacity > 1 else self._fold(0)

    def _fold(self, i: int) -> None:
        """Merge entries i and i+1 into one (Eq. 10 unchanged)."""
        b1, b2 = self.betas[i], self.betas[i + 1]
        total = b1 + b2
        if total <= 0.0:  # both weigh nothing: drop them
            del self.terms[i:i + 2], self.betas[i:i + 2], self.ages[i:i + 2]
            return
        merged = tuple((b1 * a + b2 * b) / total for a, b in zip(self.terms[i], self.terms[i + 1]))
        self.terms[i:i + 2] = [merged]
        self.betas[i:i + 2] = [total]
        self.ages[i:i + 2] = [self.ages[i + 1]]

    def weighted_terms(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """sum_t beta_t * term_t for the three terms, with the betas normalised to sum 1."""
        total = sum(self.betas)
        sums = None
        for beta, terms in zip(self.betas, self.terms):
            scaled = [t * (beta / total) for t in terms]
            sums = scaled if sums is None else [s + t for s, t in zip(sums, scaled)]
        return tuple(sums)

    def filter(self, lambda1: float, lambda2: float) -> torch.Tensor:
        """w_hat of Eq. 10 over the whole set."""
        if not self.terms:
            raise RuntimeError('the template set is empty')
        if self._cached is None or self._cached[:2] != (lambda1, lambda2):
            self._cached = (lambda1, lambda2,
                            solve_filter(*self.weighted_terms(), lambda1, lambda2))
        return self._cached[2]

    def copy(self) -> 'TemplateSet':
        new = TemplateSet(self.capacity, self.first_weight)
        new.terms = [tuple(t.clone() for t in terms) for terms in self.terms]
        new.betas, new.ages = list(self.betas), list(self.ages)
        return new
