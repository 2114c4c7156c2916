"""Text grammar of the bundled sentiment data set (dataset, issue 4).

Every utterance is produced from a small hand-written grammar: one of four
review domains (film, product, food, service), one of five *kinds* and a
template.  The grammar only decides the *words*; the latent sentiment that the
words express is decided by :mod:`course_utils.data.generate.plan`.

Kinds
-----
``plain``     a sincere opinion whose words carry the polarity directly.
``negation``  a negated opposite ("not bad at all" is mildly positive).
``contrast``  two clauses of opposite polarity; the *last* clause is the opinion
              ("the plot dragged but the cast shone").
``ironic``    rendered with a ``plain``/``negation`` template of the *opposite*
              polarity: the words cannot reveal the irony, only voice and face do.
``neutral``   a factual statement without sentiment words.

Only the standard library is used here; randomness comes from the
:class:`random.Random` passed in, so the same seed gives the same text.
"""
from __future__ import annotations

import random

DOMAINS: tuple[str, ...] = ("film", "product", "food", "service")

# --------------------------------------------------------------------------- lexicon
#: What a review talks about, per domain: (noun phrase, is_plural).
ASPECTS: dict[str, list[tuple[str, bool]]] = {
    "film": [
        ("plot", False), ("cast", False), ("acting", False), ("ending", False),
        ("soundtrack", False), ("dialogue", False), ("pacing", False),
        ("special effects", True), ("script", False), ("camera work", False),
        ("lead actor", False), ("final scene", False), ("film", False), ("movie", False),
    ],
    "product": [
        ("battery", False), ("screen", False), ("build quality", False), ("price", False),
        ("design", False), ("keyboard", False), ("speakers", True), ("camera", False),
        ("charger", False), ("headphones", True), ("app", False), ("packaging", False),
        ("phone", False), ("laptop", False),
    ],
    "food": [
        ("soup", False), ("pasta", False), ("dessert", False), ("bread", False),
        ("portions", True), ("coffee", False), ("curry", False), ("fries", True),
        ("salad", False), ("pizza", False), ("sauce", False), ("menu", False),
        ("meal", False), ("cake", False),
    ],
    "service": [
        ("staff", False), ("waiter", False), ("support team", False), ("delivery", False),
        ("booking", False), ("check-in", False), ("manager", False), ("hotel room", False),
        ("refund", False), ("reception", False), ("driver", False), ("service", False),
        ("help desk", False), ("waiting time", False),
    ],
}

#: Sentiment adjectives by polarity (+1/-1) and intensity (1 mild, 2 moderate, 3 strong).
ADJECTIVES: dict[int, dict[int, list[str]]] = {
    +1: {1: ["decent", "nice", "fine"], 2: ["good", "enjoyable", "great"],
         3: ["brilliant", "wonderful", "excellent"]},
    -1: {1: ["dull", "bland", "weak"], 2: ["bad", "boring", "poor"],
         3: ["awful", "terrible", "horrible"]},
}

#: Degree words by intensity (mild = downtoners, strong = intensifiers).
DEGREE: dict[int, list[str]] = {
    1: ["fairly", "somewhat", "rather", "a bit", "quite", ""],
    2: ["really", "very", "pretty", "", ""],
    3: ["absolutely", "truly", "incredibly", "so", "utterly", ""],
}

#: Opinion verbs by polarity and intensity.
VERBS: dict[int, dict[int, list[str]]] = {
    +1: {1: ["liked"], 2: ["enjoyed", "really liked"], 3: ["loved", "absolutely loved"]},
    -1: {1: ["disliked"], 2: ["hated", "really disliked"], 3: ["loathed", "absolutely hated"]},
}

#: Base-form verbs that read naturally after "did not" (the negation templates).
NEGATABLE_VERBS: dict[int, list[str]] = {
    +1: ["like", "enjoy", "love"],
    -1: ["hate", "mind", "dislike"],
}

#: Clause predicates for contrast sentences ("the plot dragged").
PREDICATES: dict[int, list[str]] = {
    +1: ["shone", "was a delight", "worked beautifully", "won me over", "was spot on"],
    -1: ["dragged", "fell flat", "was a letdown", "went nowhere", "was a mess"],
}

