"""Generated office-document sections with questions, for `rag tune`.

conflicts-train teaches grounded answers on single Wikipedia paragraphs. Chunks of real
documents look different: a section title on the first line, then several short facts
(hours, names, codes, prices, dates), sometimes as a list. An adapter trained on Wikipedia
alone refused such chunks (EVALUATION.md), so `rag tune` mixes in sections generated here.

Every name, place and value is made from random syllables and numbers for a seed, so the
model learns to copy the answer from the passage, not to remember it; nothing here is
taken from the sample documents or from ../shared/data/conflicts. Rows have the same keys
as conflicts-train (question, passage, answer) and ``asks``: every question the passage
answers, so that a passage from another generated document that answers the same question
differently ("Who approves expense claims?") is never shown as a distractor.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

_ONSETS = "b br c ch cl d dr f g gr h j k l m n p pr r s sh st t tr v w z".split()
_VOWELS = "a e i o u ai ea ie ou y".split()
_CODAS = "n r l s t m nd rk ll th ck x".split() + [""] * 4
_TOWN_ENDS = "wick ford mere holm by ton stead field haven ley".split()
_MONTHS = ("January February March April May June July August September October November "
           "December").split()
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday".split()
_CURRENCIES = ["€", "$", "£", "CHF "]
# Half the people get ordinary names (a model must copy those too), half invented ones.
_FIRST = ("Anna Ben Clara David Elif Farid Greta Hugo Ingrid Jonas Kofi Lena Marco Nadia Oscar "
          "Priya Quentin Rosa Samir Tara Umar Vera Wim Yusuf Zofia Aiko Bruno Chiara Dmitri Eva").split()
_LAST = ("Adler Barros Chen Dalton Eriksen Fischer Gallo Haddad Ivanova Jensen Kowalski Lindqvist "
         "Moreau Novak Okafor Petrov Quinn Rossi Sato Tanaka Usman Varga Weber Yilmaz Zimmer").split()


class _Values:
    """Random values of each kind, never repeated within one generated set."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def _fresh(self, make: Callable[[], str]) -> str:
        for _ in range(100):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("value space exhausted")

    def word(self, syllables: int = 2) -> str:
        r = self.rng
        return "".join(r.choice(_ONSETS) + r.choice(_VOWELS) + r.choice(_CODAS)
                       for _ in range(syllables)).capitalize()

    def person(self) -> str:
        r = self.rng
        return self._fresh(lambda: f"{r.choice(_FIRST)} {r.choice(_LAST)}" if r.random() < 0.5
                           else f"{self.word(r.randint(1, 2))} {self.word(r.randint(2, 3))}")

    def town(self) -> str:
        return self._fresh(lambda: self.word(1) + self.rng.choice(_TOWN_ENDS))

    def product(self) -> str:
        return self._fresh(lambda: self.word(self.rng.randint(2, 3)))

    def date(self) -> str:
        r = self.rng
        return f"{r.randint(1, 28)} {r.choice(_MONTHS)} {r.randint(2018, 2031)}"

    def date_range(self) -> tuple[str, str]:
        r = self.rng
        month, year, first = r.choice(_MONTHS), r.randint(2018, 2031), r.randint(1, 20)
        return f"{first} {month} {year}", f"{first + r.randint(1, 8)} {month} {year}"

    def time(self) -> str:
        return f"{self.rng.randint(6, 19):02d}:{self.rng.choice([0, 10, 15, 20, 30, 40, 45, 50]):02d}"

    def number(self, low: int, high: int) -> str:
        return str(self.rng.randint(low, high))

    def money(self) -> str:
        r = self.rng
        return f"{r.choice(_CURRENCIES)}{r.choice([r.randint(5, 95), r.randint(100, 990), r.randint(1000, 9000)]):,}"

    def code(self) -> str:
        r = self.rng
        return self._fresh(lambda: "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
                           + str(r.randint(1000, 99999)))

    def room(self) -> str:
        return self._fresh(lambda: f"room {self.rng.randint(1, 9)}{self.rng.randint(0, 4)}{self.rng.randint(1, 9)}")

    def phone(self) -> str:
        r = self.rng
        return f"+{r.randint(30, 49)} {r.randint(100, 999)} {r.randint(1000, 9999)}"

    def email(self, person: str) -> str:
        first = person.split()[0].lower()
        return f"{first}@{self.word(2).lower()}.example"


