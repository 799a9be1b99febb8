"""What a scheme declares about itself, and what the declarations enforce."""

from __future__ import annotations

import pytest

from replikv.core.commands import AddServer, Promote
from replikv.core.config import NodeConfig, ReplicaConfig
from replikv.core.errors import ConfigError
from replikv.core.replica import Promises, ProtocolSpec


def _spec(**kw) -> ProtocolSpec:
    return ProtocolSpec(name="decl", summary="", config_type=kw.pop("config_type", ReplicaConfig),
                        messages=(), records=(), create=lambda args: None,
                        promises=Promises(False, False, False, True), **kw)


def test_a_config_read_level_must_be_one_the_scheme_offers():
    spec = _spec(read_levels=("linearizable", "local"))
    assert spec.make_config({"read_level": "local"}).read_level == "local"
    with pytest.raises(ConfigError, match="offers the read levels linearizable, local, not 'lease'"):
        spec.make_config({"read_level": "lease"})


def test_leaderless_schemes_need_no_election_settings():
    spec = _spec(config_type=NodeConfig, leadership="leaderless", failover="none", read_levels=("one", "quorum"),
                 )
    config = spec.make_config({"read_level": "quorum"})
    assert not hasattr(config, "election_timeout_ms")
    with pytest.raises(ConfigError, match="bad protocol option"):
        spec.make_config({"election_timeout_ms": 10})


def test_election_rule_applies_to_schemes_that_detect_failures():
    with pytest.raises(ConfigError, match="election_timeout_ms must be > 2 x heartbeat_ms"):
        _spec().make_config({"heartbeat_ms": 100, "election_timeout_ms": 150})


def test_admin_commands_are_declared():
    spec = _spec(admin_commands=(Promote,))
    assert spec.offers(Promote) and not spec.offers(AddServer)
