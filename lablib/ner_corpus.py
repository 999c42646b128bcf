"""The course's embedded NER data set: news-style English sentences generated from a seed.

Used by ``labs/03_ner_finetuning.ipynb`` in the offline ``small`` profile in
place of CoNLL-2003 (which needs a download), and again by the pretraining and
homogenization labs. Load it with :func:`lablib.data.embedded_ner`, which
writes each split once to the cache as a CoNLL file and checks its sha256.
Tags are IOB2 over PER, ORG, LOC and MISC (:mod:`lablib.ner`); tokens are
split the CoNLL way (``Malloy 's``; ``, . ( ) "`` are tokens of their own).

How it is made
--------------
* **Frames.** Each sentence starts as one of ~70 hand-written templates
  (:data:`FRAMES`): business, politics, sports, travel, culture, quotes,
  lists, and some with no entity. ``{ORG}`` is an entity slot, ``{ORG*}`` a
  list of 2-5 (``A , B and C``), ``{DAY}`` or ``{PCT}`` a filler tagged O.
  One frame in five without quotes gets a tail (``, according to {ORG}``),
  one in ten a dateline (``{LOC} , May 12 -``).
* **Names** come from :data:`POOLS`: a person is ``First Last``,
  ``First X. Last``, or a surname or first name alone; then organisations,
  sports clubs, places, and MISC (nationalities, languages, events, prizes,
  products). About half have several tokens (``Bank of Avalon``). Names are
  invented or common; countries and cities are real.
* **Ambiguous words** (:data:`AMBIGUOUS`: Jordan, Paris, ...) are first
  names and places; only the context tells which. Frames written for them
  say it plainly ("Jordan , 24 , told reporters she ...", "flew to Jordan"),
  and they also fill a few ordinary PER and LOC slots.
* **Splits.** ``train`` and ``validation`` take names from the ``train``
  pools, ``test`` from the ``test`` pools, which share no name with them: no
  entity string of test is an entity in train, except the ambiguous words
  (in both on purpose). Test measures recognition of *names never seen* in
  familiar contexts. Words that mark a kind of name (``Bank``, ``Port``,
  ``of``) are shared, as in real text.
* **Filters.** A sentence of fewer than 5 or more than 40 tokens is drawn
  again, and so is a copy of any earlier one (splits are made in the order
  train, validation, test: no validation or test sentence copies a train one).

Determinism and versions
------------------------
Each split has its own ``random.Random``, seeded with the string
``"embedded-ner-{seed}-{split}"`` (hashed with SHA-512, not ``hash()``);
only its ``choice`` and ``randrange`` are used: no floats, numpy, or
iteration over a set. So the output is the same on every platform and
Python 3.10-3.13, which the registered sha256 checksums (and their test)
guard. :data:`CORPUS_VERSION` is part of the cached file names. A change
that alters the sentences for any seed and sizes (a pool, a frame, a
probability, the order of draws) must bump it and register new checksums:
the minor number if the design stays, the major one if it changes (tag set,
splits, the disjointness promise). A change that keeps the bytes (comments,
refactoring) needs no bump; the checksum test proves it.

A template corpus is far more regular than real news: models learn it fast,
partly by learning the frames. Use it to run pipelines and compare methods,
not to claim CoNLL-2003 numbers.
"""
from __future__ import annotations

import random
from typing import Iterable, Mapping

from .ner import ENTITY_TYPES, Sentence

CORPUS_VERSION = "1.0"
SPLITS = ("train", "validation", "test")
DEFAULT_SEED = 2003
DEFAULT_SIZES = {"train": 3000, "validation": 500, "test": 500}
MIN_TOKENS, MAX_TOKENS = 5, 40


def _names(text: str) -> list:
    """Split a ``|``-separated list of names; a name may have several tokens."""
    return [" ".join(name.split()) for name in text.split("|")]


#: Words that are both a first name (PER) and a place (LOC), in every split.
AMBIGUOUS = ("Jordan", "Georgia", "Florence", "Washington", "Chelsea",
             "Austin", "Victoria", "Sydney", "Paris", "Lincoln")

