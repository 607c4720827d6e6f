"""The walk along the audit chains that every verifier shares: the online verify of the database's chains
(``verify``) and the offline verifier of a JSONL export (``offline``) give it the same events in (chain, seq) order
and get the same findings, worded the same way.

Each event must follow the one before it in its chain: its sequence number one more (a chain starts at 1 on the
genesis hash), its ``prev_hash`` the previous event's hash, and its hash the one recomputed from its contents.
The walk keeps only the chain it is in, so memory stays flat however many events go through it. A partial walk
(an export filtered by time) lets a chain begin after seq 1, taking its first link as given.
"""

from __future__ import annotations

from collections.abc import Callable

from service.domain.audit.canonical import GENESIS

BROKEN_LINK = "prev_hash does not match the previous event's hash"
CHANGED = "hash does not match the event's contents: the event was changed"


def missing_event(seq: int, expected: int) -> str:
    return f"sequence {seq} where {expected} was expected: an event is missing"


class ChainWalk:
    """Follows events in (chain, seq) order: ``check`` says what is wrong with the next one (or None), ``accept``
    takes it as sound. ``on_chain_end(chain, last_seq)`` is told when a chain with accepted events ends."""

    def __init__(self, *, partial: bool = False, on_chain_end: Callable[[str, int], None] | None = None) -> None:
        self.partial = partial
        self.on_chain_end = on_chain_end
        self.chain: str | None = None
        self.last_seq = 0  # of the chain being walked: the last accepted event's (or the one before a partial start)
        self.prev = GENESIS
        self.accepted_in_chain = 0
        self.events = 0  # accepted events
        self.chains = 0  # chains with at least one accepted event
        self.partial_chains = 0  # chains that began after seq 1 (partial walks only)

    def check(self, chain: str, seq: int, prev_hash: str, stored_hash: str, computed_hash: str) -> str | None:
        """What is wrong with this event as the next one of its chain (sequence, link, hash), or None."""
        if chain != self.chain:
            self.end_chain()
            self.chain, self.last_seq, self.prev, self.accepted_in_chain = chain, 0, GENESIS, 0
            if self.partial and seq != 1:
                # A filtered export begins a chain later; its first link is taken as given.
                self.last_seq, self.prev = seq - 1, prev_hash
                self.partial_chains += 1
        if seq != self.last_seq + 1:
            return missing_event(seq, self.last_seq + 1)
        if prev_hash != self.prev:
            return BROKEN_LINK
        if computed_hash != stored_hash:
            return CHANGED
        return None

    def resume(self, chain: str, seq: int, stored_hash: str) -> None:
        """Walk ``chain`` on from its event ``seq`` whose hash is taken as given (an incremental verify, from a
        signed checkpoint's head): the next event must be ``seq + 1`` linking to ``stored_hash``."""
        self.end_chain()
        self.chain, self.last_seq, self.prev, self.accepted_in_chain = chain, seq, stored_hash, 0

    def accept(self, stored_hash: str) -> None:
        """The event ``check`` just passed (or whose hash a slower encoder confirmed) is sound."""
        self.last_seq += 1
        self.prev = stored_hash
        self.events += 1
        if self.accepted_in_chain == 0:
            self.chains += 1
        self.accepted_in_chain += 1

    def accept_run(self, events: int, last_hash: str) -> None:
        """``accept`` of ``events`` events in a row whose sequence, links and hashes were checked elsewhere (the
        server, for the online verify), the first of them against ``check``."""
        if self.accepted_in_chain == 0:
            self.chains += 1
        self.last_seq += events
        self.prev = last_hash
        self.events += events
        self.accepted_in_chain += events

    def end_chain(self) -> None:
        """The chain being walked ends here (called by ``check`` on the next chain, and once at the end)."""
        if self.chain is not None and self.accepted_in_chain and self.on_chain_end is not None:
            self.on_chain_end(self.chain, self.last_seq)
        self.accepted_in_chain = 0
