"""A peer's history (DSN 2011 §IV: "the history of a peer ... a sequence of accepted
proposals"): gapless positions 1, 2, ..., zxids strictly increasing along them, a prefix
folded into a snapshot (``base``).

What may live here: the pure in-memory sequence and its lookups; no persistence.
"""

from __future__ import annotations

import bisect

from replikv.protocols.zab.constants import ZERO, Zxid
from replikv.protocols.zab.messages import Proposal


class History:
    __slots__ = ("_proposals", "base_position", "base_zxid")

    def __init__(self, base_position: int = 0, base_zxid: Zxid = ZERO) -> None:
        self._proposals: list[Proposal] = []
        self.base_position = base_position
        self.base_zxid = base_zxid

    def __len__(self) -> int:
        return len(self._proposals)

    @property
    def last_position(self) -> int:
        return self.base_position + len(self._proposals)

    @property
    def last_zxid(self) -> Zxid:
        return tuple(self._proposals[-1].zxid) if self._proposals else self.base_zxid

    def at(self, position: int) -> Proposal:
        assert self.base_position < position <= self.last_position, f"no proposal at {position}"
        return self._proposals[position - self.base_position - 1]

    def zxid_at(self, position: int) -> Zxid | None:
        if position == self.base_position:
            return self.base_zxid
        if self.base_position < position <= self.last_position:
            return tuple(self.at(position).zxid)
        return None

    def position_of(self, zxid: Zxid) -> int | None:
        """The position holding ``zxid`` (the base counts), or None."""
        if zxid == self.base_zxid:
            return self.base_position
        zxids = [tuple(p.zxid) for p in self._proposals]
        i = bisect.bisect_left(zxids, zxid)
        if i < len(zxids) and zxids[i] == zxid:
            return self.base_position + i + 1
        return None

    def below(self, zxid: Zxid) -> int:
        """The highest position whose zxid is < ``zxid`` (at least the base position)."""
        zxids = [tuple(p.zxid) for p in self._proposals]
        return self.base_position + bisect.bisect_left(zxids, zxid)

    def append(self, proposal: Proposal) -> None:
        assert proposal.position == self.last_position + 1, f"gap: {proposal.position} after {self.last_position}"
        assert tuple(proposal.zxid) > self.last_zxid, f"zxid {proposal.zxid} not after {self.last_zxid}"
        self._proposals.append(proposal)

    def slice(self, start: int, stop: int) -> tuple[Proposal, ...]:
        """Proposals at positions ``start``..``stop`` inclusive."""
        assert start > self.base_position, f"position {start} is compacted"
        lo = start - self.base_position - 1
        return tuple(self._proposals[lo : max(lo, stop - self.base_position)])

    def truncate_after(self, position: int) -> None:
        assert position >= self.base_position, "cannot truncate into the snapshot"
        del self._proposals[position - self.base_position :]

    def compact(self, position: int) -> None:
        if position <= self.base_position:
            return
        zxid = self.zxid_at(position)
        assert zxid is not None
        del self._proposals[: position - self.base_position]
        self.base_position, self.base_zxid = position, zxid

    def proposals(self) -> tuple[Proposal, ...]:
        return tuple(self._proposals)
