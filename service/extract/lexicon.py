"""Word lists for reading casualty reports in news English (API.md §9).

General vocabulary of how news reports tolls, not words fitted to particular articles. Every
list is a frozenset of lower-case words; multi-word phrases are matched in ``text.py``.
"""

from __future__ import annotations

#: Verbs and adjectives after which a count is of dead people ("were killed", "died", "dead").
KILLED_AFTER = frozenset({
    "killed", "dead", "died", "die", "dies", "slain", "murdered", "executed", "perished",
    "massacred", "fatalities", "deaths", "lifeless", "buried",
})
#: Words after which a count is of injured people.
INJURED_AFTER = frozenset({"injured", "wounded", "hurt", "maimed", "injuries",
                           "hospitalised", "hospitalized"})
MISSING_AFTER = frozenset({"missing", "unaccounted"})
#: Verbs before a count ("killed 20 militants", "killing nine", "wounding some 2,800").
KILLED_BEFORE = frozenset({
    "killed", "killing", "kill", "kills", "murdered", "murdering", "executed", "executing",
    "massacred", "slaughtered", "slew",
})
INJURED_BEFORE = frozenset({"wounded", "wounding", "injured", "injuring", "hurt", "hurting",
                            "maiming", "maimed"})
#: Damage verbs, either side of the count ("destroyed 8 houses", "72 flats were damaged").
DAMAGE_VERBS = frozenset({
    "destroyed", "destroying", "destroy", "damaged", "damaging", "demolished", "demolishing",
    "razed", "razing", "flattened", "flattening", "levelled", "leveled", "wrecked",
    "burned", "burnt", "torched", "collapsed",
})

#: Auxiliaries, adverbs and hedges allowed between a counted noun and its predicate.
BRIDGE = frozenset({
    "were", "was", "have", "has", "had", "been", "be", "being", "are", "is", "reportedly",
    "also", "now", "known", "to", "later", "all", "confirmed", "feared", "believed",
    "thought", "said", "reported", "found", "so", "far", "already", "since", "either",
    "both", "allegedly", "apparently", "left", "remain", "remained", "remains", "still",
    "outright", "critically", "seriously", "severely", "lightly",
    "slightly", "fatally", "each", "total", "officially", "presumed", "listed", "as",
    "'", '"', "’", "”", "“", "‘", "would", "will", "may", "might", "could", "altogether",
    "overall", "got", "getting",
})

#: Counted nouns: what category their deaths fall into (API.md §4).
CIVILIAN_NOUNS = frozenset({
    "civilian", "civilians", "villager", "villagers", "resident", "residents", "tourist",
    "tourists", "passenger", "passengers", "worshipper", "worshippers", "worshiper",
    "worshipers", "pilgrim", "pilgrims", "farmer", "farmers", "student", "students",
    "shopper", "shoppers", "bystander", "bystanders", "noncombatants", "non-combatants",
    "inhabitants", "locals", "refugees", "pupils", "schoolchildren", "spectators",
    "commuters", "parishioners", "fishermen", "herders", "shepherds", "displaced",
})
MILITARY_NOUNS = frozenset({
    "soldier", "soldiers", "troops", "troop", "fighter", "fighters", "militant", "militants",
    "insurgent", "insurgents", "rebel", "rebels", "serviceman", "servicemen", "servicemembers",
    "combatant", "combatants", "guerrilla", "guerrillas", "guerillas", "jihadist",
    "jihadists", "militiamen", "militiaman", "militia", "paratroopers", "marines",
    "commandos", "gunmen", "attackers", "assailants", "terrorists", "conscripts",
    "recruits", "mercenaries", "infantrymen", "sailors", "airmen", "personnel",
    "legionnaires", "peacekeepers", "jihadis", "separatists", "partisans", "warriors",
    "commanders", "operatives", "cadres", "reservists", "sappers", "snipers", "pilots",
})
#: Nouns of people whose status (civilian or fighter) the word itself does not say.
PEOPLE_NOUNS = frozenset({
    "people", "persons", "person", "individuals", "individual", "bodies", "body", "lives",
    "victims", "victim", "others", "more", "dead", "casualties", "workers", "migrants",
    "members", "officers", "policemen", "police", "policeman", "guards", "men", "prisoners",
    "detainees", "inmates", "staff", "employees", "volunteers", "patients", "officials",
    "protesters", "demonstrators",
})
#: Sub-populations (API.md §4 `group`) by the word that names them.
GROUP_NOUNS = {
    "child": "children", "children": "children", "girl": "children", "girls": "children",
    "boy": "children", "boys": "children", "minors": "children", "minor": "children",
    "baby": "children", "babies": "children", "infant": "children", "infants": "children",
    "toddler": "children", "toddlers": "children", "teenagers": "children",
    "woman": "women", "women": "women", "mothers": "women",
    "man": "men", "men": "men",
    "elderly": "elderly",
    "journalist": "journalists", "journalists": "journalists", "reporter": "journalists",
    "reporters": "journalists", "photographer": "journalists", "photographers": "journalists",
    "cameraman": "journalists", "cameramen": "journalists",
    "medic": "medical_workers", "medics": "medical_workers", "doctor": "medical_workers",
    "doctors": "medical_workers", "nurse": "medical_workers", "nurses": "medical_workers",
    "paramedic": "medical_workers", "paramedics": "medical_workers",
}
#: Group phrases of two words ("aid workers", "health workers").
GROUP_PHRASES = {
    ("aid", "worker"): "aid_workers", ("aid", "workers"): "aid_workers",
    ("humanitarian", "workers"): "aid_workers", ("relief", "workers"): "aid_workers",
    ("health", "workers"): "medical_workers", ("medical", "workers"): "medical_workers",
    ("healthcare", "workers"): "medical_workers", ("medical", "staff"): "medical_workers",
    ("health", "worker"): "medical_workers", ("media", "workers"): "journalists",
    ("older", "people"): "elderly", ("elderly", "people"): "elderly",
}
#: Words that, after "members of the ...", make the members fighters.
ARMED_BODY = frozenset({"armed", "militia", "militias", "army", "forces", "rebel", "rebels",
                        "insurgent", "jihadist", "terrorist", "military", "guard"})

