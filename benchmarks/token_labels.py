"""Benchmark: wrong token tags (NER, POS), assay vs cleanlab's token_classification module.

GENERATED corpora (nothing is downloaded; there is no tagged corpus on the machine), seeded:

- ``ner_news``: English news-style sentences in IOB2 (B-/I- PER, LOC, ORG, MISC and O) from
  56 sentence templates (with optional intros and tails) whose slots are filled from
  hand-written lists (about 210 first and last names, 200 cities, countries and regions, 86
  companies, institutions and clubs, 30 nationalities, 10 events) and, for 40 % of the names,
  from a synthetic long tail (names built from syllables, drawn with Zipf weights, some taken
  from another type's pool), with names that are ambiguous between types (``Jordan``,
  ``Washington``, ``Georgia``, ``Chelsea``: person or place; ``Ford``, ``Dell``: person or
  company; ``Barcelona``, ``Liverpool``: club or city), multi-token entities (``Bank of
  America``, ``Rio de Janeiro``), capitalised words that are not entities (days, months,
  sentence-initial words) and 5 % of the sentences lowercased;
- ``ner_social``: the same entities in short, lowercased social-media style templates
  (capitalisation no longer tells an entity; a weaker model);
- ``pos``: Universal POS tags (NOUN VERB ADJ ADV ADP DET PRON PROPN AUX CCONJ SCONJ NUM PART
  PUNCT) from a small probabilistic grammar (clauses, noun phrases with adjectives and
  prepositional phrases, auxiliaries, negation, infinitives, coordination, subordinate clauses)
  over about 700 hand-written word forms and a synthetic long tail for half of the nouns,
  verbs, adjectives and adverbs, many ambiguous so that context decides (``run``, ``book``,
  ``light``, ``watch``, ``plan`` as NOUN or VERB; ``runs``, ``books`` as plural NOUN or VERB;
  ``fast``, ``hard``, ``late`` as ADJ or ADV; ``that`` as DET, PRON or SCONJ; ``to`` as ADP or
  PART; ``before``, ``after`` as ADP or SCONJ).

Errors: 5 % of the sentences get 1 or 2 tags changed to a plausible confusion (B-PER <-> B-LOC,
B-ORG <-> B-LOC, the entity's I- tags along or not, I- -> B-, B- -> I-, entity -> O, O ->
B-MISC on a capitalised word; NOUN <-> VERB, ADJ <-> ADV, ADJ <-> NOUN, PROPN <-> NOUN, DET <->
PRON, ADP <-> SCONJ, ADP <-> ADV). Seeds 0, 1, 2.

Each corpus is written as a CoNLL file and read back with :func:`assay.tokens.read_conll`;
:func:`assay.tokens.cross_fit_token_probs` gives out-of-fold probabilities (5 folds by
sentence), and both tools get the SAME probabilities in the same run:

- assay: :func:`assay.tokens.find_token_issues`;
- cleanlab 2.9: ``token_classification.filter.find_label_issues`` (flags) and
  ``token_classification.rank.get_label_quality_scores`` (sentence scores), lists per sentence.

Reported, mean over seeds: token F1 and sentence F1 of the flags, AUPRC of the sentence scores,
tokens flagged, assay's estimated number of wrong tags against the truth and its reliability
call, the model's token accuracy and the majority-tag share, seconds (cross-fit, each tool);
then the alternatives the method was chosen from (on the same probabilities), the
inconsistency signal's precision and recall, the reliability call on shuffled tags and small
corpora, and ``cross_fit_token_probs`` + ``find_token_issues`` on a generated corpus of about
1,000,000 tokens (run first, so that the peak resident memory is its own).

Run: ``python benchmarks/token_labels.py`` (about 3 minutes on a 2-core VM; ``--quick``: 1 seed
and 200,000 tokens for the scale run; ``--models``: only the comparison of candidate models).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------
# Word lists (hand-written)

FIRST = """James John Robert Michael William David Richard Joseph Thomas Charles Christopher
Daniel Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Edward
Ronald Timothy Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott
Brandon Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa
Betty Margaret Sandra Ashley Kimberly Emily Donna Michelle Carol Amanda Dorothy Melissa Deborah
Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy Angela Anna Helmut Angela Jacques Pierre
Hans Giovanni Marco Carlos Juan Luis Yuki Hiroshi Wei Ling Ahmed Fatima Olga Ivan Sergei Ingrid
Lars Sven Priya Raj Kofi Nelson Boris Emmanuel Vladimir Xi Jair Recep Narendra""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez
Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White
Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen
Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Kohl Merkel
Chirac Dupont Rossi Bianchi Schmidt Schneider Fischer Weber Tanaka Suzuki Sato Wang Zhang Chen
Khan Patel Singh Ivanov Petrov Larsen Berg Annan Mandela Yeltsin Macron Putin Modi Erdogan
Bolsonaro Kowalski Novak Murphy Kelly Sullivan""".split()
#: first names that are also places, companies or common words (the model needs context)
AMBIG_PER = ["Jordan", "Washington", "Georgia", "Chelsea", "Florence", "Sydney", "Austin",
             "Houston", "Lincoln", "Madison", "Victoria", "Charlotte", "Paris", "Dallas",
             "Ford", "Dell", "Kent", "Chase", "Jackson"]
CITY = """London Berlin Madrid Rome Moscow Tokyo Beijing Shanghai Mumbai Delhi Cairo Lagos
Nairobi Toronto Chicago Boston Seattle Denver Miami Atlanta Detroit Vienna Prague Warsaw
Budapest Athens Lisbon Dublin Oslo Stockholm Helsinki Copenhagen Brussels Amsterdam Geneva
Zurich Munich Frankfurt Hamburg Milan Naples Turin Barcelona Seville Marseille Lyon Istanbul
Ankara Tehran Baghdad Riyadh Dubai Karachi Lahore Dhaka Bangkok Jakarta Manila Seoul Osaka
Melbourne Auckland Lima Bogota Santiago Caracas Havana Montreal Vancouver Liverpool Manchester
Leeds Glasgow Edinburgh Cardiff Belfast Kiev Minsk Riga Tallinn Vilnius Sofia Bucharest
Belgrade Zagreb""".split()
CITY_MULTI = ["New York", "Los Angeles", "San Francisco", "Rio de Janeiro", "Buenos Aires",
              "Hong Kong", "Cape Town", "New Delhi", "Kuala Lumpur", "Abu Dhabi", "Tel Aviv",
              "Mexico City", "Sao Paulo", "St. Petersburg", "Las Vegas", "San Diego",
              "New Orleans", "Salt Lake City"]
COUNTRY = """France Germany Italy Spain Portugal Britain Ireland Russia China Japan India
Pakistan Iran Iraq Israel Egypt Nigeria Kenya Ethiopia Brazil Argentina Chile Peru Colombia
Venezuela Mexico Canada Australia Indonesia Thailand Vietnam Turkey Greece Poland Ukraine
Sweden Norway Finland Denmark Belgium Netherlands Switzerland Austria Hungary Romania Bulgaria
Serbia Croatia Cuba Syria Lebanon Morocco Algeria Tunisia Libya Ghana""".split()
COUNTRY_MULTI = ["United States", "South Africa", "New Zealand", "Saudi Arabia", "South Korea",
                 "North Korea", "Costa Rica", "Sri Lanka", "Czech Republic", "United Kingdom"]
REGION = """California Texas Florida Ohio Michigan Bavaria Scotland Wales Siberia Kashmir
Catalonia Quebec Ontario Alaska Oregon Nevada Arizona Tuscany Normandy Bengal""".split()
AMBIG_LOC = ["Jordan", "Washington", "Georgia", "Chelsea", "Florence", "Sydney", "Austin",
             "Houston", "Lincoln", "Madison", "Victoria", "Charlotte", "Paris", "Dallas",
             "Kent", "Phoenix", "Amazon", "Jackson"]
ORG = """Microsoft Google Apple Amazon IBM Intel Oracle Siemens Volkswagen Toyota Honda Sony
Samsung Nokia Ericsson Philips Unilever Nestle Shell BP Exxon Chevron Boeing Airbus Pfizer
Novartis Roche Bayer Reuters Ford Dell Disney Netflix Walmart Target Delta Lufthansa Fiat
Renault Peugeot Gazprom Alibaba Tencent Huawei NATO UNESCO UNICEF Interpol Greenpeace Chelsea
Barcelona Liverpool Juventus Arsenal Ajax""".split()
ORG_MULTI = ["General Motors", "Goldman Sachs", "Deutsche Bank", "Bank of America",
             "United Nations", "World Health Organization", "Federal Reserve", "European Union",
             "Stanford University", "University of Michigan", "Manchester United",
             "Real Madrid", "Bayern Munich", "New York Times", "Wall Street Journal",
             "Morgan Stanley", "Credit Suisse", "British Airways", "Air France",
             "International Monetary Fund", "World Bank", "Red Cross", "Supreme Court",
             "Ford Motor", "Dell Technologies", "Apple Inc.", "Royal Dutch Shell",
             "Jordan Brand", "Washington Post", "Houston Rockets", "Chicago Bulls"]
MISC = ["American", "British", "French", "German", "Italian", "Spanish", "Russian", "Chinese",
        "Japanese", "Indian", "Brazilian", "Mexican", "Canadian", "Australian", "European",
        "African", "Asian", "Olympic", "Christian", "Muslim", "Jewish", "Catholic", "Dutch",
        "Swedish", "Turkish", "Iranian", "Israeli", "Egyptian", "Korean", "Polish"]
MISC_MULTI = ["World Cup", "Olympic Games", "Tour de France", "Champions League",
              "Nobel Prize", "Super Bowl", "Grand Prix", "Cold War", "Davis Cup", "Euro 2024"]
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = """January February March April May June July August September October November
December""".split()
JOB = ["chief executive", "president", "spokesman", "spokeswoman", "chairman", "minister",
       "director", "analyst", "coach", "lawyer", "economist", "official", "striker",
       "founder", "ambassador", "governor", "mayor", "senator", "professor", "manager"]
NEWS_NOUN = ["shares", "profits", "talks", "prices", "sales", "the deal", "the market",
             "the plan", "the vote", "the match", "the election", "the report", "the merger",
             "the strike", "the contract", "the game", "the summit", "the tax", "the bill",
             "the season", "the rally", "growth", "inflation", "the loan", "the offer"]
VERB_SAID = ["said", "told", "announced", "warned", "added", "argued", "insisted",
             "confirmed", "denied", "reported", "claimed", "suggested"]
VERB_DID = ["rose", "fell", "jumped", "slipped", "climbed", "dropped", "surged", "collapsed",
            "stalled", "resumed", "ended", "began", "improved", "recovered"]
ADJ_NEWS = ["strong", "weak", "higher", "lower", "early", "late", "final", "new", "major",
            "surprise", "annual", "quarterly", "record", "modest", "sharp", "slow"]

# --------------------------------------------------------------------------------------------
# Synthetic words: a long tail of names and words seen once or never in training, as in real
# text (the hand-written lists alone are memorised: a linear model then reaches 99.9 %)

ONSET = ["b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m", "n",
         "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z", ""]
VOWEL = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "ia"]
CODA = ["", "", "n", "r", "s", "l", "m", "st", "nd", "rk", "th", "x"]
PER_SUFFIX = ["son", "ez", "ski", "ova", "ini", "sen", "berg", "ov", "elli", "ic", "", "", ""]
LOC_SUFFIX = ["burg", "ville", "ton", "ford", "ia", "stan", "land", "port", "field", "", ""]
LOC_PREFIX = ["Port", "San", "Lake", "North", "East", "Fort", "Mount", "New"]
ORG_SUFFIX = ["Corp", "Systems", "Group", "Holdings", "Labs", "Bank", "Airlines", "Motors",
              "Energy", "Partners", "Media", "Pharma", "Capital", "Foods", "Telecom"]


def _stem(rng: np.random.Generator, n_syll: int) -> str:
    return "".join(ONSET[rng.integers(len(ONSET))] + VOWEL[rng.integers(len(VOWEL))]
                   + CODA[rng.integers(len(CODA))] for _ in range(n_syll))


def _zipf_pool(words: list, rng: np.random.Generator, a: float = 1.1):
    """A sampler drawing from ``words`` with Zipf weights (rank^-a)."""
    w = 1.0 / np.arange(1, len(words) + 1) ** a
    w /= w.sum()
    return lambda r: words[r.choice(len(words), p=w)]


class Lexicon:
    """Synthetic names for one corpus: about 1,500 per entity type, drawn with Zipf weights."""

    def __init__(self, rng: np.random.Generator, n: int = 1500) -> None:
        per = [(_stem(rng, 1 + rng.integers(2)) + PER_SUFFIX[rng.integers(len(PER_SUFFIX))])
               .capitalize() for _ in range(n)]
        loc = []
        for _ in range(n):
            name = (_stem(rng, 1 + rng.integers(2)) + LOC_SUFFIX[rng.integers(len(LOC_SUFFIX))]
                    ).capitalize()
            loc.append(f"{LOC_PREFIX[rng.integers(len(LOC_PREFIX))]} {name}"
                       if rng.random() < 0.15 else name)
        org = []
        for _ in range(n):
            name = _stem(rng, 1 + rng.integers(3)).capitalize()
            r = rng.random()
            org.append(f"{name} {ORG_SUFFIX[rng.integers(len(ORG_SUFFIX))]}" if r < 0.6 else
                       name.upper()[:3 + rng.integers(2)] if r < 0.75 else name)
        self.per, self.loc, self.org = (_zipf_pool(v, rng) for v in (per, loc, org))
        self.first = _zipf_pool([_stem(rng, 2).capitalize() for _ in range(n // 3)], rng)


# --------------------------------------------------------------------------------------------
# NER templates: slots are {PER} {PERF} (full name) {LOC} {CITY} {COUNTRY} {ORG} {MISC}
# {MISCX} (multi-token event) {DAY} {MONTH} {NUM} {JOB} {NOUN} {SAID} {DID} {ADJ}

NEWS_TEMPLATES = [
    "{PERF} , {JOB} of {ORG} , {SAID} on {DAY} that {NOUN} {DID} .",
    "{ORG} {SAID} {NOUN} {DID} {NUM} percent in {MONTH} .",
    "{PER} {SAID} reporters in {CITY} that the company would cut {NUM} jobs .",
    "Shares of {ORG} {DID} after the {ADJ} results .",
    "The {MISC} government {SAID} it would send troops to {COUNTRY} .",
    "{PERF} will meet {PERF} in {CITY} next week .",
    "{ORG} agreed to buy {ORG} for {NUM} million dollars .",
    "In {CITY} , police {SAID} {NUM} people were hurt .",
    "{PERF} won the {MISCX} in {CITY} on {DAY} .",
    "{PER} scored twice as {ORG} beat {ORG} {NUM} - {NUM} .",
    "The {JOB} of {COUNTRY} , {PERF} , arrived in {CITY} on {DAY} .",
    "{NOUN} {DID} on {DAY} as investors waited for the {ORG} decision .",
    "Talks between {COUNTRY} and {COUNTRY} {DID} in {CITY} .",
    "{PERF} , who founded {ORG} , {SAID} the {MISC} market was {ADJ} .",
    "Rain delayed the {MISCX} match in {CITY} .",
    "{ORG} opened a new office in {LOC} .",
    "Mr. {PER} {SAID} he would stay at {ORG} until {MONTH} .",
    "Ms. {PER} left {CITY} for {COUNTRY} in {MONTH} .",
    "The {ADJ} storm hit {REGION} on {DAY} .",
    "{PERF} told the {ORG} that {NOUN} {DID} .",
    "Voters in {REGION} {DID} to back {PER} .",
    "{ORG} , based in {CITY} , {SAID} {NOUN} {DID} {NUM} percent .",
    "{MISC} and {MISC} officials met in {CITY} on {DAY} .",
    "{PER} joined {ORG} from {ORG} in {MONTH} .",
    "A spokesman for {ORG} declined to comment .",
    "{NOUN} {DID} sharply on {DAY} .",
    "The {MISC} team arrived in {COUNTRY} for the {MISCX} .",
    "{PERF} , the {JOB} , was born in {LOC} .",
    "{PER} 's visit to {LOC} was cancelled .",
    "Analysts at {ORG} expect {NOUN} to stay {ADJ} .",
    "Flights from {CITY} to {CITY} were suspended on {DAY} .",
    "{COUNTRY} beat {COUNTRY} {NUM} - {NUM} in the {MISCX} .",
    "{PERF} , {NUM} , died in {CITY} on {DAY} .",
    "The {JOB} said {ORG} would not raise prices in {MONTH} .",
    "{ORG} reported {ADJ} profits for the year .",
    "Protesters gathered outside the {ORG} offices in {CITY} .",
    "{PER} said {PER} was wrong about {COUNTRY} .",
    "Last {MONTH} , {PER} moved to {LOC} .",
    "On {DAY} , {ORG} {SAID} it had hired {PERF} .",
    "The company is based in {LOC} .",
    "Prices in {COUNTRY} {DID} {NUM} percent in {MONTH} .",
    "{PERF} of {ORG} {SAID} the talks were {ADJ} .",
    "Investors sold {ORG} shares after the report .",
    "She flew to {LOC} to meet {PER} .",
    "He played for {ORG} before joining {ORG} .",
    "Police in {LOC} arrested {NUM} people .",
    "The {MISCX} will be held in {COUNTRY} .",
    "{PER} and {PER} both denied the report .",
    "Oil prices {DID} as {MISC} output {DID} .",
    "The deal with {ORG} {DID} in {MONTH} .",
    "{ANY} {SAID} on {DAY} that {NOUN} {DID} .",
    "{ANY} {SAID} the {NOUN} was {ADJ} .",
    "{ANY} 's {NOUN} {DID} in {MONTH} .",
    "Officials from {ANY} and {ANY} met on {DAY} .",
    "{ANY} has not commented .",
    "According to {ANY} , {NOUN} {DID} {NUM} percent .",
]
NEWS_INTRO = ["On {DAY} ,", "Last {MONTH} ,", "In {LOC} ,", "According to {ANY} ,",
              "Meanwhile ,", "Earlier ,", "After talks with {ANY} ,", "{ANY} said that",
              "As expected ,", "Despite the {NOUN} ,", "Speaking in {LOC} ,", "However ,",
              "{PERF} said"]
NEWS_TAIL = ["in {LOC}", "on {DAY}", ", {ANY} said", ", according to {ANY}", "last {MONTH}",
             "after meeting {ANY}", "with {ANY}", ", sources at {ORG} said",
             "despite {ADJ} {NOUN}", "for the first time since {MONTH}", "near {LOC}"]
SOCIAL_TAIL = ["lol", "smh", "!!", "{ANY} ftw", "ask {PER}", "cc {ANY}", "tbh", "ugh", "yay"]
SOCIAL_TEMPLATES = [
    "{PER} is so good lol",
    "omg {ANY} in {LOC} tonight",
    "just landed in {ANY} !!",
    "{ORG} customer service is the worst",
    "anyone else watching {ANY} vs {ORG} ?",
    "cant believe {ANY} left {ORG}",
    "flying to {ANY} with {PER} tomorrow",
    "{ANY} stock {DID} again smh",
    "love {CITY} in {MONTH}",
    "who else is going to the {MISCX} ?",
    "{ANY} for president",
    "new {ORG} phone is {ADJ}",
    "stuck at {ANY} airport for {NUM} hours",
    "{PER} just followed me !!",
    "moving to {ANY} next {MONTH}",
    "{ORG} just hired {ANY} wow",
    "the {MISC} food in {CITY} is amazing",
    "{ANY} said {NOUN} {DID}",
    "watching the game at {PER} 's place",
    "bought a {ANY} laptop today",
    "{LOC} weather is crazy today",
    "is {ANY} from {LOC} ?",
    "go {ANY} !!!",
    "{PER} and {ANY} in {CITY} lol",
    "my flight to {ANY} got cancelled",
    "{ORG} vs {ANY} tonight",
    "never going back to {CITY}",
    "thanks {ANY} for the ride",
    "working at {ORG} is {ADJ}",
    "{DAY} in {ANY} with the fam",
    "{ANY} is trending again",
    "lol {ANY} {DID}",
    "so proud of {ANY}",
    "{ANY} just posted",
]


#: share of entity mentions drawn from the synthetic long tail (the rest from the hand lists)
SYNTHETIC_SHARE = 0.4
#: share of the synthetic names taken from another entity type's pool
CROSS_TYPE_SHARE = 0.2


def _ner_slot(slot: str, rng: np.random.Generator, lex: Lexicon) -> tuple[list[str], str]:
    """Tokens of a slot filler and its entity type ('' for O)."""
    def pick(seq):
        return seq[rng.integers(len(seq))]

    synth = rng.random() < SYNTHETIC_SHARE
    if synth and slot in ("PER", "ORG", "CITY", "REGION") and rng.random() < CROSS_TYPE_SHARE:
        # a name from another type's pool, as "Jordan", "Ford" or "Chelsea" are
        name = (lex.per, lex.org, lex.loc)[rng.integers(3)](rng).split()
        return name, {"PER": "PER", "ORG": "ORG"}.get(slot, "LOC")
    if slot == "ANY":  # a context that does not tell the type: "{ANY} said ..."
        slot = ("PER", "ORG", "LOC")[rng.choice(3, p=[0.45, 0.4, 0.15])]
    if slot == "PER":
        if synth:
            return [lex.per(rng)], "PER"
        r = rng.random()
        if r < 0.15:
            return [pick(AMBIG_PER)], "PER"
        return [pick(LAST) if r < 0.6 else pick(FIRST)], "PER"
    if slot == "PERF":
        first = lex.first(rng) if synth else pick(AMBIG_PER) if rng.random() < 0.12 else pick(
            FIRST)
        last = lex.per(rng) if synth or rng.random() < 0.3 else pick(LAST)
        if rng.random() < 0.1:
            return [first, f"{chr(65 + rng.integers(26))}.", last], "PER"
        return [first, last], "PER"
    if slot == "CITY":
        if synth:
            return lex.loc(rng).split(), "LOC"
        r = rng.random()
        name = pick(CITY_MULTI) if r < 0.2 else pick(AMBIG_LOC) if r < 0.3 else pick(CITY)
        return name.split(), "LOC"
    if slot == "COUNTRY":
        name = pick(COUNTRY_MULTI) if rng.random() < 0.2 else pick(COUNTRY)
        return name.split(), "LOC"
    if slot == "REGION":
        return ([lex.loc(rng)] if synth else [pick(REGION + AMBIG_LOC[:4])]), "LOC"
    if slot == "LOC":
        return _ner_slot(("CITY", "COUNTRY", "REGION")[rng.choice(3, p=[0.6, 0.3, 0.1])], rng,
                         lex)
    if slot == "ORG":
        if synth:
            return lex.org(rng).split(), "ORG"
        return (pick(ORG_MULTI) if rng.random() < 0.35 else pick(ORG)).split(), "ORG"
    if slot == "MISC":
        return [pick(MISC)], "MISC"
    if slot == "MISCX":
        return pick(MISC_MULTI).split(), "MISC"
    if slot == "DAY":
        return [pick(DAYS)], ""
    if slot == "MONTH":
        return [pick(MONTHS)], ""
    if slot == "NUM":
        return [str(int(rng.integers(1, 100)) if rng.random() < 0.8
                    else rng.integers(100, 5000))], ""
    if slot == "JOB":
        return pick(JOB).split(), ""
    if slot == "NOUN":
        return pick(NEWS_NOUN).split(), ""
    if slot == "SAID":
        return [pick(VERB_SAID)], ""
    if slot == "DID":
        return [pick(VERB_DID)], ""
    if slot == "ADJ":
        return [pick(ADJ_NEWS)], ""
    raise KeyError(slot)


def ner_sentence(template: str, rng: np.random.Generator, lex: Lexicon, *,
                 lower: bool) -> tuple[list, list]:
    tokens, tags = [], []
    for part in template.split():
        if part.startswith("{") and part.endswith("}") and len(part) > 2:
            words, kind = _ner_slot(part[1:-1], rng, lex)
            for i, w in enumerate(words):
                tokens.append(w)
                tags.append("O" if not kind else ("B-" if i == 0 else "I-") + kind)
        else:
            tokens.append(part)
            tags.append("O")
    if lower:
        tokens = [t.lower() for t in tokens]
    return tokens, tags


def ner_corpus(n_sentences: int, rng: np.random.Generator, *, social: bool = False,
               lower_share: float = 0.05) -> tuple[list[list[str]], list[list[str]]]:
    """``n_sentences`` generated NER sentences: (tokens per sentence, IOB2 tags per sentence)."""
    lex = Lexicon(rng)
    templates = SOCIAL_TEMPLATES if social else NEWS_TEMPLATES
    sents, tags = [], []
    for _ in range(n_sentences):
        t = templates[rng.integers(len(templates))]
        if not social:  # an intro and a tail vary the context around the main clause
            if rng.random() < 0.4:
                head, rest = t.split(" ", 1)
                head = head if head.startswith("{") or head in ("Mr.", "Ms.") else head.lower()
                t = f"{NEWS_INTRO[rng.integers(len(NEWS_INTRO))]} {head} {rest}"
            if rng.random() < 0.35:
                t = f"{t[:-2]} {NEWS_TAIL[rng.integers(len(NEWS_TAIL))]} ."
        elif rng.random() < 0.3:
            t = f"{t} {SOCIAL_TAIL[rng.integers(len(SOCIAL_TAIL))]}"
        lower = social or rng.random() < lower_share
        toks, tg = ner_sentence(t, rng, lex, lower=lower)
        sents.append(toks)
        tags.append(tg)
    return sents, tags


# --------------------------------------------------------------------------------------------
# POS: a small probabilistic grammar

NOUNS = """time year people way day man woman child world life hand part place case week
company system program question government number night point home water room mother area
money story fact month lot right study book eye job word business issue side kind head house
service friend father power hour game line end member law car city community name president
team minute idea kid body information school face others level office door health person art
war history party result change morning reason research girl guy moment air teacher force
education food garden river window village market letter road table garage kitchen bottle
song dog cat horse bird paper phone computer picture box bag shirt coat bridge island hill
forest farm field light watch run walk play ship plan report answer drink fire sign stop talk
visit work call dance dream drive fish guide hope judge park race rest ride shop smile test
train turn check fall file film form guard hit lead list look need order press record return
ring rule saw set show sleep sound start step store swim taste touch trade travel trust wave
view cook mark rain love building meeting painting opening reading training feeling
morning evening wedding""".split()
#: verbs: (base, 3rd person singular, past, gerund)
VERBS = [(v, v + "s" if not v.endswith(("s", "sh", "ch", "x")) else v + "es",
          p, g) for v, p, g in [
    ("run", "ran", "running"), ("book", "booked", "booking"), ("light", "lit", "lighting"),
    ("watch", "watched", "watching"), ("walk", "walked", "walking"),
    ("play", "played", "playing"), ("ship", "shipped", "shipping"),
    ("plan", "planned", "planning"), ("report", "reported", "reporting"),
    ("answer", "answered", "answering"), ("drink", "drank", "drinking"),
    ("fire", "fired", "firing"), ("sign", "signed", "signing"), ("stop", "stopped", "stopping"),
    ("talk", "talked", "talking"), ("visit", "visited", "visiting"),
    ("work", "worked", "working"), ("call", "called", "calling"),
    ("dance", "danced", "dancing"), ("dream", "dreamed", "dreaming"),
    ("drive", "drove", "driving"), ("fish", "fished", "fishing"),
    ("guide", "guided", "guiding"), ("hope", "hoped", "hoping"), ("judge", "judged", "judging"),
    ("park", "parked", "parking"), ("race", "raced", "racing"), ("rest", "rested", "resting"),
    ("ride", "rode", "riding"), ("shop", "shopped", "shopping"), ("smile", "smiled", "smiling"),
    ("test", "tested", "testing"), ("train", "trained", "training"),
    ("turn", "turned", "turning"), ("check", "checked", "checking"), ("fall", "fell", "falling"),
    ("file", "filed", "filing"), ("film", "filmed", "filming"), ("form", "formed", "forming"),
    ("guard", "guarded", "guarding"), ("hit", "hit", "hitting"), ("lead", "led", "leading"),
    ("list", "listed", "listing"), ("look", "looked", "looking"), ("need", "needed", "needing"),
    ("order", "ordered", "ordering"), ("press", "pressed", "pressing"),
    ("record", "recorded", "recording"), ("return", "returned", "returning"),
    ("ring", "rang", "ringing"), ("rule", "ruled", "ruling"), ("set", "set", "setting"),
    ("show", "showed", "showing"), ("sleep", "slept", "sleeping"),
    ("sound", "sounded", "sounding"), ("start", "started", "starting"),
    ("step", "stepped", "stepping"), ("store", "stored", "storing"),
    ("swim", "swam", "swimming"), ("taste", "tasted", "tasting"),
    ("touch", "touched", "touching"), ("trade", "traded", "trading"),
    ("travel", "traveled", "traveling"), ("trust", "trusted", "trusting"),
    ("wave", "waved", "waving"), ("view", "viewed", "viewing"), ("cook", "cooked", "cooking"),
    ("mark", "marked", "marking"), ("love", "loved", "loving"), ("see", "saw", "seeing"),
    ("find", "found", "finding"), ("give", "gave", "giving"), ("take", "took", "taking"),
    ("make", "made", "making"), ("know", "knew", "knowing"), ("get", "got", "getting"),
    ("tell", "told", "telling"), ("bring", "brought", "bringing"),
    ("write", "wrote", "writing"), ("read", "read", "reading"), ("buy", "bought", "buying"),
    ("sell", "sold", "selling"), ("leave", "left", "leaving"), ("meet", "met", "meeting"),
    ("open", "opened", "opening"), ("close", "closed", "closing"), ("help", "helped", "helping"),
    ("move", "moved", "moving"), ("paint", "painted", "painting"), ("climb", "climbed",
                                                                     "climbing"),
    ("cover", "covered", "covering"), ("cut", "cut", "cutting"), ("carry", "carried",
                                                                  "carrying"),
    ("follow", "followed", "following"), ("build", "built", "building"),
    ("clean", "cleaned", "cleaning"), ("wash", "washed", "washing"), ("fix", "fixed", "fixing"),
]]
TRANSITIVE = {"see", "find", "give", "take", "make", "know", "get", "tell", "bring", "write",
              "read", "buy", "sell", "leave", "meet", "open", "close", "help", "paint", "climb",
              "cover", "cut", "carry", "follow", "build", "clean", "wash", "fix", "book",
              "light", "watch", "play", "ship", "plan", "report", "answer", "drink", "fire",
              "sign", "stop", "visit", "call", "drive", "guide", "judge", "park", "test",
              "train", "check", "file", "film", "form", "guard", "hit", "lead", "list", "need",
              "order", "press", "record", "return", "ring", "set", "show", "start", "store",
              "taste", "touch", "trade", "trust", "view", "cook", "mark", "love"}
ADJS = """good new old great high small large big long young important bad little different
local black white red blue green dark light fast hard late early right straight low kind fine
close long daily cold warm hot quiet loud happy sad strange simple clear full empty heavy
rich poor cheap safe easy short tall wide deep thin busy real open free ready nice bright
quick slow wet dry clean fresh sweet closed painted fixed cleaned trained used tired
broken open left""".split()
ADVS = """fast hard late early right straight low daily well quickly slowly often never always
soon again still even already here there now today yesterday together finally really almost
quite very rather back away""".split()
DEGREE = ["very", "quite", "rather", "really"]
DETS = ["the", "a", "this", "that", "every", "some", "no", "each", "my", "our", "their",
        "his"]
PRON_SUBJ = ["I", "you", "he", "she", "we", "they", "it", "someone", "everyone", "that"]
PRON_OBJ = ["me", "you", "him", "her", "us", "them", "it", "everything", "something", "that"]
PREPS = ["in", "on", "at", "with", "from", "near", "under", "over", "behind", "for", "by",
         "through", "before", "after", "into", "across", "to"]
PROPN_POS = ["Anna", "Paris", "Jordan", "Lisa", "Tokyo", "Google", "Peter", "Berlin",
             "Maria", "Africa", "Sam", "London", "Chen", "Texas", "Ahmed", "Rome"]
AUX_MODAL = ["will", "can", "should", "must", "might", "could", "would"]
SCONJ_W = ["because", "when", "if", "while", "although", "before", "after", "since"]
SAY_VERBS = ["said", "thought", "knew", "believed", "heard", "noticed"]
NUMS = ["two", "three", "four", "five", "ten", "twenty", "100", "12", "7", "1990"]


#: share of nouns, verbs, adjectives and adverbs drawn from the synthetic long tail
POS_SYNTHETIC_SHARE = 0.5
NOUN_SUFFIX = ["tion", "ment", "ness", "er", "ity", "ance", "ism", "", "", "", ""]
VERB_SUFFIX = ["ize", "ate", "en", "ify", "", "", "", ""]
ADJ_SUFFIX = ["ous", "ful", "al", "ive", "ic", "", "", "", ""]


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def _inflect(base: str) -> tuple[str, str, str, str]:
    stem = base[:-1] if base.endswith("e") else base
    return base, _plural(base), stem + "ed", stem + "ing"


class PosLexicon:
    """The hand lists (frequent words) and a synthetic long tail drawn with Zipf weights:
    about 800 nouns, 300 verbs, 200 words that are both, 250 adjectives (some with -ly
    adverbs), half of them without a suffix that tells the class."""

    def __init__(self, rng: np.random.Generator) -> None:
        def words(n, suffixes):
            return [_stem(rng, 1 + rng.integers(2)) + suffixes[rng.integers(len(suffixes))]
                    for _ in range(n)]

        nouns, verbs, both = words(800, NOUN_SUFFIX), words(300, VERB_SUFFIX), words(400, [""])
        adjs = words(250, ADJ_SUFFIX)
        self.noun = _zipf_pool(nouns + both, rng)
        self.verb = _zipf_pool([_inflect(v) for v in verbs + both], rng)
        self.adj = _zipf_pool(adjs, rng)
        self.adv = _zipf_pool([a + "ly" for a in adjs[:120]], rng)
        self.transitive = {v for v in verbs + both if rng.random() < 0.7}

    def pick_noun(self, rng):
        return _pick(NOUNS, rng) if rng.random() > POS_SYNTHETIC_SHARE else self.noun(rng)

    def pick_verb(self, rng):
        if rng.random() > POS_SYNTHETIC_SHARE:
            v = VERBS[rng.integers(len(VERBS))]
            return v, v[0] in TRANSITIVE
        v = self.verb(rng)
        return v, v[0] in self.transitive

    def pick_adj(self, rng):
        return _pick(ADJS, rng) if rng.random() > POS_SYNTHETIC_SHARE else self.adj(rng)

    def pick_adv(self, rng):
        return _pick(ADVS, rng) if rng.random() > POS_SYNTHETIC_SHARE else self.adv(rng)


def _pick(seq, rng):
    return seq[rng.integers(len(seq))]


def _np(rng, lex, out, *, obj=False, depth=0):
    r = rng.random()
    if r < 0.12:
        out.append((_pick(PRON_OBJ if obj else PRON_SUBJ, rng), "PRON"))
        return
    if r < 0.2:
        out.append((_pick(PROPN_POS, rng), "PROPN"))
        return
    if r < 0.26:
        out.append((_pick(NUMS, rng), "NUM"))
        out.append((_plural(lex.pick_noun(rng)), "NOUN"))
        return
    out.append((_pick(DETS, rng), "DET"))
    for _ in range(rng.choice(3, p=[0.55, 0.35, 0.1])):
        if rng.random() < 0.15:
            out.append((_pick(DEGREE, rng), "ADV"))
        out.append((lex.pick_adj(rng), "ADJ"))
    if rng.random() < 0.2:
        out.append((lex.pick_noun(rng), "NOUN"))  # compound: "the garden light"
    noun = lex.pick_noun(rng)
    out.append((_plural(noun) if rng.random() < 0.25 else noun, "NOUN"))
    if depth < 1 and rng.random() < 0.2:
        _pp(rng, lex, out, depth + 1)


def _pp(rng, lex, out, depth=0):
    out.append((_pick(PREPS, rng), "ADP"))
    _np(rng, lex, out, obj=True, depth=depth)


def _vp(rng, lex, out, *, third):
    (base, s3, past, ger), transitive = lex.pick_verb(rng)
    r = rng.random()
    if r < 0.3:
        out.append((past, "VERB"))
    elif r < 0.45:
        out.append((s3 if third else base, "VERB"))
    elif r < 0.65:
        out.append((_pick(AUX_MODAL, rng), "AUX"))
        if rng.random() < 0.2:
            out.append(("not", "PART"))
        out.append((base, "VERB"))
    elif r < 0.75:
        out.append(("is" if third else "are", "AUX"))
        out.append((ger, "VERB"))
    elif r < 0.85:
        out.append((past, "VERB"))
        out.append(("to", "PART"))
        (base, s3, past, ger), transitive = lex.pick_verb(rng)
        out.append((base, "VERB"))
    else:  # copula + adjective: "the light was fast"
        out.append(("was", "AUX"))
        if rng.random() < 0.3:
            out.append((_pick(DEGREE, rng), "ADV"))
        out.append((lex.pick_adj(rng), "ADJ"))
        return
    if transitive and rng.random() < 0.85:
        _np(rng, lex, out, obj=True)
    if rng.random() < 0.3:
        _pp(rng, lex, out)
    if rng.random() < 0.2:
        out.append((lex.pick_adv(rng), "ADV"))


def _clause(rng, lex, out):
    start = len(out)
    _np(rng, lex, out)
    third = out[-1][1] == "PROPN" or (out[-1][1] == "NOUN" and not out[-1][0].endswith("s"))
    third = third or out[start][0] in ("he", "she", "it", "someone", "everyone", "that")
    _vp(rng, lex, out, third=third)


def pos_sentence(rng: np.random.Generator, lex: PosLexicon) -> tuple[list[str], list[str]]:
    out: list[tuple[str, str]] = []
    r = rng.random()
    if r < 0.55:
        _clause(rng, lex, out)
    elif r < 0.7:
        _clause(rng, lex, out)
        out.append((_pick(["and", "but", "or"], rng), "CCONJ"))
        _clause(rng, lex, out)
    elif r < 0.82:
        out.append((_pick(SCONJ_W, rng), "SCONJ"))
        _clause(rng, lex, out)
        out.append((",", "PUNCT"))
        _clause(rng, lex, out)
    elif r < 0.92:
        _np(rng, lex, out)
        out.append((_pick(SAY_VERBS, rng), "VERB"))
        out.append(("that", "SCONJ"))
        _clause(rng, lex, out)
    else:
        _clause(rng, lex, out)
        out.append((_pick(SCONJ_W, rng), "SCONJ"))
        _clause(rng, lex, out)
    out.append((_pick([".", ".", ".", "!", "?"], rng), "PUNCT"))
    first = out[0][0]
    out[0] = (first[:1].upper() + first[1:], out[0][1])
    return [w for w, _ in out], [t for _, t in out]


def pos_corpus(n_sentences: int, rng: np.random.Generator) -> tuple[list, list]:
    """``n_sentences`` generated sentences: (tokens per sentence, UPOS tags per sentence)."""
    lex = PosLexicon(rng)
    sents, tags = [], []
    for _ in range(n_sentences):
        s, t = pos_sentence(rng, lex)
        sents.append(s)
        tags.append(t)
    return sents, tags


# --------------------------------------------------------------------------------------------
# Errors

POS_CONFUSION = {"NOUN": ["VERB", "ADJ", "PROPN"], "VERB": ["NOUN", "ADJ"], "ADJ": ["ADV", "NOUN"],
                 "ADV": ["ADJ", "ADP"], "PROPN": ["NOUN"], "DET": ["PRON"], "PRON": ["DET"],
                 "ADP": ["SCONJ", "ADV"], "SCONJ": ["ADP"], "AUX": ["VERB"], "NUM": ["DET"],
                 "PART": ["ADP"], "CCONJ": ["SCONJ"]}
NER_SWAP = {"PER": ["LOC", "ORG"], "LOC": ["PER", "ORG"], "ORG": ["LOC", "PER"],
            "MISC": ["ORG", "LOC"]}


def _ner_change(tokens: list[str], tags: list[str], i: int, rng) -> list[tuple[int, str]]:
    """Changes (position, new tag) for one annotation error at token i."""
    tag = tags[i]
    if tag == "O":
        return [(i, "B-MISC" if rng.random() < 0.5 else "B-ORG")]
    kind = tag[2:]
    r = rng.random()
    if r < 0.45:  # wrong type: the whole entity (or only its first token)
        new = NER_SWAP[kind][rng.integers(len(NER_SWAP[kind]))]
        start = i
        while start > 0 and tags[start].startswith("I-"):
            start -= 1
        end = start + 1
        while end < len(tags) and tags[end] == "I-" + kind:
            end += 1
        span = range(start, end) if rng.random() < 0.7 else range(start, start + 1)
        return [(j, tags[j][:2] + new) for j in span if tags[j] != "O"]
    if r < 0.7:  # missed entity token
        return [(i, "O")]
    if tag.startswith("I-"):
        return [(i, "B-" + kind)]
    return [(i, "I-" + kind)]


def inject(tags: list[list[str]], rng: np.random.Generator, *, kind: str, tokens=None,
           rate: float = 0.05) -> tuple[list[list[str]], list[np.ndarray]]:
    """Noisy copy of the tags: ``rate`` of the sentences get 1 or 2 errors; returns the noisy
    tags and, per sentence, a bool array of the changed tokens."""
    noisy = [list(t) for t in tags]
    changed = [np.zeros(len(t), dtype=bool) for t in tags]
    chosen = rng.choice(len(tags), int(round(rate * len(tags))), replace=False)
    for s in chosen:
        t = noisy[s]
        n_err = 1 if rng.random() < 0.6 else 2
        for _ in range(n_err):
            if kind == "ner":
                ents = [i for i, g in enumerate(t) if g != "O"]
                caps = [i for i, g in enumerate(t) if g == "O" and i > 0
                        and tokens[s][i][:1].isupper()]
                pool = ents if ents and (not caps or rng.random() < 0.85) else caps
                if not pool:
                    continue
                i = pool[rng.integers(len(pool))]
                for j, new in _ner_change(tokens[s], t, i, rng):
                    t[j] = new
            else:
                cand = [i for i, g in enumerate(t) if g in POS_CONFUSION]
                i = cand[rng.integers(len(cand))]
                opts = POS_CONFUSION[t[i]]
                t[i] = opts[rng.integers(len(opts))]
        changed[s] = np.array([a != b for a, b in zip(t, tags[s], strict=True)])
    return noisy, changed


# --------------------------------------------------------------------------------------------
# The benchmark

CORPORA = {"ner_news": ("ner", 8000), "pos": ("pos", 8000), "ner_social": ("social", 8000)}


def make(kind: str, n_sentences: int, rng: np.random.Generator):
    """(tokens per sentence, true tags per sentence, noisy tags, changed per sentence)."""
    if kind == "pos":
        sents, tags = pos_corpus(n_sentences, rng)
    else:
        sents, tags = ner_corpus(n_sentences, rng, social=kind == "social")
    noisy, changed = inject(tags, rng, kind="pos" if kind == "pos" else "ner", tokens=sents)
    return sents, tags, noisy, changed


def via_conll(sents, tags, workdir: Path):
    """The corpus as a user gets it: written as a CoNLL file and read back."""
    from assay.tokens import read_conll

    path = workdir / "corpus.conll"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("-DOCSTART- O\n\n")
        for s, t in zip(sents, tags, strict=True):
            fh.write("".join(f"{w} {g}\n" for w, g in zip(s, t, strict=True)) + "\n")
    return read_conll(path)


def run_cleanlab(corpus, p: np.ndarray) -> dict:
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    off = corpus.offsets
    labels = [corpus.tags[off[i]:off[i + 1]].tolist() for i in range(corpus.n_sentences)]
    probs = [p[off[i]:off[i + 1]] for i in range(corpus.n_sentences)]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        issues = find_label_issues(labels, probs)
        sentence_scores, _ = get_label_quality_scores(labels, probs)
    seconds = time.perf_counter() - t0
    mask = np.zeros(corpus.n_tokens, dtype=bool)
    for i, j in issues:
        mask[off[i] + j] = True
    softmin, _ = get_label_quality_scores(labels, probs, sentence_score_method="softmin")
    return {"mask": mask, "sentence_scores": np.asarray(sentence_scores), "seconds": seconds,
            "softmin": np.asarray(softmin)}


def measure(corpus, truth: np.ndarray, p: np.ndarray) -> tuple[dict, dict]:
    """The headline figures of both tools, and the alternatives the method was chosen from."""
    from sklearn.metrics import average_precision_score as ap
    from sklearn.metrics import f1_score

    from assay.labels import find_label_issues, label_quality_scores
    from assay.tokens import find_token_issues

    off = corpus.offsets
    sent_truth = np.logical_or.reduceat(truth, off[:-1])

    def sent(mask):
        return np.logical_or.reduceat(mask, off[:-1])

    t0 = time.perf_counter()
    res = find_token_issues(corpus, p)
    t_assay = time.perf_counter() - t0
    cl = run_cleanlab(corpus, p)
    row = {
        "tokens": corpus.n_tokens, "sentences": corpus.n_sentences, "K": len(corpus.classes),
        "wrong": int(truth.sum()), "wrong sentences": int(sent_truth.sum()),
        "accuracy": res.model_accuracy, "baseline": res.baseline_accuracy,
        "F1 assay": f1_score(truth, res.is_issue), "F1 cleanlab": f1_score(truth, cl["mask"]),
        "sF1 assay": f1_score(sent_truth, res.sentence_is_issue),
        "sF1 cleanlab": f1_score(sent_truth, sent(cl["mask"])),
        "sAUPRC assay": ap(sent_truth, -res.sentence_scores),
        "sAUPRC cleanlab": ap(sent_truth, -cl["sentence_scores"]),
        "tAUPRC": ap(truth, -res.token_scores),
        "flagged assay": res.n_issues, "flagged cleanlab": int(cl["mask"].sum()),
        "estimated": res.n_estimated_errors, "reliable": res.reliable, "reason": res.reason,
        "s assay": t_assay, "s cleanlab": cl["seconds"],
        "incons": int(res.inconsistent.sum()),
        "incons precision": float(truth[res.inconsistent].mean()) if res.inconsistent.any()
        else float("nan"),
        "incons recall": float(res.inconsistent[truth].mean()),
        "incons new": int((res.inconsistent & truth & ~res.is_issue).sum()),
    }
    # the alternatives, on the same probabilities
    y = corpus.tags
    err = res.error_probability
    nm = label_quality_scores(y, p, method="normalized_margin")
    eligible = np.flatnonzero(p.argmax(axis=1) != y)
    order = eligible[np.argsort(res.token_scores[eligible], kind="stable")]

    def top(n):
        m = np.zeros(corpus.n_tokens, dtype=bool)
        m[order[:n]] = True
        return m

    log_clean = np.add.reduceat(np.log1p(-np.clip(err, 0, 1 - 1e-12)), off[:-1])
    abl = {
        "F1 confident learning (cleanlab)": row["F1 cleanlab"],
        "F1 assay.labels hybrid": f1_score(truth, find_label_issues(y, p)),
        "F1 error probability > 0.5": f1_score(truth, err > 0.5),
        "F1 count > 0.5, lowest scores": f1_score(truth, top(int((err > 0.5).sum()))),
        "F1 cleanlab's count, lowest scores": f1_score(truth, top(int(cl["mask"].sum()))),
        "F1 assay (sum, lowest scores)": row["F1 assay"],
        "F1 true count, lowest scores": f1_score(truth, top(int(truth.sum()))),
        "tAUPRC self-confidence": row["tAUPRC"],
        "tAUPRC normalised margin": ap(truth, -nm),
        "tAUPRC error probability": ap(truth, err),
        "sAUPRC min self-confidence": row["sAUPRC assay"],
        "sAUPRC softmin (cleanlab)": ap(sent_truth, -cl["softmin"]),
        "sAUPRC min normalised margin": ap(sent_truth, -np.minimum.reduceat(nm, off[:-1])),
        "sAUPRC P(all tags right)": ap(sent_truth, -log_clean),
    }
    return row, abl


def reliability_cases(workdir: Path) -> list[dict]:
    """The reliability call where it should fail: shuffled tags, and small corpora."""
    from assay.tokens import TokenCorpus, cross_fit_token_probs, find_token_issues

    out = []
    for label, kind, n, shuffle in [("ner_news, tags shuffled", "ner", 1500, True),
                                    ("pos, tags shuffled", "pos", 1500, True),
                                    ("ner_social, 500 sentences", "social", 500, False),
                                    ("ner_social, 300 sentences", "social", 300, False),
                                    ("pos, 300 sentences", "pos", 300, False)]:
        for seed in range(2):
            rng = np.random.default_rng(100 + seed)
            sents, _, noisy, changed = make(kind, n, rng)
            truth = np.concatenate(changed)
            if shuffle:
                flat = rng.permutation(np.concatenate(noisy))
                lengths = np.cumsum([len(t) for t in noisy])[:-1]
                noisy = [list(t) for t in np.split(flat, lengths)]
            corpus = TokenCorpus.from_sentences(sents, noisy)
            p = cross_fit_token_probs(corpus, random_state=seed)
            res = find_token_issues(corpus, p)
            skill = (res.model_accuracy - res.baseline_accuracy) / (1 - res.baseline_accuracy)
            out.append({"case": label, "seed": seed, "tokens": corpus.n_tokens,
                        "wrong": "-" if shuffle else int(truth.sum()),
                        "estimated": res.n_estimated_errors, "accuracy": res.model_accuracy,
                        "skill": skill, "reliable": res.reliable, "reason": res.reason or "-"})
    return out


def scale(n_tokens: int, workdir: Path) -> dict:
    """cross_fit_token_probs + find_token_issues on a generated corpus of about n_tokens."""
    import resource

    from assay.tokens import TokenCorpus, cross_fit_token_probs, find_token_issues

    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    sents, tags = [], []
    while sum(map(len, sents)) < n_tokens:
        s, t = ner_corpus(10_000, rng)
        sents += s
        tags += t
    noisy, changed = inject(tags, rng, kind="ner", tokens=sents)
    corpus = TokenCorpus.from_sentences(sents, noisy)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    p = cross_fit_token_probs(corpus)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = find_token_issues(corpus, p)
    t_find = time.perf_counter() - t0
    from sklearn.metrics import f1_score

    truth = np.concatenate(changed)
    return {"tokens": corpus.n_tokens, "sentences": corpus.n_sentences,
            "K": len(corpus.classes), "s generate": t_gen, "s cross-fit": t_fit,
            "s find": t_find, "pred_probs MB": p.nbytes / 2**20,
            "features MB": corpus.n_tokens * 18 * (4 + 4) / 2**20,
            "peak RSS MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "accuracy": res.model_accuracy, "F1": f1_score(truth, res.is_issue),
            "wrong": int(truth.sum()), "estimated": res.n_estimated_errors,
            "reliable": res.reliable}


def audit_scale(n_tokens: int, workdir: Path) -> dict:
    """``assay audit corpus.conll --label tags`` as a user runs it (every default check: the
    token tags, duplicate and odd sentences), on a generated NER corpus of about n_tokens with
    5 % of the sentences given wrong tags, timed with ``/usr/bin/time -v``; sentence precision
    and recall of the flags from the written issues."""
    rng = np.random.default_rng(0)
    sents, _, noisy, changed = make("ner", max(1, n_tokens // 12), rng)
    via_conll(sents, noisy, workdir)
    truth = np.array([c.any() for c in changed])
    out = workdir / "audit"
    cmd = ["/usr/bin/time", "-v", "assay", "audit", str(workdir / "corpus.conll"), "--label",
           "tags", "--no-workspace", "--out", str(out)]
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    rss = next(int(line.split()[-1]) for line in run.stderr.splitlines()
               if "Maximum resident" in line)
    flags = pd.read_parquet(out / "issues.parquet")["is_label_issue"].to_numpy(bool)
    timings = json.loads((out / "audit.json").read_text())["summary"]["timings_s"]
    return {"tokens": int(sum(map(len, sents))), "sentences": len(sents), "s wall": wall,
            "peak RSS GiB": rss / 2**20, "sentence precision": float(truth[flags].mean()),
            "sentence recall": float(flags[truth].mean()),
            **{f"s {k}": v for k, v in timings.items() if k != "load"}}


def compare_models(seeds: range, n_sentences: int = 6000) -> pd.DataFrame:
    """Token F1 of the flags, accuracy and seconds of candidate models, on the same folds and
    features as :func:`assay.tokens.cross_fit_token_probs` (``--models``)."""
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.metrics import f1_score

    from assay.tokens import TokenCorpus, _sentence_folds, _token_features, find_token_issues

    candidates = {
        "saga C=0.1, 10 epochs": lambda: LogisticRegression(solver="saga", C=0.1, max_iter=10,
                                                            tol=1e-3),
        "saga C=0.3, 10 epochs (default)": lambda: LogisticRegression(
            solver="saga", C=0.3, max_iter=10, tol=1e-3),
        "saga C=0.3, 30 epochs": lambda: LogisticRegression(solver="saga", C=0.3, max_iter=30,
                                                            tol=1e-3),
        "saga C=1, 10 epochs": lambda: LogisticRegression(solver="saga", C=1.0, max_iter=10,
                                                          tol=1e-3),
        "SGD log-loss one-vs-rest, alpha=1e-5": lambda: SGDClassifier(
            loss="log_loss", alpha=1e-5, max_iter=20, tol=1e-4, random_state=0),
    }
    rows = []
    for name, (kind, _) in CORPORA.items():
        for seed in seeds:
            sents, _, noisy, changed = make(kind, n_sentences, np.random.default_rng(seed))
            corpus = TokenCorpus.from_sentences(sents, noisy)
            truth = np.concatenate(changed)
            x = _token_features(corpus.tokens, corpus.offsets, 2**20)
            fold = np.repeat(_sentence_folds(corpus.n_sentences, 5, seed),
                             np.diff(corpus.offsets))
            for model_name, build in candidates.items():
                t0 = time.perf_counter()
                p = np.zeros((corpus.n_tokens, len(corpus.classes)))
                for f in range(5):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        m = build().fit(x[fold != f], corpus.tags[fold != f])
                    p[np.ix_(fold == f, m.classes_)] = m.predict_proba(x[fold == f])
                seconds = time.perf_counter() - t0
                res = find_token_issues(corpus, p)
                rows.append({"data": name, "model": model_name,
                             "F1": f1_score(truth, res.is_issue),
                             "est. / wrong": res.n_estimated_errors / truth.sum(),
                             "accuracy": res.model_accuracy, "s cross-fit": seconds})
            print(f"models: {name} seed {seed} done", flush=True)
    return pd.DataFrame(rows).groupby(["model", "data"], sort=False).mean().unstack("data")


def _table(frame: pd.DataFrame, fmt: dict | None = None) -> str:
    fmt = fmt or {}
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |",
             "|" + "|".join("---" if frame[c].dtype == object else "---:" for c in cols) + "|"]
    for _, r in frame.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float | np.floating):
                cells.append(format(v, fmt.get(c, ".3f")))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    from assay.tokens import cross_fit_token_probs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scale-tokens", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="1 seed, 200k tokens for the scale run")
    ap.add_argument("--models", action="store_true",
                    help="only compare candidate models (6,000 sentences, 2 seeds)")
    ap.add_argument("--audit", action="store_true",
                    help="only time `assay audit` on a generated CoNLL file of --scale-tokens")
    args = ap.parse_args()
    if args.audit:
        up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"start: {up}", flush=True)
        print(audit_scale(args.scale_tokens, Path(tempfile.mkdtemp())), flush=True)
        up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print(f"end: {up}", flush=True)
        return
    if args.models:
        out = compare_models(range(2))
        for metric in ("F1", "est. / wrong", "accuracy", "s cross-fit"):
            part = out[metric].reset_index()
            print(f"\n### {metric}\n")
            print(_table(part, {c: ".4f" if metric == "accuracy" else ".3f"
                                for c in part.columns}))
        return
    seeds = range(1 if args.quick else args.seeds)
    n_scale = 200_000 if args.quick else args.scale_tokens
    start = time.perf_counter()
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"start: {up}\nseeds {list(seeds)}; 5 % of the sentences get 1-2 wrong tags",
          flush=True)
    workdir = Path(tempfile.mkdtemp())
    big = scale(n_scale, workdir)  # first, so that the peak RSS is this run's
    print(f"scale: {big}", flush=True)
    rows, ablation = [], []
    for name, (kind, n) in CORPORA.items():
        for seed in seeds:
            sents, _, noisy, changed = make(kind, n, np.random.default_rng(seed))
            corpus = via_conll(sents, noisy, workdir)
            truth = np.concatenate(changed)
            t0 = time.perf_counter()
            p = cross_fit_token_probs(corpus, random_state=seed)
            t_fit = time.perf_counter() - t0
            row, abl = measure(corpus, truth, p)
            rows.append({"data": name, "seed": seed, **row, "s cross-fit": t_fit})
            ablation.append({"data": name, **abl})
            print(f"{name} seed {seed}: F1 {row['F1 assay']:.3f} vs {row['F1 cleanlab']:.3f}, "
                  f"sentence F1 {row['sF1 assay']:.3f} vs {row['sF1 cleanlab']:.3f}, estimated "
                  f"{row['estimated']} for {row['wrong']} ({row['reason'] or 'reliable'}), "
                  f"accuracy {row['accuracy']:.4f}, {time.perf_counter() - start:.0f} s",
                  flush=True)
    table = pd.DataFrame(rows)
    mean = table.groupby("data", sort=False).mean(numeric_only=True).reset_index()
    rel = table.groupby("data", sort=False)["reliable"].agg(lambda v: f"{v.sum()}/{v.size}")
    head = pd.DataFrame({
        "data": mean["data"], "tokens": mean["tokens"].round().astype(int),
        "K": mean["K"].round().astype(int), "wrong tags": mean["wrong"],
        "**F1 assay**": mean["F1 assay"], "**F1 cleanlab**": mean["F1 cleanlab"],
        "sentence F1 assay": mean["sF1 assay"], "sentence F1 cleanlab": mean["sF1 cleanlab"],
        "sentence AUPRC assay": mean["sAUPRC assay"],
        "sentence AUPRC cleanlab": mean["sAUPRC cleanlab"],
        "flagged assay": mean["flagged assay"], "flagged cleanlab": mean["flagged cleanlab"],
        "estimated": mean["estimated"], "est. / wrong": mean["estimated"] / mean["wrong"],
        "reliable": rel.to_numpy(), "accuracy": mean["accuracy"],
        "majority tag": mean["baseline"], "s cross-fit": mean["s cross-fit"],
        "s assay": mean["s assay"], "s cleanlab": mean["s cleanlab"]})
    print("\n## Results (mean of seeds)\n")
    print(_table(head, {"wrong tags": ".1f", "flagged assay": ".1f", "flagged cleanlab": ".1f",
                        "estimated": ".1f", "est. / wrong": ".2f", "accuracy": ".4f",
                        "majority tag": ".3f", "s cross-fit": ".1f", "s assay": ".2f",
                        "s cleanlab": ".2f"}))
    per_seed = table[["data", "seed", "F1 assay", "F1 cleanlab", "sF1 assay", "sF1 cleanlab",
                      "wrong", "estimated", "reliable"]]
    print("\n## Per seed\n")
    print(_table(per_seed))
    abl = pd.DataFrame(ablation).groupby("data", sort=False).mean().reset_index()
    abl = pd.concat([abl, pd.DataFrame([{"data": "mean", **abl.mean(numeric_only=True)}])])
    print("\n## Alternatives on the same probabilities (mean of seeds)\n")
    print(_table(abl.set_index("data").T.reset_index().rename(columns={"index": "method"})))
    incons = mean[["data", "incons", "incons precision", "incons recall", "incons new"]]
    print("\n## Inconsistent tags (the same word tagged otherwise elsewhere), mean of seeds\n")
    print(_table(incons.rename(columns={
        "incons": "tokens marked", "incons precision": "precision", "incons recall": "recall",
        "incons new": "wrong tags found only by it"}), {"tokens marked": ".1f",
                                                        "wrong tags found only by it": ".1f"}))
    print("\n## Reliability where it should fail\n", flush=True)
    print(_table(pd.DataFrame(reliability_cases(workdir)), {"accuracy": ".4f"}))
    print("\n## Scale\n")
    print(_table(pd.DataFrame([big]), {"s generate": ".1f", "s cross-fit": ".1f",
                                       "s find": ".2f", "pred_probs MB": ".1f",
                                       "features MB": ".0f", "peak RSS MB": ".0f",
                                       "accuracy": ".4f"}))
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nend: {up}; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
