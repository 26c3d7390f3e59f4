"""Plugin discovery through entry points: allow-list, broken plugins skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from vwmp_plugin_host.discovery import discover_plugins
from vwmp_plugin_host.settings import PluginHostSettings

GROUP = "vwmp.plugins.discovery-test"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake installed distribution declaring a good, a broken and a wrong entry point."""
    dist = tmp_path / "fake_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{GROUP}]\n"
        "hello = vwmp_example_hello:plugin\n"
        "broken = vwmp_no_such_module_xyz:plugin\n"
        "wrong = vwmp_example_hello:GreetConfig\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_broken_plugins_are_logged_and_skipped(installed: None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        plugins = discover_plugins(group=GROUP)
    assert [p.name for p in plugins] == ["hello"]
    assert "plugin failed to load" in caplog.text
    assert "not a vwmp_sdk.Plugin" in caplog.text


def test_allow_list_keeps_only_named_plugins(installed: None) -> None:
    assert discover_plugins({"hello"}, group=GROUP)[0].name == "hello"
    assert discover_plugins({"other"}, group=GROUP) == []


def test_real_entry_point_group_offers_the_example_plugin() -> None:
    assert "hello" in [p.name for p in discover_plugins({"hello"})]


def test_settings_read_the_operator_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VWMP_PLUGINS", "git, hello,")
    monkeypatch.setenv("VWMP_PLUGIN_HOST_PORT", "6001")
    settings = PluginHostSettings()
    assert settings.allowed_plugins() == {"git", "hello"}
    assert settings.advertise_address() == "127.0.0.1:6001"
    monkeypatch.setenv("VWMP_PLUGIN_HOST_ADVERTISE_ADDRESS", "plugin-host:50053")
    assert PluginHostSettings().advertise_address() == "plugin-host:50053"
