"""The latent structure of the bundled sentiment data set (dataset, issue 4).

Everything about an utterance except its rendered pixels and samples is decided
here, from one seed, in a fixed order (so it is cheap to recompute the whole
plan and render only a few items, as the reproducibility test does).

Generative story for utterance *i* by speaker *k* (constants in :class:`LatentConfig`)::

    kind      ~ {plain, negation, contrast, ironic, neutral}
    s         latent sentiment: 0 for neutral, else sign * U(lo, hi)
    score     = annotated label: round(5 * (s + N(0, annotator_sd))) / 5, clipped to [-3, 3]
    text      words with polarity sign(s) (flipped when ironic), intensity ~ |s| + noise
    design    per speaker: the same mix of kinds (half positive, half negative), and
              the same number of unusable voices (very low SNR or a flat delivery) and
              unusable faces (dark, out of frame or a poker face), placed mostly on
              utterances whose other channels are fine (a few on ironic/contrastive/
              negated text, so some utterances lose two channels)
    e_voice   = g_voice * expressiveness_k * s + N(0, voice_sd)   (g = 0 if a flat voice)
    e_face    = g_face * s + N(0, face_sd)                        (g = 0 if poker face)
    prosody   pitch, range, rate, amplitude, pauses, tilt  <- e_voice and speaker k's style
    noise     type and SNR (very low for low-SNR clips)
    face      expression <- e_face; identity from speaker k; pose, lighting, background
              and occlusion independent of s

Each modality sees ``s`` through its own corruption: the text is wrong by design
on ironic items and ambiguous to a bag of words on contrast and negation items,
the voice is lost in low-SNR clips and the face in the dark or out of frame.
The constants were tuned once so that the simple baselines of
``python -m course_utils.data report`` meet issue 4's targets; the report
measures them, it does not assume them.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import text as grammar
from .face import HAIR_COLOURS, OCCLUSIONS, SKIN_TONES, EYE_COLOURS
from .speech import NOISE_TYPES

DEFAULT_SEED = 20240604

#: English language voices of espeak-ng (accents) and voice variants (timbre) by gender.
ACCENTS: tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp",
                            "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
FEMALE_VARIANTS: tuple[str, ...] = ("f1", "f2", "f3", "f4", "f5", "Annie", "linda", "belinda", "Andrea",
                                    "anika", "Alicia", "aunty", "steph", "steph3", "grandma",
                                    "f1", "f2", "f3", "f4", "f5")
MALE_VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "adam", "john",
                                  "david", "Andy", "Denis", "Gene", "Hugo", "Lee", "Mario", "michel",
                                  "norbert", "paul")


def _speakers() -> tuple[tuple[str, str, str], ...]:
    out = []
    for i in range(len(FEMALE_VARIANTS)):
        for gender, variants, shift in (("F", FEMALE_VARIANTS, 0), ("M", MALE_VARIANTS, 3)):
            accent = ACCENTS[(i + shift + 4 * (i // 15)) % len(ACCENTS)]
            out.append((f"spk{len(out) + 1:02d}", f"{accent}+{variants[i]}", gender))
    return tuple(out)


#: (speaker id, espeak-ng voice, gender): 40 speakers, each a unique accent + variant.
SPEAKERS: tuple[tuple[str, str, str], ...] = _speakers()


@dataclass(frozen=True)
class LatentConfig:
    """Knobs of the generative story (dataset, issue 4). Defaults = the shipped data set."""

    #: utterances of each kind that every speaker says (the sum is the utterances per speaker)
    kinds_per_speaker: tuple[tuple[str, int], ...] = (
        ("plain", 13), ("negation", 2), ("contrast", 3), ("ironic", 4), ("neutral", 3),
    )
    split_speakers: tuple[tuple[str, int], ...] = (("train", 28), ("valid", 6), ("test", 6))
    magnitude: tuple[float, float] = (0.8, 3.0)
    negation_magnitude: tuple[float, float] = (0.6, 1.8)
    ironic_magnitude: tuple[float, float] = (1.0, 3.0)
    annotator_sd: float = 0.15
    text_level_sd: float = 0.5
    #: per speaker: clips whose voice is unusable (drowned in noise, or a flat delivery)
    voice_bad_per_speaker: int = 9
    #: per speaker: clips whose face is unusable (missing, or a poker face)
    face_bad_per_speaker: int = 8
    #: per speaker: how many of those fall on utterances that already have an unusable
    #: channel (ironic/contrastive/negated text); the rest are spread so that no other
    #: utterance loses two channels
    double_bad_per_speaker: int = 1
    #: share of unusable voices that are a flat delivery (the rest: very low SNR)
    voice_flat_share: float = 0.25
    #: share of unusable faces that are a poker face (the rest: dark room / out of frame)
    face_flat_share: float = 0.25
    voice_sd: float = 1.0
    face_sd: float = 0.75
    snr_low: tuple[float, float] = (-20.0, -10.0)
    snr_high: tuple[float, float] = (6.0, 30.0)
    #: a partial occlusion (mask, hand, microphone, sunglasses; shares in occlusion_mix)
    #: for this share of the usable faces
    occlusion_prob: float = 0.2
    occlusion_mix: tuple[float, ...] = (0.3, 0.3, 0.2, 0.2)
    tilt_slope: float = 0.25
    #: multiplies every prosody slope (pitch, range, rate, amplitude, pauses, tilt)
    voice_effect: float = 1.5
    #: per-clip recording gain spread (dB), on top of the speaker's own gain
    gain_sd: float = 1.5

    @property
    def per_speaker(self) -> int:
        """Utterances per speaker."""
        return sum(n for _, n in self.kinds_per_speaker)

    @property
    def n_items(self) -> int:
        """Utterances in the data set."""
        return self.per_speaker * sum(n for _, n in self.split_speakers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (recorded in ``generation.json``)."""
        return asdict(self)


