from providers.recent import RecentValues


def test_values_expire_after_max_age_and_the_oldest_go_first_past_the_bound():
    now = [0.0]
    recent = RecentValues(max_age=10, max_entries=2, clock=lambda: now[0])
    recent.put("a", 1)
    now[0] = 5
    recent.put("b", 2)
    recent.put("c", 3)  # over the bound: "a", stored first, goes
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (None, 2, 3)
    now[0] = 15
    assert (recent.get("b"), recent.get("c")) == (None, None)


def test_max_age_0_remembers_nothing():
    recent = RecentValues(max_age=0)
    recent.put("a", 1)
    assert recent.get("a") is None
