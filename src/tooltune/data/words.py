"""Word banks for task titles and descriptions: hand-written lists plus small grammars,
so titles vary far beyond what any one template set could memorise."""

from __future__ import annotations

import random

PEOPLE = ["mom", "dad", "Sarah", "Tom", "the landlord", "grandma", "Alex", "Priya", "Jonas", "Maria", "Kenji",
          "the plumber", "my boss", "Lena", "Omar", "the dentist", "Chris", "Fatima", "the bank", "Aunt Rosa",
          "Mr. Okafor", "the vet", "Dr. Patel", "coach Mike", "the school", "Nina", "Ben", "Sofia", "Liam", "Yuki"]
GROCERIES = ["milk", "eggs", "bread", "coffee beans", "bananas", "oat milk", "rice", "olive oil", "cat food",
             "dog food", "toilet paper", "dish soap", "batteries", "tomatoes", "cheese", "a birthday cake",
             "laundry detergent", "flowers", "printer ink", "light bulbs", "sunscreen", "pasta", "apples", "tea"]
BILLS = ["electricity", "water", "internet", "phone", "gas", "rent", "credit card", "insurance", "council tax"]
APPOINTMENTS = ["a dentist appointment", "a haircut", "a doctor's appointment", "an eye test", "a car service",
                "a vet visit", "a table for Friday", "flights to Lisbon", "a hotel in Rome", "a physio session",
                "the venue", "a babysitter", "train tickets", "a tennis court", "a massage"]
WORK_ITEMS = ["the quarterly report", "the slide deck", "the budget review", "the design doc", "code review",
              "the Q3 roadmap", "the invoice for ACME", "my expense report", "the onboarding checklist",
              "the release notes", "the grant proposal", "the client presentation", "the migration plan",
              "the interview feedback", "the hiring plan", "the blog post", "the API docs", "unit tests"]
HOME_THINGS = ["the leaky faucet", "the garage", "the gutters", "the bathroom", "the fridge", "the windows",
               "the smoke alarm battery", "the lawn", "the car", "the bike tyre", "the closet", "the oven",
               "the balcony", "the attic", "the shed door", "the kitchen drawer"]
PLACES = ["the post office", "the pharmacy", "the dry cleaner", "school", "the library", "IKEA", "the station",
          "the airport", "the garden centre", "the hardware store", "the bakery"]
TOPICS = ["the report", "the party", "the trip", "the contract", "the refund", "the meeting", "the invoice",
          "the lease", "the wedding", "next week", "the schedule", "the budget", "the kids' pickup"]
PLANTS = ["plants", "tomatoes", "orchid", "basil", "garden", "lawn", "herbs"]
PROJECTS = ["Spanish homework", "guitar practice", "the puzzle", "my novel chapter", "the photo album",
            "the tax return", "the scrapbook", "the online course", "the 5k training plan"]

_GRAMMAR: list[tuple[str, list[list[str]]]] = [
    ("buy {}", [GROCERIES]),
    ("pick up {}", [GROCERIES]),
    ("get {}", [GROCERIES]),
    ("call {}", [PEOPLE]),
    ("text {}", [PEOPLE]),
    ("email {} about {}", [PEOPLE, TOPICS]),
    ("call {} about {}", [PEOPLE, TOPICS]),
    ("ask {} about {}", [PEOPLE, TOPICS]),
    ("pay the {} bill", [BILLS]),
    ("book {}", [APPOINTMENTS]),
    ("finish {}", [WORK_ITEMS]),
    ("review {}", [WORK_ITEMS]),
    ("send {}", [WORK_ITEMS]),
    ("draft {}", [WORK_ITEMS]),
    ("fix {}", [HOME_THINGS]),
    ("clean {}", [HOME_THINGS]),
    ("check {}", [HOME_THINGS]),
    ("go to {}", [PLACES]),
    ("drop off the package at {}", [PLACES]),
    ("water the {}", [PLANTS]),
    ("work on {}", [PROJECTS]),
    ("return the book to {}", [PLACES]),
]