#: Recommendation phrases by polarity.
RECOMMEND: dict[int, list[str]] = {
    +1: ["I would recommend it to anyone", "I would happily go back",
         "I would buy it again", "worth every penny"],
    -1: ["I would not recommend it to anyone", "I would never go back",
         "I would not buy it again", "a waste of money"],
}

#: Neutral, factual statements per domain (no sentiment words).
NEUTRAL: dict[str, list[str]] = {
    "film": [
        "The film runs for about two hours.", "I watched the movie on a Tuesday evening.",
        "The story is set in a small coastal town.", "It was released last spring.",
        "The cast includes several new faces.", "We saw the late showing with two friends.",
        "The director also wrote the script.", "Most of it was filmed in the winter.",
        "It is the second part of a series.", "The soundtrack uses a string quartet.",
    ],
    "product": [
        "The phone arrived on Monday in a brown box.", "The laptop has two ports on each side.",
        "I bought the headphones in the black version.", "The battery is rated at four thousand units.",
        "The charger comes with a one metre cable.", "The screen is about six inches across.",
        "It came with a short manual in three languages.", "I have used the camera for a week.",
        "The keyboard uses a standard layout.", "The app asks you to create an account.",
    ],
    "food": [
        "I ordered the soup and a glass of water.", "The restaurant is next to the station.",
        "We had the pasta on a Friday night.", "The menu changes every season.",
        "The curry comes with rice on the side.", "The cafe opens at eight in the morning.",
        "I had the salad and my friend had the pizza.", "The dessert is made with apples.",
        "They serve breakfast until eleven.", "The portions are served on square plates.",
    ],
    "service": [
        "I called the support line in the morning.", "The waiter took our order at seven.",
        "The booking was made through the website.", "The delivery came on the third day.",
        "The hotel room was on the fourth floor.", "I asked the staff about the refund.",
        "The driver picked us up at the airport.", "The reception desk is on the ground floor.",
        "I spoke to the manager on the phone.", "The check-in takes place after two.",
    ],
}

KINDS: tuple[str, ...] = ("plain", "negation", "contrast", "ironic", "neutral")


# --------------------------------------------------------------------------- helpers
def _be(plural: bool, tense: str) -> str:
    if tense == "past":
        return "were" if plural else "was"
    return "are" if plural else "is"


def _degree_adj(rng: random.Random, polarity: int, level: int) -> str:
    adj = rng.choice(ADJECTIVES[polarity][level])
    deg = rng.choice(DEGREE[level])
    return f"{deg} {adj}".strip()


def _the(aspect: str) -> str:
    return f"the {aspect}"


def _sentence(body: str, end: str = ".") -> str:
    body = body.strip()
    return body[0].upper() + body[1:] + end


def _end(rng: random.Random, level: int) -> str:
    return "!" if level == 3 and rng.random() < 0.4 else "."


# --------------------------------------------------------------------------- templates
def _plain(rng: random.Random, domain: str, polarity: int, level: int) -> tuple[str, str]:
    aspect, plural = rng.choice(ASPECTS[domain])
    tense = rng.choice(["past", "present"])
    be = _be(plural, tense)
    t = rng.randrange(8)
    if t == 0:
        body = f"{_the(aspect)} {be} {_degree_adj(rng, polarity, level)}"
    elif t == 1:
        body = f"I thought {_the(aspect)} {_be(plural, 'past')} {_degree_adj(rng, polarity, level)}"
    elif t == 2:
        opener = rng.choice(["honestly", "to be fair", "overall", "in my opinion", "well"])
        body = f"{opener}, {_the(aspect)} {be} {_degree_adj(rng, polarity, level)}"
    elif t == 3:
        body = f"I {rng.choice(VERBS[polarity][level])} {_the(aspect)}"
    elif t == 4:
        adj = rng.choice(ADJECTIVES[polarity][level])
        article = "" if plural else ("an " if adj[0] in "aeiou" else "a ")
        body = f"what {article}{adj} {aspect}"
    elif t == 5:
        aspect2, plural2 = rng.choice([a for a in ASPECTS[domain] if a[0] != aspect])
        body = (f"{_the(aspect)} {be} {rng.choice(ADJECTIVES[polarity][level])} and "
                f"{_the(aspect2)} {_be(plural2, tense)} {_degree_adj(rng, polarity, level)}")
    elif t == 6:
        body = f"{_the(aspect)} {be} {_degree_adj(rng, polarity, level)}, {rng.choice(RECOMMEND[polarity])}"
    else:
        body = f"{_the(aspect)} {rng.choice(PREDICATES[polarity])}"
        if level >= 2:
            body = f"{body}, {rng.choice(['really', 'honestly', 'no doubt'])}"
    return f"plain-{t}", _sentence(body, _end(rng, level))


