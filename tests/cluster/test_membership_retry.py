"""`cluster add-node`/`remove-node` ask again while the answer leaves the outcome open
(a timeout on a loaded machine: the change may still commit), since AddServer and
RemoveServer are idempotent; a final refusal is reported at once."""

from __future__ import annotations

import pytest

from replikv.cluster import control
from replikv.cluster.state import ClusterError


def _script(monkeypatch: pytest.MonkeyPatch, answers: list) -> list:
    sent: list = []
    monkeypatch.setattr(control, "_leader_entry", lambda state: "leader")
    monkeypatch.setattr(control.time, "sleep", lambda s: None)

    def send(state, entry, verb, *args):
        sent.append((entry, verb, args))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(control, "_send", send)
    return sent


def test_an_open_outcome_is_asked_again_until_final(monkeypatch: pytest.MonkeyPatch) -> None:
    timeout = ClusterError("node 1 answered `remove-node` with an error: ERR remove-node failed: timed out; "
                           "the operation may or may not have taken effect")
    busy = ClusterError("node 1 answered `remove-node` with an error: ERR a configuration change is in progress")
    sent = _script(monkeypatch, [timeout, busy, "OK"])
    assert control._send_membership(object(), "remove-node", "4") == "OK"
    assert [verb for _, verb, _ in sent] == ["remove-node"] * 3


def test_a_final_refusal_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    final = ClusterError("node 1 answered `remove-node` with an error: ERR cannot remove the last voter")
    sent = _script(monkeypatch, [final, "OK"])
    with pytest.raises(ClusterError, match="last voter"):
        control._send_membership(object(), "remove-node", "1")
    assert len(sent) == 1


def test_it_gives_up_after_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    timeout = ClusterError("... timed out; the operation may or may not have taken effect")
    _script(monkeypatch, [timeout] * 3)
    with pytest.raises(ClusterError, match="may or may not"):
        control._send_membership(object(), "add-node", "4", "127.0.0.1:9", retry_s=0.0)