#: Name pools: ``train`` (also used by validation) and ``test`` share no name.
POOLS = {
    "train": {
        "first": _names("""Anna | Marcus | Leila | Tomas | Priya | Owen | Ingrid | Samuel | Mei | Diego |
            Fatima | Henrik | Grace | Kofi | Elena | Rafael | Nadia | Peter | Hana | Lucas | Amara |
            Viktor | Sofia | Daniel | Yuki | Martin | Claire | Ibrahim | Rosa | Felix | Irene | Jonas |
            Aisha | Carl | Maya | Andrei | Lena | Omar | Beatrice | Hugo | Nina | Tariq | Helen | Mateo |
            Olga | Simon | Keiko | Ruth | Emil | Zara | Paul | Ines | Laura | Kwame | Marta | Stefan |
            Alice | Rahul | Julia | Edwin"""),
        "last": _names("""Malloy | Okafor | Lindqvist | Ferreira | Haddad | Brennan | Castellanos | Novak |
            Achterberg | Whitlock | Nakamura | Petrosyan | Osei | Varga | Halvorsen | Quintero | Ashdown |
            Korhonen | Rahman | Thornbury | Abernathy | Kowalczyk | Dunmore | Esposito | Fairweather |
            Gallagher | Hargreave | Ivanova | Jankowski | Kessler | Lachance | Mwangi | Nordin | O'Rourke |
            Pellegrini | Radcliffe | Sandoval | Tanaka | Underwood | Vasquez | Westbrook | Yilmaz |
            Zelenko | Adeyemi | Brightwater | Carvalho | Dahlberg | Eriksen | Fontaine | Gruber |
            Holloway | Iwasaki | Jovanovic | Kimura | Lowther | Marchetti | Nyberg | Oduya | Pruitt |
            Sorensen"""),
        "ORG": _names("""Northwind Bank | Bank of Avalon | United Freight | Helix Pharmaceuticals |
            Meridian Airways | Corvel | Stratos Energy | Bluewater Holdings | Kestrel Motors |
            Orbis Telecom | Ministry of Trade | Greenfield University | Institute of Marine Science |
            Silverline Media | Tandem Systems | Quarry Hill Mining | Redstone Capital | Altamira |
            Pryor & Sons | Lumen Labs | Civic Reform Party | Coastal Workers Union | Veltro |
            Amberly Foods | Crescent Insurance | Daybreak Press | Evergreen Trust | Foxglove Studios |
            Granite Rail | Ironleaf | United Nations | Reuters | NATO | Westmark Group |
            Pinecrest Hospital | Sterling Mutual | Atlas Cement | Nimbus Software"""),
        "CLUB": _names("""Riverside United | Port Elwood Rovers | Avalon City | Northgate Athletic |
            Harbor Wanderers | Kingsbridge FC | Redhill Rangers | Westford Albion | Sea Eagles"""),
        "LOC": _names("""New Harbor | Port Elwood | Avalon | Westford | Kingsbridge | Redhill | Northgate |
            Lake Mira | Silver Coast | Elmstead | Carrow Valley | Mount Tessel | San Lorenzo | Germany |
            Brazil | Japan | Kenya | Canada | Norway | Egypt | Chile | Vietnam | Portugal | Poland |
            Ghana | Peru | Berlin | Tokyo | Nairobi | Lisbon | Toronto | Cairo | Oslo | Lima | Mumbai |
            Rotterdam | New Zealand | South Africa | Buenos Aires | Hong Kong | Rio de Janeiro |
            Costa Rica"""),
        "NAT": _names("""German | Brazilian | Japanese | Kenyan | Canadian | Norwegian | Egyptian |
            Chilean | Portuguese | Polish | Dutch | Avalonian"""),
        "LANG": _names("English | Spanish | Arabic | Swahili | Mandarin | Portuguese"),
        "EVENT": _names("""World Cup | Winter Games | Avalon Open | Harbor Marathon | Olympic Games |
            Northern Film Festival | Grand Prix of Westford | Silver Coast Regatta"""),
        "PRIZE": _names("Golden Quill Award | Blue Star Medal | Meridian Prize | Harbor Cup"),
        "PRODUCT": _names("Kestrel K7 | Orbis One | Nimbus OS | Helix-9 | Stratos Solar Roof"),
    },
    "test": {
        "first": _names("""Bruno | Astrid | Dmitri | Chiara | Malik | Eva | Thabo | Lucia | Nikolai |
            Esther | Arjun | Freya | Jamal | Noor | Pavel | Camille | Theo | Selma | Ravi | Greta | Idris |
            Mira | Lars | Agnes | Emeka | Petra | Joaquin | Wanda | Caleb | Yara"""),
        "last": _names("""Quist | Renwick | Szabo | Tremblay | Ulloa | Voss | Wexley | Yamada | Zimmer |
            Aldana | Blackwood | Cardenas | Dobrev | Eklund | Fenwick | Grimaldi | Hollis | Ibarra |
            Juhasz | Kearney | Laszlo | Moravec | Nkemelu | Ostrowski | Pemberton | Rinaldi | Sato |
            Thackeray | Valdez | Whitfield"""),
        "ORG": _names("""Brightfield Bank | Bank of Calloway | Solano Freight | Vireo Pharmaceuticals |
            Cobalt Airways | Marisco | Tidewater Energy | Ridgeway Holdings | Falcon Ridge Motors |
            Polaris Telecom | Ministry of Health | Hawthorne College | Academy of Applied Arts |
            Copperline Media | Quanta Systems | Red Cross | World Bank | Liberty Labour Party |
            Harvest Grain Cooperative | Opaline | Stonebridge Capital | Mariner Shipping |
            Kingsway Hotels | Zephyr Robotics | Lantern Books"""),
        "CLUB": _names("""Calloway Town | Larkspur United | Eastmoor Athletic | Brackenridge Rovers |
            Solano City | Thornfield FC"""),
        "LOC": _names("""Larkspur | Calloway | Eastmoor | Brackenridge | Thornfield | Solano |
            Port Severn | Green Hollow | Lake Orin | Cape Merrow | Mexico | India | France | Sweden |
            Nigeria | Turkey | Argentina | Madrid | Seoul | Accra | Vienna | Santiago | Dublin | Hamburg |
            Saudi Arabia | Sri Lanka | Kuala Lumpur | Abu Dhabi | El Salvador"""),
        "NAT": _names("""Mexican | Indian | French | Swedish | Nigerian | Turkish | Argentine | Irish |
            Austrian | Korean"""),
        "LANG": _names("French | Italian | Bengali | Tagalog | Russian | Greek"),
        "EVENT": _names("""Champions Trophy | Coastal Games | Calloway Classic | Spring Book Fair |
            Autumn Jazz Festival | Eastmoor Marathon | Pan Island Cup"""),
        "PRIZE": _names("Silver Lantern Prize | Copper Crown Award | Thornfield Medal"),
        "PRODUCT": _names("Zephyr X2 | Polaris Max | Quanta Pad | Vireo-5"),
    },
}

