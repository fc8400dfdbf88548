"""Content of the binary documents of the Vellmoor Water evaluation set, as plain data.

build.py turns these structures into .docx (python-docx), .pdf (reportlab), .pptx
(python-pptx) and .xlsx (openpyxl) files, and `build.py --check` reads them back as text
to verify that every expected answer of questions.jsonl occurs in its source document.

Block kinds of a DOCX document: ("title", text), ("heading", text), ("para", text),
("bullets", [text, ...]), ("table", [[header, ...], [cell, ...], ...]).
"""

from __future__ import annotations

# --------------------------------------------------------------------------------- DOCX

EXPENSE_POLICY = [
    ("title", "Expense and Travel Reimbursement Policy"),
    ("para", "Policy FIN-07, version 3.1. Effective 1 February 2026; replaces version 2.4 of "
             "March 2023. Policy owner: Tobias Lund, Finance Director."),
    ("heading", "1. Purpose and scope"),
    ("para", "This policy applies to all employees, temporary staff and board members of "
             "Vellmoor Water who incur costs on the company's behalf. It explains which costs "
             "are reimbursed, up to which amounts, and how claims are approved. Costs that are "
             "not listed here are not reimbursed unless Finance has agreed in writing "
             "beforehand."),
    ("heading", "2. Travel by car"),
    ("para", "Use a pool vehicle where one is available (see the Vehicle and Fleet Policy). "
             "If you use your own car for business journeys, the mileage allowance is EUR 0.32 "
             "per kilometre. Until 31 January 2026 the rate was EUR 0.28 per kilometre; "
             "journeys made before that date are paid at the old rate. Travel between home and "
             "your usual place of work is not a business journey. Parking fees and road tolls "
             "are reimbursed at cost against a receipt."),
    ("heading", "3. Public transport"),
    ("para", "Trains are booked in second class. First class may be booked when a single "
             "journey takes longer than three hours. Bus, tram and metro tickets are reimbursed "
             "at cost. Season tickets fall under the separate commuting scheme, not under this "
             "policy."),
    ("heading", "4. Meals"),
    ("para", "For a business trip that lasts more than 8 hours you may claim a meal allowance "
             "of up to EUR 42 per day. The meal allowances claimed by one employee may not "
             "exceed EUR 380 in a calendar month. Alcohol is never reimbursed. Meals with "
             "external guests count as hospitality (section 6)."),
    ("heading", "5. Hotels"),
    ("para", "Hotels are booked through the travel desk, travel@vellmoorwater.example. The "
             "maximum room rate per night, breakfast included, depends on the city:"),
    ("table", [["City", "Maximum rate per night"],
               ["Dunmere", "EUR 115"],
               ["Ostbrook", "EUR 105"],
               ["Brussels", "EUR 165"],
               ["Amsterdam", "EUR 180"]]),
    ("para", "If no room is available within the maximum, the travel desk may approve a higher "
             "rate. Keep its confirmation e-mail with your claim."),
    ("heading", "6. Hospitality and gifts"),
    ("para", "Business meals with external guests are limited to EUR 60 per person and must be "
             "approved in advance by your line manager. Gifts to external parties may not be "
             "worth more than EUR 35. Gifts you receive that are worth more than that must be "
             "reported to the integrity counsellor."),
    ("heading", "7. Corporate cards"),
    ("para", "Supervisors in Operations and staff who travel often may be given a corporate "
             "card. The card has a daily limit of EUR 350 and a monthly limit of EUR 950. "
             "Card statements must be reconciled in Ledgerline by the 10th of the following "
             "month. Cash withdrawals with the card are not allowed."),
    ("heading", "8. Submitting a claim"),
    ("bullets", [
        "Enter the claim in Ledgerline within 60 days of the expense; older claims are "
        "rejected.",
        "Attach a photo or scan of every receipt; you need not keep the paper original.",
        "Claims approved by the 15th of a month are paid with that month's salary.",
        "Questions about claims: expenses@vellmoorwater.example or extension 2270.",
    ]),
    ("heading", "9. Approval limits"),
    ("table", [["Total of the claim", "Approved by"],
               ["Up to EUR 250", "Line manager"],
               ["EUR 250.01 to EUR 2,000", "Line manager and budget holder"],
               ["Above EUR 2,000", "Finance Director"]]),
]

