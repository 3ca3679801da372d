"""Changes packed into transactions: in order, none split, none over DynamoDB's limit, and as few as fit."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crisiscomms.aws.dynamo import TRANSACT_ACTIONS, packed


@given(st.lists(st.integers(min_value=1, max_value=TRANSACT_ACTIONS), max_size=300),
       st.integers(min_value=TRANSACT_ACTIONS - 5, max_value=TRANSACT_ACTIONS))
def test_every_change_once_in_order_each_group_fits_and_no_two_neighbours_would_fit_one(sizes: list[int], room: int) -> None:
    sizes = [min(size, room) for size in sizes]
    groups = list(packed(sizes, room))
    assert [i for group in groups for i in group] == list(range(len(sizes)))
    assert all(group and sum(sizes[i] for i in group) <= room for group in groups)
    for first, second in zip(groups, groups[1:]):  # a group ends only when the next change does not fit
        assert sum(sizes[i] for i in first) + sizes[second[0]] > room


def test_pairs_fill_a_transaction_and_one_too_large_is_refused() -> None:
    assert [len(group) for group in packed([2] * 120)] == [50, 50, 20]
    assert [len(group) for group in packed([2] * 60, TRANSACT_ACTIONS - 1)] == [49, 11], "an audit anchor's room kept"
    with pytest.raises(ValueError, match="does not fit"):
        list(packed([3, TRANSACT_ACTIONS + 1]))
