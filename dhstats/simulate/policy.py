"""The reference model: an autoregressive softmax policy with exactly computable ΔH.

The policy over a small vocabulary (default 8 tokens, the last one EOS) is Markov in
(position t, previous token): ``π_θ(x | t, prev) = softmax(θ[t, prev])_x`` with logits ``θ`` of
shape ``(L, V, V)``. Every sequence starts in the BOS state (the EOS row doubles as BOS, since
no sequence continues after EOS) and stops after emitting EOS or after ``L`` tokens. ``T_i``
counts the generated tokens **including the EOS token** when it is emitted (a sequence cut at
``L`` tokens has ``T_i = L``), so ``T_i ≥ 1``.

The update direction ``v`` has the shape of θ; the updated policy is ``θ + η v``. The estimand
is the per-token entropy ratio

    R(θ) = E_θ[Σ_t H_t] / E_θ[T],        H_t = −Σ_x π(x|s_t) log π(x|s_t)

and ΔH(η) = R(θ + ηv) − R(θ). ``R``, ``dR/dη`` and ``d²R/dη²`` at η = 0 are computed exactly by
forward dynamic programming over (position, previous token) carrying second-order Taylor
coefficients (no sampling); see :meth:`Policy.derivatives`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Policy"]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    zz = z - m
    return zz - np.log(np.exp(zz).sum(axis=-1, keepdims=True))


class Policy:
    """Softmax policy Markov in (position, previous token), with an update direction.

    ``theta`` and ``v``: float arrays of shape ``(L, V, V)`` indexed ``[t, prev, next]``;
    ``eos``: the EOS token (default ``V − 1``), whose row also serves as the BOS state at
    t = 0. The policy at step size η has logits ``theta + eta * v``.
    """

    def __init__(self, theta, v, eos: int | None = None):
        theta = np.array(theta, dtype=float)
        v = np.array(v, dtype=float)
        if theta.ndim != 3 or theta.shape[1] != theta.shape[2] or theta.shape[2] < 2:
            raise ValueError(f"theta must have shape (L, V, V) with V ≥ 2, got {theta.shape}")
        if v.shape != theta.shape:
            raise ValueError(f"v must have theta's shape {theta.shape}, got {v.shape}")
        if not (np.isfinite(theta).all() and np.isfinite(v).all()):
            raise ValueError("theta and v must be finite")
        self.theta, self.v = theta, v
        self.max_len, self.vocab = theta.shape[0], theta.shape[2]
        self.eos = self.vocab - 1 if eos is None else int(eos)
        if not 0 <= self.eos < self.vocab:
            raise ValueError("eos out of range")

    # ----------------------------------------------------------------- constructors
    @classmethod
    def random(cls, vocab: int = 8, max_len: int = 16, *, seed: int = 4, margin: float = 4.0,
               eos_ramp: tuple[float, float] = (-3.0, 3.0), v_noise: float = 0.5,
               v_scale: float = 1000.0, v_seed: int = 11) -> "Policy":
        """A peaked random policy and a "sharpening" update direction.

        ``θ[t, prev, :] = N(0, 1) + margin·onehot(dominant(t, prev)) + eos_ramp(t)·onehot(EOS)``
        (one dominant non-EOS token per state; the EOS logit ramps linearly over positions);
        ``v = v_scale · (θ + v_noise·mean|θ|·N(0, 1))``. With the defaults R ≈ 0.68 nats/token,
        dR/dη ≈ −1.2·10³, d²R/dη² ≈ 2.3·10⁶ (the magnitudes of the real producer's G, Q);
        η·v_scale is the logit-space step, 0.0128 at η = 1.28e-5.
        """
        rng = np.random.default_rng(seed)
        theta = rng.normal(size=(max_len, vocab, vocab))
        dom = rng.integers(0, vocab - 1, size=(max_len, vocab))
        theta[np.arange(max_len)[:, None], np.arange(vocab)[None, :], dom] += margin
        theta[..., vocab - 1] += np.linspace(eos_ramp[0], eos_ramp[1], max_len)[:, None]
        noise = np.random.default_rng(v_seed).normal(size=theta.shape)
        v = v_scale * (theta + v_noise * np.abs(theta).mean() * noise)
        return cls(theta, v, eos=vocab - 1)

    @classmethod
    def default(cls) -> "Policy":
        """The default policy (``Policy.random()``): V = 8 (EOS = 7), L = 16."""
        return cls.random()

    def scaled(self, factor: float) -> "Policy":
        """Same θ, direction ``factor · v`` (equivalent to rescaling every η)."""
        return Policy(self.theta, factor * self.v, self.eos)

    # ----------------------------------------------------------------- exact values
    def tables(self, eta: float = 0.0):
        """Per-state tables at θ + ηv: (π, log π) of shape (L, V, V) and H of shape (L, V)."""
        lp = _log_softmax(self.theta + eta * self.v)
        pi = np.exp(lp)
        return pi, lp, -(pi * lp).sum(axis=-1)

    def _derivative_tables(self):
        """η-derivatives at η = 0 of the per-state quantities, with a = v − E_π v:
        (log π)' = a, (log π)'' = −Var_π v, π' = π a, π'' = π (a² − Var_π v),
        H' = −Σ π a log π, H'' = −Σ π a² log π − Var_π(v) (H + 1)."""
        pi, lp, H = self.tables(0.0)
        a = self.v - (pi * self.v).sum(axis=-1, keepdims=True)
        var = (pi * a * a).sum(axis=-1)
        H1 = -(pi * a * lp).sum(axis=-1)
        H2 = -(pi * a * a * lp).sum(axis=-1) - var * (H + 1.0)
        return pi, lp, H, a, var, H1, H2

    def ratio(self, eta: float = 0.0) -> float:
        """Exact R(θ + ηv) = E[Σ_t H_t] / E[T] by forward DP over (t, prev):
        p_0 = δ_BOS, p_{t+1}(x) = Σ_prev p_t(prev) π_t(x|prev) for x ≠ EOS,
        E[Σ H] = Σ_t p_t·H_t, E[T] = Σ_t Σ p_t."""
        pi, _, H = self.tables(eta)
        p = np.zeros(self.vocab)
        p[self.eos] = 1.0
        num = den = 0.0
        for t in range(self.max_len):
            num += p @ H[t]
            den += p.sum()
            p = p @ pi[t]
            p[self.eos] = 0.0
        return float(num / den)

    def delta_h(self, eta: float) -> float:
        """Exact ΔH(η) = R(θ + ηv) − R(θ) (nats per token)."""
        return self.ratio(eta) - self.ratio(0.0)

    def derivatives(self) -> tuple[float, float, float]:
        """Exact (R, dR/dη, d²R/dη²) at η = 0: the DP of :meth:`ratio` carried in
        second-order Taylor mode (p, p', p''), then with N = E[ΣH], D = E[T]:
        R' = (N' − R D')/D,  R'' = (N'' − 2R'D' − R D'')/D."""
        pi, _, H, a, var, H1, H2 = self._derivative_tables()
        pi1 = pi * a
        pi2 = pi * (a * a - var[..., None])
        p = np.zeros(self.vocab)
        p[self.eos] = 1.0
        p1 = np.zeros(self.vocab)
        p2 = np.zeros(self.vocab)
        N = N1 = N2 = D = D1 = D2 = 0.0
        for t in range(self.max_len):
            N += p @ H[t]
            N1 += p1 @ H[t] + p @ H1[t]
            N2 += p2 @ H[t] + 2.0 * (p1 @ H1[t]) + p @ H2[t]
            D += p.sum()
            D1 += p1.sum()
            D2 += p2.sum()
            p, p1, p2 = (p @ pi[t], p1 @ pi[t] + p @ pi1[t],
                         p2 @ pi[t] + 2.0 * (p1 @ pi1[t]) + p @ pi2[t])
            p[self.eos] = p1[self.eos] = p2[self.eos] = 0.0
        R = N / D
        R1 = (N1 - R * D1) / D
        R2 = (N2 - 2.0 * R1 * D1 - R * D2) / D
        return float(R), float(R1), float(R2)

    # ----------------------------------------------------------------- sampling
    def sample(self, n: int, rng: np.random.Generator):
        """n sequences from π_θ. Returns (tokens, prev, alive), each (n, L): the token
        emitted at step t, the state it was emitted from, and whether step t happened
        (T_i = alive[i].sum(), EOS included)."""
        pi, _, _ = self.tables(0.0)
        cum = np.cumsum(pi, axis=-1)
        L = self.max_len
        u = rng.random((n, L))
        tokens = np.zeros((n, L), dtype=np.int64)
        prev_all = np.full((n, L), self.eos, dtype=np.int64)
        alive_all = np.zeros((n, L), dtype=bool)
        prev = np.full(n, self.eos, dtype=np.int64)
        alive = np.ones(n, dtype=bool)
        for t in range(L):
            c = cum[t, prev]  # (n, V)
            y = (u[:, t, None] > c[:, :-1]).sum(axis=1)
            tokens[:, t] = y
            prev_all[:, t] = prev
            alive_all[:, t] = alive
            alive = alive & (y != self.eos)
            prev = np.where(alive, y, self.eos)
        return tokens, prev_all, alive_all