#: Entity slots and their type. PER/LOC/AMBP/AMBL are built in :func:`_name`.
SLOT_TYPES = {"PER": "PER", "LAST": "PER", "AMBP": "PER", "ORG": "ORG", "CLUB": "ORG", "LOC": "LOC",
              "AMBL": "LOC", "NAT": "MISC", "LANG": "MISC", "EVENT": "MISC", "PRIZE": "MISC", "PRODUCT": "MISC"}

FILLERS = {
    "DAY": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "MONTH": "January February March April May June July August September October November December".split(),
    "ROLE": _names("""chairman | chief executive | spokeswoman | spokesman | finance director |
        head of research | founder | president | general manager | press officer"""),
}

FRAMES = [
    # business
    "{PER} , the {ROLE} of {ORG} , said on {DAY} that the company would open a new office in {LOC} .",
    "{ORG} shares rose {PCT} on {DAY} after the company reported a profit of {MONEY} .",
    "{ORG} agreed to buy {ORG} for {MONEY} , the two companies said in a statement .",
    "{ORG} will cut {NUM} jobs at its plant in {LOC} , a spokesman said .",
    "Analysts at {ORG} expect {NAT} exports to grow by {PCT} this year .",
    "{PER} joined {ORG} in {YEAR} and now runs its office in {LOC} .",
    "The {NAT} central bank left interest rates unchanged on {DAY} .",
    "{ORG} , based in {LOC} , makes parts for the {PRODUCT} .",
    "Sales of the {PRODUCT} fell {PCT} in {MONTH} , {ORG} said .",
    "{ORG} launched the {PRODUCT} in {LOC} on {DAY} .",
    "Sponsors include {ORG*} .",
    "{PER} , who has led {ORG} since {YEAR} , said on {DAY} that the group would sell its stake in "
    "{ORG} for {MONEY} and use the money to grow in {LOC*} .",
    # politics
    "{NAT} Prime Minister {PER} arrived in {LOC} on {DAY} for two days of talks .",
    "{PER} of {ORG} won {NUM} seats in the election in {LOC} .",
    "Talks between {LOC} and {LOC} ended without agreement , officials in {LOC} said .",
    "Foreign ministers from {LOC*} met in {LOC} on {DAY} .",
    "{ORG} called on {LOC} to release {NUM} prisoners .",
    "{PER} , a spokeswoman for {ORG} , declined to comment .",
    "Mr. {LAST} told reporters in {LOC} that the plan had failed .",
    "The {NAT} government said {NUM} people were hurt in {LOC} .",
    "Police in {LOC} arrested {NUM} people on {DAY} .",
    "In a statement issued in {LOC} on {DAY} , {ORG} said that {NUM} people had been killed and "
    "{NUM} injured in fighting near {LOC} , and asked both sides to respect the ceasefire .",
    # sports
    "{CLUB} beat {CLUB} {SCORE} on {DAY} , with {LAST} scoring twice .",
    "{PER} ( {LOC} ) won the final at the {EVENT} .",
    "{CLUB} team : {LAST*} .",
    "{PER} , {AGE} , will miss the {EVENT} with a knee injury .",
    "{LOC} will host the {YEAR} {EVENT} , organisers said on {DAY} .",
    "{LAST} , who joined {CLUB} from {CLUB} in {MONTH} , has scored {NUM} goals this season .",
    "{NAT} runner {PER} set a course record at the {EVENT} .",
    "{PER*} were named in the {NAT} squad for the {EVENT} .",
    "Results from the {EVENT} on {DAY} : {CLUB} {SCORE} {CLUB} .",
    # travel, culture, science
    "{PER} flew from {LOC} to {LOC} on {DAY} .",
    "The festival in {LOC} draws visitors from across {LOC} every {MONTH} .",
    "Most people in {LOC} speak {LANG} , but {LANG} is also widely used .",
    "The {PRIZE} was presented to {PER} at a ceremony in {LOC} .",
    "{PER} 's new novel , written in {LANG} , won the {PRIZE} .",
    "{PER} was born in {LOC} in {YEAR} and studied at {ORG} .",
    "Scientists at {ORG} in {LOC} have developed a cheaper test for the disease .",
    "Delegations from {LOC*} have arrived for the {EVENT} .",
    "Weather : rain in {LOC} , sun in {LOC} and snow in the hills .",
    "The {NAT} film , shot in {LOC} , opens the {EVENT} on {DAY} .",
    # quotes
    '" We are very happy with the result , " {PER} said .',
    '" {LOC} is ready , " said {PER} , the {ROLE} of {ORG} .',
    '{PER} said : " This is a good day for {LOC} and for {ORG} . "',
    '" It was a hard game , " {LAST} told {ORG} after the {EVENT} match .',
    # no entity
    "Shares fell {PCT} in early trading on {DAY} .",
    "The company said it expects profits to rise next year .",
    "Officials said {NUM} people were injured in the crash .",
    "The match ended {SCORE} after extra time .",
    "Prices rose {PCT} in {MONTH} , the fastest pace in {NUM} years .",
    "It was not clear when the talks would resume .",
    "The vote is expected on {DAY} .",
    "Score at half-time : {SCORE} .",
    "The new rules will take effect on {MONTH} {DATE} .",
    "The team has won {NUM} of its last {NUM} games .",
    "Both sides said they wanted a deal before the end of the year .",
    "Turnout was {PCT} , up from {PCT} at the last election .",
    '" We will not give up , " the {ROLE} said on {DAY} .',
    # ambiguous words as persons ...
    "{AMBP} , {AGE} , told reporters she was ready for the {EVENT} .",
    "Coach {AMBP} said her team had played well against {CLUB} .",
    "{AMBP} scored {NUM} points for {CLUB} on {DAY} .",
    '" I feel great , " said {AMBP} , who turns {AGE} next week .',
    "{AMBP} and his brother {PER} run a bakery in {LOC} .",
    # ... and as places
    "{PER} flew to {AMBL} on {DAY} for talks with {ORG} .",
    "The mayor of {AMBL} said the roads would reopen on {DAY} .",
    "Heavy rain hit {AMBL} and {LOC} on {DAY} , local officials said .",
    "{ORG} opened a factory near {AMBL} in {YEAR} .",
    "Hotels in {AMBL} were fully booked for the {EVENT} .",
]
TAILS = [", officials said", ", according to {ORG}", ", {ORG} reported",
         ", sources in {LOC} said", ", a report by {ORG} said"]