FLEET_POLICY = [
    ("title", "Vehicle and Fleet Policy"),
    ("para", "Policy OPS-12, version 2.0, effective 1 March 2026. Policy owner: Rosalind "
             "Achterberg, Fleet Coordinator, Ostbrook depot."),
    ("heading", "1. Our fleet"),
    ("para", "Vellmoor Water runs 96 vehicles: 71 vans, 14 pool cars, 6 tipper trucks, "
             "3 tankers and 2 generator trailers. All vehicles are based at the Ostbrook depot, "
             "except 5 pool cars that are kept at the head office in Dunmere."),
    ("heading", "2. Booking a vehicle"),
    ("para", "Pool cars and vans are booked in FleetDesk, at the latest by 15:00 on the "
             "working day before the trip. Keys are taken from the key cabinet in the depot "
             "gatehouse with your staff badge. Return a vehicle with at least a quarter of a "
             "tank of fuel, or, for an electric vehicle, at least 30% charge."),
    ("heading", "3. Private use and taking vans home"),
    ("para", "Private use of company vehicles is not allowed. Staff on the standby rota may "
             "take their van home during their standby week if they live within 25 km of the "
             "Ostbrook depot. The van must be parked off the street where possible, and tools "
             "and meters must never be left in it overnight."),
    ("heading", "4. Driving rules"),
    ("bullets", [
        "Vans are fitted with a speed limiter set at 110 km/h.",
        "Using a hand-held phone while driving is a disciplinary offence; hands-free calls "
        "are kept short and operational.",
        "Drivers check tyres, lights and fluid levels every Monday and record the check in "
        "FleetDesk.",
        "Winter tyres are fitted to all vehicles from 1 November to 31 March.",
        "Every vehicle is serviced every 20,000 km or every 12 months, whichever comes "
        "first.",
    ]),
    ("heading", "5. Fuel and charging"),
    ("para", "Each vehicle carries a Tankwise fuel card. The PIN is sent to the driver by "
             "FleetDesk and must never be written on the card. The card may only be used for "
             "fuel, AdBlue and car washes. Employees who charge an electric pool car at home "
             "are reimbursed EUR 0.27 per kWh, based on the reading in the charging app."),
    ("heading", "6. Accidents, damage and fines"),
    ("para", "Report any accident or damage to the Fleet Coordinator within 2 hours, on "
             "0455 207 731, and complete the damage form in FleetDesk the same day. In an "
             "emergency call 112 first. If damage is caused by gross negligence, for example "
             "driving under the influence of alcohol, the employee pays the insurance excess "
             "of EUR 500. Traffic and parking fines are always paid by the driver; the company "
             "passes the fine on with an administration fee of EUR 15."),
    ("heading", "7. Electric vehicles"),
    ("para", "22 of the 71 vans are electric (Voltra eVan 2). By the end of 2027 half of the "
             "van fleet is to be electric. There are 16 charging points at the Ostbrook depot "
             "and 4 at the Dunmere head office."),
]

DOCX = {
    "expense-policy.docx": EXPENSE_POLICY,
    "fleet-policy.docx": FLEET_POLICY,
}

# ---------------------------------------------------------------------------------- PDF
# One entry per page: (heading, [paragraph, ...]). The title is drawn on page 1.