@dataclass(frozen=True)
class Fact:
    """One sentence of a section, the question it answers, and the answer; `also` holds the
    other questions the sentence answers (rewordings, and the second value of a sentence with
    two values of one kind, where the model must pick)."""

    sentence: str
    question: str
    answer: str
    also: tuple[str, ...] = ()

    @property
    def asks(self) -> tuple[str, ...]:
        """Every question the sentence answers, the asked one first."""
        return (self.question, *self.also)


def _facts(v: _Values, org: str, product: str) -> dict[str, list[Callable[[], Fact]]]:
    """Fact makers by section topic; each call draws fresh values."""
    major = v.rng.randint(1, 9)  # the product's version line in this document
    def either(sentence: str, first: tuple[str, str], second: tuple[str, str]) -> Fact:
        # Ask about one of the two values at random; the other question is answered too.
        (q1, a1), (q2, a2) = (first, second) if v.rng.random() < 0.5 else (second, first)
        return Fact(sentence, q1, a1, also=(q2,))

    def reworded(sentence: str, questions: list[str], answer: str) -> Fact:
        # Real questions rarely repeat the document's wording: ask one of several phrasings.
        question = v.rng.choice(questions)
        return Fact(sentence, question, answer, also=tuple(q for q in questions if q != question))

    def shuttle() -> Fact:
        kind = v.rng.choice(["ferry", "shuttle bus", "staff bus", "boat"])
        name, place, (t1, t2) = v.word(2), v.town(), sorted({v.time(), v.time(), v.time()})[:2]
        return either(f"The {name} {kind} leaves {place} at {t1} and returns at {t2}.",
                      (f"When does the {name} {kind} leave {place}?", t1),
                      (f"When does the {name} {kind} return?", t2))

    def opening() -> Fact:
        place = f"{v.town()} {v.rng.choice(['shop', 'library', 'canteen', 'depot'])}"
        t1, t2 = sorted({v.time(), v.time(), v.time()})[:2]
        return either(f"The {place} opens at {t1} and closes at {t2}.",
                      (f"When does the {place} open?", t1), (f"When does the {place} close?", t2))

    def roles() -> Fact:
        body, p1, p2 = f"{v.word(2)} {v.rng.choice(['board', 'committee', 'council'])}", v.person(), v.person()
        r1, r2 = v.rng.sample(["chair", "treasurer", "secretary", "deputy chair"], 2)
        return either(f"The {r1} of the {body} is {p1} and its {r2} is {p2}.",
                      (f"Who is the {r1} of the {body}?", p1), (f"Who is the {r2} of the {body}?", p2))

    def sizes() -> Fact:
        item, c1, c2 = v.product(), v.money(), v.money()
        return either(f"The small {item} costs {c1} and the large {item} costs {c2}.",
                      (f"How much does the small {item} cost?", c1), (f"How much does the large {item} cost?", c2))

    def span() -> Fact:
        name = f"{v.word(2)} {v.rng.choice(['Festival', 'Conference', 'Audit'])}"
        d1, d2 = v.date_range()
        return either(f"The {name} starts on {d1} and ends on {d2}.",
                      (f"When does the {name} start?", d1), (f"When does the {name} end?", d2))

    def hours() -> Fact:
        day, t = v.rng.choice(_DAYS), v.time()
        return Fact(f"On {day}s the front desk opens at {t}.", f"What time does the front desk open on {day}s?", t)

    def meeting() -> Fact:
        body, t = v.rng.choice(["the board", "the safety committee", "the staff council", "the sales team"]), v.time()
        sentence = v.rng.choice([f"Meetings of {body} start at {t} sharp.",
                                 f"The weekly meeting of {body}, which starts at {t}, is held on {v.rng.choice(_DAYS)}s."])
        return reworded(sentence, [f"What time do meetings of {body} start?",
                                   f"When does the weekly meeting of {body} start?"], t)

    def leave() -> Fact:
        kind, n = v.rng.choice(["paid vacation", "parental leave", "study leave", "sick leave"]), v.number(3, 40)
        who = v.rng.choice(["employee", "member", "volunteer"])
        sentence = v.rng.choice([f"Each {who} receives {n} days of {kind} per year.",
                                 f"Every {who} is entitled to {n} days of {kind} a year.",
                                 f"{kind.capitalize()}: {n} days per year for each {who}."])
        return reworded(sentence, [f"How many days of {kind} does each {who} receive?",
                                   f"How many {kind} days does a {who} get?",
                                   f"How much {kind} does each {who} have per year?"], f"{n} days")

    def approver() -> Fact:
        # Requests and who they go to, in the many ways handbooks say it.
        p, what = v.person(), v.rng.choice(["expense claims", "vacation requests", "travel bookings",
                                              "overtime requests", "leave requests", "purchase orders",
                                              "shift swaps", "room bookings"])
        role = v.rng.choice(["rota coordinator", "office manager", "team assistant", "finance officer",
                             "shift planner", "people partner", "site manager"])
        ahead = f"{v.rng.choice(['two', 'three', 'four', '2', '3', '5', '10'])} {v.rng.choice(['days', 'weeks'])}"
        questions = [f"Who approves {what}?", f"Who do {what} go to?", f"Who handles {what}?",
                     f"Who should {what} be sent to?"]
        style = v.rng.randrange(5)
        if style == 0:
            return reworded(f"{what.capitalize()} are approved by {p}.", questions, p)
        if style == 1:
            return reworded(f"Send {what} to the {role}, {p}.", questions, p)
        if style == 2:
            return reworded(f"{what.capitalize()} are handled by {p}, our {role}.", questions, p)
        sentence = f"{what.capitalize()} go to the {role}, {p}, at least {ahead} in advance."
        if style == 3:
            return reworded(sentence, questions, p)
        return Fact(sentence, f"How far in advance must {what} be made?", ahead, also=tuple(questions))

    def lead() -> Fact:
        p, team = v.person(), v.rng.choice(["research", "support", "logistics", "design", "finance", "quality"])
        return Fact(f"The {team} team is led by {p}.", f"Who leads the {team} team?", p)

    def contact() -> Fact:
        p, topic = v.person(), v.rng.choice(["payroll questions", "building access", "press enquiries",
                                              "IT problems", "first aid"])
        role = v.rng.choice(["", "the caretaker, ", "our coordinator, ", "the duty officer, "])
        return reworded(f"For {topic}, contact {role}{p}.",
                        [f"Who is the contact for {topic}?", f"Who do I contact about {topic}?"], p)

    def office() -> Fact:
        town, street = v.town(), f"{v.rng.randint(2, 180)} {v.word(2)} Street"
        return Fact(f"The {town} office is at {street}.", f"What is the address of the {town} office?", street)

    def staffed() -> Fact:
        town, p, site = v.town(), v.person(), v.rng.choice(["branch", "showroom", "depot", "shop"])
        verb = v.rng.choice(["run", "staffed", "managed"])
        sentence = f"The {town} {site} is {verb} by {p}."
        if v.rng.random() < 0.5:
            # The subject named one sentence before the answer ("It is staffed by X").
            sentence = f"The {town} {site} opened in {v.date()}. It is {verb} by {p}."
        return reworded(sentence,
                        [f"Who runs the {town} {site}?", f"Who staffs the {town} {site}?",
                         f"Who is in charge of the {town} {site}?"], p)

    def door() -> Fact:
        room, code = v.room(), v.code()
        return Fact(f"The door code of {room} is {code}.", f"What is the door code of {room}?", code)

    def phone() -> Fact:
        desk, number = v.rng.choice(["help desk", "reception", "night porter", "warehouse"]), v.phone()
        return Fact(f"The {desk} can be reached on {number}.", f"What is the phone number of the {desk}?", number)

    def release() -> Fact:
        # Versions of one product differ by a digit (3.1 beside 3.2): the model must match it.
        ver, d = f"{major}.{v.rng.randint(0, 5)}", v.date()
        return Fact(f"{product} {ver} was released on {d}.", f"When was {product} {ver} released?", d)

    def releases() -> Fact:
        minor, d1, d2 = v.rng.randint(0, 5), v.date(), v.date()
        old, new = f"{major}.{minor}", f"{major}.{minor + 1}"
        return either(f"{product} {new} was released on {d1}; {product} {old} had come out on {d2}.",
                      (f"When was {product} {new} released?", d1), (f"When was {product} {old} released?", d2))

    def price() -> Fact:
        item, cost = v.product(), v.money()
        return Fact(f"The {item} costs {cost} per unit.", f"How much does the {item} cost?", cost)

    def warranty() -> Fact:
        item, n = v.product(), v.number(6, 60)
        sentence, answer = ((f"The {item} comes with a {n}-month warranty.", f"{n}-month")
                            if v.rng.random() < 0.5 else (f"The {item} carries a warranty of {n} months.", f"{n} months"))
        return Fact(sentence, f"How long is the warranty on the {item}?", answer)

    def limit() -> Fact:
        town, cost = v.town(), v.money()
        return Fact(f"The hotel limit in {town} is {cost} per night.",
                 f"What is the hotel limit in {town}?", cost)

    def response() -> Fact:
        n, kind = v.number(2, 72), v.rng.choice(["urgent tickets", "warranty claims", "refund requests"])
        return reworded(f"{kind.capitalize()} are answered within {n} hours.",
                        [f"Within how many hours are {kind} answered?", f"How quickly are {kind} answered?"],
                        f"{n} hours")

    def interval() -> Fact:
        # "How often" is answered with the interval and its unit, not a bare number.
        thing = v.rng.choice(["backup generator", "lift", "boiler", "sprinkler system", "server room",
                              "coffee machine", "company van", "fire alarm"])
        place, verb = v.town(), v.rng.choice(["serviced", "inspected", "cleaned", "tested"])
        every = f"every {v.rng.randint(2, 90)} {v.rng.choice(['days', 'weeks', 'months'])}"
        return Fact(f"The {thing} in the {place} building is {verb} {every}.",
                    f"How often is the {thing} in the {place} building {verb}?", every)

    def founded() -> Fact:
        year, town = v.number(1950, 2022), v.town()
        return Fact(f"{org} was founded in {year} in {town}.", f"In which town was {org} founded?", town)

    def event() -> Fact:
        name, d = f"{v.word(2)} {v.rng.choice(['Fair', 'Summit', 'Open Day', 'Retreat'])}", v.date()
        return Fact(f"The {name} takes place on {d}.", f"When does the {name} take place?", d)

    def assembly() -> Fact:
        place = v.rng.choice(["the car park on", "the fountain in", "the bicycle shed on", "the gate of"]) \
            + f" {v.word(2)} {v.rng.choice(['Lane', 'Square', 'Road'])}"
        return Fact(f"The fire assembly point is {place}.", "Where is the fire assembly point?", place)

    def email() -> Fact:
        p = v.person()
        addr = v.email(p)
        return Fact(f"Invoices are sent to {p} at {addr}.", "Where are invoices sent?", addr)

    return {
        "Working hours": [hours, meeting, leave, opening],
        "Timetable": [shuttle, opening, hours],
        "Leave and absence": [leave, approver, contact],
        "Teams and contacts": [lead, contact, approver, phone, roles],
        "Offices": [office, staffed, door, phone, interval],
        "Facilities and safety": [door, assembly, contact, hours, interval],
        "Release notes": [release, releases, response],
        "Prices": [price, warranty, limit, sizes],
        "Support and warranty": [warranty, response, phone, email],
        "Travel policy": [limit, approver, contact],
        "About us": [founded, event, lead, span, roles],
    }