DATELINE = "{LOC} , {MONTH} {DATE} -"


def _name(rng: random.Random, slot: str, pool: Mapping[str, list]) -> str:
    """Draw one name for an entity slot (a string of space-separated tokens)."""
    if slot in ("AMBP", "AMBL"):
        return rng.choice(AMBIGUOUS)
    if slot == "LAST":
        return rng.choice(pool["last"])
    if slot == "LOC":  # one place in twenty is an ambiguous word
        return rng.choice(AMBIGUOUS) if rng.randrange(20) == 0 else rng.choice(pool["LOC"])
    if slot != "PER":
        return rng.choice(pool[slot])
    roll = rng.randrange(10)
    first = rng.choice(AMBIGUOUS) if roll == 0 else rng.choice(pool["first"])
    last = rng.choice(pool["last"])
    if roll <= 5:
        return f"{first} {last}"
    if roll == 6:
        return f"{first} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
    return last if roll <= 8 else first


def _filler(rng: random.Random, slot: str) -> str:
    """Draw the text of a filler slot (tagged O)."""
    if slot in FILLERS:
        return rng.choice(FILLERS[slot])
    if slot == "NUM":
        return str(rng.randrange(2, 500))
    if slot == "DATE":
        return str(rng.randrange(1, 29))
    if slot == "AGE":
        return str(rng.randrange(18, 80))
    if slot == "YEAR":
        return str(rng.randrange(1950, 2031))
    if slot == "PCT":
        return f"{rng.randrange(1, 20)}.{rng.randrange(10)} percent"
    if slot == "SCORE":
        winner = rng.randrange(1, 6)
        return f"{winner}-{rng.randrange(winner)}"
    if slot == "MONEY":
        amount = f"{rng.randrange(2, 900)} {rng.choice(['million', 'billion'])}"
        return f"{amount} {rng.choice(['dollars', 'euros', 'pounds'])}"
    raise KeyError(f"unknown slot {{{slot}}} in a frame")


