from whatsapp_builder.whatsapp.known_bsuids import KnownBsuids


def test_it_keeps_the_newest_bsuids_up_to_its_limit() -> None:
    known = KnownBsuids(limit=3)
    known.add_all(["US.1", "US.2", "US.3"])
    known.add_all(["US.1"])  # seen again: now the newest
    known.add_all(["US.4"])
    assert len(known) == 3
    assert "US.2" not in known
    assert all(b in known for b in ("US.1", "US.3", "US.4"))
