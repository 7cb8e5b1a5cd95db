"""FTT's fee benefits as pure functions of two numbers: the USD value of FTT an owner holds and the
FTT it has staked (tiers.toml holds the tables; ftx-mechanics.md 5.3 and 5.4).

- **Holding**: the highest tier whose USD threshold the holding reaches (at it, not just below)
  gives a discount in ppm of every positive fee rate, and from $2.5M a VIP level (rate caps).
- **Staking**: the highest tier whose FTT threshold the stake reaches gives a maker fee override
  (the maker rate is at most it), a referral share and free withdrawals a day.
- **OTC rebates**: each holding tier's rebate in ppm of the USD notional of the owner's OTC fills
  as requester (tiers.toml `[otc_rebate]`, otc_rebates.py); none below the first tier.
- **Referred**: an owner with a referrer gets 5% more off its fees (added to the holding
  discount; referrals.py says why and how the referrer's share is paid).
- **The better of the two**, per rate: taker = what holding gives (staking gives no taker benefit);
  maker = the lower of holding's (discounted, VIP-capped) and staking's override. Every override is
  <= 0 (checked here) and a discount never changes a rate <= 0, so capping the maker rate at the
  override before discounting gives exactly that lower one: the engine's fee seam
  (`fees.Volume.adjust(discount, maker_cap, taker_cap)`) takes the combination as it is, and applies
  FTX's floors (taker >= 0.015%, maker >= -0.01%) after it.

Units: USD in USD atoms, FTT in atoms (1e-8), rates and shares in ppm.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from importlib import resources
from itertools import pairwise
from typing import Any, NamedTuple

from backstop.engine.amounts import ATOM, PPM
from backstop.engine.fees import NO_CAP

DAY_US = 86_400 * 1_000_000
PERCENT_PPM = PPM // 100


def percent_ppm(text: str) -> int:
    """ "3%" -> 30,000 ppm; "-0.0005%" -> -5 ppm (exactly, or ValueError)."""
    if not text.endswith("%"):
        raise ValueError(f"{text!r} is not a percentage")
    scaled = Decimal(text[:-1]) * PERCENT_PPM
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} is finer than one ppm")
    return int(scaled)


def atoms(text: str) -> int:
    scaled = Decimal(text) * ATOM
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} is finer than one atom")
    return int(scaled)


class Vip(NamedTuple):
    name: str
    maker: int  # ppm
    taker: int  # ppm


class HoldingTier(NamedTuple):
    usd: int  # USD atoms of FTT held, at least
    discount: int  # ppm of the fee
    vip: Vip | None


class StakingTier(NamedTuple):
    ftt: int  # FTT atoms staked, at least
    maker: int  # ppm: the maker rate is at most this
    referral_share: int  # ppm of the referred owner's fees
    free_withdrawals: int  # a day: FTX's perk, kept as data; ours charges no withdrawal fee at all,
    # so every withdrawal is free for everyone and the perk has nothing to waive


NO_STAKING_REFERRAL_SHARE = 25 * PERCENT_PPM
"""Below the first staking tier: FTX's 25% referral share, no override, no free withdrawals."""


class Benefits(NamedTuple):
    """What an owner gets: its tiers (0: none, n: the n-th of the table), the seam's three ints."""

    holding_tier: int
    staking_tier: int
    discount: int
    maker_cap: int
    taker_cap: int


NONE = Benefits(0, 0, 0, NO_CAP, NO_CAP)


class Schedule(NamedTuple):
    coin: str
    lock_us: int
    refresh_us: int
    holding: tuple[HoldingTier, ...]
    staking: tuple[StakingTier, ...]
    burn_numerator: int = 1
    burn_denominator: int = 3
    referred_discount: int = 5 * PERCENT_PPM  # ppm of the fee, added to the holding discount
    non_vip_floor: int = 300  # ppm of the notional: non-VIP taker fee less referral rebate, at least
    otc_rebate: tuple[int, ...] = ()  # ppm of OTC notional, per holding tier (none: no rebates)

    def otc_rebate_rate(self, holding_tier: int) -> int:
        """ppm of OTC notional rebated at `holding_tier` (1-based; 0 below the first)."""
        if not holding_tier or not self.otc_rebate:
            return 0
        return self.otc_rebate[holding_tier - 1]

    def holding_tier(self, usd: int) -> int:
        """1-based index of the holding tier `usd` reaches, 0 below the first."""
        tier = 0
        for i, t in enumerate(self.holding):
            if usd >= t.usd:
                tier = i + 1
        return tier

    def staking_tier(self, staked: int) -> int:
        tier = 0
        for i, t in enumerate(self.staking):
            if staked >= t.ftt:
                tier = i + 1
        return tier

    def referral_share(self, staked: int) -> int:
        tier = self.staking_tier(staked)
        return self.staking[tier - 1].referral_share if tier else NO_STAKING_REFERRAL_SHARE

    def benefits(self, held_usd: int, staked: int, referred: bool = False) -> Benefits:
        """The better of holding `held_usd` (USD atoms) and staking `staked` (FTT atoms); a
        `referred` owner's 5% added to the holding discount (at most 100%)."""
        h = self.holding_tier(held_usd)
        s = self.staking_tier(staked)
        discount = 0
        maker_cap = taker_cap = NO_CAP
        if h:
            tier = self.holding[h - 1]
            discount = tier.discount
            if tier.vip is not None:
                maker_cap, taker_cap = tier.vip.maker, tier.vip.taker
        if s:
            maker_cap = min(maker_cap, self.staking[s - 1].maker)
        if referred:
            discount = min(PPM, discount + self.referred_discount)
        return Benefits(h, s, discount, maker_cap, taker_cap)