def _add(tokens: list, tags: list, text: str, entity_type: str | None) -> None:
    """Append the tokens of ``text``, tagged B-/I-``entity_type`` (or O when None)."""
    for position, token in enumerate(text.split()):
        tokens.append(token)
        tags.append("O" if entity_type is None else ("B-" if position == 0 else "I-") + entity_type)


def _sentence(rng: random.Random, pool: Mapping[str, list]) -> Sentence:
    """Fill one randomly chosen frame (with an optional tail and dateline)."""
    frame = rng.choice(FRAMES)
    if '"' not in frame and rng.randrange(5) == 0:
        frame = frame[:-2] + " " + rng.choice(TAILS) + " ."  # every such frame ends in " ."
    if rng.randrange(10) == 0:
        frame = DATELINE + " " + frame
    tokens, tags, used = [], [], []
    for piece in frame.split():
        if not (piece.startswith("{") and piece.endswith("}")):
            _add(tokens, tags, piece, None)
            continue
        slot = piece[1:-1]
        is_list = slot.endswith("*")
        slot = slot.rstrip("*")
        if slot not in SLOT_TYPES:
            _add(tokens, tags, _filler(rng, slot), None)
            continue
        count = rng.randrange(2, 6) if is_list else 1
        for index in range(count):
            if index > 0:  # A , B , C and D
                _add(tokens, tags, "," if index < count - 1 else "and", None)
            name = _name(rng, slot, pool)
            for _ in range(20):  # the same name twice in one sentence reads oddly
                if name not in used:
                    break
                name = _name(rng, slot, pool)
            used.append(name)
            _add(tokens, tags, name, SLOT_TYPES[slot])
    return Sentence(tokens, tags)