SAFETY_MANUAL_TITLE = "Health and Safety Manual - Field and Works Operations"
SAFETY_MANUAL_SUBTITLE = "Document HS-01, revision 5, March 2026. Vellmoor Water."
SAFETY_MANUAL = [
    ("1. Emergencies and responsibilities", [
        "In any emergency that threatens life, call 112 first. Then inform the Vellmoor control "
        "room, which is staffed 24 hours a day at the Ostbrook depot, on 0455 207 999.",
        "The Health and Safety Officer is Mateus Okoye, office 0.08 at the Ostbrook depot, "
        "extension 2350. He chairs the safety committee, which meets on the second Tuesday of "
        "every month. Every team sends one representative to the committee.",
        "Every site has trained first aiders: at least one for every 25 staff present, and at "
        "least one on every shift at the treatment works. Their names are posted next to each "
        "first-aid box. Defibrillators (AEDs) hang at the Dunmere reception, at the Ostbrook "
        "gatehouse and in the control rooms of both treatment works.",
    ]),
    ("2. Personal protective equipment", [
        "The minimum protective equipment in the depot yard, at the works and on every street "
        "site is: safety boots class S3, a hard hat and a high-visibility jacket.",
        "On or next to roads with a speed limit of 50 km/h or lower, a high-visibility jacket "
        "of class 2 is enough. Where the speed limit is higher than 50 km/h, class 3 is "
        "mandatory.",
        "Hearing protection must be worn in the pump halls of both works, where the noise level "
        "is above 85 dB(A).",
        "Hard hats are replaced 5 years after the date of manufacture, or at once after a heavy "
        "blow. Protective equipment is ordered through the depot store; new safety boots are "
        "issued once every 12 months, or earlier if a pair is damaged.",
    ]),
    ("3. Confined spaces", [
        "Chambers, valve pits, tanks and service reservoirs are confined spaces. Entering one "
        "requires a permit to work on form CS-7, signed by an authorised person.",
        "Before entry the air is tested with a four-gas detector. The oxygen level must be "
        "between 19.5% and 23.5%. The hydrogen sulphide (H2S) alarm is set at 5 ppm and the "
        "carbon monoxide alarm at 20 ppm.",
        "A top man stays at the entrance for the whole time and keeps radio contact with the "
        "people inside. Nobody enters a confined space alone.",
        "A single entry lasts no longer than 2 hours. After that the entrant takes a break of "
        "at least 15 minutes in fresh air before entering again.",
        "All network crews carry a rescue tripod; the rescue plan is part of the permit.",
    ]),
    ("4. Chemicals at the treatment works", [
        "Greyfold Treatment Works disinfects with sodium hypochlorite; the bulk store is "
        "building G4. Sallow Reach uses chlorine gas from 1-tonne drums, which are kept in the "
        "chlorine house next to the north gate.",
        "Only staff who hold the chlorine handling certificate may change drums. The "
        "certificate must be renewed every 3 years.",
        "Emergency showers and eyewash stations are tested every Friday, and the result is "
        "written in the log that hangs next to each shower.",
        "When a chlorine alarm sounds, leave the building on the upwind side and go to the "
        "assembly point. The assembly point at Greyfold is the gatehouse car park. At Sallow "
        "Reach, go to the football pitch on the other side of Heath Road.",
    ]),
    ("5. Lone working and reporting", [
        "Staff who work alone in the field check in with the lone-worker button in MeterLink "
        "every 60 minutes. If a check-in is missed, the control room calls the worker after "
        "15 minutes. If there is no answer, the supervisor is sent to the last known position.",
        "Lone working is never allowed in confined spaces, on chlorine plant or on the road "
        "network at night.",
        "Every incident, injury and near miss is recorded in SafeLog within 24 hours. Serious "
        "injuries are also reported by phone to the Health and Safety Officer straight away.",
        "In 2025, 143 near misses and 9 lost-time injuries were reported. Reporting near misses "
        "is how we prevent the next injury: nobody is blamed for a report made in good faith.",
    ]),
]

PDF = {
    "safety-manual.pdf": (SAFETY_MANUAL_TITLE, SAFETY_MANUAL_SUBTITLE, SAFETY_MANUAL),
}

# --------------------------------------------------------------------------------- PPTX
# The first slide is a title slide (title, subtitle); the others have a title and bullets.

