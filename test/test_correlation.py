"""The contextual attentional correlation layer against its definition (Eq. 8-12)."""
import numpy as np
import pytest
import torch

from rar_tracking.model.correlation import (
    TemplateSet, cacf_terms, correlation_response, cosine_window,
    gaussian_label, peak_and_psr, rfft2, ridge_loss, shift_zero_fill, solve_filter, subpixel_offset,
    target_window, template_patches)


def circulant_2d(x: np.ndarray) -> np.ndarray:
    """Matrix A with (A f)[n] = sum_m f[m] x[n - m] (2-D circular convolution), row-major."""
    h, w = x.shape
    a = np.zeros((h * w, h * w))
    for ny in range(h):
        for nx in range(w):
            for my in range(h):
                for mx in range(w):
                    a[ny * w + nx, my * w + mx] = x[(ny - my) % h, (nx - mx) % w]
    return a


def explicit_ridge(z0, contexts, y, lambda1, lambda2):
    """Eq. 9 built with circulant matrices: w = (Zb^T Zb + l1 I)^-1 Zb^T yb, multi-channel.

    z0: (C, H, W); contexts: list of (C, H, W); returns the filter (C, H, W).
    """
    c, h, w = z0.shape
    rows = [np.hstack([circulant_2d(z0[k]) for k in range(c)])]
    targets = [y.reshape(-1)]
    for zi in contexts:
        rows.append(np.sqrt(lambda2) * np.hstack([circulant_2d(zi[k]) for k in range(c)]))
        targets.append(np.zeros(h * w))
    zb, yb = np.vstack(rows), np.concatenate(targets)
    f = np.linalg.solve(zb.T @ zb + lambda1 * np.eye(zb.shape[1]), zb.T @ yb)
    return f.reshape(c, h, w)


def fourier_filter(z0, contexts, y, lambda1, lambda2):
    z0_t = torch.from_numpy(z0)[None]
    ctx = torch.from_numpy(np.stack(contexts))[None] if contexts else None
    y_hat = torch.fft.rfft2(torch.from_numpy(y))
    w_hat = solve_filter(*cacf_terms(z0_t, ctx, y_hat), lambda1, lambda2)
    return torch.fft.irfft2(w_hat, s=y.shape)[0].numpy(), w_hat


@pytest.mark.parametrize('lambda2', [0.1, 2.0])
def test_single_channel_with_context_equals_circulant_ridge_regression(lambda2):
    rng = np.random.default_rng(0)
    z0 = rng.normal(size=(1, 5, 6))
    contexts = [rng.normal(size=(1, 5, 6)) for _ in range(4)]
    y = gaussian_label((5, 6), 1.0, dtype=torch.float64).numpy()
    expected = explicit_ridge(z0, contexts, y, 1e-4, lambda2)
    got, _ = fourier_filter(z0, contexts, y, 1e-4, lambda2)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