#: Things damaged or destroyed: the counted noun becomes the figure's `unit`.
DAMAGE_NOUNS = frozenset({
    "building", "buildings", "house", "houses", "home", "homes", "apartment", "apartments",
    "flat", "flats", "school", "schools", "hospital", "hospitals", "clinic", "clinics",
    "mosque", "mosques", "church", "churches", "shop", "shops", "bridge", "bridges",
    "airfield", "airfields", "airport", "airports", "vehicle", "vehicles", "tank", "tanks",
    "car", "cars", "truck", "trucks", "village", "villages", "structure", "structures",
    "facility", "facilities", "dwelling", "dwellings", "shelter", "shelters", "tent", "tents",
    "warehouse", "warehouses", "factory", "factories", "substation", "substations",
    "plant", "plants", "railway", "stations", "station", "blocks", "block", "bunkers",
    "hangar", "hangars", "depot", "depots", "ships", "ship", "boats", "vessels",
})

#: A count that follows these words is not a toll (dates, distances, ages, durations...).
NOT_COUNT_AFTER = frozenset({
    "km", "kilometres", "kilometers", "miles", "mile", "metres", "meters", "feet", "hours",
    "hour", "minutes", "days", "day", "weeks", "week", "months", "month", "years", "year",
    "year-old", "years-old", "percent", "per", "%", "am", "pm", "a.m.", "p.m.", "gmt", "utc",
    "tonnes", "tons", "kg", "storeys", "floors", "floor", "times", "aircraft", "helicopters",
    "jets", "drones", "missiles", "rockets", "shells", "bombs", "planes", "sites", "camps",
    "targets", "items", "points", "dollars", "euros",
})

#: Incident words: a toll tied to them counts one attack (period_start = its day).
INCIDENT_NOUNS = frozenset({
    "attack", "attacks", "strike", "strikes", "airstrike", "airstrikes", "air", "bombing",
    "bombings", "blast", "blasts", "explosion", "explosions", "raid", "raids", "shelling",
    "ambush", "shooting", "bombardment", "assault", "massacre", "crash",
    "operation", "offensive", "clashes", "fighting", "battle", "missile", "rocket",
    "drone", "suicide", "exploded", "blew", "fired", "struck", "hit", "attacked",
    "stormed", "shelled", "bombed", "incident",
})
#: Incident words that span days rather than one event: no day is assumed for them.
SPREAD_INCIDENTS = frozenset({"clashes", "fighting", "battle", "offensive", "operation",
                              "war", "conflict", "campaign"})
#: Markers of a cumulative toll (period_start null).
CUMULATIVE = (
    "so far", "since the war began", "since the start of the war", "since the conflict began",
    "since the start of the conflict", "since the beginning of the war", "in total",
    "since the war started", "since the fighting began", "since the invasion",
    "overall toll", "total toll", "cumulative", "to date", "since the beginning of the conflict",
    "since the outbreak", "since the start of", "since the beginning of",
)

#: Reporting verbs: the speaker is their subject ("X said", "X told Reuters").
REPORTING_VERBS = frozenset({
    "said", "says", "say", "told", "tells", "reported", "reports", "report", "announced",
    "announces", "stated", "states", "claimed", "claims", "claim", "tweeted", "tweets",
    "confirmed", "confirms", "added", "adds", "estimated", "estimates", "wrote", "writes",
    "posted", "noted", "notes", "insisted", "acknowledged", "alleges", "put",
    "puts", "gave", "gives", "counted", "recorded", "registered", "documented", "cited",
    "quoted", "declared", "revealed", "disclosed", "informed", "updated", "raised",
    "disagreed",
    "cut", "lowered", "revised", "according", "citing", "explained", "stressed",
    "warned", "indicated", "suggests", "suggested", "found", "finds", "shows", "showed",
    "show", "verified", "verifies",
})
#: Words that deny or reject a claim (a dispute, API.md §4).
DENIAL_WORDS = frozenset({
    "denied", "denies", "deny", "denying", "rejected", "rejects", "rejecting", "dismissed",
    "dismisses", "disputed", "disputes", "refuted", "refutes", "contested", "contests",
})
#: Objects of a denial that make it about the figures, not about responsibility.
DENIAL_OBJECTS = frozenset({
    "figure", "figures", "toll", "tolls", "claim", "claims", "numbers", "number", "count",
    "report", "reports", "account", "casualties", "losses", "statistics", "estimate",
    "estimates", "data",
})

#: Words that open a clause: a speaker's name never runs across them.
CLAUSE_OPENERS = frozenset({
    "while", "whereas", "but", "and", "as", "although", "though", "however", "that", "when",
    "after", "before", "because", "since", "so", "yet", "also", "meanwhile", "earlier",
    "later", "then", "now", "separately", "speaking", "in", "on", "at", "for", "with", "by",
    "from", "during", "which", "who", "where", "if",
})