def check_sizes(sizes: Mapping[str, int] | None, defaults: Mapping[str, int] = DEFAULT_SIZES) -> dict:
    """``defaults`` updated with ``sizes`` (split -> number of items), every value checked.

    Shared by the course's generators (this module, :mod:`lablib.reviews`).
    """
    merged = dict(defaults)
    for split, size in (sizes or {}).items():
        if split not in defaults:
            raise ValueError(f"sizes: unknown split {split!r}; allowed: {', '.join(defaults)}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"sizes[{split!r}] must be an int >= 0, got {size!r}")
        merged[split] = size
    return merged


def generate(seed: int = DEFAULT_SEED, sizes: Mapping[str, int] | None = None) -> dict:
    """Generate the corpus: ``{"train": [...], "validation": [...], "test": [...]}`` of Sentences.

    ``sizes`` maps a split to its number of sentences; splits it leaves out get
    :data:`DEFAULT_SIZES`. The same ``seed`` and ``sizes`` give the same
    sentences on every platform and Python version (see the module docstring;
    the NER lab, ``labs/03_ner_finetuning.ipynb``, explains the data set).

    Raises:
        ValueError: a seed that is not an int, an unknown split, or a negative size.
        RuntimeError: the pools cannot fill the requested sizes with new sentences.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"generate: seed must be an int, got {seed!r}")
    sizes = check_sizes(sizes)
    seen = set()  # token tuples of all sentences so far; only used for membership tests
    corpus = {}
    for split in SPLITS:
        rng = random.Random(f"embedded-ner-{seed}-{split}")
        pool = POOLS["test" if split == "test" else "train"]
        sentences, tries = [], 0
        while len(sentences) < sizes[split]:
            tries += 1
            if tries > 50 * sizes[split] + 1000:
                raise RuntimeError(f"generate: could not make {sizes[split]} distinct {split} sentences")
            sentence = _sentence(rng, pool)
            key = tuple(sentence.tokens)
            if MIN_TOKENS <= len(key) <= MAX_TOKENS and key not in seen:
                seen.add(key)
                sentences.append(sentence)
        corpus[split] = sentences
    return corpus


def entities(tokens: Iterable[str], tags: Iterable[str]) -> list:
    """The entities of one sentence as ``(type, text)`` pairs, in order.

    An ``I-X`` that does not continue an entity of type X starts a new one
    (as conlleval reads it).
    """
    found = []  # [type, [tokens]] per entity
    previous = "O"
    for token, tag in zip(tokens, tags):
        if tag == "O":
            previous = tag
            continue
        prefix, entity_type = tag.split("-", 1)
        if prefix == "I" and previous != "O" and previous[2:] == entity_type:
            found[-1][1].append(token)
        else:
            found.append([entity_type, [token]])
        previous = tag
    return [(entity_type, " ".join(words)) for entity_type, words in found]


def entity_strings(sentences: Iterable) -> dict:
    """The distinct entity strings of each type: ``{"PER": [sorted strings], ...}``."""
    found = {entity_type: set() for entity_type in ENTITY_TYPES}
    for tokens, tags in sentences:
        for entity_type, text in entities(tokens, tags):
            found[entity_type].add(text)
    return {entity_type: sorted(texts) for entity_type, texts in found.items()}
