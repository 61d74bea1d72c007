"""Whose losses: countries and their demonyms, to read `side` (API.md §4) from a noun phrase.

"Azerbaijani civilians", "Israeli soldiers", "Russian troops" name their side with a demonym;
a source such as "Azerbaijani officials" or "Pakistan's military" speaks for its country.
"""

from __future__ import annotations

_TABLE = """
Afghanistan: Afghan, Afghans, Afghanistan's
Armenia: Armenian, Armenians, Armenia's
Azerbaijan: Azerbaijani, Azerbaijanis, Azeri, Azeris, Azerbaijan's
Burkina Faso: Burkinabe
Cameroon: Cameroonian, Cameroonians
Chad: Chadian, Chadians
China: Chinese
Colombia: Colombian, Colombians
DR Congo: Congolese
Egypt: Egyptian, Egyptians
Eritrea: Eritrean, Eritreans
Ethiopia: Ethiopian, Ethiopians, Ethiopia's
France: French
Georgia: Georgian, Georgians
Germany: German, Germans
India: Indian, Indians, India's
Indonesia: Indonesian, Indonesians
Iran: Iranian, Iranians, Iran's
Iraq: Iraqi, Iraqis, Iraq's
Israel: Israeli, Israelis, Israel's
Jordan: Jordanian, Jordanians
Kenya: Kenyan, Kenyans
Kurds: Kurdish, Kurd, Kurds
Lebanon: Lebanese, Lebanon's
Libya: Libyan, Libyans, Libya's
Mali: Malian, Malians, Mali's
Mexico: Mexican, Mexicans
Mozambique: Mozambican, Mozambicans
Myanmar: Burmese, Myanmar's
Nagorno-Karabakh: Karabakh
Niger: Nigerien, Nigeriens
Nigeria: Nigerian, Nigerians, Nigeria's
Pakistan: Pakistani, Pakistanis, Pakistan's
Palestinians: Palestinian, Palestinians
Philippines: Filipino, Filipinos, Philippine
Russia: Russian, Russians, Russia's
Rwanda: Rwandan, Rwandans
Saudi Arabia: Saudi, Saudis
Somalia: Somali, Somalis, Somalia's
South Sudan: South Sudanese
Sudan: Sudanese, Sudan's
Syria: Syrian, Syrians, Syria's
Turkey: Turkish, Turks, Turkey's
Uganda: Ugandan, Ugandans
Ukraine: Ukrainian, Ukrainians, Ukraine's
United Kingdom: British, Britons
United States: American, Americans, US, U.S.
Yemen: Yemeni, Yemenis, Yemen's
"""

#: demonym or country word (case-sensitive, as written) -> the side as recorders name it.
DEMONYMS: dict[str, str] = {}
for _line in _TABLE.strip().splitlines():
    _country, _words = _line.split(":", 1)
    DEMONYMS[_country.strip()] = _country.strip()
    for _w in _words.split(","):
        DEMONYMS[_w.strip()] = _country.strip()

#: Words that make a noun phrase a body that speaks for its state (its side is its country).
STATE_WORDS = frozenset({
    "officials", "official", "ministry", "minister", "military", "army", "government",
    "authorities", "spokesman", "spokeswoman", "spokesperson", "president", "forces",
    "police", "state", "presidency", "office", "defence", "defense", "interior", "emergency",
    "health", "prime", "foreign", "command", "service", "troops",
})


def side_of_words(words: list[str]) -> str | None:
    """The side a list of words (as written) names by a demonym or a country, or None.

    >>> side_of_words(["Azerbaijani", "officials"])
    'Azerbaijan'
    """
    for w in words:
        clean = w.strip("'’\"“”()")
        if clean in DEMONYMS:
            return DEMONYMS[clean]
        if clean.endswith(("'s", "’s")) and clean[:-2] in DEMONYMS:
            return DEMONYMS[clean[:-2]]
    return None


def speaks_for_state(words: list[str]) -> str | None:
    """The country a source speaks for when its name is a state body ("Pakistan's military").

    None for bodies that are not of a state (monitors, agencies, NGOs) or name no country.
    """
    lower = {w.lower().strip("'’") for w in words}
    clean = [w.strip("'’\"") for w in words]
    if len(clean) == 1 and clean[0] in DEMONYMS and DEMONYMS[clean[0]] == clean[0]:
        return clean[0]  # the state itself: "Israel said"
    if not lower & STATE_WORDS:
        return None
    if lower & {"observatory", "monitor", "group", "agency", "ngo", "committee", "news"}:
        return None
    return side_of_words(words)