@dataclass
class Item:
    """Everything about one utterance before rendering (dataset, issue 4)."""

    idx: int
    id: str
    speaker: str
    voice: str
    gender: str
    split: str
    domain: str
    kind: str
    template_id: str
    text: str
    latent: float
    score: float
    e_voice: float
    e_face: float
    audio: dict[str, Any] = field(default_factory=dict)
    face: dict[str, Any] = field(default_factory=dict)

    @property
    def label_binary(self) -> int:
        return int(self.score >= 0)

    @property
    def label_7(self) -> int:
        return int(np.round(np.clip(self.score, -3, 3)))

    @property
    def audio_path(self) -> str:
        return f"audio/{self.id}.ogg"

    @property
    def image_path(self) -> str:
        return f"images/{self.id}.png"


@dataclass
class Plan:
    """The whole data set's plan: speakers (identity, style) and items (dataset, issue 4)."""

    seed: int
    config: LatentConfig
    speakers: dict[str, dict[str, Any]]
    items: list[Item]


def _speaker_table(rng: np.random.Generator, config: LatentConfig) -> dict[str, dict[str, Any]]:
    order = list(range(len(SPEAKERS)))
    # speaker-independent split, balanced by gender: alternate F/M when assigning
    females = [i for i in order if SPEAKERS[i][2] == "F"]
    males = [i for i in order if SPEAKERS[i][2] == "M"]
    rng.shuffle(females)
    rng.shuffle(males)
    interleaved = [x for pair in zip(females, males) for x in pair]
    splits: dict[int, str] = {}
    pos = len(interleaved)
    for name, count in reversed(config.split_speakers):  # test first, then valid
        for i in interleaved[pos - count: pos]:
            splits[i] = name
        pos -= count
    # every split gets every skin tone (as evenly as its size allows), so that
    # accuracy by skin tone can be measured on valid and test too
    skins: dict[int, int] = {}
    for name, _ in config.split_speakers:
        members = [i for i in interleaved if splits[i] == name]
        tones = rng.permutation(np.arange(len(members)) % len(SKIN_TONES))
        skins.update({i: int(t) for i, t in zip(members, tones)})
    table: dict[str, dict[str, Any]] = {}
    for i, (sid, voice, gender) in enumerate(SPEAKERS):
        base_pitch = 50 + rng.normal(0, 5)
        table[sid] = {
            "voice": voice,
            "gender": gender,
            "split": splits[i],
            "style": {
                "pitch": float(base_pitch),
                "range": float(rng.uniform(50, 70)),
                "rate": float(rng.uniform(155, 180)),
                "gain_db": float(rng.normal(0, 1.5)),
                "expressive": float(rng.uniform(0.9, 1.1)),
            },
            "identity": {
                "skin": int(skins[i]),
                "face_w": float(rng.uniform(37, 43)),
                "face_h": float(rng.uniform(46, 53)),
                "eye_gap": float(rng.uniform(14.5, 17.5)),
                "eye_colour": int(rng.integers(len(EYE_COLOURS))),
                "hair_colour": int(rng.integers(len(HAIR_COLOURS))),
                "hair_style": int(rng.choice([0, 1, 2], p=[0.5, 0.35, 0.15] if gender == "M" else [0.3, 0.65, 0.05])),
                "glasses": bool(rng.random() < 0.25),
            },
        }
    return table