# Sentences that answer none of the questions: real sections are not all facts.
_FILLER = ["This applies to every site.", "Exceptions need written approval.",
           "Please keep this page up to date.", "Questions about this page go to the intranet forum.",
           "Those who join after 1 July receive half of that in their first year.",
           "The rules were last revised this spring.", "Part-time staff are covered pro rata."]


def _section_text(title: str, facts: list[Fact], rng: random.Random) -> str:
    # The chunker puts a section's title on the first line of every chunk of it.
    sentences = [fact.sentence for fact in facts]
    if rng.random() < 0.4:
        sentences.insert(rng.randint(0, len(sentences)), rng.choice(_FILLER))
    style = rng.random()
    if style < 0.2:
        body = "\n".join(f"- {sentence}" for sentence in sentences)
    elif style < 0.4:
        body = "\n\n".join(sentences)
    else:
        body = " ".join(sentences)
    return f"{title}\n{body}"


def _one_answer_per_question(facts: list[Fact]) -> list[Fact]:
    # Two facts of one kind may answer the same question (two approvers of expense claims).
    kept: list[Fact] = []
    asked: set[str] = set()
    for fact in facts:
        if not asked.intersection(fact.asks):
            kept.append(fact)
            asked.update(fact.asks)
    return kept


def office_rows(count: int, seed: int) -> list[dict]:
    """About `count` question/passage/answer rows from generated office documents."""
    rng = random.Random(seed)
    values = _Values(rng)
    rows: list[dict] = []
    doc = 0
    while len(rows) < count:
        org = f"{values.word(2)} {rng.choice(['Cooperative', 'Ltd', 'Group', 'Foundation', 'Works'])}"
        topics = _facts(values, org, values.product())
        for title in rng.sample(sorted(topics), k=3):
            makers = topics[title]
            facts = [rng.choice(makers)() for _ in range(rng.randint(2, 4))]
            facts = _one_answer_per_question(facts)
            passage = _section_text(title, facts, rng)
            fact = rng.choice(facts)
            rows.append({"_id": f"office-{doc}-{len(rows)}", "question": fact.question, "passage": passage,
                         "answer": fact.answer,
                         "asks": [q for f in facts for q in f.asks]})
        doc += 1
    return rows[:count]