def _check(holding: tuple[HoldingTier, ...], staking: tuple[StakingTier, ...]) -> None:
    for a, b in pairwise(holding):
        if not (a.usd < b.usd and a.discount <= b.discount):
            raise ValueError(f"holding tiers not monotone at ${b.usd / ATOM}")
    for t in holding:
        if not 0 <= t.discount <= PPM:
            raise ValueError(f"holding discount {t.discount} ppm outside 0 .. 100%")
    for a2, b2 in pairwise(staking):
        if not (a2.ftt < b2.ftt and a2.maker >= b2.maker):
            raise ValueError(f"staking tiers not monotone at {b2.ftt / ATOM} FTT")
    for s in staking:
        if s.maker > 0:  # the better-of rule as the seam applies it needs overrides <= 0 (above)
            raise ValueError(f"staking maker override {s.maker} ppm is above zero")


def parse(data: dict[str, Any]) -> Schedule:
    params = data["params"]
    vips = {
        name: Vip(name, percent_ppm(v["maker"]), percent_ppm(v["taker"])) for name, v in data["vip"].items()
    }
    holding = tuple(
        HoldingTier(atoms(t["usd"]), percent_ppm(t["discount"]), vips[t["vip"]] if "vip" in t else None)
        for t in data["holding"]
    )
    staking = tuple(
        StakingTier(
            atoms(t["ftt"]),
            percent_ppm(t["maker"]),
            percent_ppm(t["referral_share"]),
            int(t["free_withdrawals"]),
        )
        for t in data["staking"]
    )
    _check(holding, staking)
    return Schedule(
        str(params["coin"]),
        int(params["unstake_lock_days"]) * DAY_US,
        int(params["refresh_every_seconds"]) * 1_000_000,
        holding,
        staking,
        int(params["burn_numerator"]),
        int(params["burn_denominator"]),
        *_referral(data.get("referral", {})),
        _otc_rebate(data.get("otc_rebate", {}), holding),
    )


MAX_OTC_REBATE = 10 * PERCENT_PPM // 100
"""0.1% (10 bp) of the notional: an OTC rebate above it is refused at load (a typo's guard: OTC is
fee-free, so the rebate is paid out of other fee revenue)."""


def _otc_rebate(table: dict[str, Any], holding: tuple[HoldingTier, ...]) -> tuple[int, ...]:
    """Per holding tier, the OTC rebate in ppm of the notional: the table names every holding
    threshold (USD, as a string) and no other, its rates monotone non-decreasing, within 0 .. 0.1%.
    An absent table: no OTC rebates."""
    if not table:
        return ()
    by_usd = {atoms(usd): percent_ppm(rate) for usd, rate in table.items()}
    thresholds = [t.usd for t in holding]
    if sorted(by_usd) != thresholds:
        raise ValueError("otc_rebate must name exactly the holding tiers' thresholds")
    rates = tuple(by_usd[usd] for usd in thresholds)
    for a, b in pairwise(rates):
        if a > b:
            raise ValueError(f"otc_rebate not monotone: {b} ppm after {a} ppm")
    for r in rates:
        if not 0 <= r <= MAX_OTC_REBATE:
            raise ValueError(f"otc_rebate {r} ppm outside 0 .. 0.1%")
    return rates


def _referral(table: dict[str, Any]) -> tuple[int, int]:
    """(referred discount, non-VIP floor) in ppm, FTX's 5% and 0.03% unless the table says."""
    discount = percent_ppm(table.get("referred_discount", "5%"))
    floor = percent_ppm(table.get("non_vip_floor", "0.03%"))
    if not 0 <= discount <= PPM or floor < 0:
        raise ValueError("referral discount outside 0 .. 100% or a negative floor")
    return discount, floor


def load() -> Schedule:
    """The packaged schedule (tiers.toml)."""
    text = resources.files(__package__).joinpath("tiers.toml").read_text()
    return parse(tomllib.loads(text))