def test_multi_channel_without_context_equals_circulant_ridge_regression():
    rng = np.random.default_rng(1)
    z0 = rng.normal(size=(3, 4, 5))
    y = gaussian_label((4, 5), 0.8, dtype=torch.float64).numpy()
    expected = explicit_ridge(z0, [], y, 0.05, 0.0)
    got, _ = fourier_filter(z0, [], y, 0.05, 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


def test_context_patches_are_pushed_towards_zero_response():
    rng = np.random.default_rng(2)
    z0 = rng.normal(size=(1, 8, 8))
    contexts = [rng.normal(size=(1, 8, 8)) for _ in range(4)]
    y = gaussian_label((8, 8), 1.0, dtype=torch.float64).numpy()
    energies = []
    for lambda2 in (0.0, 10.0):
        _, w_hat = fourier_filter(z0, contexts, y, 1e-4, lambda2)
        responses = [correlation_response(w_hat, torch.from_numpy(c)[None]) for c in contexts]
        energies.append(sum(float((r ** 2).sum()) for r in responses))
    assert energies[1] < 0.2 * energies[0]


def test_response_of_the_template_is_the_label_and_follows_a_shift():
    rng = np.random.default_rng(3)
    z0 = torch.from_numpy(rng.normal(size=(1, 4, 16, 16)))
    y = gaussian_label((16, 16), 1.5, dtype=torch.float64)
    w_hat = solve_filter(*cacf_terms(z0, None, torch.fft.rfft2(y)), 1e-6, 0.0)
    g = correlation_response(w_hat, z0)[0]
    torch.testing.assert_close(g, y, atol=1e-3, rtol=0)
    shifted = torch.roll(z0, shifts=(3, -2), dims=(-2, -1))
    peak, idx, psr = peak_and_psr(correlation_response(w_hat, shifted))
    assert subpixel_offset(correlation_response(w_hat, shifted)[0], *idx[0].tolist()) == \
        pytest.approx((3.0, -2.0), abs=1e-6)
    assert psr.item() > 10


def test_correlation_layer_gradcheck_float64():
    torch.manual_seed(0)
    z = torch.randn(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    x = torch.randn(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    window = cosine_window((6, 7), dtype=torch.float64)
    y = gaussian_label((6, 7), 1.0, dtype=torch.float64)

    target = target_window(6, (2.0, 2.0), 2.0, dtype=torch.float64)[:, :7].contiguous()
    target = torch.nn.functional.pad(target, (0, 1))  # (6, 7), zero in the added column

    def layer(z, x):
        z0, ctx = template_patches(z, window, [(-2, 0), (2, 0), (0, -2), (0, 2)], target)
        w_hat = solve_filter(*cacf_terms(z0, ctx, torch.fft.rfft2(y)), 1e-4, 0.1)
        return ridge_loss(correlation_response(w_hat, x * window), y[None])

    assert torch.autograd.gradcheck(layer, (z, x), eps=1e-6, atol=1e-5)


def test_target_window_weights_the_target_patch_only():
    w = target_window(15, (4.0, 2.0), 2.0)  # box 4 cells wide, 2 high: 8 x 4 cells of support
    assert w.shape == (15, 15) and float(w[7, 7]) == pytest.approx(1.0)
    assert float(w.min()) >= 0.0 and float(w.max()) <= 1.0
    rows, cols = (w[:, 7] > 0).sum().item(), (w[7] > 0).sum().item()
    assert rows == 3 and cols == 7  # |x| < 2 and |x| < 4 cells around the centre
    assert torch.equal(w, w.flip(0)) and torch.equal(w, w.flip(1))
    assert (target_window(15, (0.2, 0.2), 2.0) > 0).sum() == 9  # never below 3 x 3 cells
    feat = torch.rand(1, 2, 15, 15) + 0.5
    window = cosine_window((15, 15))
    z0, ctx = template_patches(feat, window, [(0, 5)], w)
    assert torch.allclose(z0, feat * window * w)
    assert torch.allclose(ctx[:, 0], shift_zero_fill(feat, 0, 5) * window)  # context: whole window
    assert (z0[..., 0, :] == 0).all() and (ctx[:, 0, :, 7, 2] > 0).all()


def test_shift_zero_fill_moves_content_without_wrapping():
    x = torch.arange(16.0).reshape(1, 4, 4)
    out = shift_zero_fill(x, 1, -1)
    assert out[0, 0, 1] == x[0, 1, 0] and out[0, 3].abs().sum() == 0 and out[0, :, 0].sum() == 0


def test_template_set_weights_follow_eq10_and_folding_is_lossless():
    rng = np.random.default_rng(5)

    def terms():
        z = torch.from_numpy(rng.normal(size=(1, 2, 6, 6)))
        return cacf_terms(z, None, torch.fft.rfft2(gaussian_label((6, 6), 1.0,
                                                                  dtype=torch.float64)))

    big, small = TemplateSet(capacity=64, first_weight=0.0), TemplateSet(3, first_weight=0.0)
    for _ in range(10):
        t = terms()
        big.add(t, 0.2)
        small.add(t, 0.2)
    assert len(small) == 3 and len(big) == 10
    torch.testing.assert_close(small.filter(1e-4, 0.1), big.filter(1e-4, 0.1))
    # beta of the newest template is the learning rate share; the first decays as (1 - lr)^9
    total = sum(big.betas)
    assert big.betas[-1] / total == pytest.approx(0.2)
    assert big.betas[0] / total == pytest.approx(0.8 ** 9)


def test_template_set_keeps_the_first_template_share():
    ts = TemplateSet(capacity=4, first_weight=0.3)
    t = (torch.ones(1), torch.ones(1), torch.ones(1))
    for _ in range(50):
        ts.add(t, 0.5)
    assert ts.betas[0] / sum(ts.betas) == pytest.approx(0.3)
    copy = ts.copy()
    copy.add(t, 0.5)
    assert len(copy.ages) == len(copy.terms) and ts.ages != copy.ages


@pytest.mark.parametrize('shape', [(1, 4, 16, 29, 29), (3, 16, 25, 25), (2, 3, 17, 16), (5, 8, 9),
                                   (1, 2, 64, 63), (1, 2, 70, 70)])
def test_rfft2_equals_torch_fft_for_every_layout_and_size(shape):
    """The CPU's DFT-matrix transform (maps up to 64 a side) and the fallback (larger) give
    torch.fft.rfft2's spectrum, also for channels-last features as the trunk produces them."""
    torch.manual_seed(0)
    x = torch.randn(shape)
    layouts = [x] + ([x.contiguous(memory_format=torch.channels_last)] if x.dim() == 4 else [])
    for t in layouts:
        ref = torch.fft.rfft2(t.double())
        got = rfft2(t)
        assert got.shape == ref.shape and got.dtype == torch.complex64
        assert float((got.to(torch.complex128) - ref).abs().max() / ref.abs().max()) < 1e-6
    ref = torch.fft.rfft2(x.double())
    assert float((rfft2(x.double()) - ref).abs().max() / ref.abs().max()) < 1e-12


def test_rfft2_gradcheck_float64():
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: torch.view_as_real(rfft2(t)), (x,))


def test_tukey_window_is_flat_in_the_middle_and_hann_at_full_taper():
    hann = cosine_window((29, 29))
    assert torch.allclose(cosine_window((29, 29), taper=1.0), hann)
    assert torch.allclose(cosine_window((29, 29), taper=0.99999), hann, atol=1e-5)
    tukey = cosine_window((29, 29), taper=0.5)[14]
    assert (tukey[8:21] == 1.0).all()  # the central half is flat
    assert tukey[0] < 0.1 and tukey[0] == tukey[-1]  # the borders are still damped
    assert hann[14, 14 - 7] < 0.6 < tukey[14 - 7]  # a quarter crop off: ~0.5 against 1
    assert (cosine_window((29, 29), taper=0.0) == 1.0).all()
