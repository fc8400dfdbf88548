"""A question about a name the evidence never mentions is refused, not answered from a neighbour."""

from __future__ import annotations

from rag.answer.names import asked_names, missing_names

ROW = "price list\nitem: Water meter AquaRead S200 (DN15); price in euros: 41.50"


def test_names_are_proper_names_models_and_versions_not_plain_numbers() -> None:
    assert asked_names("How much does the AquaRead S300 meter cost?") == ["AquaRead", "S300"]
    assert asked_names("When did MeterLink 4.3.0 come out?") == ["MeterLink", "4.3.0"]
    assert asked_names("Who has to sign off an expense claim of 3,000 euros?") == []
    assert asked_names("What can I claim on Sunday?") == []  # "I" and weekdays name nothing
    assert asked_names("I'd like to speak to a counsellor. What number do I ring?") == []  # sentence starts
    assert asked_names("Through which valve does St Alwin's Hospital keep its supply?") == ["St", "Alwin", "Hospital"]


def test_a_near_miss_name_is_missing_and_the_right_one_is_found() -> None:
    assert missing_names("How much does the AquaRead S300 meter cost?", [ROW]) == ["S300"]
    assert missing_names("How much does the AquaRead S200 meter cost?", [ROW]) == []
    assert missing_names("What's the hotel rate in Paris?", ["City: Amsterdam; Maximum rate: EUR 180"]) == ["Paris"]
    # Whole words only, and a version is not found inside a longer one.
    assert missing_names("When did MeterLink 4.3 come out?", ["MeterLink 4.3.1 came out in March."]) == ["4.3"]
    assert missing_names("Where is St Alwin's Hospital?", ["St Alwin's Hospital is on Mill Road."]) == []


def test_the_service_refuses_a_near_miss_and_answers_the_listed_one(client) -> None:
    csv = b"item,price in euros,lead time in days\nWater meter AquaRead S200 (DN15),41.50,12\nHydrant key,18.00,3\n"
    r = client.post("/collections/names/documents?wait=true", files=[("files", ("price-list.csv", csv))])
    assert r.status_code == 200, r.text
    near = client.post("/collections/names/query", json={"question": "How much does the AquaRead S300 cost?"}).json()
    assert near["grounded"] is False and "do not mention S300" in near["answer"], near
    listed = client.post("/collections/names/query", json={"question": "How much does the AquaRead S200 cost?"}).json()
    assert "41.50" in listed["answer"], listed
