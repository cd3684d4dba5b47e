"""Deterministic, clearly fictional people for the demo shop.

Every address is at a domain reserved for examples (``example.com``, ``example.org``,
``example.net``, RFC 2606), every phone number is in the 555-01xx range set aside for fiction, and
names are combined from short lists, so nothing here can reach or describe a real person. The same
seed always gives the same people.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

__all__ = ["DEMO_PERSON", "Person", "people"]

_FIRST = [
    "Robin",
    "Ada",
    "Ben",
    "Cleo",
    "Dario",
    "Elif",
    "Farah",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kira",
    "Lars",
    "Mina",
    "Noor",
    "Otto",
    "Pia",
    "Quinn",
    "Rafa",
    "Sana",
    "Teo",
    "Uma",
    "Vera",
    "Wim",
    "Xena",
    "Yuki",
    "Zane",
    "Alba",
    "Bruno",
    "Cyra",
    "Dev",
    "Esme",
    "Finn",
    "Gala",
    "Hugo",
    "Iris",
    "Joel",
    "Kai",
    "Luz",
]
_LAST = [
    "Quill",
    "Marsh",
    "Fenwick",
    "Oakley",
    "Pender",
    "Rook",
    "Sallow",
    "Thorne",
    "Vance",
    "Wren",
    "Ashby",
    "Brill",
    "Corran",
    "Dunmore",
    "Ellery",
    "Fairbank",
    "Greaves",
    "Hollis",
    "Ingram",
    "Jessop",
    "Kettle",
    "Lockwood",
    "Morrow",
    "Nettle",
    "Orchard",
    "Penhallow",
]
_DOMAINS = ("example.com", "example.org", "example.net")
_PROFESSIONS = (
    "Counsellor",
    "Occupational therapist",
    "School psychologist",
    "Registered nurse",
    "Social worker",
    "Speech-language pathologist",
    "Physical therapist",
    "Marriage and family therapist",
)
_PLACES = (
    ("Eau Claire", "WI", "US", "547"),
    ("Fairview", "CA", "US", "945"),
    ("Springfield", "IL", "US", "627"),
    ("Riverton", "WY", "US", "825"),
    ("Bristol", "", "GB", "BS1"),
    ("Leeds", "", "GB", "LS2"),
    ("Ballarat", "VIC", "AU", "335"),
    ("Geelong", "VIC", "AU", "322"),
)
_STREETS = ("Elm Street", "Harbour Road", "Mill Lane", "Orchard Way", "Station Road", "Maple Avenue")


@dataclass(frozen=True)
class Person:
    index: int
    first: str
    last: str
    email: str
    phone: str
    street: str
    city: str
    state: str
    postal_code: str
    country: str
    profession: str
    birth_date: dt.date
    username: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def address(self) -> str:
        region = f" {self.state}" if self.state else ""
        return f"{self.street}, {self.city}{region} {self.postal_code}, {self.country}"


DEMO_PERSON = "robin.quill@example.com"
"""The customer the demo's "try this" list uses: orders, a seminar, the house file, a ticket."""


def people(count: int, seed: int = 2018) -> list[Person]:
    rng = random.Random(seed)
    found: list[Person] = []
    taken: set[str] = set()
    for index in range(count):
        if index == 0:
            first, last = "Robin", "Quill"
        else:
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
        local = f"{first}.{last}".lower()
        email = f"{local}@{_DOMAINS[0] if index == 0 else rng.choice(_DOMAINS)}"
        suffix = 2
        while email in taken:
            email = f"{local}{suffix}@{rng.choice(_DOMAINS)}"
            suffix += 1
        taken.add(email)
        city, state, country, postal = rng.choice(_PLACES) if index else _PLACES[0]
        found.append(
            Person(
                index=index,
                first=first,
                last=last,
                email=email,
                phone=f"+1 555 01{rng.randrange(100):02d}",
                street=f"{rng.randrange(1, 400)} {rng.choice(_STREETS)}",
                city=city,
                state=state,
                postal_code=f"{postal}{rng.randrange(10, 99)}"
                if country != "GB"
                else f"{postal} {rng.randrange(1, 9)}AB",
                country=country,
                profession=rng.choice(_PROFESSIONS),
                birth_date=dt.date(rng.randrange(1950, 1998), rng.randrange(1, 13), rng.randrange(1, 29)),
                username=f"{first.lower()}{rng.randrange(10, 999)}",
            )
        )
    return found
