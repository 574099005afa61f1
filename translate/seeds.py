"""Seed lists for ``translate generate``: ``"0-99,120"`` -> ``[0, 1, ..., 99, 120]``.

A seed names one latent vector (``np.random.default_rng(seed).standard_normal(nz)``, see
:func:`translate.latents.seed_latents`), so the same seed gives the same image on every
run and on the server. The syntax follows the StyleGAN2/3 ``--seeds`` option: comma-separated
integers and inclusive ``A-B`` ranges.
"""

from __future__ import annotations

from translate.errors import ConfigError

# A sanity bound, not a product cap: a typo like "0-1000000000" should fail at once instead of
# allocating a billion-element list and generating for days.
MAX_SEEDS = 1_000_000
MAX_SEED = 2**63 - 1  # numpy's SeedSequence takes any non-negative int; keep it printable and portable


def _parse_int(text: str, spec: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ConfigError(
            f"bad seed {text!r} in --seeds {spec!r}: seeds are non-negative integers, "
            "written like '0-99,120' (ranges are inclusive)"
        )
    value = int(text)
    if value > MAX_SEED:
        raise ConfigError(f"seed {value} in --seeds {spec!r} is too large (max {MAX_SEED})")
    return value


def parse_seeds(spec: str) -> list[int]:
    """Parse ``"0-99,120"`` into a list of seeds, in the order given, duplicates removed.

    Raises ConfigError with the offending part for empty parts, non-integers, negative
    numbers, reversed ranges (``"9-3"``) and lists longer than :data:`MAX_SEEDS`.
    """
    if spec is None or not str(spec).strip():
        raise ConfigError("--seeds is empty; give seeds like '0-99,120'")
    seeds: list[int] = []
    seen: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            raise ConfigError(f"empty item in --seeds {spec!r} (two commas in a row or a trailing comma?)")
        if "-" in part[1:]:  # part[0] == "-" would be a negative number: rejected by _parse_int
            lo_text, hi_text = part.split("-", 1)
            lo, hi = _parse_int(lo_text, spec), _parse_int(hi_text, spec)
            if hi < lo:
                raise ConfigError(f"reversed range {part!r} in --seeds {spec!r}; write it as {hi}-{lo}")
            if hi - lo + 1 + len(seeds) > MAX_SEEDS:
                raise ConfigError(f"--seeds {spec!r} names more than {MAX_SEEDS} seeds; split the job into parts")
            values = range(lo, hi + 1)
        else:
            values = (_parse_int(part, spec),)
        for v in values:
            if v not in seen:
                seen.add(v)
                seeds.append(v)
    return seeds


def seeds_from_count(count: int, seed: int) -> list[int]:
    """``--count N --seed S`` means the seeds ``S, S+1, ..., S+N-1`` (so it equals ``--seeds S-(S+N-1)``)."""
    if count < 1:
        raise ConfigError(f"--count must be >= 1 (got {count})")
    if count > MAX_SEEDS:
        raise ConfigError(f"--count {count} is more than {MAX_SEEDS}; split the job into parts")
    if seed < 0 or seed + count - 1 > MAX_SEED:
        raise ConfigError(f"--seed must be between 0 and {MAX_SEED - count + 1} (got {seed})")
    return list(range(seed, seed + count))