Q1_UPDATE = [
    ("Q1 2026 quarterly update",
     "All-staff briefing, 16 April 2026. Henrike Aldous, Managing Director"),
    ("Q1 at a glance", [
        "Water put into supply: 6.1 million m³ (Q1 2025: 6.3 million m³)",
        "Leakage, rolling 12 months: 17.1%, down from the year-end figure",
        "Customer complaints: 214 (Q4 2025: 262)",
        "Supply interruptions longer than 3 hours: 9 (target: fewer than 12)",
        "Drinking water quality: 99.96% of samples met every standard",
    ]),
    ("Operations", [
        "Greyfold filter refurbishment: 6 of 8 filters finished, completion expected in June",
        "February flood: Greyfold intake closed for 31 hours, no customer lost supply",
        "Ostbrook trunk main renewal: site set-up complete, first shutdown planned for April",
        "Smart meter pilot in Beckmoor: 430 of 600 meters installed",
    ]),
    ("Customers", [
        "Average time to answer a call: 48 seconds (target: 60 seconds)",
        "Written complaints answered within 10 working days: 94%",
        "New customer portal MyVellmoor goes live on 1 June",
        "Households paying by direct debit: 71%",
    ]),
    ("People", [
        "11 new starters in Q1, among them 4 apprentices",
        "Staff turnover over 12 months: 6.2%",
        "Sickness absence: 4.1% (Q1 2025: 4.6%)",
        "Engagement survey: 81% responded; results are presented on 14 May",
        "Lost-time injuries in Q1: 2",
    ]),
    ("Finance", [
        "Revenue: EUR 23.6 million (budget: EUR 23.1 million)",
        "Operating costs: EUR 17.9 million, 2% below budget",
        "Capital spend: EUR 5.4 million of the EUR 26 million plan for the year",
        "Electricity price fixed until December 2027 at EUR 0.118 per kWh",
    ]),
    ("Priorities for Q2", [
        "Finish Greyfold filters 7 and 8",
        "First shutdown of the Ostbrook trunk main",
        "Launch MyVellmoor on 1 June",
        "Summer demand plan: a hosepipe ban is considered if reservoir storage falls below 65%",
    ]),
    ("Questions?", [
        "Send your questions to comms@vellmoorwater.example",
        "Live Q&A on 23 April at 12:30 in the Dunmere staff restaurant and on Teams",
    ]),
]

PPTX = {
    "q1-2026-update.pptx": Q1_UPDATE,
}

# --------------------------------------------------------------------------------- XLSX
# One entry per sheet: (sheet name, rows); the first row is the header.

TARIFFS_2026 = [
    ("Tariffs 2026", [
        ["Customer group", "Tariff code", "Standing charge per year (EUR)", "Price per m3 (EUR)",
         "Applies to"],
        ["Household", "HH-1", 96, 1.87, "Use up to 250 m3 a year"],
        ["Household, high use", "HH-2", 96, 2.14, "The part of the use above 250 m3 a year"],
        ["Small business", "SB-1", 142, 1.92, "Businesses using up to 5000 m3 a year"],
        ["Agriculture", "AG-1", 118, 1.41, "Metered troughs and irrigation"],
        ["Industry", "IN-1", 610, 1.36, "Contract customers above 5000 m3 a year"],
        ["Construction water", "CW-1", 45, 2.35, "Standpipe hire, standing charge per week"],
    ]),
    ("Other charges", [
        ["Charge", "Amount (EUR)", "Notes"],
        ["New connection up to DN32", 1150, "Includes meter and meter box"],
        ["Meter test on customer request", 85, "Refunded if the meter reads more than 3% fast"],
        ["Payment reminder", 7.5, "Second and later reminders only"],
        ["Reconnection after disconnection", 165, "Within 2 working days of payment"],
        ["Standpipe hire deposit", 350, "Returned when the standpipe comes back undamaged"],
        ["Moving a meter on request", 240, "Inside the property, up to 3 metres"],
    ]),
]

XLSX = {
    "tariffs-2026.xlsx": TARIFFS_2026,
}


# --------------------------------------------------------------------------- as text

def _cell(value: object) -> str:
    return str(value)


def docx_text(blocks: list) -> str:
    out: list[str] = []
    for kind, content in blocks:
        if kind == "bullets":
            out.extend(content)
        elif kind == "table":
            out.extend(" | ".join(row) for row in content)
        else:
            out.append(content)
    return "\n".join(out)


def pdf_text(title: str, subtitle: str, pages: list) -> str:
    out = [title, subtitle]
    for heading, paragraphs in pages:
        out.append(heading)
        out.extend(paragraphs)
    return "\n".join(out)


def pptx_text(slides: list) -> str:
    out: list[str] = []
    for title, body in slides:
        out.append(title)
        out.extend([body] if isinstance(body, str) else body)
    return "\n".join(out)


def xlsx_text(sheets: list) -> str:
    out: list[str] = []
    for name, rows in sheets:
        out.append(name)
        out.extend(" | ".join(_cell(c) for c in row) for row in rows)
    return "\n".join(out)


def texts() -> dict[str, str]:
    """File name -> plain text, for every document defined in this module."""
    result: dict[str, str] = {}
    result.update({name: docx_text(blocks) for name, blocks in DOCX.items()})
    result.update({name: pdf_text(*spec) for name, spec in PDF.items()})
    result.update({name: pptx_text(slides) for name, slides in PPTX.items()})
    result.update({name: xlsx_text(sheets) for name, sheets in XLSX.items()})
    return result
