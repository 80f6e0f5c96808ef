"""Phoneme alignments -> visemes (animation.phonemes, data/phonemes.toml)."""

from __future__ import annotations

import numpy as np
import pytest

from animation import phonemes as ph
from animation.engine import FaceBank
from animation.visemes import VISEMES


def test_table_covers_every_viseme_once() -> None:
    assert set(ph.PHONEME_VISEME.values()) == set(VISEMES)
    assert all(0.0 < w <= 1.0 for w in ph.WEIGHT.values())
    assert not ph.TRANSPARENT & set(ph.PHONEME_VISEME)


@pytest.mark.parametrize(
    ("phoneme", "viseme"),
    [("p", "PP"), ("m", "PP"), ("f", "FF"), ("ð", "TH"), ("t", "DD"), ("ɡ", "kk"), ("tʃ", "CH"), ("ʃ", "CH"),
     ("z", "SS"), ("l", "nn"), ("ɹ", "RR"), ("ɑː", "aa"), ("ɛ", "E"), ("iː", "ih"), ("ɔ", "oh"), ("uː", "ou"),
     ("w", "ou"), ("ɪ̃", "ih"), ("_", "sil")],
)  # fmt: skip
def test_viseme_of(phoneme: str, viseme: str) -> None:
    assert ph.viseme_of(phoneme)[0] == viseme  # type: ignore[index]


def test_glottals_and_unknowns_have_no_shape_of_their_own() -> None:
    assert ph.viseme_of("h") is None and ph.viseme_of("ʔ") is None and ph.viseme_of("☃") is None
    assert ph.viseme_of("ə") == ("E", 0.6)


def _raw(symbols: str, step: float = 0.05) -> list[ph.Segment]:
    return [(s, i * step, (i + 1) * step) for i, s in enumerate(symbols)]


def test_tidy_groups_code_points_into_phonemes_over_the_same_span() -> None:
    raw = _raw("^tʃˈiːz bˈɔː!$")  # Piper's code points: BOS, "cheese", space, "bore", punctuation, EOS
    out = ph.tidy(raw)
    assert [p for p, _, _ in out] == ["_", "tʃ", "iː", "z", "b", "ɔː", "_"]
    assert out[0][1] == raw[0][1] and out[-1][2] == raw[-1][2]
    np.testing.assert_allclose([a for _, a, _ in out[1:]], [b for _, _, b in out[:-1]])
    by = {p: (a, b) for p, a, b in out}
    assert by["iː"] == pytest.approx((0.15, 0.30))  # the stress mark's time went to the vowel, and the ː
    assert by["z"][1] == pytest.approx(0.375) and by["b"][0] == pytest.approx(0.375)  # space split in two


def test_to_visemes_keys() -> None:
    phonemes = [("_", 0.0, 0.1), ("h", 0.1, 0.15), ("uː", 0.15, 0.3), ("m", 0.3, 0.32), ("ɪ", 0.32, 0.34),
                ("n", 0.34, 0.45), ("_", 0.45, 0.5), ("s", 0.5, 0.6)]  # fmt: skip
    keys = ph.to_visemes(phonemes)
    # h takes the next vowel's shape (rounded in "who"); the 20 ms "m" is kept (the lips must meet), the
    # 20 ms "ɪ" after it goes to the "n" after it, not to the closure; the 50 ms pause inside speech
    # carries "n" on; the sequence ends with sil.
    assert keys.visemes == ["sil", "ou", "PP", "nn", "SS", "sil"]
    np.testing.assert_allclose(keys.times, [0.0, 0.1, 0.3, 0.32, 0.5, 0.6])
    assert np.all(np.diff(keys.times) > 0)


def test_short_inner_pauses_do_not_rest_the_mouth() -> None:
    phonemes = [("m", 0.0, 0.1), ("aɪ", 0.1, 0.3), ("_", 0.3, 0.35), ("s", 0.35, 0.5), ("_", 0.5, 0.9)]
    keys = ph.to_visemes(phonemes)
    assert keys.visemes == ["PP", "aa", "SS", "sil"]
    assert keys.times[-1] == 0.5


def _spans(phonemes: list[ph.Segment]) -> dict[str, list[tuple[float, float]]]:
    """Viseme -> spans of the phonemes showing it (glottals take their neighbour's, as to_visemes does)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for (_, a, b), (vis, _) in zip(phonemes, ph.labels(phonemes), strict=True):
        out.setdefault(vis, []).append((a, b))
    return out


def test_visemes_fall_inside_their_phonemes_on_real_speech() -> None:
    from server.voice.piper import PiperVoice

    speech = PiperVoice(noise_scale=0.0).synthesize(
        "Bob thinks the chef's jam tastes awful, but I'd happily eat it anyway."
    )
    keys = speech.visemes()
    spans = _spans(speech.phonemes)
    assert np.all(np.diff(keys.times) > 0) and keys.visemes[-1] == "sil"
    assert keys.times[-1] <= speech.duration + 1e-9
    ends = [*keys.times[1:], speech.duration]
    for t, vis, end in zip(keys.times[:-1], keys.visemes[:-1], ends, strict=False):
        # Each key starts where a phoneme starts ...
        assert any(abs(a - t) < 1e-9 for _, a, _ in speech.phonemes), (t, vis)
        # ... and most of its segment is phonemes showing it (short neighbours may have been absorbed).
        own = sum(max(0.0, min(b, end) - max(a, t)) for a, b in spans.get(vis, []))
        assert own >= 0.5 * (end - t), (t, vis, own, end - t)
    # Every bilabial got its closure key.
    assert sum(v == "PP" for v in keys.visemes) >= sum(
        1 for p, _, _ in speech.phonemes if p in ("b", "m", "p")
    )
    bank = FaceBank(capacity=1, seed=1)
    slot = bank.add(0.0)
    bank.visemes(slot, 0.5, keys.times, keys.visemes, keys.weights)  # accepted as is
