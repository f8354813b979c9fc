"""`MaskedCategorical`: a categorical distribution over the valid actions of a head.

* Invalid actions are removed with ``masked_fill`` and the Python float `MASKED_LOGIT`
  (-1e4: representable in float16 and bfloat16, and far below any real logit after the row
  maximum is subtracted). No tensor is allocated for the constant (review T2-8).
* Logits are upcast to float32 and normalised with ``log_softmax`` there, whatever dtype the
  network produced under autocast, so rollout and update compute log-probabilities at the same
  precision.
* An optional probability floor ``f`` keeps every valid action at probability
  ``f_eff = min(f, 0.99 / valid)`` at least: ``p' = max(f_eff, c * p)`` with ``c`` chosen so
  that ``p'`` sums to 1 (actions above the floor keep their relative odds). Log-probabilities,
  entropy and sampling all use ``p'``; gradients pass straight through to the unfloored
  log-softmax, because ``p'`` is flat in the logits wherever the policy is peaked and a pure
  floor would stop a collapsed head from ever being trained back.
* `MaskedCategorical.entropy` is normalised by ``ln(valid)``, so it lies in [0, 1] and is
  exactly 0 when a single action is valid (whose log-probability is exactly 0).
* With ``validate=True`` (the default) a row without any valid action raises `EmptyMaskError`
  and a non-finite logit raises `NonFiniteLogitsError` (one host sync per distribution). Hot
  loops pass ``validate=False`` and check once per step (`check_heads`); an empty row then
  behaves as if every action were valid instead of producing NaN.
"""

from __future__ import annotations

import math

import torch

from esper.errors import EsperError

#: Logit of a masked action. A Python float: ``masked_fill`` broadcasts it without allocating.
MASKED_LOGIT = -1e4
#: Floor of a log-probability (``log(0)`` would be -inf); matches `MASKED_LOGIT`'s scale.
LOG_PROB_MIN = -100.0
#: Largest share of the mass that floors may take (leaves 1% to the policy itself).
_FLOOR_SHARE = 0.99


class DistributionError(EsperError):
    """A distribution was built from inputs that define no distribution."""


class EmptyMaskError(DistributionError):
    """A mask row allows no action at all."""


class NonFiniteLogitsError(DistributionError):
    """The logits contain NaN or infinity."""


def check_heads(logits: list[torch.Tensor], masks: list[torch.Tensor]) -> None:
    """Validate several heads with one host sync; raise the typed error of the first problem."""
    flags = torch.stack(
        [~m.any(dim=-1).all() for m in masks] + [~torch.isfinite(x).all() for x in logits]
    )
    if bool(flags.any()):
        bad = flags.tolist()
        if any(bad[: len(masks)]):
            head = bad.index(True)
            raise EmptyMaskError(f"head {head}: a mask row allows no action")
        raise NonFiniteLogitsError(
            f"head {bad.index(True, len(masks)) - len(masks)}: logits contain NaN or infinity"
        )


def _floored_log_probs(log_probs: torch.Tensor, mask: torch.Tensor, floor: float) -> torch.Tensor:
    """``log(max(f_eff, c p))`` over valid actions (see the module docstring); invalid: any."""
    valid = mask.sum(dim=-1, keepdim=True).to(log_probs.dtype)  # >= 1
    f_eff = (_FLOOR_SHARE / valid).clamp(max=floor)
    probs = log_probs.exp()
    # Sort valid probabilities descending (invalid ones last), then find the largest k for
    # which the k-th largest, scaled by c_k = (1 - (valid - k) f_eff) / (sum of the top k),
    # stays at or above the floor: those k keep c_k p, the rest get f_eff.
    ranked, _ = torch.where(mask, probs, -1.0).sort(dim=-1, descending=True)
    top_mass = ranked.clamp(min=0.0).cumsum(dim=-1)
    k = torch.arange(1, mask.shape[-1] + 1, device=mask.device, dtype=log_probs.dtype)
    scale = (1.0 - (valid - k) * f_eff) / top_mass.clamp(min=1e-30)
    fits = (scale * ranked >= f_eff) & (k <= valid)
    k_star = (fits * k).amax(dim=-1, keepdim=True).clamp(min=1.0)
    c = scale.gather(-1, k_star.long() - 1)
    above = log_probs + torch.log(c) >= torch.log(f_eff)
    return torch.where(above, log_probs + torch.log(c), torch.log(f_eff))


class MaskedCategorical:
    """Categorical over ``logits`` ``[..., n]`` restricted to ``mask`` ``[..., n]`` (bool)."""

    def __init__(
        self,
        logits: torch.Tensor,
        mask: torch.Tensor,
        *,
        floor: float = 0.0,
        validate: bool = True,
    ) -> None:
        if not 0.0 <= floor < 1.0:
            raise DistributionError(f"probability floor must be within [0, 1), got {floor}")
        if logits.shape != mask.shape:
            raise DistributionError(
                f"logits {tuple(logits.shape)} and mask {tuple(mask.shape)} differ in shape"
            )
        mask = mask.bool()
        if validate:
            check_heads([logits], [mask])
        else:
            # Sync-free guard: an empty row behaves as all-valid rather than producing NaN.
            mask = mask | ~mask.any(dim=-1, keepdim=True)
        self.mask = mask
        x = logits.float()
        # Shift so the best valid logit is 0: MASKED_LOGIT then sits far below every valid
        # logit whatever the network's scale, and exp() never overflows.
        peak = x.masked_fill(~mask, -math.inf).amax(dim=-1, keepdim=True).detach()
        x = (x - peak).masked_fill(~mask, MASKED_LOGIT)
        raw = torch.log_softmax(x, dim=-1)
        if floor > 0.0:
            floored = _floored_log_probs(raw, mask, floor)
            # Values of the floored distribution, gradients of the raw one (module docstring).
            raw = floored.detach() + (raw - raw.detach())
        self.log_probs = raw.masked_fill(~mask, MASKED_LOGIT)
        self.probs = raw.exp().masked_fill(~mask, 0.0)
        self.num_valid = mask.sum(dim=-1)

    def sample(self) -> torch.Tensor:
        """One action index per row (never a masked one)."""
        flat = self.probs.detach().reshape(-1, self.probs.shape[-1])
        return torch.multinomial(flat, 1).reshape(self.probs.shape[:-1])

    def mode(self) -> torch.Tensor:
        """The most probable valid action per row (the first one on ties)."""
        return self.log_probs.argmax(dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Log-probability of ``actions`` (shape ``[...]``); clamped at `LOG_PROB_MIN`."""
        picked = self.log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        return picked.clamp(min=LOG_PROB_MIN)

    def entropy(self) -> torch.Tensor:
        """Entropy over the valid actions divided by ``ln(valid)``: in [0, 1]; 0 if one is valid."""
        plogp = (self.probs * self.log_probs).masked_fill(~self.mask, 0.0)
        raw = -plogp.sum(dim=-1)
        valid = self.num_valid.to(raw.dtype)
        return torch.where(valid > 1, raw / torch.log(valid.clamp(min=2.0)), 0.0)
