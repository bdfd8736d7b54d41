"""Whatever YAML arrives, load_config answers with a Config or a ConfigError — never a crash."""

from __future__ import annotations

import string
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import Config, ConfigError, load_config, parse_config
from bot.config.policies import POLICY_KEYS
from bot.config.rotations import OVERRIDE_KEYS, ROTATION_KEYS
from bot.config.sources import SOURCE_KEYS
from bot.config.team import PERSON_KEYS

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
IDS = ["alice", "bob", "support", "standard", "default", "acme", "x y", "1", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)
# Values that get past the first type checks and into the deeper parsers.
plausible = st.one_of(
    st.sampled_from(
        [
            "15m",
            "0s",
            "1w",
            "15",
            "-1m",
            "Mon-Fri 09:00-17:30",
            "Mon 09:00",
            "09:00",
            "25:61",
            "Europe/Berlin",
            "Europe/Berln",
            "../etc",
            "DE",
            "DE-BE",
            "XX-",
            "-",
            "owner",
            "rotation:support",
            "person:alice",
            "person:",
            "slack-channel:C1",
            "slack",
            "telegram",
            "webhook",
            "mastodon",
            "github",
            "discourse",
            "x",
            "import",
            "2026-11-02",
            "2026-02-30",
            "2026-12-24 00:00",
            "2026-12-24T00:00+25:00",
            "https://a.b",
            "a/b",
            "${X}",
            "${X:-y}",
            "$${",
            "${",
            "everyone-else",
            "@a",
            "U1",
            "-100123",
        ]
    ),
    st.sampled_from(IDS),
    st.lists(st.sampled_from(IDS), max_size=4),
    scalars,
)


def entry(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, object]]:
    return st.dictionaries(
        st.sampled_from((*keys, "bogus")), st.one_of(plausible, anything), max_size=6
    )


overrides = st.lists(entry(OVERRIDE_KEYS), max_size=2)
structured = st.fixed_dictionaries(
    {},
    optional={
        "timezone": plausible,
        "closing_words": st.one_of(plausible, st.lists(plausible, max_size=3)),
        "team": st.dictionaries(st.sampled_from(IDS), st.one_of(st.none(), entry(PERSON_KEYS))),
        "rotations": st.dictionaries(
            st.sampled_from(IDS),
            st.one_of(
                entry(ROTATION_KEYS),
                st.tuples(entry(ROTATION_KEYS), overrides).map(
                    lambda pair: {**pair[0], "overrides": pair[1]}
                ),
            ),
        ),
        "policies": st.dictionaries(st.sampled_from(IDS), entry(POLICY_KEYS)),
        "sources": st.dictionaries(st.sampled_from(IDS), entry(SOURCE_KEYS)),
        "extras": anything,  # an unknown top-level key
    },
)


def check(text: str) -> None:
    try:
        result = parse_config(text, env={"X": "1"})
    except ConfigError as error:
        assert error.issues
        assert all(str(issue).startswith("nudgebot.yaml: ") for issue in error.issues)
    else:
        assert isinstance(result, Config)


@FUZZ
@given(st.text(alphabet=string.printable + "{}[]:-&*!|>%@`'\"#ü👍", max_size=200))
def test_arbitrary_text(text: str) -> None:
    check(text)


@FUZZ
@given(anything)
def test_arbitrary_yaml_data(data: object) -> None:
    check(yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(structured)
def test_config_shaped_data(data: dict[str, object]) -> None:
    check(yaml.safe_dump(data, allow_unicode=True))


def test_hostile_yaml() -> None:
    for text in [
        "a: !!int abc",
        "a: !!binary '!!!'",
        "a: !!timestamp 2026-13-45",
        "a: !!python/object:os.system {}",
        "[" * 5000,
        "a: &a [*a, *a]",
        "sources: {s: {platform: import, x: &x [&y [*y]]}}",
        "lol: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: &d [*c, *c]\ne: [*d, *d]",
        "? [a, b]\n: c",
        "a: !!set {x, y}\nteam: !!omap [{a: {}}]",
        "team: {a: {handles: !!set {x}}}",
        "sources: {s: {platform: import, when: 2026-01-01, n: .nan}}",
        "\ufeffteam: {}",
        "team: {true: {}, 1.5: {}, null: {}}",
    ]:
        check(text)


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    text = "sources:\n  s:\n    platform: import\n" + "".join(f"    {line}\n" for line in lines)
    try:
        parse_config(text, env={})
    except ConfigError as error:
        assert "aliases" in str(error)
    else:
        raise AssertionError("expected a ConfigError")


def test_arbitrary_bytes(tmp_path: Path) -> None:
    path = tmp_path / "nudgebot.yaml"

    @FUZZ
    @given(st.binary(max_size=100))
    def run(data: bytes) -> None:
        path.write_bytes(data)
        try:
            assert isinstance(load_config(path), Config)
        except ConfigError as error:
            assert error.issues

    run()