FIXED_TITLES = [
    "renew passport", "file taxes", "schedule team offsite", "cancel gym membership", "back up laptop",
    "update CV", "plan birthday party", "order new glasses", "take out the trash", "walk the dog",
    "change the bed sheets", "submit timesheet", "renew car insurance", "buy a gift for Sarah",
    "prepare for the interview", "read chapter 4", "defrost the freezer", "sort the recycling",
    "write thank-you notes", "set up the new router", "clear out the inbox", "reply to the landlord",
    "register for the marathon", "get the car washed", "charge the camera", "print boarding passes",
    "pack for the trip", "vacuum the living room", "meal prep for the week", "update the budget spreadsheet",
    "sign the lease", "mow the lawn", "buy stamps", "feed the fish", "practice piano", "study for the exam",
    "fill in the visa form", "order business cards", "check the smoke alarms", "call the insurance company",
    "repot the monstera", "cancel Netflix", "return the Amazon parcel", "pick up the kids at 4",
    "book a flight home", "make a vet appointment", "organize the garage", "write the wedding speech",
    "fix login bug", "deploy v2.3", "llamar a mamá", "acheter du pain", "Steuererklärung abgeben",
    "réserver le restaurant", "🎂 order the cake", "pay Zoë back €20", "pay rent", "rsvp to the wedding", "get a flu shot", "buy new running shoes", "hang the pictures", "bake cookies",
]

NOUN_TITLES = ["Team standup notes", "Q2 planning", "Dentist", "Groceries", "Invoice #4411", "Tax docs",
               "Car MOT", "Bday present for Tom", "Quarterly review prep", "Weekly report", "Gym", "Passport renewal",
               "Vet appointment", "Book club", "Sprint retro", "Dinner with Priya", "Mortgage paperwork"]
"""Titles that are not verb phrases: only used where a template quotes or names the title."""

DESCRIPTIONS = [
    "the 2% one, not skim", "ask about the refund", "bring the receipt", "use the blue folder",
    "before the office closes", "Sarah has the details", "check the email from last week for the link",
    "around 30 minutes", "need the account number", "it's in the shared drive", "ask for the manager",
    "the code is 4411", "don't forget the charger", "for the team meeting", "the big box in the hallway",
    "call before 5pm", "see the notes from Monday", "only if it's under 50 euros", "the one near the station",
    "pay with the company card", "include the March numbers", "two copies", "after lunch",
    "bring ID and proof of address", "check the warranty first", "the red one", "ask Tom to help",
    "they close at 6", "use the coupon", "needs a signature", "print it double-sided", "remember the password hint",
    "get the organic ones", "the form is on the website", "mention the order number", "about 20 minutes",
    "double-check the totals", "cc my manager", "bring snacks", "book the window seat",
]


def title(rng: random.Random, verb_phrase: bool = False) -> str:
    """A task title: a hand-written one or one from the grammar. ``verb_phrase`` titles read
    after "remind me to" (and are never capitalised)."""
    if not verb_phrase and rng.random() < 0.08:
        return rng.choice(NOUN_TITLES)
    if rng.random() < 0.35:
        t = rng.choice(FIXED_TITLES)
    else:
        pattern, slots = rng.choice(_GRAMMAR)
        t = pattern.format(*(rng.choice(s) for s in slots))
    if not verb_phrase and rng.random() < 0.15:
        t = t[0].upper() + t[1:]
    return t


def distinct_titles(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        t = title(rng)
        if t.lower() not in (o.lower() for o in out):
            out.append(t)
    return out


_DESC_GRAMMAR: list[tuple[str, list[list[str]]]] = [
    ("ask {} about {}", [PEOPLE, TOPICS]),
    ("bring {}", [GROCERIES]),
    ("call {} first", [PEOPLE]),
    ("{} has the details", [PEOPLE]),
    ("near {}", [PLACES]),
    ("after {}", ["lunch", "work", "the gym", "school pickup", "the standup", "dinner"]),
    ("budget {}", ["50 euros", "$200", "under 100", "£30", "whatever it takes"]),
    ("needed for {}", [TOPICS]),
]


def description(rng: random.Random) -> str:
    """A task description: hand-written, or from a small grammar."""
    if rng.random() < 0.55:
        return rng.choice(DESCRIPTIONS)
    pattern, slots = rng.choice(_DESC_GRAMMAR)
    return pattern.format(*(rng.choice(s) for s in slots))


def task_id(rng: random.Random) -> int:
    return rng.choice([rng.randint(1, 20), rng.randint(1, 99), rng.randint(100, 999)])