def _speaker_design(config: LatentConfig, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Kinds, signs and unusable channels of one speaker's utterances (in random order).

    Every speaker says the same mix of kinds, half positive and half negative
    (per kind, as evenly as the counts allow), and has the same number of
    unusable voices and faces. Unusable channels go to utterances whose text is
    fine, one per utterance, except ``double_bad_per_speaker`` of them, which fall
    on utterances with ironic, contrastive or negated text.
    """
    slots: list[dict[str, Any]] = []
    for kind, count in config.kinds_per_speaker:
        signs = [1 if i % 2 == 0 else -1 for i in range(count)]
        if count % 2 and rng.random() < 0.5:
            signs[-1] = -1
        slots += [{"kind": kind, "sign": sg, "voice_bad": False, "face_bad": False} for sg in signs]
    order = rng.permutation(len(slots))
    slots = [slots[i] for i in order]
    weak = [i for i, sl in enumerate(slots) if sl["kind"] in ("ironic", "contrast", "negation")]
    fine = [i for i, sl in enumerate(slots) if i not in weak]
    n_double = min(config.double_bad_per_speaker, len(weak))
    n_v_double = (n_double + int(rng.integers(2))) // 2
    doubles = [weak[i] for i in rng.permutation(len(weak))[:n_double]]
    n_v, n_f = config.voice_bad_per_speaker - n_v_double, config.face_bad_per_speaker - (n_double - n_v_double)
    if n_v + n_f > len(fine):
        raise ValueError("more unusable channels than utterances with usable text; lower the *_bad_per_speaker counts")
    pick = [fine[i] for i in rng.permutation(len(fine))]
    for i in doubles[:n_v_double] + pick[:n_v]:
        slots[i]["voice_bad"] = True
    for i in doubles[n_v_double:] + pick[n_v: n_v + n_f]:
        slots[i]["face_bad"] = True
    return slots


def make_plan(seed: int = DEFAULT_SEED, config: LatentConfig | None = None) -> Plan:
    """Build the full plan for ``seed`` deterministically (dataset, issue 4)."""
    config = config or LatentConfig()
    # one independent stream per concern, so that changing e.g. the face settings
    # leaves the texts, labels and voices of every item unchanged
    rng = np.random.default_rng([seed, 0])  # speakers, kinds, latent sentiment, text intensity
    rng_voice = np.random.default_rng([seed, 1])
    rng_face = np.random.default_rng([seed, 2])
    text_rng = random.Random(seed)
    speakers = _speaker_table(rng, config)
    # speakers' utterances are interleaved in a random order; each speaker's design is balanced
    assignment = np.array([sid for sid in speakers for _ in range(config.per_speaker)])
    rng.shuffle(assignment)
    designs = {sid: iter(_speaker_design(config, rng)) for sid in speakers}

    items: list[Item] = []
    for idx in range(config.n_items):
        sid = str(assignment[idx])
        spk = speakers[sid]
        slot = next(designs[sid])
        kind, sign = slot["kind"], slot["sign"]
        domain = str(rng.choice(grammar.DOMAINS))
        lo, hi = {"negation": config.negation_magnitude, "ironic": config.ironic_magnitude}.get(kind, config.magnitude)
        s = 0.0 if kind == "neutral" else float(sign * rng.uniform(lo, hi))
        noise = 0.0 if kind == "neutral" else rng.normal(0, config.annotator_sd)
        score = float(np.clip(np.round(5 * (s + noise)) / 5, -3, 3))
        if score == 0.0:
            score = 0.0  # no negative zero in the CSV
        word_pol = sign * (-1 if kind == "ironic" else 1)
        level = int(np.clip(np.round(abs(s) + rng.normal(0, config.text_level_sd)), 1, 3))
        template_id, text = grammar.make_text(text_rng, kind, domain, word_pol, level)

        st = spk["style"]
        rv, rf = rng_voice, rng_face
        v_flat = slot["voice_bad"] and rv.random() < config.voice_flat_share
        low = slot["voice_bad"] and not v_flat
        f_flat = slot["face_bad"] and rf.random() < config.face_flat_share
        missing = slot["face_bad"] and not f_flat
        e_v = (0.0 if v_flat else st["expressive"]) * s + rv.normal(0, config.voice_sd)
        e_f = (0.0 if f_flat else 1.0) * s + rf.normal(0, config.face_sd)
        ev = float(np.clip(e_v, -3.5, 3.5)) * config.voice_effect
        e_v, e_f = float(e_v), float(e_f)
        audio = {
            "pitch": int(np.clip(np.round(st["pitch"] + 6.0 * ev + rv.normal(0, 3)), 5, 95)),
            "pitch_range": int(np.clip(np.round(st["range"] * 2 ** (0.45 * ev)), 5, 300)),
            "rate": int(np.clip(np.round(st["rate"] * (1 + 0.07 * ev + rv.normal(0, 0.03))), 90, 300)),
            "amplitude": int(np.clip(np.round(100 * 10 ** (2.0 * ev / 20)), 30, 200)),
            "word_gap": int(np.clip(np.round(-0.8 * ev + rv.normal(0, 0.5)), 0, 5)),
            "tilt": float(np.round(np.clip(config.tilt_slope * ev + rv.normal(0, 0.1), -0.9, 0.9), 3)),
            "snr_db": float(np.round(rv.uniform(*(config.snr_low if low else config.snr_high)), 1)),
            # very noisy clips come from noisy places (broadband noise, not a mains hum)
            "noise": str(rv.choice(("white", "pink", "babble") if low else NOISE_TYPES)),
            "gain_db": float(np.round(st["gain_db"] + rv.normal(0, config.gain_sd), 2)),
            "agc": bool(low),
        }
        occluded = rf.random() < config.occlusion_prob
        partial = str(rf.choice(OCCLUSIONS[1:5], p=config.occlusion_mix))
        gone = str(rf.choice(OCCLUSIONS[5:]))
        occ = gone if missing else (partial if occluded else "none")
        face = {
            "expr": float(np.round(e_f, 4)),
            "roll": float(np.round(np.clip(rf.normal(0, 2.5), -8, 8), 3)),
            "yaw": float(np.round(rf.uniform(-0.3, 0.3), 3)),
            "dx": float(np.round(rf.normal(0, 1.2), 3)),
            "dy": float(np.round(rf.normal(0, 1.2), 3)),
            "scale": float(np.round(rf.uniform(0.96, 1.04), 4)),
            "light_angle": float(np.round(rf.uniform(0, 2 * np.pi), 4)),
            "light_strength": float(np.round(rf.uniform(0.0, 0.4), 4)),
            "brightness": float(np.round(rf.uniform(0.75, 1.15), 4)),
            "cast": float(np.round(rf.uniform(-0.08, 0.08), 4)),
            "bg": [int(v) for v in rf.integers(40, 200, size=3)],
            "occlusion": occ,
            "occ_shift": float(np.round(rf.uniform(-1, 1), 3)),
            "grain_seed": int(rf.integers(2**31)),
        }
        items.append(Item(
            idx=idx, id=f"u{idx:04d}", speaker=sid, voice=spk["voice"], gender=spk["gender"],
            split=spk["split"], domain=domain, kind=kind, template_id=template_id, text=text,
            latent=round(s, 4), score=score, e_voice=round(e_v, 4), e_face=round(e_f, 4),
            audio=audio, face=face,
        ))
    return Plan(seed=seed, config=config, speakers=speakers, items=items)


def item_rng(seed: int, idx: int, stream: int) -> np.random.Generator:
    """Independent random stream for rendering item ``idx`` (stream 1 = audio) (dataset, issue 4)."""
    return np.random.default_rng([seed, idx, stream])