def _negation(rng: random.Random, domain: str, polarity: int, level: int) -> tuple[str, str]:
    """Polarity ``polarity`` expressed by negating the opposite ("not bad at all" = +)."""
    aspect, plural = rng.choice(ASPECTS[domain])
    tense = rng.choice(["past", "present"])
    be = _be(plural, tense)
    opp = -polarity
    # Negated strong words are weak statements: "not terrible" is at most mildly positive.
    opp_level = 2 if level >= 2 else rng.choice([1, 2])
    adj = rng.choice(ADJECTIVES[opp][opp_level])
    t = rng.randrange(5)
    if t == 0:
        tail = " at all" if level >= 2 else ""
        body = f"{_the(aspect)} {be} not {adj}{tail}"
    elif t == 1:
        body = f"{_the(aspect)} {be} not {rng.choice(['exactly', 'really', 'in any way'])} {adj}"
    elif t == 2:
        body = f"I did not think {_the(aspect)} {_be(plural, 'past')} {adj}"
    elif t == 3:
        body = f"I {rng.choice(['did not', 'cannot say I'])} {rng.choice(NEGATABLE_VERBS[opp])} {_the(aspect)}"
    else:
        body = f"{_the(aspect)}? Not {adj}, not {adj} at all"
    return f"negation-{t}", _sentence(body)


def _clause(rng: random.Random, domain: str, polarity: int, level: int) -> tuple[str, str]:
    aspect, plural = rng.choice(ASPECTS[domain])
    if rng.random() < 0.5:
        return aspect, f"{_the(aspect)} {rng.choice(PREDICATES[polarity])}"
    return aspect, f"{_the(aspect)} {_be(plural, 'past')} {_degree_adj(rng, polarity, level)}"


def _contrast(rng: random.Random, domain: str, polarity: int, level: int) -> tuple[str, str]:
    """Two clauses of opposite polarity; the opinion (``polarity``) is in the last clause."""
    a1, first = _clause(rng, domain, -polarity, rng.choice([1, 2, 3]))
    a2, last = _clause(rng, domain, polarity, level)
    while a2 == a1:
        a2, last = _clause(rng, domain, polarity, level)
    t = rng.randrange(4)
    if t == 0:
        body = f"{first} but {last}"
    elif t == 1:
        body = f"although {first}, {last}"
    elif t == 2:
        body = f"{first}; still, {last}"
    else:
        body = f"{first}, yet in the end {last}"
    return f"contrast-{t}", _sentence(body)


def _neutral(rng: random.Random, domain: str) -> tuple[str, str]:
    i = rng.randrange(len(NEUTRAL[domain]))
    return f"neutral-{i}", NEUTRAL[domain][i]


def make_text(rng: random.Random, kind: str, domain: str, polarity: int, level: int) -> tuple[str, str]:
    """One utterance: returns ``(template_id, text)`` (dataset, issue 4).

    ``polarity`` (+1/-1) and ``level`` (1..3) are what the *words* say. For an
    ironic item the caller passes the polarity opposite to the true sentiment;
    the template is then chosen exactly as for a sincere item, so nothing in
    the words marks the irony.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {DOMAINS}")
    if kind == "neutral":
        tid, text = _neutral(rng, domain)
    elif kind == "contrast":
        tid, text = _contrast(rng, domain, polarity, level)
    elif kind == "negation" or (kind == "ironic" and rng.random() < 0.2):
        tid, text = _negation(rng, domain, polarity, level)
    else:
        tid, text = _plain(rng, domain, polarity, level)
    return f"{domain}/{tid}", " ".join(text.split())
